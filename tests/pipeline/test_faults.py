"""Faults with real processes: a store that cannot be written fails the job with a
clear error and leaves its committed part readable; an unusable store path is refused
at start; a lost node's job is aborted on the surviving nodes, which stay usable."""

from __future__ import annotations

import json
import subprocess
import sys

from store.replay import Replayer
from store.runs import open_run
from tests.pipeline.test_end_to_end import Proc, ROOT, env_with_ports, start_node


def test_disk_full_fails_the_job_clearly_and_keeps_the_store_readable(tmp_path):
    """The recorder runs under a file-size limit (as a full disk): its writes fail with
    EFBIG, it says so, the controller fails the job, and the committed part replays."""
    env = env_with_ports()
    store = tmp_path / "runs.zarr"
    ctl = start_node("pipeline.app.controller", "controller", env, tmp_path, "--exit-when-done", "--job",
                     json.dumps({"epochs": 2, "model_dir": str(tmp_path)}))  # long enough to outlast the store
    nodes = {n: start_node(f"nodes.{n}", n, env, tmp_path) for n in ("encoder", "network", "learner")}
    nodes["recorder"] = Proc(["prlimit", "--fsize=50000", sys.executable, "-m", "nodes.recorder", "--store",
                              str(store)], {**env, "HONCHO_PROCESS_NAME": "recorder"}, tmp_path)
    try:
        ctl.wait_for("starting train job", timeout=240)  # if not, its output says why
        line = nodes["recorder"].wait_for("cannot write the run store", timeout=240)
        assert "too large" in line.lower() or "space" in line.lower()
        out = ctl.rest(timeout=60)
        res = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
        assert not res["ok"] and "cannot write the run store" in res["error"] and ctl.p.returncode == 1
        nodes["network"].wait_for("aborted by the controller", timeout=30)
    finally:
        for n in (ctl, *nodes.values()):
            if n.p.poll() is None:
                n.p.terminate()
        for n in (ctl, *nodes.values()):
            n.p.wait(timeout=15)
    assert all(n.p.returncode == 0 for n in nodes.values() if n is not nodes["recorder"])
    run = open_run(store)  # what was committed before the disk filled is whole
    msgs: list = []
    Replayer(run, rate=None).run(msgs.append)
    assert len(msgs) == run.committed["log"] > 0


def test_an_unusable_store_path_is_refused_at_start(tmp_path):
    (tmp_path / "a_file").write_text("not a directory")
    r = subprocess.run([sys.executable, "-m", "nodes.recorder", "--store", str(tmp_path / "a_file" / "runs.zarr")],
                       cwd=ROOT, env=env_with_ports(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "cannot open the run store" in r.stderr and "Traceback" not in r.stderr


def test_after_a_lost_node_the_survivors_take_the_next_job(tmp_path):
    """The learner dies mid-job: the job fails, the others are told to abort it, and a
    new learner lets the same pipeline finish the next job."""
    env = env_with_ports()
    ctl = start_node("pipeline.app.controller", "controller", {**env, "BYOB_RECORD": "0"}, tmp_path, "--job",
                     json.dumps({"epochs": 5, "model_dir": str(tmp_path)}))
    nodes = {n: start_node(f"nodes.{n}", n, {**env, "BYOB_RECORD": "0"}, tmp_path)
             for n in ("encoder", "network", "learner")}
    try:
        nodes["learner"].wait_for("learning from", timeout=240)  # the job is live: the learner holds it
        nodes["learner"].p.kill()
        ctl.wait_for("lost: no heartbeat", timeout=30)
        nodes["encoder"].wait_for("aborted by the controller", timeout=30)
        nodes["network"].wait_for("aborted by the controller", timeout=30)
        nodes["learner"] = start_node("nodes.learner", "learner", {**env, "BYOB_RECORD": "0"}, tmp_path)
        nodes["learner"].wait_for("waiting for jobs", timeout=120)
        r = subprocess.run([sys.executable, "-m", "pipeline.cli", "submit", "train", "--epochs", "1", "--samples",
                            "8", "--model-dir", str(tmp_path), "--json"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        line = ctl.wait_for('"ok": true', timeout=180)
        assert json.loads(line)["test_predictions"] == 540
    finally:
        for n in (ctl, *nodes.values()):
            if n.p.poll() is None:
                n.p.terminate()
        for n in (ctl, *nodes.values()):
            n.p.wait(timeout=15)
