"""Viewer benchmarks: bus-to-page latency, and pipeline throughput with viewers attached.

Run: ``JAX_PLATFORMS=cpu python -m benchmarks.viewer [--messages 200] [--samples 500]
[--repeats 3] [--skip-throughput] [--memory-minutes M] [--only-memory]
[--out benchmarks/results/viewer.json]``

- latency: a PUB socket bound here stands in for the bus hub; ``byob view --bus`` serves a
  viewer on it, opened in headless chromium (Playwright). ``Metrics`` messages go out at
  10 per second, each with a counter in ``trained``; a ``requestAnimationFrame`` loop in
  the page notes (``Date.now()``) when each counter first appears in the page's metrics
  data source, i.e. in the frame that draws it (several may arrive in one frame).
  Latency = seen - published, on the same clock.
- throughput: training samples/s of ``byob run --exit-when-done`` with no viewer
  (``--no-viewer``), with the Procfile's viewer and no browser, and with the viewer and
  4 browser pages open the whole run, and with 4 pages of a browser started at nice 10.
  Runs alternate; medians over repeats. On a machine with few cores the browsers' own
  rendering competes with the pipeline's processes for CPU: that, not any waiting on the
  viewer, is what the figure shows (the viewer server itself runs at nice 10).
- memory: the viewer server's RSS (every 10 s) while 4 pages watch a synthetic run of
  20 samples/s for ``--memory-minutes`` (``--only-memory`` adds it to an existing result).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from collections import Counter
from typing import Any, Callable

from pipeline.runtime.wiring import free_base_port
from viewer.serve import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
WATCH_JS = """() => { window.__seen = {};
  const find = () => { for (const d of Bokeh.documents) { const s = d.get_model_by_name('byob_metrics');
                       if (s) return s; } return null; };
  const tick = () => { const s = find();
    if (s && s.data.trained) { const now = Date.now();  // every point new in this frame
      for (const k of s.data.trained) if (!(k in window.__seen)) window.__seen[k] = now; }
    requestAnimationFrame(tick); };
  requestAnimationFrame(tick); }"""





class Proc:
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.p = subprocess.Popen([sys.executable, "-m", *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.p.stdout), daemon=True).start()

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, "".join(self.lines))
            if m:
                return m
            if self.p.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"no {pattern!r}: {''.join(self.lines)[-2000:]}")

    def stop(self) -> int:
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        return self.p.returncode


def nice_wrapper(tmp: Path) -> str:
    """A chromium started at nice 10. (With the kernel's autogroups, sched_autogroup_enabled
    on this machine, a process's nice counts only against processes of its own session.)"""
    w = tmp / "chromium-nice"
    w.write_text(f'#!/bin/sh\nexec nice -n 10 {CHROMIUM} "$@"\n')
    w.chmod(0o755)
    return str(w)


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1"}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def watched_viewer(browser, pages: int):
    """A viewer server on a bus of our own (a PUB socket) with ``pages`` browser pages
    open on it; yields (pub, view, tabs) and closes them all afterwards."""
    import zmq

    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    view = Proc(["pipeline.cli", "view", "--bus", f"tcp://127.0.0.1:{port}", "--port", str(free_port()),
                 "--store", "/nonexistent.zarr"], env())
    tabs = []
    try:
        url = view.wait_for(r"byob viewer: (http://\S+)", 60).group(1)
        tabs.extend(browser.new_page() for _ in range(pages))
        for t in tabs:
            t.goto(url)
        yield pub, view, tabs
    finally:
        for t in tabs:
            t.close()
        view.stop()
        pub.close(0)
        ctx.term()


def latency(browser, n: int, rate: float = 10.0, pages: int = 1) -> dict[str, Any]:
    from pipeline.base.messages import Metrics

    with watched_viewer(browser, pages) as (pub, view, tabs):
        for t in tabs:
            t.get_by_text("Waiting for a pipeline").wait_for(timeout=60_000)
        page = tabs[0]
        page.evaluate(WATCH_JS)
        seq, sent = 0, {}
        # Warm up: the subscription, the first points, the page's first renders.
        while not page.evaluate("() => Object.keys(window.__seen).length"):
            seq += 1
            pub.send_multipart(Metrics(run="bench", seq=seq, sender="bench", values={"trained": -seq}).to_wire())
            time.sleep(0.1)
        rss0 = rss_mb(view.p.pid)
        t0 = time.monotonic()
        for k in range(n):
            time.sleep(max(0.0, t0 + k / rate - time.monotonic()))
            seq += 1
            sent[k] = time.time() * 1000
            pub.send_multipart(Metrics(run="bench", seq=seq, sender="bench",
                                       values={"trained": float(k), "samples_per_second": 10.0}).to_wire())
        time.sleep(1.0)
        seen = page.evaluate("() => window.__seen")
        rss1 = rss_mb(view.p.pid)
    lat = sorted(float(seen[str(k)]) - sent[k] for k in range(n) if str(k) in seen)
    if not lat:
        raise RuntimeError("the page never showed a benchmark message")
    q = statistics.quantiles(lat, n=10)
    return {"messages": n, "rate_per_s": rate, "pages": pages, "seen": len(lat),
            "median_ms": round(statistics.median(lat), 1), "p90_ms": round(q[-1], 1),
            "max_ms": round(lat[-1], 1), "min_ms": round(lat[0], 1),
            "viewer_rss_mb": [round(rss0, 1), round(rss1, 1)]}


def send_sample(send: Callable[[str, Callable[[int], Any]], None], rng, k: int, rate: float, *,
                traces: bool, metrics: bool, weights: bool) -> None:
    """The bus messages of synthetic training sample ``k`` through ``send(sender, make)``
    (``make(seq)`` builds the message): input, hidden and output spikes, optionally the
    hidden membrane traces, the prediction, optionally the controller's metrics and a
    learner weight snapshot."""
    import numpy as np

    from pipeline.base.messages import Metrics, Prediction, SpikeBatch, Traces, WeightUpdate

    label = k % 10
    for pop, n, p_fire in (("input", 64, 0.02), ("hidden", 100, 0.001), ("output", 10, 0.002)):
        raster = rng.random((1, 400, n)) < p_fire
        send("network.1", lambda s: SpikeBatch.from_raster(
            raster, run="bench", seq=s, sender="network.1", population=pop, dt=0.5,
            sample_ids=[k], labels=[label]))
    if traces:
        send("network.1", lambda s: Traces(run="bench", seq=s, sender="network.1", population="hidden",
                                           dt=0.5, sample_ids=np.array([k]), neurons=np.arange(4, dtype=np.int32),
                                           values=rng.normal(-60, 3, (1, 400, 4)).astype(np.float32)))
    send("network.1", lambda s: Prediction(run="bench", seq=s, sender="network.1", sample_ids=np.array([k]),
                                           labels=np.array([label]), predicted=np.array([rng.integers(10)]),
                                           counts=rng.integers(0, 5, (1, 10)).astype(np.int32),
                                           phase="train"))
    if metrics:
        send("controller", lambda s: Metrics(run="bench", seq=s, sender="controller",
                                             values={"trained": float(k), "samples_per_second": rate}))
    if weights:
        send("learner.1", lambda s: WeightUpdate(
            run="bench", seq=s, sender="learner.1", version=k, samples_seen=k,
            w_ih=rng.random((64, 100), dtype=np.float32), theta=np.zeros(100, np.float32),
            w_ho=rng.random((100, 10), dtype=np.float32)))


def synthetic_feed(pub, rate: float, rng) -> Callable[[float], None]:
    """``feed(seconds)``: publish synthetic training samples on ``pub`` at ``rate`` per
    second for that long, each through ``send_sample`` (hidden traces every 10th sample,
    metrics every 20th, a weight snapshot every 100th). Sequence numbers go on from call
    to call; sample numbers start at 0 in each."""
    seq: Counter = Counter()

    def send(sender: str, make) -> None:
        seq[sender] += 1
        pub.send_multipart(make(seq[sender]).to_wire())

    def feed(seconds: float) -> None:
        t0 = time.monotonic()
        k = 0
        while time.monotonic() - t0 < seconds:
            time.sleep(max(0.0, t0 + k / rate - time.monotonic()))
            send_sample(send, rng, k, rate, traces=k % 10 == 0, metrics=k % 20 == 0, weights=k % 100 == 0)
            k += 1
    return feed


def cpu_seconds(kind: Callable[[str], str | None]) -> Counter:
    """CPU seconds (user + system) used so far by each kind of process: ``kind(cmdline)``
    names a process's kind, or None to leave it out."""
    out: Counter = Counter()
    tick = os.sysconf("SC_CLK_TCK")
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        name = kind(cmd)
        if name:
            f = stat.rsplit(")", 1)[1].split()
            out[name] += (int(f[11]) + int(f[12])) / tick
    return out


def memory(browser, minutes: float, rate: float = 20.0, pages: int = 4) -> dict[str, Any]:
    """The viewer server's RSS while ``pages`` browsers watch a synthetic run: ``rate``
    samples/s (input, hidden, output spikes, traces, prediction), metrics twice a second and
    a weight snapshot every 100 samples, for ``minutes``."""
    import numpy as np

    rng = np.random.default_rng(0)
    seq = {"network.1": 0, "controller": 0, "learner.1": 0}
    rss: list[tuple[float, float]] = []
    with watched_viewer(browser, pages) as (pub, view, tabs):
        def send(sender: str, make) -> None:
            seq[sender] += 1
            pub.send_multipart(make(seq[sender]).to_wire())

        t0 = time.monotonic()
        k = 0
        while time.monotonic() - t0 < minutes * 60:
            time.sleep(max(0.0, t0 + k / rate - time.monotonic()))
            send_sample(send, rng, k, rate, traces=True, metrics=k % 10 == 0, weights=k % 100 == 0)
            if k % int(rate * 10) == 0:
                rss.append((round(time.monotonic() - t0, 1), round(rss_mb(view.p.pid), 1)))
                tabs[0].wait_for_timeout(1)
            k += 1
    # The state's and the pages' bounded buffers (5,000 rows) fill in the first 5000 / rate s.
    settled = [m for t, m in rss if t >= 5000 / rate] or [m for _, m in rss]
    return {"minutes": minutes, "samples_per_s": rate, "pages": pages, "samples": k, "rss_mb": rss,
            "buffers_full_after_s": 5000 / rate, "when_full_mb": settled[0], "end_mb": settled[-1],
            "max_mb": max(settled), "growth_when_full": round(settled[-1] / settled[0] - 1, 3)}


def pipeline_run(browser, samples: int, viewers: int | None, tmp: Path) -> dict[str, Any]:
    """samples/s of one ``byob run``; viewers None: no viewer at all."""
    e = {**env(), "BYOB_BASE_PORT": str(free_base_port()), "BYOB_VIEWER_PORT": str(free_port())}
    args = ["pipeline.cli", "run", "--epochs", "1", "--samples", str(samples), "--exit-when-done", "--json",
            "--no-record", "--model-dir", str(tmp)]
    proc = Proc(args + (["--no-viewer"] if viewers is None else []), e)
    tabs = []
    try:
        if viewers:
            url = proc.wait_for(r"byob viewer: (http://\S+)", 180).group(1)
            for _ in range(viewers):
                t = browser.new_page()
                t.goto(url)
                tabs.append(t)
        while proc.p.poll() is None:
            time.sleep(0.5)
            if tabs:
                tabs[0].wait_for_timeout(10)
        text = "".join(proc.lines)
    finally:
        for t in tabs:
            t.close()
        proc.stop()
    result = json.loads([ln for ln in text.splitlines() if ln.startswith("{")][-1])
    if not result.get("ok"):
        raise RuntimeError(f"pipeline failed: {result.get('error')}\n{text[-3000:]}")
    return {"samples_per_second": result["samples_per_second"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=200, help="metrics messages for the latency figure")
    ap.add_argument("--samples", type=int, default=300, help="training samples per pipeline run")
    ap.add_argument("--repeats", type=int, default=2, help="pipeline runs per configuration")
    ap.add_argument("--skip-throughput", action="store_true", help="no pipeline runs")
    ap.add_argument("--memory-minutes", type=float, default=0, help="also watch the viewer's memory for "
                    "this long under a synthetic 20 samples/s run with 4 pages (0: skip)")
    ap.add_argument("--only-memory", action="store_true", help="the memory figure alone (added to --out)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "viewer.json"))
    a = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    import tempfile

    out: dict[str, Any] = {"benchmark": "viewer", "command": "JAX_PLATFORMS=cpu python -m benchmarks.viewer "
                           + " ".join(sys.argv[1:] if argv is None else argv), "cpus": os.cpu_count()}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        if a.only_memory:
            out = json.loads(Path(a.out).read_text()) if Path(a.out).exists() else out
            out["memory"] = memory(browser, a.memory_minutes or 10)
            out["memory_command"] = "JAX_PLATFORMS=cpu python -m benchmarks.viewer " + " ".join(
                sys.argv[1:] if argv is None else argv)
            browser.close()
            Path(a.out).write_text(json.dumps(out, indent=2) + "\n")
            print(json.dumps(out["memory"]))
            return 0
        out["latency"] = latency(browser, a.messages)
        print("latency, 1 page:", out["latency"], file=sys.stderr)
        out["latency_4_pages"] = latency(browser, a.messages, pages=4)
        print("latency, 4 pages:", out["latency_4_pages"], file=sys.stderr)
        if not a.skip_throughput:
            runs: dict[str, list[float]] = {"no_viewer": [], "viewer_0_pages": [], "viewer_4_pages": [],
                                            "viewer_4_niced_pages": []}
            with tempfile.TemporaryDirectory() as tmp:
                niced = p.chromium.launch(executable_path=nice_wrapper(Path(tmp)), args=ARGS)
                for r in range(a.repeats):
                    for name, viewers, b in (("no_viewer", None, browser), ("viewer_0_pages", 0, browser),
                                             ("viewer_4_pages", 4, browser), ("viewer_4_niced_pages", 4, niced)):
                        sps = pipeline_run(b, a.samples, viewers, Path(tmp))["samples_per_second"]
                        runs[name].append(round(sps, 2))
                        print(f"repeat {r + 1}: {name}: {sps:.1f} samples/s", file=sys.stderr)
                niced.close()
            med = {k: statistics.median(v) for k, v in runs.items()}
            out["throughput"] = {"samples": a.samples, "repeats": a.repeats, "all": runs,
                                 "median": med, "ratio_4_pages": round(med["viewer_4_pages"] / med["no_viewer"], 3),
                                 "ratio_4_niced_pages": round(med["viewer_4_niced_pages"] / med["no_viewer"], 3),
                                 "ratio_0_pages": round(med["viewer_0_pages"] / med["no_viewer"], 3)}
        if a.memory_minutes:
            out["memory"] = memory(browser, a.memory_minutes)
        browser.close()
    if "memory" not in out and Path(a.out).exists():  # keep a memory figure measured apart
        old = json.loads(Path(a.out).read_text())
        out.update({k: old[k] for k in ("memory", "memory_command", "cpu_split") if k in old})
    Path(a.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
