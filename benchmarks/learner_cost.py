"""The learner node's own work per presentation, in one process (ad hoc).

Run: ``python -m benchmarks.learner_cost``. Times, per sample, what the learner node does
with one presentation message: decode it to a raster, split and update (dispatch), wait for
the update and build the weight message, encode it. Prints milliseconds per step.
"""
import sys, time, numpy as np
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from pipeline.base.messages import SpikeBatch, WeightUpdate, decode, PRESENTATION
from pipeline.base.config import Config
from nodes.network.params import init_params
from nodes.learner.core import LearnerCore, plastic_of
cfg = Config(); n = cfg.network
width = n.n_input + n.n_hidden + 2 * n.n_output  # the presentation's four layers
r = np.random.default_rng(0).random((1, n.n_steps, width)) < 0.02
fr = SpikeBatch.from_raster(r, run="r", seq=1, sender="n", population=PRESENTATION, dt=0.5, sample_ids=np.array([1]), labels=np.array([1]), epoch=0, attempt=0, weight_version=0).to_wire()
fr = [bytes(f) for f in fr]
p = init_params(n, 0); lc = LearnerCore(n, cfg.learning, p); st = plastic_of(p)
T = {}
def step():
    global st
    t0 = time.perf_counter(); m = decode(fr); raster = m.to_raster()[0]
    t1 = time.perf_counter()
    st = lc.update_joined(st, raster, 0.5)  # as the node does
    t2 = time.perf_counter()
    w = WeightUpdate(run="r", seq=1, sender="l", version=1, samples_seen=1, w_ih=np.asarray(st.w_ih), theta=np.asarray(st.theta), w_ho=np.asarray(st.w_ho))
    t3 = time.perf_counter(); w.to_wire(); t4 = time.perf_counter()
    for k, d in zip(("decode", "update-dispatch", "sync+construct", "wire"), (t1-t0, t2-t1, t3-t2, t4-t3)): T[k] = T.get(k, 0) + d
for _ in range(20): step()
T.clear()
for _ in range(300): step()
print({k: round(v / 300 * 1e3, 3) for k, v in T.items()})
