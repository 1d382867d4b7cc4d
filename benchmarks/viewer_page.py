"""What one viewer page costs the browser: chromium and viewer-server CPU (cores, from
/proc) and the first page's renderer metrics (Chrome DevTools Performance.getMetrics, per
second) while N pages watch a synthetic feed of 100 training samples/s (spikes of the
three layers, predictions, traces every 10th sample, metrics, a weight snapshot every 100).

Run: ``JAX_PLATFORMS=cpu python -m benchmarks.viewer_page CODE_DIR PAGES SECONDS``; CODE_DIR
is the checkout whose viewer is served (a worktree of an older commit gives the baseline).
``results/viewer_page.json`` holds the runs of this session (baseline and new, same hour).
"""
import sys, time, json, collections
from pathlib import Path
ROOT = Path(sys.argv[1]); sys.path.insert(0, str(ROOT))
import benchmarks.viewer as bv
bv.ROOT = ROOT
from benchmarks.viewer import watched_viewer, CHROMIUM, ARGS
import numpy as np
from playwright.sync_api import sync_playwright
from pipeline.messages import Metrics, Prediction, SpikeBatch, Traces, WeightUpdate
pages = int(sys.argv[2]); secs = float(sys.argv[3]); rate = 100.0
def cpu():  # its own /proc reader (as viewer_cpu's): it must also run against older checkouts
    out = collections.Counter()
    for p in Path("/proc").iterdir():
        if not p.name.isdigit(): continue
        try:
            st = (p / "stat").read_text(); cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError: continue
        f = st.rsplit(")", 1)[1].split(); t = (int(f[11]) + int(f[12])) / 100
        if "chromium" in cmd: out["chromium"] += t
        elif "cli view" in cmd: out["viewer"] += t
    return out
with sync_playwright() as p:
    b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    rng = np.random.default_rng(0)
    with watched_viewer(b, pages) as (pub, view, tabs):
        for t in tabs: t.get_by_text("Waiting for a pipeline").wait_for(timeout=60_000)
        seq = collections.Counter()
        def send(sender, make):
            seq[sender] += 1; pub.send_multipart(make(seq[sender]).to_wire())
        def feed(dur):
            t0 = time.monotonic(); k = 0
            while time.monotonic() - t0 < dur:
                time.sleep(max(0.0, t0 + k / rate - time.monotonic()))
                label = k % 10
                for pop, n, pf in (("input", 64, 0.02), ("hidden", 100, 0.001), ("output", 10, 0.002)):
                    raster = rng.random((1, 400, n)) < pf
                    send("network.1", lambda s: SpikeBatch.from_raster(raster, run="bench", seq=s, sender="network.1", population=pop, dt=0.5, sample_ids=[k], labels=[label]))
                if k % 10 == 0:
                    send("network.1", lambda s: Traces(run="bench", seq=s, sender="network.1", population="hidden", dt=0.5, sample_ids=np.array([k]), neurons=np.arange(4, dtype=np.int32), values=rng.normal(-60, 3, (1, 400, 4)).astype(np.float32)))
                send("network.1", lambda s: Prediction(run="bench", seq=s, sender="network.1", sample_ids=np.array([k]), labels=np.array([label]), predicted=np.array([rng.integers(10)]), counts=rng.integers(0, 5, (1, 10)).astype(np.int32), phase="train"))
                if k % 20 == 0:
                    send("controller", lambda s: Metrics(run="bench", seq=s, sender="controller", values={"trained": float(k), "samples_per_second": rate}))
                if k % 100 == 0:
                    send("learner.1", lambda s: WeightUpdate(run="bench", seq=s, sender="learner.1", version=k, samples_seen=k, w_ih=rng.random((64, 100), dtype=np.float32), theta=np.zeros(100, np.float32), w_ho=rng.random((100, 10), dtype=np.float32)))
                k += 1
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
