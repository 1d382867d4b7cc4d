"""What one viewer page costs the browser: chromium and viewer-server CPU (cores, from
/proc) and the first page's renderer metrics (Chrome DevTools Performance.getMetrics, per
second) while N pages watch a synthetic feed of 100 training samples/s (spikes of the
three layers, predictions, traces every 10th sample, metrics, a weight snapshot every 100).

Run: ``JAX_PLATFORMS=cpu python -m benchmarks.viewer_page CODE_DIR PAGES SECONDS``; CODE_DIR
is the checkout whose viewer is served (a worktree of an older commit gives the baseline);
the feed and the measuring are this checkout's.
``results/viewer_page.json`` holds the runs of this session (baseline and new, same hour).
"""
import sys, time, json
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np
from playwright.sync_api import sync_playwright
import benchmarks.viewer as bv
from benchmarks.viewer import watched_viewer, synthetic_feed, cpu_seconds, CHROMIUM, ARGS
bv.ROOT = Path(sys.argv[1]).resolve()  # the viewer server runs the code of CODE_DIR
pages = int(sys.argv[2]); secs = float(sys.argv[3]); rate = 100.0
def cpu():
    return cpu_seconds(lambda cmd: "chromium" if "chromium" in cmd else "viewer" if "cli view" in cmd else None)
with sync_playwright() as p:
    b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    rng = np.random.default_rng(0)
    with watched_viewer(b, pages) as (pub, view, tabs):
        for t in tabs: t.get_by_text("Waiting for a pipeline").wait_for(timeout=60_000)
        feed = synthetic_feed(pub, rate, rng)
        feed(5.0)  # warm-up
        cdp = tabs[0].context.new_cdp_session(tabs[0]); cdp.send("Performance.enable")
        m0 = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        c0 = cpu(); t = time.monotonic()
        feed(secs)
        el = time.monotonic() - t; c1 = cpu()
        m1 = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    b.close()
res = {k: round((c1[k] - c0[k]) / el, 3) for k in c1}
page = {k: round((m1[k] - m0[k]) / el, 3) for k in ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "LayoutCount", "RecalcStyleCount")}
print(json.dumps({"pages": pages, "cores": res, "page0_per_s": page}))
