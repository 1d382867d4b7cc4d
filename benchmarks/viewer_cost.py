"""What the viewer costs the lock-step pipeline, apart from what browsers cost.

Run: ``JAX_PLATFORMS=cpu python -m benchmarks.viewer_cost [--cycles 4] [--phase-s 12]
[--browser-phases 2] [--out benchmarks/results/viewer_cost.json]``

One ``byob run --mode lockstep --no-record --no-viewer`` long enough for every phase;
phases alternate inside that one run, so the machine's drift cancels:

- ``none``: no viewer, no one on the bus (the nodes make no monitoring messages);
- ``watched``: no viewer, a plain SUB socket taking everything on the bus (as
  ``benchmarks.watched_cost``): what the nodes' monitoring messages and the hub cost,
  which any subscriber brings about;
- ``viewer``: a viewer server (``byob view --bus``, at its default nice 10) with 4 Bokeh
  client sessions (``benchmarks.viewer_clients``: ``bokeh.client.pull_session``, each
  taking every update over its websocket and drawing nothing);
- ``browser`` (after the cycles): the same, plus one real page in headless chromium
  (Playwright): its processes' CPU is reported apart;
- ``no_validator`` (paired with ``none``): no viewer, and the validator process
  (``nodes.validator``, in every other phase as in the Procfile) stopped with SIGSTOP: the
  controller finds it silent within 2 s and forwards it nothing; SIGCONT after the phase.
  none/no_validator is what periodic validation costs.

A viewer phase starts the server, waits for its URL and for the 4 sessions, lets it
settle, then counts; the server is stopped before the next ``none`` phase. Throughput
is the controller's count of training predictions (``byob status``) at a phase's start
and end. Reported: samples/s per phase and their medians, viewer/none, the CPU seconds
per second of the viewer server, the client sessions and the browser in each phase, and
the load average. One JSON object on stdout and in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from benchmarks.watched_cost import Watcher, trained

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SESSIONS = 4


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def tree(pid: int) -> list[psutil.Process]:
    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    except psutil.Error:
        return []


def browser_procs() -> list[psutil.Process]:
    """This process's chromium descendants (Playwright's driver starts them), not other
    users' browsers on the same machine."""
    return [p for p in psutil.Process().children(recursive=True)
            if "chrom" in " ".join(p.cmdline() if p.is_running() else [])]


class Lines:
    """A subprocess's stdout, collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: [self.lines.append(ln) for ln in self.p.stdout], daemon=True).start()

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for ln in list(self.lines):
                m = re.search(pattern, ln)
                if m:
                    return m
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.p.args[:4]} exited: {''.join(self.lines)[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"no {pattern!r} within {timeout} s: {''.join(self.lines)[-2000:]}")

    def stop(self) -> int:
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        return self.p.returncode


def start_viewer(env: dict[str, str], port: int, store: str) -> tuple[Lines, Lines, str]:
    from viewer.serve import free_port

    view = Lines([sys.executable, "-m", "pipeline.cli", "view", "--bus", f"tcp://127.0.0.1:{port + 7}",
                  "--port", str(free_port()), "--store", store], env)
    url = view.wait_for(r"byob viewer: (http://127\.0\.0\.1:\d+/)", 120).group(1)
    clients = Lines([sys.executable, "-m", "benchmarks.viewer_clients", url, "--sessions", str(SESSIONS)], env)
    clients.wait_for(rf'"connected": {SESSIONS}', 120)
    return view, clients, url


def changes(clients: Lines) -> int:
    for ln in reversed(clients.lines):
        m = re.search(r'"changes": (\d+)', ln)
        if m:
            return int(m.group(1))
    return 0


def validator_pid(run: Lines) -> int | None:
    for p in tree(run.p.pid):
        try:
            if "nodes.validator" in " ".join(p.cmdline()):
                return p.pid
        except psutil.Error:
            pass
    return None


def measure(phase_s: float, settle_s: float, cycles: int, browser_phases: int, validator_cycles: int) -> dict:
    from pipeline.runtime.wiring import free_base_port

    port = free_base_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BYOB_BASE_PORT": str(port), "JAX_PLATFORMS": "cpu",
           "PYTHONUNBUFFERED": "1"}
    phases: list[dict] = []
    browser = pw = None
    vpid: int | None = None
    with tempfile.TemporaryDirectory() as d:
        run = Lines([sys.executable, "-m", "pipeline.cli", "run", "--epochs", "200", "--mode", "lockstep",
                     "--exit-when-done", "--json", "--no-record", "--no-viewer", "--model-dir", d], env)
        try:
            while True:  # until training is under way
                got = trained(port)
                if got and got[1] > 50:
                    break
                if run.p.poll() is not None:
                    raise RuntimeError("byob run ended before training: " + "".join(run.lines)[-2000:])
                time.sleep(0.3)
            kinds = ["none", "watched", "viewer"] * cycles + ["no_validator", "none"] * validator_cycles + \
                ["browser"] * browser_phases
            vpid = validator_pid(run)
            for kind in kinds:
                view = clients = page = watcher = None
                stopped = False
                try:
                    if kind == "watched":
                        watcher = Watcher(f"tcp://127.0.0.1:{port + 7}")
                        watcher.start()
                    elif kind == "no_validator":
                        if vpid is None:
                            continue
                        os.kill(vpid, signal.SIGSTOP)
                        stopped = True
                    elif kind != "none":
                        view, clients, url = start_viewer(env, port, f"{d}/no-store.zarr")
                        if kind == "browser":
                            if browser is None:
                                from playwright.sync_api import sync_playwright
                                pw = sync_playwright().start()
                                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                            page = browser.new_page(viewport={"width": 1440, "height": 1200})
                            page.goto(url)
                            page.locator(".byob-status").wait_for(timeout=60_000)
                    time.sleep(settle_s)
                    procs = {"viewer": tree(view.p.pid) if view else [], "clients": tree(clients.p.pid) if clients else [],
                             "browser": browser_procs() if page else [],
                             "validator": tree(vpid) if vpid and not stopped else []}
                    cpu0 = {k: cpu_seconds(v) for k, v in procs.items()}
                    ch0 = changes(clients) if clients else 0
                    a = trained(port)
                    if page is not None:
                        page.wait_for_timeout(phase_s * 1000)  # the page's own loop keeps drawing meanwhile
                    else:
                        time.sleep(phase_s)
                    b = trained(port)
                    cpu1 = {k: cpu_seconds(v) for k, v in procs.items()}
                    ch1 = changes(clients) if clients else 0
                    if a is None or b is None:
                        break  # (the finally below still stops this phase's processes)
                    dt = b[0] - a[0]
                    phases.append({"kind": kind, "samples_per_second": round((b[1] - a[1]) / dt, 1),
                                   "cpu_per_s": {k: round((cpu1[k] - cpu0[k]) / dt, 3) for k in procs if procs[k]},
                                   "session_changes_per_s": round((ch1 - ch0) / dt, 1) if clients else None,
                                   "load": [round(x, 2) for x in os.getloadavg()]})
                    print(json.dumps(phases[-1]), file=sys.stderr, flush=True)
                finally:  # stopped whatever happened, so nothing of this phase outlives it
                    if stopped:
                        os.kill(vpid, signal.SIGCONT)
                    if watcher is not None:
                        watcher.stop()
                    if page is not None:
                        page.close()
                    for p in (clients, view):
                        if p is not None:
                            p.stop()
                time.sleep(1.0)  # the bus unwatched again before the next phase counts
        finally:
            if browser is not None:
                browser.close()
                pw.stop()
            run.stop()
    rates = {k: [p["samples_per_second"] for p in phases if p["kind"] == k]
             for k in ("none", "watched", "viewer", "browser", "no_validator")}
    med = {k: statistics.median(v) for k, v in rates.items() if v}

    def med_cpu(kind: str, what: str) -> float | None:
        v = [p["cpu_per_s"][what] for p in phases if p["kind"] == kind and what in p["cpu_per_s"]]
        return round(statistics.median(v), 3) if v else None
    return {
        "phases": phases, "median_samples_per_second": med,
        "viewer_over_none": round(med["viewer"] / med["none"], 3) if "viewer" in med and "none" in med else None,
        "watched_over_none": round(med["watched"] / med["none"], 3) if "watched" in med and "none" in med else None,
        "viewer_over_watched": round(med["viewer"] / med["watched"], 3) if "viewer" in med and "watched" in med else None,
        "browser_over_none": round(med["browser"] / med["none"], 3) if "browser" in med and "none" in med else None,
        "none_over_no_validator": round(med["none"] / med["no_validator"], 3)
        if "no_validator" in med and "none" in med else None,
        "validator_found": vpid is not None,
        "median_cpu_per_s": {"viewer_server": med_cpu("viewer", "viewer"), "client_sessions": med_cpu("viewer", "clients"),
                             "browser_page": med_cpu("browser", "browser"),
                             "viewer_server_with_page": med_cpu("browser", "viewer"),
                             "validator": med_cpu("none", "validator")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=4, help="none/watched/viewer triples")
    ap.add_argument("--phase-s", type=float, default=12.0)
    ap.add_argument("--settle-s", type=float, default=3.0)
    ap.add_argument("--browser-phases", type=int, default=2)
    ap.add_argument("--validator-cycles", type=int, default=3, help="no_validator/none pairs")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    out = {"benchmark": "viewer_cost", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "commit": commit, "command": "python -m benchmarks.viewer_cost " + " ".join(sys.argv[1:]),
           "cpus": os.cpu_count(), "sessions": SESSIONS, "phase_s": a.phase_s, "settle_s": a.settle_s,
           "load_before": [round(x, 2) for x in os.getloadavg()],
           **measure(a.phase_s, a.settle_s, a.cycles, a.browser_phases, a.validator_cycles),
           "load_after": [round(x, 2) for x in os.getloadavg()]}
    text = json.dumps(out, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
