"""A recorded run exported to NWB and read back with pynwb: every spike, trial and label
equals the store's; nwbinspector finds nothing critical; damaged runs give exit 2 and
leave an existing file alone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from nwbinspector import Importance, inspect_nwbfile
from pynwb import NWBHDF5IO

from store.layout import PHASES
from store.nwb import export_nwb
from store.runs import open_run
from tests.nodes.test_recorder import record, stream

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A run of 8 training presentations (input, hidden, output spikes, traces, predictions,
    weights) and a test batch, recorded by the recorder core."""
    path = tmp_path_factory.mktemp("nwb") / "runs.zarr"
    record(path, stream("run_a", n=8))
    return path


@pytest.fixture(scope="module")
def exported(store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out") / "run_a.nwb"
    export_nwb(open_run(store, "run_a"), out, chunk=13)  # small chunks: many writes per unit
    return out


def expected_spikes(run) -> dict[tuple[str, int], list[float]]:
    """Each neuron's spike times worked out from the store's rasters alone: presentation k
    (in recording order; the test batch after the training ones) starts at k x 20 steps x dt."""
    out: dict[tuple[str, int], list[float]] = {}
    for pop in run.populations():
        n = run.committed[f"spikes/{pop}"]
        for row in range(n):
            r = run.raster(pop, row)
            for s, j in zip(r.steps, r.neurons):
                out.setdefault((pop, int(j)), []).append((row * r.n_steps + s) * r.dt / 1000.0)
    return out


def test_every_spike_trial_and_label_reads_back(store, exported):
    run = open_run(store, "run_a")
    want = expected_spikes(run)
    with NWBHDF5IO(str(exported), "r") as io:
        f = io.read()
        units = f.units.to_dataframe()
        assert list(units["population"]) == ["input"] * 8 + ["hidden"] * 5 + ["output"] * 3
        n_spikes = 0
        for _, u in units.iterrows():
            got = np.asarray(u["spike_times"])
            assert np.allclose(got, sorted(want.get((u["population"], u["neuron"]), [])), atol=1e-12)
            assert np.all(np.diff(got) >= 0)
            n_spikes += len(got)
        assert n_spikes == sum(len(v) for v in want.values()) == sum(run.committed[f"spikes/{p}/events"]
                                                                    for p in run.populations())
        trials = f.trials.to_dataframe()
        inp = run.table("spikes/input")
        assert len(trials) == len(inp["sample_id"]) == 12  # 8 training presentations + a test batch of 4
        assert list(trials["sample_id"]) == list(inp["sample_id"])
        assert list(trials["label"]) == list(inp["label"])
        assert list(trials["epoch"]) == list(inp["epoch"]) and list(trials["attempt"]) == list(inp["attempt"])
        assert np.allclose(trials["start_time"], np.arange(12) * 0.01) and np.allclose(trials["stop_time"],
                                                                                        np.arange(1, 13) * 0.01)
        p = run.predictions()
        assert list(trials["predicted"]) == list(p["predicted"])  # one prediction per presentation, in order
        assert list(trials["phase"]) == [PHASES[i] for i in p["phase"]]
        assert list(trials["correct"]) == list(p["predicted"] == p["label"])
        assert np.array_equal(np.stack(trials["output_counts"]), p["counts"])
        # The stimulus: which image each trial showed, the digit of its split and phase.
        from pipeline.base.data import load_split

        s = load_split(0)
        series = f.stimulus["digit_shown"]
        shown = [series.indexed_images.order_of_images[int(i)] for i in series.data[:]]
        for img, sid, phase in zip(shown, trials["sample_id"], trials["phase"]):
            X = s.X_test if phase == "test" else s.X_train
            assert np.array_equal(np.asarray(img.data), X[sid].reshape(8, 8))
        # Traces: every recorded row, at its presentation's time.
        tr = run.traces("hidden")
        ts = f.processing["membrane"]["membrane_hidden"]
        assert np.array_equal(ts.data[:], tr["values"].reshape(-1, 2))
        assert np.allclose(ts.get_timestamps()[:: 20], np.arange(8) * 0.01)
        w = f.analysis["weight_snapshots"]
        assert np.array_equal(w["w_ih"][:], run.weights()["w_ih"])
        notes = json.loads(f.notes)
        assert notes["byob_run"] == "run_a" and notes["job"] == {"epochs": 1}


def test_chunking_does_not_change_the_file_contents(store, exported, tmp_path):
    whole = tmp_path / "whole.nwb"
    export_nwb(open_run(store, "run_a"), whole)
    with NWBHDF5IO(str(exported), "r") as a, NWBHDF5IO(str(whole), "r") as b:
        fa, fb = a.read(), b.read()
        assert np.array_equal(fa.units.spike_times[:], fb.units.spike_times[:])
        assert np.array_equal(fa.units.spike_times_index.data[:], fb.units.spike_times_index.data[:])


def test_nwbinspector_finds_nothing_critical(exported):
    bad = [m for m in inspect_nwbfile(nwbfile_path=str(exported))
           if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]
    assert not bad, [(m.check_function_name, m.message) for m in bad]


def byob(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "export", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                                       "JAX_PLATFORMS": "cpu"})


def test_the_command_writes_the_file(store, tmp_path):
    r = byob("run_a", "--nwb", str(tmp_path / "r.nwb"), "--store", str(store), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["trials"] == 12 and out["units"] == 16 and (tmp_path / "r.nwb").stat().st_size == out["bytes"]


def test_damaged_or_missing_runs_exit_2_and_leave_the_old_file(store, tmp_path):
    old = tmp_path / "r.nwb"
    old.write_bytes(b"an earlier export")
    bad = tmp_path / "bad.zarr"
    shutil.copytree(store, bad)
    chunk = sorted((bad / "run_a" / "spikes" / "hidden" / "events" / "neuron" / "c").rglob("*"))[0]
    chunk.write_bytes(b"\0garbage" * 3)
    import zarr

    zarr.open_group(str(tmp_path / "foreign.zarr"), mode="w").attrs["what"] = "not a byob store"
    for args in (["run_a", "--store", str(bad)], ["run_x", "--store", str(store)],
                 ["run_a", "--store", str(tmp_path / "nowhere.zarr")], ["run_a", "--store", str(tmp_path / "foreign.zarr")]):
        r = byob(*args, "--nwb", str(old), cwd=tmp_path)
        assert r.returncode == 2, r.stderr[-2000:]
        assert "error" in r.stderr and r.stderr.count("Traceback") == 0
        assert old.read_bytes() == b"an earlier export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zarr", "foreign.zarr", "r.nwb"]  # no temporary file


def test_zarr_without_hdmf_zarr_is_a_clear_error(store, tmp_path):
    try:
        import hdmf_zarr  # noqa: F401
        pytest.skip("hdmf-zarr is installed here")
    except ImportError:
        pass
    r = byob("run_a", "--nwb", str(tmp_path / "r.nwb.zarr"), "--zarr", "--store", str(store), cwd=tmp_path)
    assert r.returncode == 2 and "hdmf-zarr" in r.stderr and not (tmp_path / "r.nwb.zarr").exists()


# -- a run shaped like the pipeline's --------------------------------------------------------
@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> tuple[Path, dict]:
    """The network core's spikes of 30 training digits (traces every 10th, snapshots every
    100th), recorded by the recorder core, with 20 test predictions and a saved model."""
    from benchmarks.nwb_export import simulated_run

    d = tmp_path_factory.mktemp("sim")
    info = simulated_run(d / "runs.zarr", epochs=1, samples=30, dt=1.0, test_samples=20, model_dir=d)
    return d / "runs.zarr", info


def test_a_pipeline_shaped_run_exports_whole_and_clean(simulated, tmp_path):
    from store.models import load_model

    store, info = simulated
    run = open_run(store, "run_sim")
    out = tmp_path / "sim.nwb"
    summary = export_nwb(run, out)
    assert summary["unit_parameters"] == "model" and summary["spikes"] == info["spike_events"]
    want = expected_spikes(run)
    model = load_model(info["model"])
    with NWBHDF5IO(str(out), "r") as io:
        f = io.read()
        units = f.units.to_dataframe()
        for _, u in units.iterrows():
            assert np.allclose(u["spike_times"], sorted(want.get((u["population"], u["neuron"]), [])), atol=1e-12)
        hidden = units[units["population"] == "hidden"]
        np.testing.assert_allclose(hidden["tau_ms"], model.params.tau_h)
        np.testing.assert_allclose(hidden["v_threshold_mV"], model.params.vth_h + model.params.theta)
        trials = f.trials.to_dataframe()
        assert list(trials["phase"]) == ["train"] * 30 + ["test"] * 20
        assert list(trials["recorded"]) == [True] * 30 + [False] * 20
        test = trials[trials["phase"] == "test"]
        p = run.predictions()
        assert list(test["sample_id"]) == list(p["sample_id"][p["phase"] == 1])
        assert np.allclose(test["stop_time"] - test["start_time"], 0.8)  # test digits: 4 x 200 ms
        ts = f.processing["membrane"]["membrane_hidden"]
        assert ts.data.shape == (3 * 200, 4)  # presentations 0, 10 and 20, irregularly spaced: timestamps
        np.testing.assert_allclose(ts.timestamps[::200], [0.0, 2.0, 4.0])
    bad = [m for m in inspect_nwbfile(nwbfile_path=str(out))
           if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]
    assert not bad, [(m.check_function_name, m.message) for m in bad]
