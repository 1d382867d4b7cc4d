"""The learner's update per presentation: the native call (``byob_learn``) against the JAX
program it equals bit for bit, on the presentations of a real training run.

Run: ``python -m benchmarks.learner_update [--samples N] [--repeats R] [--out FILE]``

The first ``samples`` training digits are presented (native kernel) and learned from, and
their rasters kept; then each update is timed over all of them, ``repeats`` times, each
path in turn (the JAX path waits for its result, as the next presentation would). Medians
of microseconds per presentation, and the two paths' results compared bit for bit.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from nodes.learner.core import LearnerCore, apply_plastic, plastic_of, training_progress
from nodes.network.core import NetworkCore
from nodes.network.params import init_params
from nodes.network.present import present
from pipeline.base.config import Config
from pipeline.base.data import load_split
from benchmarks.report import stamp, write



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    cfg, split = Config(), load_split(0)
    params = init_params(cfg.network, 0)
    native = LearnerCore(cfg.network, cfg.learning, params)
    ref = LearnerCore(cfg.network.replace(backend="brainpy"), cfg.learning, params)
    assert native.native and not ref.native, "the native update is not available here"
    core = NetworkCore.for_config(cfg.network)
    st, cases = plastic_of(params), []
    for i in range(a.samples):  # a real run's states and presentations
        res, _ = present(core, apply_plastic(params, st), split.X_train[i:i + 1], 0, 0, np.array([i]),
                         split.y_train[i:i + 1])
        case = (st, res.input[0], res.hidden[0], res.output[0], res.taught[0], training_progress(0, i, a.samples))
        cases.append(case)
        st = native.update(*case)
    same = all(all(np.array_equal(np.asarray(getattr(ref.update(*c), k)), getattr(native.update(*c), k))
                   for k in ("w_ih", "theta", "w_ho")) for c in cases)
    times: dict[str, list[float]] = {"native_us": [], "jax_us": []}
    for _ in range(a.repeats):
        for name, lc in (("native_us", native), ("jax_us", ref)):
            t = time.perf_counter()
            for c in cases:
                np.asarray(lc.update(*c).w_ih)  # the result in hand
            times[name].append((time.perf_counter() - t) / len(cases) * 1e6)
    med = {k: round(statistics.median(v), 1) for k, v in times.items()}
    out = {"benchmark": "learner_update", "command": f"python -m benchmarks.learner_update --samples {a.samples} "
                                                     f"--repeats {a.repeats}",
           **stamp(),
           "bit_identical": same, "median": med, "speedup": round(med["jax_us"] / med["native_us"], 2),
           "all": {k: [round(x, 1) for x in v] for k, v in times.items()}}
    write(out, a.out)


if __name__ == "__main__":
    main()
