"""Spike statistics (Elephant) of a recorded run against the same figures worked out with
NumPy from the reader's rasters; ``byob analyze RUN --stats`` writes and links them."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.app.stats import spike_stats
from store.runs import open_run

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A run recorded as the pipeline records one: the network core's spikes of 30 digits."""
    from benchmarks.nwb_export import simulated_run

    path = tmp_path_factory.mktemp("stats") / "runs.zarr"
    simulated_run(path, epochs=1, samples=30, dt=1.0, test_samples=20)
    return path


def counts_by_trial(run, pop: str) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """(counts (trials, neurons), per trial the raster, labels) from the reader alone."""
    n = run.committed[f"spikes/{pop}"]
    rasters = [run.raster(pop, r) for r in range(n)]
    dense = [r.dense() for r in rasters]
    return np.array([d.sum(axis=0) for d in dense]), dense, np.array([r.label for r in rasters])


def test_rates_isi_cv_fano_and_selectivity_equal_numpys(store):
    run = open_run(store, "run_sim")
    s = spike_stats(run)
    assert s["presentations"] == 30
    for pop in ("input", "hidden"):
        counts, dense, labels = counts_by_trial(run, pop)
        T = dense[0].shape[0] * 1.0 / 1000.0  # s, dt 1 ms
        row = next(r for r in s["rows"] if r["population"] == pop and r["label"] == "all")
        assert row["mean_rate_hz"] == pytest.approx(counts.sum() / (counts.size * T))
        fired = counts.sum(axis=0) > 0
        fano = np.var(counts[:, fired], axis=0) / np.mean(counts[:, fired], axis=0)
        assert row["fano_factor"] == pytest.approx(float(np.mean(fano)))
        cvs = []
        for d in dense:
            for j in range(d.shape[1]):
                t = np.flatnonzero(d[:, j]) * 1e-3
                if len(t) >= 3:
                    cvs.append(np.std(np.diff(t)) / np.mean(np.diff(t)))
        assert row["isi_cv_trains"] == len(cvs)
        if cvs:
            assert row["isi_cv"] == pytest.approx(float(np.mean(cvs)))
        sel = s["selectivity"][pop]
        want = np.array([counts[labels == c].mean(axis=0) / T for c in sel["classes"]]).T
        np.testing.assert_allclose(sel["rate_hz"], want)
        for c in sel["classes"]:  # every spike of a class is in its PSTH
            r = np.asarray(s["psth"][pop]["rate_hz"][str(c)])
            n_trials = int(np.sum(labels == c))
            spikes = r.sum() * s["psth"][pop]["bin_ms"] / 1000.0 * counts.shape[1] * n_trials
            assert spikes == pytest.approx(counts[labels == c].sum())


def byob(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "analyze", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                                       "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg"})


def test_analyze_stats_writes_the_table_and_figures_and_links_them(store, tmp_path):
    r = byob("run_sim", "--store", str(store), "--stats", "--json", "--out", str(tmp_path / "an"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    files = json.loads(r.stdout.strip().splitlines()[-1])["files"]
    for name in ("stats.csv", "stats.json", "stats_rates.png", "selectivity.png", "psth.png"):
        assert str(tmp_path / "an" / name) in files and (tmp_path / "an" / name).stat().st_size > 200
    page = (tmp_path / "an" / "summary.html").read_text()
    assert "Spike statistics" in page and all(f"href='{n}'" in page for n in ("stats.csv", "stats.json", "psth.png"))
    assert "raster.png" in page  # the rest of the page is still there
    rows = list(csv.DictReader(open(tmp_path / "an" / "stats.csv")))
    assert {r["population"] for r in rows} == {"input", "hidden", "output"}
    assert {r["label"] for r in rows} >= {"all", "0", "9"} or len(rows) > 3


def test_stats_of_a_model_file_is_a_usage_error(tmp_path, small_cfg):
    from nodes.network.params import init_params
    from store.models import Model, save_model

    path = save_model(Model(params=init_params(small_cfg.network, 0), config=small_cfg, seed=0), tmp_path)
    r = byob(str(path), "--stats", cwd=tmp_path)
    assert r.returncode == 2 and "--stats reads a recorded run" in r.stderr
