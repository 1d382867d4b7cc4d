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
from pipeline.base.config import Config
from pipeline.base.data import load_split
from pipeline.app.trainer import train
from store.models import load_model
from pipeline.runtime.wiring import free_base_port
from store.runs import list_runs

ROOT = Path(__file__).resolve().parents[2]


def env_with_ports() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu",
            "BYOB_BASE_PORT": str(free_base_port())}


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def byob_cli(*args: str, env: dict, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def test_byob_run_lockstep_reproduces_the_in_process_trainer(tmp_path):
    r = byob_cli("run", "--epochs", "1", "--samples", "12", "--seed", "4", "--exit-when-done", "--json",
                 "--model-dir", str(tmp_path), env=env_with_ports(), cwd=tmp_path, timeout=300)
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
    from nodes.network.present import infer
    _, preds = infer(straight.params, cfg.testing(), split.X_test, 4)  # as evaluations run
    assert res["test_accuracy"] == pytest.approx(float(np.mean(preds == split.y_test)))
    for line in ("controller.1", "encoder.1", "network.1", "learner.1"):
        assert f"{line} stopped (rc=0)" in r.stderr


class Proc:
    """A node process whose merged output is read by a thread, so waiting for a line has
    a real timeout and never blocks on a silent pipe."""

    def __init__(self, args: list[str], env: dict, cwd: Path) -> None:
        import queue
        import threading

        self.p = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.p.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 120) -> str:
        import queue

        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"never saw {text!r}:\n" + "".join(self.seen[-30:]))

    def kill_all(self) -> None:
        """SIGKILL the process and everything below it (honcho starts each node in a
        session of its own, so a process group is not enough)."""
        rows = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout.split()
        children: dict[int, list[int]] = {}
        for pid, ppid in zip(rows[::2], rows[1::2]):
            children.setdefault(int(ppid), []).append(int(pid))
        tree, stack = [], [self.p.pid]
        while stack:
            pid = stack.pop()
            tree.append(pid)
            stack += children.get(pid, [])
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.p.wait(timeout=10)

    def rest(self, timeout: float) -> str:
        self.p.wait(timeout=timeout)
        time.sleep(0.2)
        out = []
        while not self.lines.empty():
            out.append(self.lines.get())
        self.seen += out
        return "".join(out)


def start_node(module: str, name: str, env: dict, tmp_path: Path, *args: str) -> Proc:
    return Proc([sys.executable, "-m", module, *args], {**env, "HONCHO_PROCESS_NAME": name}, tmp_path)


def test_killed_node_is_detected_by_heartbeats_and_others_exit_cleanly(tmp_path):
    """Nodes started by hand (as on several hosts): the controller notices the killed
    learner within 2 s of heartbeats and fails the run; the rest stop on SIGTERM."""
    env = env_with_ports()
    ctl = start_node("pipeline.app.controller", "controller", env, tmp_path, "--exit-when-done", "--job",
                     json.dumps({"epochs": 3, "model_dir": str(tmp_path)}))
    nodes = {n: start_node(f"nodes.{n}", n, env, tmp_path) for n in ("encoder", "network", "learner", "recorder")}
    try:
        ctl.wait_for("starting train job")
        nodes["learner"].wait_for("learning from")  # the job is live: the learner holds it
        killed_at = time.time()
        nodes["learner"].p.kill()
        line = ctl.wait_for("lost: no heartbeat", timeout=30)
        detected = time.time() - killed_at
        assert "learner" in line
        assert detected < 2.0 + 2 * 0.5 + 1.0  # timeout + heartbeat period + slack
        out = ctl.rest(timeout=30)
        assert ctl.p.returncode == 1
        res = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
        assert not res["ok"] and "learner" in res["error"]
        for name in ("encoder", "network", "recorder"):
            nodes[name].p.send_signal(signal.SIGTERM)
        for name in ("encoder", "network", "recorder"):
            t0 = time.time()
            nodes[name].p.wait(timeout=10)
            assert nodes[name].p.returncode == 0 and time.time() - t0 < 5.0, name
    finally:
        for n in (ctl, *nodes.values()):
            if n.p.poll() is None:
                n.p.kill()


def test_supervisor_restarts_a_killed_node_then_gives_up_after_its_bound(tmp_path):
    """Under `byob run` (honcho's manager plus restarts, BYOB_RESTARTS=1): SIGKILL the
    learner mid-job: it is restarted and the job resumes and finishes; killed again, the
    supervisor gives up and stops everything, with nothing left open in the store."""
    env = {**env_with_ports(), "BYOB_RESTARTS": "1"}
    store = tmp_path / "runs.zarr"
    out = Proc([sys.executable, "-m", "pipeline.cli", "run", "--epochs", "1", "--samples", "400", "--store",
                str(store), "--model-dir", str(tmp_path), "--no-viewer"], env, tmp_path)
    p = out.p

    def seen(text: str, since: int, timeout: float = 180) -> str:
        """A line containing ``text`` read after line ``since``, whether already read or not."""
        for line in out.seen[since:]:
            if text in line:
                return line
        return out.wait_for(text, timeout=timeout)

    def pid_of(line: str) -> int:
        return int(line.split("pid=")[1].split(")")[0])

    try:
        pid = pid_of(seen("learner.1 started (pid=", 0))
        out.wait_for("learning from", timeout=180)
        os.kill(pid, signal.SIGKILL)
        mark = len(out.seen)
        out.wait_for("learner.1 died (rc=-9); restarting it (1 of 1)", timeout=30)
        pid = pid_of(seen("learner.1 started (pid=", mark))  # the restarted learner
        seen("resuming from sample", mark)
        seen('"ok": true', mark)
        os.kill(pid, signal.SIGKILL)
        out.wait_for("learner.1 died (rc=-9) after 1 restarts; giving up", timeout=30)
        p.wait(timeout=60)
        assert p.returncode != 0
    finally:
        out.kill_all()
    [run] = list_runs(store)
    assert run["status"] == "done" and run["samples"] == 400 and run["test_samples"] == 540
    assert not any("Traceback" in l for l in out.seen)


def test_async_mode_finishes_with_every_prediction(tmp_path):
    r = byob_cli("run", "--epochs", "1", "--samples", "16", "--mode", "async", "--exit-when-done", "--json",
                 "--model-dir", str(tmp_path), env=env_with_ports(), cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = last_json(r.stdout)
    assert res["ok"] and res["mode"] == "async"
    assert res["test_predictions"] == res["test_unique"] == 540
    assert load_model(res["model"]).history[-1]["mode"] == "async"


def test_honcho_start_on_the_procfile_runs_the_job(tmp_path):
    """The Procfile itself, started by the honcho command, as `make run` does."""
    env = {**env_with_ports(), "BYOB_JOB": json.dumps({"epochs": 1, "samples": 8, "model_dir": str(tmp_path)}),
           "BYOB_EXIT_WHEN_DONE": "1", "BYOB_STORE": str(tmp_path / "runs.zarr"),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    r = subprocess.run([str(Path(sys.executable).parent / "honcho"), "-f", str(ROOT / "Procfile"),
                        "-d", str(ROOT), "start"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert len(list(tmp_path.glob("stdp_model_*.npz"))) == 1
    [run] = list_runs(tmp_path / "runs.zarr")
    assert run["status"] == "done" and run["samples"] == 8 and run["test_samples"] == 540
    assert '"ok": true' in r.stdout


def test_status_submit_and_stop_on_a_running_pipeline(tmp_path):
    env = env_with_ports()
    r = byob_cli("status", env=env, cwd=tmp_path)
    assert r.returncode == 2 and "no controller answered" in r.stderr  # nothing running yet
    p = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", "--epochs", "1", "--samples", "8",
                          "--model-dir", str(tmp_path)], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def finished(n: int) -> dict:
            deadline = time.time() + 180
            while time.time() < deadline:
                r = byob_cli("status", "--json", env=env, cwd=tmp_path)
                if r.returncode == 0:
                    st = last_json(r.stdout)
                    if len(st["finished"]) >= n:
                        return st
                time.sleep(1.0)
            raise AssertionError("jobs did not finish")

        st = finished(1)
        roles = {n["role"] for n in st["nodes"].values()}  # the validator (nice 10) may still warm up
        assert roles - {"validator"} == {"encoder", "network", "learner", "recorder"}
        assert all(n["alive"] for n in st["nodes"].values())
        model = st["finished"][0]["model"]
        assert st["finished"][0]["ok"] and Path(model).exists()
        r = byob_cli("submit", "evaluate", "--model", model, "--json", env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        st = finished(2)
        ev = st["finished"][1]
        assert ev["kind"] == "evaluate" and ev["ok"] and ev["model"] == model
        assert ev["test_accuracy"] == pytest.approx(st["finished"][0]["test_accuracy"])
        assert len(list(tmp_path.glob("stdp_model_*.npz"))) == 1  # evaluating saves nothing
        runs = list_runs(tmp_path / "runs.zarr")  # both jobs recorded, each naming its model
        assert [(r["kind"], r["status"]) for r in runs] == [("train", "done"), ("evaluate", "done")]
        assert runs[0]["model_out"] == model and runs[1]["model_in"] == model
        assert byob_cli("submit", "evaluate", env=env, cwd=tmp_path).returncode == 2  # no --model
        junk = tmp_path / "stdp_model_20260101_000000.npz"
        junk.write_bytes(b"not a model")
        for bad in (junk, tmp_path / "missing.npz"):  # refused with the reason; the pipeline stays up
            r = byob_cli("submit", "evaluate", "--model", str(bad), env=env, cwd=tmp_path)
            # refused by the client, which reads the model (its configuration is the base), before
            # the controller would refuse it: the reason names the file
            assert r.returncode == 2 and bad.name in r.stderr and "Traceback" not in r.stderr, r.stderr
            assert "not an .npz archive" in r.stderr or "no such model file" in r.stderr, r.stderr
        assert byob_cli("status", env=env, cwd=tmp_path).returncode == 0
        assert byob_cli("stop", env=env, cwd=tmp_path).returncode == 0
        p.communicate(timeout=30)
        assert p.returncode == 0
    finally:
        if p.poll() is None:
            p.kill()


def test_nodes_publish_only_while_someone_watches_the_bus(tmp_path, monkeypatch):
    """Without a recorder or a bus subscriber the network makes no monitoring messages;
    a subscriber attaching mid-run gets the presentations from then on."""
    import zmq

    from pipeline.base.messages import SpikeBatch, decode
    from pipeline.runtime.wiring import open_socket

    env = env_with_ports()
    monkeypatch.setenv("BYOB_BASE_PORT", env["BYOB_BASE_PORT"])
    log = tmp_path / "run.log"
    with open(log, "w") as err:
        p = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", "--epochs", "2", "--samples", "600", "--no-record",
                              "--no-viewer", "--exit-when-done", "--json", "--model-dir", str(tmp_path)],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    ctx = zmq.Context()
    try:
        deadline = time.time() + 180
        while True:  # training has begun, unwatched
            assert time.time() < deadline and p.poll() is None, log.read_text()[-3000:]
            r = byob_cli("status", "--json", env=env, cwd=tmp_path)
            job = last_json(r.stdout).get("job") if r.returncode == 0 else None
            if job and job["trained"] > 20:
                break
            time.sleep(0.5)
        assert "bus unwatched: pausing publishing" in log.read_text()
        sub = open_socket(ctx, "bus", "test")
        got = None
        while got is None and time.time() < deadline:
            if sub.poll(1000):
                m = decode(sub.recv_multipart())
                if isinstance(m, SpikeBatch) and m.sender == "network.1" and m.population == "hidden":
                    got = m
        assert got is not None and got.seq > 0, log.read_text()[-3000:]
        sub.close(linger=0)
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0 and last_json(out)["ok"], log.read_text()[-3000:]
        assert "bus watched: resuming publishing" in log.read_text()
    finally:
        ctx.destroy(linger=0)
        if p.poll() is None:
            p.kill()
