"""Accuracy tuning runs (ad hoc, not a target benchmark): one configuration, one split.

Run: ``python -m benchmarks.tuning '{"network": {...}, "learning": {...}}' EPOCHS SPLIT [--long]``
(``"_l2": c`` instead normalises each hidden neuron's input weights to L2 norm c). Prints one
JSON line: test accuracy after each epoch, and diagnostics on the trained model: label
assignment and a logistic regression on hidden spike counts (diagnostics only, not the
prediction path), spikes per sample, output ties, silent neurons; the per-epoch accuracy is
at the test presentation time (``test_factor`` x t_present; runs before 2026-11-30 at t_present); with ``--long`` also the
test accuracy when digits are shown for 400 and 800 ms; with ``--test-drive`` the test
accuracy when test digits are shown at 2x, 3x and 4x the input rates (200 ms) and for 600 ms;
with ``--test-factors=3,4,5`` the test accuracy at each of these test_factor values.

``benchmarks/results/tuning.jsonl`` holds the session's runs (two parallel runs at a time on
the 2-core machine). Two configurations in it, ``network.hidden_teacher`` and
``learning.w_ho_min``, were options tried then removed; they no longer load.
"""
import json, sys, time
import numpy as np
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from pipeline.base.config import Config, NetworkConfig, LearningConfig
from pipeline.base.data import load_split
from pipeline.base.schedule import EVAL_EPOCH, eval_batches
from pipeline.app.trainer import train
from nodes.network.present import infer
from nodes.network.present import present
from nodes.network.params import init_params
from nodes.network.core import NetworkCore

ov = json.loads(sys.argv[1]); epochs = int(sys.argv[2]); split = int(sys.argv[3])
long_eval = "--long" in sys.argv
drive_eval = "--test-drive" in sys.argv
factors = [float(f) for a in sys.argv if a.startswith("--test-factors=") for f in a.split("=", 1)[1].split(",")]
cfg = Config(NetworkConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in ov.get("network", {}).items()}),
             LearningConfig(**ov.get("learning", {})))
s = load_split(split)
p = init_params(cfg.network, 0)
if "_l2" in ov:
    import jax.numpy as jnp
    import nodes.learner.core as lc
    c = float(ov["_l2"])
    lc._normalise = lambda w, total: w * (c / jnp.maximum(jnp.sqrt((w * w).sum(axis=0, keepdims=True)), 1e-9))
    w = np.asarray(p.w_ih); w = w * (c / np.sqrt((w * w).sum(0, keepdims=True)))
    p = p.replace(w_ih=np.clip(w, 0, cfg.network.w_max).astype(np.float32))
accs = []; outstat = {}
def on_epoch(log, params):
    c, pr = infer(params, cfg.testing(), s.X_test, 0)  # as `byob train` evaluates
    accs.append(round(float((pr == s.y_test).mean()), 4))
    srt = np.sort(c, 1)
    outstat.update(out_spikes=round(float(c.sum(1).mean()), 1), ties=round(float((srt[:, -1] == srt[:, -2]).mean()), 3))
t = time.time()
r = train(p, cfg, s.X_train, s.y_train, epochs, None, 0, on_epoch=on_epoch)
el = time.time() - t
# The trained network tested in other ways: each variant is a network config for infer.
net = cfg.network
variants = [(f"acc_{int(tp)}ms", net.replace(t_present=tp)) for tp in ((400.0, 800.0) if long_eval else ())]
variants += [(f"acc_{name}", net.replace(**change)) for name, change in (
    (("rate_x2", dict(max_rate=2 * net.max_rate)), ("rate_x3", dict(max_rate=3 * net.max_rate)),
     ("rate_x4", dict(max_rate=4 * net.max_rate)), ("t_600ms", dict(t_present=600.0))) if drive_eval else ())]
variants += [(f"acc_test_factor_{f:g}", net.replace(test_factor=f).testing()) for f in factors]
long = {}
for name, n2 in variants:
    _, pr2 = infer(r.params, Config(n2, cfg.learning), s.X_test, 0)
    long[name] = round(float((pr2 == s.y_test).mean()), 4)
# diagnostic: label assignment from hidden counts
core = NetworkCore.for_config(cfg.network)
def hcounts(X, ep):
    out = np.zeros((len(X), cfg.network.n_hidden))
    for ids, pad in eval_batches(len(X)):
        res, _ = present(core, r.params, X[pad], 0, ep, pad, None, rasters=False)
        out[ids] = res.hidden_counts()[:len(ids)]
    return out
htr, hte = hcounts(s.X_train, EVAL_EPOCH + 1), hcounts(s.X_test, EVAL_EPOCH)
resp = np.stack([htr[s.y_train == c].mean(0) for c in range(10)])  # (10, H)
assign = resp.argmax(0)
score = np.stack([hte[:, assign == c].sum(1) / max((assign == c).sum(), 1) for c in range(10)], 1)
la = float((score.argmax(1) == s.y_test).mean())
from sklearn.linear_model import LogisticRegression
lr = LogisticRegression(max_iter=2000).fit(htr, s.y_train)
lra = float(lr.score(hte, s.y_test))
print(json.dumps({"ov": ov, "split": split, "epochs": epochs,
                  "acc": accs, "label_assign": round(la, 4), "logreg": round(lra, 4),
                  "mean_hidden_spikes": round(float(hte.sum(1).mean()), 1),
                  **outstat, **long, "silent_neurons": int((htr.sum(0) == 0).sum()), "sec": round(el, 1)}), flush=True)
