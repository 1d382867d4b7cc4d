"""Recovery under the supervisor: a node SIGKILLed mid-run is restarted, the run resumes
from the learner's last checkpoint the recorder fully holds, and the result equals an
uninterrupted lock-step run: the same final weights as the in-process trainer, every
training presentation recorded exactly once and in order, every test sample once."""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np
import pytest

from nodes.network.params import init_params
from pipeline.base.config import Config
from pipeline.base.data import load_split
from pipeline.base.schedule import epoch_order
from pipeline.app.trainer import train
from store.models import load_model
from store.runs import open_run
from tests.pipeline.test_end_to_end import Proc, env_with_ports

SAMPLES, SEED = 300, 5


@pytest.fixture(scope="module")
def straight():
    cfg = Config()
    split = load_split(0)
    return train(init_params(cfg.network, SEED), cfg, split.X_train, split.y_train, 1, SAMPLES, SEED).params


def run_and_kill(tmp_path, victim: str, after: str, stop_s: float = 0.0) -> tuple[Proc, dict]:
    """Start a supervised run, then SIGKILL ``victim`` (or, with ``stop_s``, SIGSTOP it
    that long, past the heartbeat timeout, then SIGCONT) once ``after`` is logged."""
    store = tmp_path / "runs.zarr"
    out = Proc([sys.executable, "-m", "pipeline.cli", "run", "--epochs", "1", "--samples", str(SAMPLES), "--seed",
                str(SEED), "--snapshot-every", "20", "--exit-when-done", "--json", "--no-viewer", "--store",
                str(store), "--model-dir", str(tmp_path)], env_with_ports(), tmp_path)
    try:
        pid = int(out.wait_for(f"{victim}.1 started (pid=", timeout=240).split("pid=")[1].split(")")[0])
        out.wait_for(after, timeout=240)
        if stop_s:
            os.kill(pid, signal.SIGSTOP)
            out.wait_for(f"node lost: {victim}.1", timeout=30)
            time.sleep(stop_s)
            os.kill(pid, signal.SIGCONT)
        else:
            os.kill(pid, signal.SIGKILL)
            out.wait_for(f"{victim}.1 died (rc=-9); restarting it", timeout=30)
        line = out.wait_for("resuming from sample", timeout=240)
        rest = out.rest(timeout=300)
        assert out.p.returncode == 0, rest[-3000:]
    finally:
        out.kill_all()  # on a failure, no node outlives the test
    import json
    res = json.loads([l for l in rest.splitlines() if l.startswith("{")][-1])
    assert res["ok"], res
    return out, {"res": res, "resume_line": line, "store": store}


@pytest.mark.parametrize("victim,stop_s", [
    ("network", 0.0),
    pytest.param("learner", 0.0, marks=pytest.mark.slow),
    pytest.param("recorder", 0.0, marks=pytest.mark.slow),
    pytest.param("encoder", 0.0, marks=pytest.mark.slow),
    pytest.param("network", 3.0, marks=pytest.mark.slow, id="network-sigstop"),
])
def test_killed_node_resumes_and_matches_an_uninterrupted_run(tmp_path, straight, victim, stop_s):
    out, r = run_and_kill(tmp_path, victim, "learning from", stop_s)
    res = r["res"]
    for k, v in straight.arrays().items():
        assert np.array_equal(load_model(res["model"]).params.arrays()[k], v), k
    assert res["test_predictions"] >= res["test_unique"] == 540
    run = open_run(r["store"], res["run"])
    assert run.attrs["status"] == "done" and len(run.attrs["resumes"]) == 1
    idx = run.table("spikes/input")["sample_id"]
    assert list(idx) == list(epoch_order(SEED, 0, len(load_split(0).y_train), SAMPLES))  # once, in order
    for pop in ("hidden", "output"):
        assert list(run.table(f"spikes/{pop}")["sample_id"]) == list(idx)
    assert not any("Traceback" in l for l in out.seen)
