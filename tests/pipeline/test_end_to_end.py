"""The whole pipeline with real processes and real ZeroMQ sockets, started by honcho."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nodes.network.params import init_params
from pipeline.config import Config
from pipeline.data import load_split
from pipeline.trainer import train
from store.models import load_model

ROOT = Path(__file__).resolve().parents[2]
def free_base_port(n: int = 10) -> int:
    """A block of ``n`` free consecutive loopback ports, so runs never collide."""
    import random
    import socket

    for _ in range(100):
        base = random.randint(20000, 60000)
        try:
            socks = []
            for k in range(n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", base + k))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


def env_with_ports() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu",
            "BYOB_BASE_PORT": str(free_base_port())}


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_byob_run_lockstep_reproduces_the_in_process_trainer(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--epochs", "1", "--samples", "12",
                        "--seed", "4", "--exit-when-done", "--json", "--model-dir", str(tmp_path)],
                       cwd=tmp_path, env=env_with_ports(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = last_json(r.stdout)
    assert res["ok"] and res["mode"] == "lockstep"
    split = load_split(0)
    assert res["test_predictions"] == res["test_unique"] == len(split.y_test)  # none lost or doubled
    assert all(not d for d in res["dropped"].values())
    piped = load_model(res["model"])
    cfg = Config()
    straight = train(init_params(cfg.network, 4), cfg, split.X_train, split.y_train, 1, 12, 4)
    for k, v in straight.params.arrays().items():
        assert np.array_equal(piped.params.arrays()[k], v), k
    from pipeline.trainer import infer
    _, preds = infer(straight.params, cfg, split.X_test, 4)
    assert res["test_accuracy"] == pytest.approx(float(np.mean(preds == split.y_test)))
    for line in ("controller.1", "encoder.1", "network.1", "learner.1"):
        assert f"{line} stopped (rc=0)" in r.stderr


def start_node(module: str, name: str, env: dict, tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=tmp_path,
                            env={**env, "HONCHO_PROCESS_NAME": name}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for_line(p: subprocess.Popen, text: str, timeout: float = 120) -> list[str]:
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"never saw {text!r}:\n" + "".join(seen[-30:]))


def test_killed_node_is_detected_by_heartbeats_and_others_exit_cleanly(tmp_path):
    """Nodes started by hand (as on several hosts): the controller notices the killed
    learner within 2 s of heartbeats and fails the run; the rest stop on SIGTERM."""
    env = env_with_ports()
    ctl = start_node("pipeline.controller", "controller", env, tmp_path, "--exit-when-done", "--job",
                     json.dumps({"epochs": 3, "model_dir": str(tmp_path)}))
    nodes = {n: start_node(f"nodes.{n}", n, env, tmp_path) for n in ("encoder", "network", "learner")}
    try:
        wait_for_line(ctl, "submitting job")
        wait_for_line(nodes["learner"], "learning from")
        time.sleep(1.0)
        killed_at = time.time()
        nodes["learner"].kill()
        lines = wait_for_line(ctl, "lost: no heartbeat", timeout=30)
        detected = time.time() - killed_at
        assert "learner" in lines[-1]
        assert detected < 2.0 + 2 * 0.5 + 1.0  # timeout + heartbeat period + slack
        out, _ = ctl.communicate(timeout=30)
        assert ctl.returncode == 1
        res = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
        assert not res["ok"] and "learner" in res["error"]
        for name in ("encoder", "network"):
            nodes[name].send_signal(signal.SIGTERM)
        for name in ("encoder", "network"):
            t0 = time.time()
            nodes[name].communicate(timeout=10)
            assert nodes[name].returncode == 0 and time.time() - t0 < 5.0, name
    finally:
        for p in (ctl, *nodes.values()):
            if p.poll() is None:
                p.kill()


def test_killed_node_under_honcho_stops_the_run_with_a_clear_error(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", "--epochs", "3", "--exit-when-done",
                          "--json", "--model-dir", str(tmp_path)], cwd=tmp_path, env=env_with_ports(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    pid = None
    lines = []
    while time.time() < deadline and pid is None:
        line = p.stderr.readline()
        lines.append(line)
        if "learner.1" in line and "learning from" in line:
            for l in lines:
                if "learner.1 started (pid=" in l:  # honcho's line; exec makes it python's pid
                    pid = int(l.split("pid=")[1].split(")")[0])
    assert pid, "".join(lines)[-2000:]
    os.kill(pid, signal.SIGKILL)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1
    res = last_json(out)
    assert not res["ok"] and res["error"] == "node learner.1 was killed; honcho stopped the others"
    assert "Traceback" not in err
    for name in ("encoder.1", "network.1", "controller.1"):
        assert f"{name} stopped" in err


def test_async_mode_finishes_with_every_prediction(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--epochs", "1", "--samples", "16",
                        "--mode", "async", "--exit-when-done", "--json", "--model-dir", str(tmp_path)],
                       cwd=tmp_path, env=env_with_ports(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = last_json(r.stdout)
    assert res["ok"] and res["mode"] == "async"
    assert res["test_predictions"] == res["test_unique"] == 540
    assert load_model(res["model"]).history[-1]["mode"] == "async"


def test_honcho_start_on_the_procfile_runs_the_job(tmp_path):
    """The Procfile itself, started by the honcho command, as `make run` does."""
    env = {**env_with_ports(), "BYOB_JOB": json.dumps({"epochs": 1, "samples": 8, "model_dir": str(tmp_path)}),
           "BYOB_EXIT_WHEN_DONE": "1",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    r = subprocess.run([str(Path(sys.executable).parent / "honcho"), "-f", str(ROOT / "Procfile"),
                        "-d", str(ROOT), "start"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert len(list(tmp_path.glob("stdp_model_*.npz"))) == 1
    assert '"ok": true' in r.stdout
