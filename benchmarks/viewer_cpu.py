"""Where the CPU goes during one `byob run` with viewer pages open (ad hoc).

Run: ``JAX_PLATFORMS=cpu python -m benchmarks.viewer_cpu PAGES SAMPLES`` (PAGES -1: no
viewer). Prints the run's samples/s and the CPU seconds each kind of process used over
the run (from /proc). The ``cpu_split`` entry of ``results/viewer.json`` is
``python -m benchmarks.viewer_cpu 4 500``.
"""
import sys, threading, time, collections, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.viewer import pipeline_run, cpu_seconds, CHROMIUM, ARGS
from playwright.sync_api import sync_playwright
NODES = ("pipeline.app.controller", "nodes.encoder", "nodes.network", "nodes.learner", "-m viewer", "pipeline.cli run")
def snap():
    return cpu_seconds(lambda cmd: "chromium" if "chromium" in cmd else next((m for m in NODES if m in cmd), None))
pages = int(sys.argv[1]); n = int(sys.argv[2])
with sync_playwright() as p:
    b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    base = [None]; peak = collections.Counter()
    stop = False
    def watch():
        while not stop:
            s = snap()
            for k, v in s.items(): peak[k] = max(peak[k], v)
            time.sleep(0.5)
    th = threading.Thread(target=watch, daemon=True); th.start()
    c0 = snap()
    with tempfile.TemporaryDirectory() as d:
        r = pipeline_run(b, n, pages if pages >= 0 else None, Path(d))
    stop = True; th.join()
    print(r, {k: round(v - c0.get(k, 0), 1) for k, v in peak.items()})
    b.close()
