"""Where one viewer page's JavaScript time goes: a Chrome DevTools CPU profile (sampling,
200 us) of one page watching the synthetic 100 samples/s feed of ``benchmarks.viewer_page``,
summed by function (self time) and by call stack (total time, a function counted once per
sample).

Run: ``JAX_PLATFORMS=cpu python -m benchmarks.viewer_jsprofile [SECONDS]`` (default 10); the
output is what ``results/viewer_jsprofile.txt`` holds. Only JavaScript is profiled: style
recalculation, layout and painting show in ``benchmarks.viewer_page``'s renderer metrics.
"""
import sys, collections
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
import numpy as np
from playwright.sync_api import sync_playwright
from benchmarks.viewer import watched_viewer, synthetic_feed, CHROMIUM, ARGS
secs=float(sys.argv[1]) if len(sys.argv)>1 else 10; rate=100.0
with sync_playwright() as p:
    b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    rng = np.random.default_rng(0)
    with watched_viewer(b, 1) as (pub, view, tabs):
        tabs[0].get_by_text("Waiting for a pipeline").wait_for(timeout=60_000)
        feed = synthetic_feed(pub, rate, rng)
        feed(5.0)
        cdp = tabs[0].context.new_cdp_session(tabs[0])
        cdp.send("Profiler.enable"); cdp.send("Profiler.setSamplingInterval", {"interval": 200}); cdp.send("Profiler.start")
        feed(secs)
        prof = cdp.send("Profiler.stop")["profile"]
    b.close()
nodes = {n["id"]: n for n in prof["nodes"]}
dts = prof["timeDeltas"]; samples = prof["samples"]
self_t = collections.Counter()
for s, d in zip(samples, dts): self_t[s] += d
parent = {}
for n in prof["nodes"]:
    for c in n.get("children", []): parent[c] = n["id"]
def name(n):
    cf = n["callFrame"]; return f"{cf['functionName'] or '(anon)'} {cf['url'].split('/')[-1].split('?')[0]}:{cf['lineNumber']}"
by_self = collections.Counter(); by_total = collections.Counter()
for nid, t in self_t.items():
    by_self[name(nodes[nid])] += t
    seen=set(); x=nid
    while x is not None:
        k=name(nodes[x])
        if k not in seen: by_total[k]+=t; seen.add(k)
        x=parent.get(x)
tot = sum(dts)
print("total profiled ms", tot/1000)
print("== self"); [print(f"{v/tot*100:5.1f}% {k}") for k,v in by_self.most_common(25)]
print("== total"); [print(f"{v/tot*100:5.1f}% {k}") for k,v in by_total.most_common(45)]
