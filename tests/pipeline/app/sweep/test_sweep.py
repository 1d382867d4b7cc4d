"""Sweeps end to end on a real Dask LocalCluster: the catalog, the study, the figures;
--resume after the sweep process is killed; a worker killed mid-trial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from store.runs import list_runs

ROOT = Path(__file__).resolve().parents[4]

TINY = '''
name = "tiny"
trials = {trials}
sampler = "random"
seed = 1
validation = 0.2
pruning = false
workers = 2
[set]
"job.epochs" = 2
"job.samples" = {samples}
"network.t_present" = 100.0
"network.n_hidden" = {hidden}
[space."network.w_inh"]
type = "float"
low = 20.0
high = 200.0
[space."learning.A_post"]
type = "float"
low = 0.005
high = 0.05
log = true
'''


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}


def sweep_file(tmp_path: Path, trials: int, samples: int = 60, hidden: int = 20) -> Path:
    p = tmp_path / "tiny.toml"
    p.write_text(TINY.format(trials=trials, samples=samples, hidden=hidden))
    return p


def start(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "sweep", *args], cwd=tmp_path, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def trials_in_catalog(store: Path) -> list[dict]:
    try:
        return [r for r in list_runs(store) if r.get("sweep") == "tiny"]
    except Exception:  # not created yet
        return []


def wait_for(cond, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def study_states(store: Path) -> dict[int, str]:
    import optuna

    from pipeline.app.sweep.runner import journal

    study = optuna.load_study(study_name="tiny", storage=journal(store, "tiny"))
    return {t.number: t.state.name for t in study.get_trials()}


def test_a_tiny_sweep_end_to_end(tmp_path):
    spec = sweep_file(tmp_path, 4, samples=250, hidden=50)  # enough to learn something
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "sweep", str(spec), "--store", "s.zarr", "--json"],
                       cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["trials"] == {"complete": 4}
    assert "val acc" in r.stderr and "best" in r.stderr  # the live table
    runs = trials_in_catalog(tmp_path / "s.zarr")
    assert sorted(x["trial"] for x in runs) == [0, 1, 2, 3]  # each trial once
    for x in runs:
        assert x["kind"] == "trial" and x["status"] == "finished" and set(x["params"]) == {
            "network.w_inh", "learning.A_post"}
        assert Path(x["model_out"]).exists()
    best = summary["best"][0]
    assert best["test_accuracy"] is not None and best["validation_accuracy"] > 0.15  # chance is 0.1
    tested = [x for x in runs if x["test_accuracy"] is not None]
    assert len(tested) == 3  # the test part is measured for the best trials only
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "sweep", "show", "tiny", "--store", "s.zarr",
                        "--json", "--out", "fig"], cwd=tmp_path, env=env(), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    shown = json.loads(r.stdout.strip().splitlines()[-1])
    assert shown["best"][0]["trial"] == best["trial"] and set(shown["importances"]) == {
        "network.w_inh", "learning.A_post"}
    assert {Path(f).name for f in shown["figures"]} == {"optimisation_history.png", "parallel_coordinates.png",
                                                         "best_learning_curve.png"}
    # shown by the file it was run from too; a sweep that is not there leaves nothing behind
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "sweep", "show", str(spec), "--store", "s.zarr",
                        "--json", "--no-figures"], cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1])["best"][0]["trial"] == best["trial"]
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "sweep", "show", "nosuch", "--store", "s.zarr"],
                       cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no sweep 'nosuch'" in r.stderr
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "sweep", "list", "--store", "s.zarr", "--json"],
                       cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120)
    assert json.loads(r.stdout.strip().splitlines()[-1]) == ["tiny"]
    # the same name again without --resume is refused; a missing sweep cannot be resumed
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "sweep", str(spec), "--store", "s.zarr"],
                       cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--resume" in r.stderr
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "sweep", str(spec), "--store", "other.zarr",
                        "--resume"], cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no sweep" in r.stderr


def test_resume_after_the_sweep_process_is_killed(tmp_path):
    spec = sweep_file(tmp_path, 5)
    store = tmp_path / "s.zarr"
    p = start(tmp_path, str(spec), "--store", "s.zarr")
    try:
        wait_for(lambda: len([x for x in trials_in_catalog(store) if x["status"] == "finished"]) >= 2, 300,
                 "two finished trials")
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # the driver, the cluster and its workers: no goodbyes
        p.wait(30)
    before = {x["trial"]: x["ended"] for x in trials_in_catalog(store) if x["status"] == "finished"}
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "sweep", str(spec), "--store", "s.zarr",
                        "--resume", "--json"], cwd=tmp_path, env=env(), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    states = study_states(store)
    assert list(states.values()).count("COMPLETE") == 5, states
    assert set(states.values()) <= {"COMPLETE", "FAIL"}  # trials cut off by the kill: failed, asked again
    runs = trials_in_catalog(store)
    numbers = [x["trial"] for x in runs]
    assert len(numbers) == len(set(numbers)) == len(states)  # each trial once in the catalog
    for n, ended in before.items():  # what was finished before the kill was kept, not run again
        assert next(x for x in runs if x["trial"] == n)["ended"] == ended
    for x in runs:
        assert (x["status"] == "finished") == (states[x["trial"]] == "COMPLETE"), x


def test_a_worker_killed_mid_trial_is_retried(tmp_path):
    spec = sweep_file(tmp_path, 3)
    store = tmp_path / "s.zarr"
    p = start(tmp_path, str(spec), "--store", "s.zarr", "--json")
    try:
        def workers():
            kids = psutil.Process(p.pid).children(recursive=True)
            return [k for k in kids if "spawn_main" in " ".join(k.cmdline()) and "resource_tracker" not in
                    " ".join(k.cmdline())]
        busy = wait_for(lambda: [w for w in workers() if w.cpu_percent(0.5) > 30], 120, "a worker at work")
        busy[0].kill()  # mid-trial: its nanny starts a new worker, the scheduler reruns the task
        out, err = p.communicate(timeout=600)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 0, err[-3000:]
    assert json.loads(out.strip().splitlines()[-1])["trials"] == {"complete": 3}
    numbers = sorted(x["trial"] for x in trials_in_catalog(store))
    assert numbers == [0, 1, 2]
