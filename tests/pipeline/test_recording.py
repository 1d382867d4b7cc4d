"""The recorder in a real pipeline: every published message kept once and in order;
a recorder killed with SIGKILL leaves a store whose committed part opens and replays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from pipeline.base.data import load_split
from pipeline.base.schedule import predict
from store.layout import PHASES
from store.replay import Replayer
from store.runs import StoreError, list_runs, open_run
from tests.pipeline.test_end_to_end import byob_cli, env_with_ports, last_json


def test_a_recorded_pipeline_run_holds_every_published_message(tmp_path):
    store = tmp_path / "runs.zarr"
    r = byob_cli("run", "--epochs", "1", "--samples", "24", "--exit-when-done", "--json", "--store", str(store),
                 "--model-dir", str(tmp_path), env=env_with_ports(), cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = last_json(r.stdout)
    run = open_run(store, res["run"])
    assert run.attrs["status"] == "done" and run.attrs["missing"] == {}
    assert run.attrs["model_out"] == res["model"]
    log = run.table("log")
    for k, sender in enumerate(run.senders):  # each sender's bus sequence: 1..N, no gap, no repeat
        seqs = log["seq"][log["sender"] == k]
        assert list(seqs) == list(range(1, len(seqs) + 1)), sender
    published = run.attrs["end"]["summary"]["published"]
    recorded = {s: int(np.sum(log["sender"] == k)) for k, s in enumerate(run.senders)}
    assert {s: n for s, n in published.items() if n} == recorded  # the encoder publishes nothing
    p = run.predictions()
    test = p["phase"] == PHASES.index("test")
    assert sorted(p["sample_id"][test]) == list(range(540))  # every test sample, once
    assert np.sum(~test) == 24 and run.committed["spikes/hidden"] == 24
    # The published test predictions are the controller's: ties (many, in so short a run)
    # broken the same way from the recorded counts, and the same accuracy.
    order = np.argsort(p["sample_id"][test])
    counts, labels, published = (p[k][test][order] for k in ("counts", "label", "predicted"))
    assert np.array_equal(published, predict(counts, 0))
    assert np.mean(published == labels) == res["test_accuracy"]
    w = run.weights()
    assert list(w["version"]) == [0, 24] and not np.array_equal(w["w_ih"][0], w["w_ih"][1])
    size, events = run.spike_bytes()
    assert events > 0 and size / events < 4  # tiny runs pay chunk overhead; the benchmark checks 2
    # The run analyzes like a model: every figure, from the recorded spikes and weights.
    r = byob_cli("analyze", res["run"], "--store", str(store), "--out", str(tmp_path / "an"), "--json",
                 env=env_with_ports(), cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    out = last_json(r.stdout)
    assert out["run"] == res["run"] and len(out["files"]) == 8
    assert all((tmp_path / "an" / f).stat().st_size > 1000 for f in ("raster.png", "receptive_fields.png"))
    assert out["test_accuracy"] == res["test_accuracy"]
    # The run says where it came from: the versions and backend of the pipeline that ran it.
    r = byob_cli("runs", "--show", "latest", "--store", str(store), "--json", env=env_with_ports(), cwd=tmp_path)
    shown = last_json(r.stdout)
    assert r.returncode == 0 and shown["run"] == res["run"] and shown["provenance"]["backend"] in ("native", "brainpy")
    assert shown["provenance"]["packages"]["zarr"] and shown["job"]["samples"] == 24


def test_recorder_killed_mid_run_leaves_a_readable_replayable_store(tmp_path):
    """Synchronised on events, not on the clock: the kill comes once the store holds a
    few hundred committed presentations of a job of several thousand, and the job is
    checked to be still running when it does."""
    store = tmp_path / "runs.zarr"
    total = 3 * len(load_split(0).y_train)
    p = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", "--epochs", "3",
                          "--exit-when-done", "--json", "--store", str(store), "--model-dir", str(tmp_path)],
                         cwd=tmp_path, env={**env_with_ports(), "BYOB_RESTARTS": "0"},  # no supervisor
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(p.stderr), daemon=True).start()
    pid, deadline = None, time.time() + 240
    while time.time() < deadline and p.poll() is None:
        pid = pid or next((int(l.split("pid=")[1].split(")")[0]) for l in list(lines)
                           if "recorder.1 started (pid=" in l), None)
        try:  # the recorder may be creating the store right now
            rows = list_runs(store) if (store / "zarr.json").exists() else []
        except (StoreError, OSError, KeyError):
            rows = []
        if pid and rows and rows[0]["samples"] >= 200:
            break
        time.sleep(0.05)
    assert pid and p.poll() is None, "".join(lines)[-3000:]
    os.kill(pid, signal.SIGKILL)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1 and "Traceback" not in err
    [row] = list_runs(store)
    assert row["status"] == "recording"  # never finished: what was committed is all there is
    assert 200 <= row["samples"] < total  # the kill hit a live job
    run = open_run(store)
    msgs = []
    Replayer(run, rate=None).run(msgs.append)
    assert len(msgs) == row["messages"] and all(m.replay for m in msgs)
    kinds = {m.KIND for m in msgs}
    assert {"run", "spikes", "prediction", "weights"} <= kinds
