"""The store as xarray: every view equals the reader's NumPy view, and nothing is read
before values are asked for."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from store.layout import PHASES
from store.runs import StoreError, open_run
from tests.nodes.test_recorder import record, stream


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("xr") / "runs.zarr"
    record(path, stream("run_a", n=7))
    return path


def test_spike_rasters_equal_the_readers(store):
    run = open_run(store, "run_a")
    ds = run.dataset()
    assert ds.spikes.dims == ("sample", "step", "neuron") and ds.attrs["run"] == "run_a"
    inp = run.table("spikes/input")
    assert ds.sizes == {"sample": len(inp["sample_id"]), "step": 20, "neuron": 8 + 5 + 3}
    assert list(ds.sample_id.values) == list(inp["sample_id"]) and list(ds.label.values) == list(inp["label"])
    assert list(ds.epoch.values) == list(inp["epoch"]) and list(ds.attempt.values) == list(inp["attempt"])
    np.testing.assert_allclose(ds.time_ms, np.arange(20) * 0.5)
    np.testing.assert_allclose(ds.start_ms, np.arange(len(inp["sample_id"])) * 10.0)
    p = run.predictions()
    assert list(ds.predicted.values) == list(p["predicted"]) and list(ds.phase.values) == [PHASES[i] for i in p["phase"]]
    for pop in ("input", "hidden", "output"):
        sel = ds.spikes.sel(neuron=ds.population == pop)
        assert list(sel.index.values) == list(range(sel.sizes["neuron"]))
        for row in range(run.committed[f"spikes/{pop}"]):  # row k of each population is presentation k here
            np.testing.assert_array_equal(sel.isel(sample=row).values, run.raster(pop, row).dense())
    # Slices and single elements index like NumPy.
    whole = ds.spikes.values
    np.testing.assert_array_equal(ds.spikes.isel(sample=slice(2, 5), step=3).values, whole[2:5, 3])
    assert bool(ds.spikes[4, 7, 9]) == bool(whole[4, 7, 9])
    np.testing.assert_array_equal(ds.spikes.isel(sample=[9, 0, 4], step=[3, 1], neuron=[12, 2, 5]).values,
                                  whole[np.ix_([9, 0, 4], [3, 1], [12, 2, 5])])
    np.testing.assert_array_equal(ds.spikes.isel(sample=[1, 6], step=5).values, whole[[1, 6], 5])
    assert int(whole.sum()) == sum(run.committed[f"spikes/{p}/events"] for p in run.populations())


def test_traces_weights_and_predictions_equal_the_readers(store):
    run = open_run(store, "run_a")
    tr, t = run.dataset("traces/hidden"), run.traces("hidden")
    np.testing.assert_array_equal(tr.v.values, t["values"])
    assert list(tr.neuron.values) == list(t["neurons"]) and list(tr.sample_id.values) == list(t["sample_id"])
    np.testing.assert_allclose(tr.time_ms, np.arange(20) * t["dt"])
    w, ww = run.dataset("weights"), run.weights()
    for k in ("w_ih", "theta", "w_ho"):
        np.testing.assert_array_equal(w[k].values, ww[k])
    assert list(w.version.values) == list(ww["version"])
    p, pp = run.dataset("predictions"), run.predictions()
    np.testing.assert_array_equal(p.counts.values, pp["counts"])
    assert list(p.label.values) == list(pp["label"])
    with pytest.raises(StoreError, match="no table 'traces/output'"):
        run.dataset("traces/output")


def test_opening_reads_no_events(store, tmp_path):
    """Damaged event chunks: the dataset opens; only the values asked for fail, as StoreError."""
    bad = tmp_path / "bad.zarr"
    shutil.copytree(store, bad)
    for f in (bad / "run_a" / "spikes" / "hidden" / "events" / "step" / "c").rglob("*"):
        if f.is_file():
            f.write_bytes(b"\0damaged")
    ds = open_run(bad, "run_a").dataset()
    np.testing.assert_array_equal(ds.spikes.sel(neuron=ds.population == "input").isel(sample=0).values,
                                  open_run(store, "run_a").raster("input", 0).dense())
    with pytest.raises(StoreError, match="spikes/hidden/events"):
        ds.spikes.isel(sample=0).values


def test_dask_chunks_reduce_without_loading_everything(store):
    pytest.importorskip("dask")
    run = open_run(store, "run_a")
    ds = run.dataset(chunks={"sample": 3})
    rate = ds.spikes.sel(neuron=ds.population == "hidden").mean(("sample", "neuron")) / (ds.attrs["dt_ms"] / 1000)
    np.testing.assert_allclose(rate.values, run.dataset().spikes.sel(neuron=ds.population == "hidden").values
                               .mean(axis=(0, 2)) / 0.0005)
