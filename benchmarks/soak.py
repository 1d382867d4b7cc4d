"""Soak: the pipeline kept busy for a long time with viewers attached.

Run: ``python -m benchmarks.soak [--minutes 30] [--out FILE]`` (not part of the tests)

`byob run` (async mode, the supervisor, the recorder, the Procfile's viewer) plus a
second viewer server stay up while training jobs (1 epoch, async) and evaluation jobs
are submitted back to back. ``--pages`` headless chromium pages (Playwright) stay open
on each viewer server for the whole soak, so both viewers render what they receive.
Every ``--every`` seconds it samples each process's resident memory (/proc) and the
controller's status (samples/s, dropped counts).
Reported: memory of every process after the first job (warm) and at the end, and
their ratio (target: flat within 10%); messages dropped on training links (target 0:
nodes' dropped counters and the recorder's missing counts); throughput over time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from benchmarks.report import write

ROOT = Path(__file__).resolve().parents[1]


def tree_rss(root_pid: int) -> dict[str, int]:
    """Resident KiB of every process below ``root_pid``, by its node name."""
    out: dict[str, int] = {}
    rows = subprocess.run(["ps", "-eo", "pid=,ppid=,rss=,args="], capture_output=True, text=True).stdout
    procs = [(int(p), int(pp), int(r), a) for p, pp, r, a in (l.split(None, 3) for l in rows.splitlines())]
    children: dict[int, list] = {}
    for p in procs:
        children.setdefault(p[1], []).append(p)
    stack = [root_pid]
    while stack:
        for pid, _, rss, args in children.get(stack.pop(), []):
            stack.append(pid)
            for mod in ("pipeline.app.controller", "nodes.encoder", "nodes.network", "nodes.learner",
                        "nodes.recorder", "viewer"):
                if f"-m {mod}" in args:
                    name = mod.split(".")[-1] + f"#{pid}"
                    out[name] = rss
    return out


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def byob(*args: str, env: dict) -> dict[str, Any]:
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", *args, "--json"], env=env, capture_output=True,
                       text=True, timeout=60)
    return json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {"error": r.stderr[-500:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    ap.add_argument("--pages", type=int, default=1, help="browser pages open on each viewer server")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from benchmarks.viewer import ARGS, CHROMIUM
    from pipeline.runtime.wiring import free_base_port

    port = free_base_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BYOB_BASE_PORT": str(port), "JAX_PLATFORMS": "cpu"}
    with tempfile.TemporaryDirectory() as d:
        env["BYOB_STORE"] = f"{d}/runs.zarr"
        run = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", "--epochs", "1", "--mode", "async",
                                "--model-dir", d], cwd=d, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        viewer2 = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "view", "--port", str(port + 20)],
                                   cwd=d, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples: list[dict[str, Any]] = []
        pw = sync_playwright().start()
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tabs = []
        try:
            t0 = time.time()
            while "finished" not in (st := byob("status", env=env)) or not st["finished"]:
                assert time.time() - t0 < 600 and run.poll() is None, "the first job did not finish"
                time.sleep(5)
            for url in (f"http://127.0.0.1:{port + 10}", f"http://127.0.0.1:{port + 20}"):
                for _ in range(a.pages):
                    tabs.append(browser.new_page())
                    tabs[-1].goto(url)
            tabs[-1].wait_for_timeout(20_000)  # pages loaded and filled before the warm sample
            warm = {**tree_rss(run.pid), f"viewer2#{viewer2.pid}": rss_of(viewer2.pid)}
            t_start, last = time.time(), 0.0
            model = st["finished"][0]["model"]
            while time.time() - t_start < a.minutes * 60:
                st = byob("status", env=env)
                if not st.get("queued") and not st.get("job"):
                    byob("submit", "train", "--epochs", "1", "--mode", "async", "--model-dir", d, env=env)
                    byob("submit", "evaluate", "--model", model, env=env)
                if time.time() - last >= a.every:
                    last = time.time()
                    rss = {**tree_rss(run.pid), f"viewer2#{viewer2.pid}": rss_of(viewer2.pid)}
                    job = st.get("job") or {}
                    samples.append({"t": round(last - t_start, 1), "rss_kib": rss,
                                    "samples_per_second": job.get("samples_per_second"),
                                    "dropped": st.get("dropped"),
                                    "node_dropped": {n: v.get("dropped") for n, v in st.get("nodes", {}).items()}})
                    print(json.dumps(samples[-1]), file=sys.stderr)
                if tabs:  # the pages' event loop runs while the soak waits
                    tabs[-1].wait_for_timeout(2_000)
                else:
                    time.sleep(2)
            t_end = time.time()  # let the jobs in hand finish, so every recorded run can end "done"
            while ((st := byob("status", env=env)).get("queued") or st.get("job")) and time.time() - t_end < 600:
                time.sleep(2)
            final = byob("status", env=env)
            runs = json.loads(subprocess.run([sys.executable, "-m", "pipeline.cli", "runs", "--json"], env=env,
                                             capture_output=True, text=True).stdout.strip().splitlines()[-1])
        finally:
            browser.close()
            pw.stop()
            for p in (run, viewer2):
                p.terminate()
            for p in (run, viewer2):
                p.wait(timeout=60)
    end = samples[-1]["rss_kib"] if samples else {}
    ratio = {k: round(end[k] / warm[k], 3) for k in warm if k in end and warm[k]}
    rates = [s["samples_per_second"] for s in samples if s["samples_per_second"]]
    out = {"benchmark": "soak", "command": f"python -m benchmarks.soak --minutes {a.minutes:g} --pages {a.pages}",
           "minutes": a.minutes, "pages_per_viewer": a.pages, "rss_warm_kib": warm, "rss_end_kib": end,
           "rss_end_over_warm": ratio,
           "max_rss_ratio": max(ratio.values()) if ratio else None,
           "runs_recorded": len(runs),
           "runs_not_done": {r["run"]: r.get("status") for r in runs if r.get("status") != "done"},
           "dropped_final": final.get("dropped"),
           "node_dropped_final": {n: v.get("dropped") for n, v in final.get("nodes", {}).items()},
           "samples_per_second": {"median": statistics.median(rates) if rates else None,
                                  "first": rates[:3], "last": rates[-3:]},
           "timeline": samples}
    write(out, a.out)


if __name__ == "__main__":
    main()
