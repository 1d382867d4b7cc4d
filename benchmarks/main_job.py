"""The main job against `byob train`: wall time from the command to the default brain saved.

Run: ``python -m benchmarks.main_job [--repeats R] [--page] [--out FILE]``

Each repeat runs, one after the other in a fresh folder, `byob train` (the default job,
start-up and its per-epoch test evaluations included) and `byob run --exit-when-done` (the
Procfile's processes: controller, encoder, network, learner, recorder, validator and the
viewer server, start-up included, until the brain is saved and the run recorded). With
``--page``, a headless Chromium page is attached to the viewer as soon as it serves and
stays for the whole run. Compile caches are warm after the first repeat (as after a first
``make run``). The ratio run / train of each repeat, and their median, are what to read.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import stamp, write

BROWSER_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--remote-debugging-port=0"]


def timed(cmd: list[str], cwd: str, env: dict[str, str], page: bool) -> float:
    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    browser = None
    for line in p.stderr:
        if page and browser is None and "byob viewer: http" in line:
            url = line.split("byob viewer: ", 1)[1].split()[0]
            browser = subprocess.Popen([shutil.which("chromium") or "chromium", *BROWSER_FLAGS,
                                        f"--user-data-dir={tempfile.mkdtemp()}", url],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rc = p.wait()
    wall = time.perf_counter() - t
    if browser is not None:
        browser.kill()
    if rc:
        raise SystemExit(f"{' '.join(cmd)} exited {rc}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--page", action="store_true", help="attach a headless Chromium page to the viewer")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    byob = str(Path(sys.executable).with_name("byob"))
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    rows: dict[str, list[float]] = {"train_s": [], "run_s": [], "ratio": []}
    for rep in range(a.repeats):
        with tempfile.TemporaryDirectory() as d:
            tr = timed([byob, "train", "--model-dir", "m"], d, env, False)
            run = timed([byob, "run", "--exit-when-done", "--model-dir", "m", "--store", "runs.zarr"], d, env, a.page)
        for k, v in zip(rows, (tr, run, run / tr)):
            rows[k].append(v)
        print(f"repeat {rep + 1}: train {tr:.2f} s, run {run:.2f} s, ratio {run / tr:.3f}", file=sys.stderr)
    out = {"benchmark": "main_job", "command": "python -m benchmarks.main_job --repeats "
                                               f"{a.repeats}{' --page' if a.page else ''}",
           **stamp(),
           "median": {k: round(statistics.median(v), 3) for k, v in rows.items()},
           "all": {k: [round(x, 3) for x in v] for k, v in rows.items()}, "load_average_after": os.getloadavg()}
    write(out, a.out)


if __name__ == "__main__":
    main()
