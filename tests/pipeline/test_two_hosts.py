"""Two hosts for real: network namespaces joined by a veth pair, each with its own
address and loopback. A sweep's Dask scheduler runs on host A and its only worker on
host B; a pipeline on host A fans its evaluation out to a network worker on host B, with
every link CURVE-encrypted because the endpoints leave the host. Needs root and
iproute2 (present in CI); skipped with the reason elsewhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.runtime.wiring import LINKS

ROOT = Path(__file__).resolve().parents[2]


def _can_make_namespaces() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if not shutil.which("ip"):
        return "needs iproute2's ip command"
    probe = f"byob-probe-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"ip netns add fails here: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


REASON = _can_make_namespaces()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def sh(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True, text=True)


@pytest.fixture
def hosts():
    """Two namespaces, A at 10.77.N.1 and B at 10.77.N.2, joined by a veth pair."""
    n = os.getpid() % 200 + 10
    a, b = f"byob-a{os.getpid()}", f"byob-b{os.getpid()}"
    va, vb = f"vba{os.getpid() % 100000}", f"vbb{os.getpid() % 100000}"
    ip_a, ip_b = f"10.77.{n}.1", f"10.77.{n}.2"
    try:
        sh("ip", "netns", "add", a)
        sh("ip", "netns", "add", b)
        sh("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
        sh("ip", "link", "set", va, "netns", a)
        sh("ip", "link", "set", vb, "netns", b)
        for ns, dev, ip in ((a, va, ip_a), (b, vb, ip_b)):
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield {"a": a, "b": b, "ip_a": ip_a, "ip_b": ip_b}
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "pids", ns], capture_output=True)
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                subprocess.run(["kill", "-9", pid], capture_output=True)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def on(ns: str, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """A process (and its children, in a session of their own) on host ``ns``."""
    return subprocess.Popen(["ip", "netns", "exec", ns, "env", *[f"{k}={v}" for k, v in env.items()], *args],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def stop(p: subprocess.Popen) -> str:
    """Kill a process started by ``on`` with everything it started; its output."""
    import signal

    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return p.communicate(timeout=30)[0] or ""


def base_env() -> dict[str, str]:
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "BYOB_JAX_CACHE") if k in os.environ}
    return {**keep, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}


SWEEP = '''
name = "two-hosts"
trials = 2
sampler = "random"
pruning = false
[set]
"job.epochs" = 1
"job.samples" = 40
"network.t_present" = 100.0
"network.n_hidden" = 20
[space."network.w_inh"]
type = "float"
low = 20.0
high = 200.0
'''


def test_a_sweep_with_its_scheduler_on_one_host_and_its_worker_on_another(hosts, tmp_path):
    (tmp_path / "sweep.toml").write_text(SWEEP)
    env = base_env()
    sched = on(hosts["a"], [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", hosts["ip_a"],
                            "--port", "8786", "--no-dashboard"], env, tmp_path)
    worker = on(hosts["b"], [sys.executable, "-m", "distributed.cli.dask_worker", f"tcp://{hosts['ip_a']}:8786",
                             "--host", hosts["ip_b"], "--nthreads", "1", "--no-dashboard"], env, tmp_path)
    try:
        r = subprocess.run(["ip", "netns", "exec", hosts["a"], "env", *[f"{k}={v}" for k, v in env.items()],
                            sys.executable, "-m", "pipeline.cli", "sweep", "sweep.toml", "--store", "s.zarr",
                            "--scheduler", f"tcp://{hosts['ip_a']}:8786", "--json"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        assert json.loads(r.stdout.strip().splitlines()[-1])["trials"] == {"complete": 2}
        from store.runs import open_run

        for n in (0, 1):  # each trial ran on host B's worker
            attrs = open_run(tmp_path / "s.zarr", f"two-hosts-t{n:04d}").attrs
            assert attrs["host"].startswith(f"tcp://{hosts['ip_b']}:"), attrs["host"]
    finally:
        for p in (worker, sched):
            stop(p)


def test_pipeline_evaluation_fans_out_to_a_network_worker_on_another_host(hosts, tmp_path):
    from pipeline.runtime.wiring import free_base_port

    keys = tmp_path / "keys"
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "keys", "--dir", str(keys)], cwd=tmp_path,
                       env={**os.environ, **base_env()}, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    base = free_base_port()
    endpoints = {f"BYOB_{l.name.upper()}_ENDPOINT": f"tcp://{hosts['ip_a']}:{base + l.port_offset}"
                 for l in LINKS.values()}
    env = {**base_env(), **endpoints, "BYOB_KEYS": str(keys), "BYOB_BASE_PORT": str(base)}
    remote = on(hosts["b"], [sys.executable, "-m", "nodes.network"], {**env, "BYOB_NODE_NAME": "network.2"},
                tmp_path)
    pipeline = on(hosts["a"], [sys.executable, "-m", "pipeline.cli", "run", "--epochs", "1", "--samples", "10",
                               "--remote-workers", "1", "--exit-when-done", "--json", "--no-viewer", "--store",
                               "runs.zarr", "--model-dir", "models"], env, tmp_path)
    try:
        try:
            out, _ = pipeline.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            raise AssertionError("the two-host pipeline did not finish:\n" + stop(pipeline)[-4000:]
                                 + "\n--- host B's worker:\n" + stop(remote)[-3000:])
        r = subprocess.CompletedProcess(pipeline.args, pipeline.returncode, out, out)
        assert r.returncode == 0, r.stderr[-4000:]
        res = json.loads(r.stdout.strip().splitlines()[-1])
        assert res["ok"] and res["test_predictions"] == res["test_unique"] == 540
        from store.runs import open_run

        run = open_run(tmp_path / "runs.zarr", res["run"])
        assert "network.2" in run.senders and "network.1" in run.senders  # host B's worker and host A's
        log = run.table("log")
        from store import layout

        remote_i = run.senders.index("network.2")
        preds = log["kind"] == layout.KIND_CODES["prediction"]
        assert (log["sender"][preds] == remote_i).sum() > 0  # host B evaluated test digits
        assert "(CURVE)" in out  # the controller listens encrypted: the endpoints leave the host
    finally:
        out = stop(remote)
        if pipeline.poll() is None:
            stop(pipeline)
    assert "test samples" in out or "job" in out, out[-2000:]  # host B's worker took part
