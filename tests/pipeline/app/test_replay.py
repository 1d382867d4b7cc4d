"""``byob replay`` as a real process on real sockets: a subscriber on the monitoring bus
receives exactly the recorded stream, flagged as a replay, and replay-control steers it."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import zmq

from nodes.recorder.core import RunWriter, open_store_for_writing
from pipeline.base.messages import decode
from pipeline.runtime.wiring import open_socket
from store.runs import open_run
from tests.nodes.test_recorder import stream
from tests.pipeline.test_end_to_end import ROOT, byob_cli, env_with_ports


def record(path, n: int = 20):
    msgs = stream(n=n)
    w = RunWriter(open_store_for_writing(str(path)), msgs[0].run)
    for i, m in enumerate(msgs):
        w.append(m, 1000.0 + 0.01 * i)
    w.flush()
    return msgs


def ask(env, tmp_path, *args):
    r = byob_cli("replay-control", *args, "--json", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


def test_replay_publishes_the_recorded_stream_and_obeys_control(tmp_path, monkeypatch):
    msgs = record(tmp_path / "s.zarr")
    env = env_with_ports()
    monkeypatch.setenv("BYOB_BASE_PORT", env["BYOB_BASE_PORT"])
    p = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "replay", "latest", "--store",
                          str(tmp_path / "s.zarr"), "--rate", "2", "--paused"], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ctx = zmq.Context()
    try:
        sub = open_socket(ctx, "bus", "test")
        deadline = time.time() + 30
        while True:  # the replay's own hub counts our subscription: no sleeping on a guess
            assert time.time() < deadline and p.poll() is None, p.stderr.read() if p.poll() else "timeout"
            r = byob_cli("replay-control", "status", "--json", env=env, cwd=tmp_path)
            if r.returncode == 0 and json.loads(r.stdout.splitlines()[-1])["subscribers"]:
                break
            time.sleep(0.2)
        st = ask(env, tmp_path, "status")
        assert st["paused"] and st["samples"] == 21 and st["messages"] == len(msgs)
        ask(env, tmp_path, "rate", "1000")
        ask(env, tmp_path, "resume")
        got = []
        while len(got) < len(msgs) and sub.poll(10_000):
            got.append(decode(sub.recv_multipart()))
        assert [m.digest() for m in got] == [m.digest() for m in msgs]
        assert all(m.replay for m in got)
        p.wait(timeout=10)  # not looping: it ends by itself
        assert p.returncode == 0
    finally:
        if p.poll() is None:
            p.kill()
        ctx.destroy(linger=0)


def test_seek_starts_at_a_recorded_sample(tmp_path):
    record(tmp_path / "s.zarr")
    from store.replay import Replayer

    rp = Replayer(open_run(tmp_path / "s.zarr"), rate=None, start_sample=5)
    seen = []
    rp.run(seen.append)
    first = next(m for m in seen if m.KIND == "spikes")
    assert first.sample_ids[0] == 15 and rp.sample_position() == 21  # 20 training + 1 test batch


def test_replay_of_a_missing_store_or_run_is_a_usage_error(tmp_path):
    env = env_with_ports()
    r = byob_cli("replay", "--store", str(tmp_path / "none.zarr"), env=env, cwd=tmp_path)
    assert r.returncode == 2 and "no run store" in r.stderr and "Traceback" not in r.stderr
    record(tmp_path / "s.zarr", n=2)
    r = byob_cli("replay", "nope", "--store", str(tmp_path / "s.zarr"), env=env, cwd=tmp_path)
    assert r.returncode == 2 and "no run 'nope'" in r.stderr
    r = byob_cli("replay-control", "status", env=env, cwd=tmp_path)
    assert r.returncode == 2 and "no replay answered" in r.stderr
