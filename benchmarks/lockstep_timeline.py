"""Where one lock-step training sample's time goes, across the network and learner processes
(ad hoc).

The nodes are not instrumented in the product; ``benchmarks/lockstep_timeline.patch`` (made
against b26e9b4; earlier results used its version against 72b2c3d) adds timestamps
(``time.perf_counter``, CLOCK_MONOTONIC: one clock for all processes here) to a throw-away
checkout. Run::

    git worktree add /tmp/lt HEAD && git -C /tmp/lt apply $PWD/benchmarks/lockstep_timeline.patch
    (cd $(mktemp -d) && PYTHONPATH=/tmp/lt python -m pipeline.cli run --epochs 1 --samples 600 \\
        --mode lockstep --exit-when-done --no-record --no-viewer --model-dir .)
    python -m benchmarks.lockstep_timeline   # reads /tmp/tl_net.json and /tmp/tl_learn.json

Prints the median of each step per sample (the first 50 samples left out), in milliseconds.
``python -m benchmarks.lockstep_timeline --in-process [N]`` gives the in-process trainer's
figures for the same samples instead: its time per sample over N (600) samples and the
median of its presentations (``present`` timed by wrapping it; the first 50 left out).
``results/lockstep_timeline.json`` holds the session's run.
"""

from __future__ import annotations

import collections
import json
import sys

import numpy as np

ORDER = ("present_start", "present_end", "built", "sent", "l_raw", "l_recv", "l_updated", "l_sent",
         "w_raw", "weights_in", "applied")
MEANING = {
    "present_start->present_end": "network: simulate the sample (with the teacher), results to NumPy",
    "present_end->built": "network: classify, build the presentation message (4 rasters to events)",
    "built->sent": "network: encode and send it to the learner",
    "sent->l_raw": "hop: the learner wakes and receives it",
    "l_raw->l_recv": "learner: decode and validate",
    "l_recv->l_updated": "learner: events to raster, dispatch the update",
    "l_updated->l_sent": "learner: wait for the update, build, encode and send the weights",
    "l_sent->w_raw": "hop: the network wakes and receives them",
    "w_raw->weights_in": "network: decode and validate",
    "weights_in->applied": "network: apply",
    "applied->next present": "network: the next sample's input, already received",
}


def in_process(n: int) -> dict[str, float]:
    import time

    import pipeline.app.trainer as trainer
    from nodes.network.params import init_params
    from pipeline.base.config import Config
    from pipeline.base.data import load_split

    cfg, split = Config(), load_split(0)
    params = init_params(cfg.network, 0)
    present, spent = trainer.present, []

    def timed(*a, **kw):
        t = time.perf_counter()
        out = present(*a, **kw)
        spent.append(time.perf_counter() - t)
        return out

    trainer.present = timed
    try:
        trainer.train(params, cfg, split.X_train, split.y_train, 1, 3, 0)  # compile
        spent.clear()
        t = time.perf_counter()
        trainer.train(params, cfg, split.X_train, split.y_train, 1, n, 0)
        total = time.perf_counter() - t
    finally:
        trainer.present = present
    return {"per sample": round(1e3 * total / n, 2), "present median": round(1e3 * float(np.median(spent[50:])), 2)}


def main() -> None:
    if "--in-process" in sys.argv:
        rest = sys.argv[sys.argv.index("--in-process") + 1:]
        print(json.dumps({"in_process_ms": in_process(int(rest[0]) if rest else 600)}))
        return
    net = json.load(open("/tmp/tl_net.json"))
    learn = json.load(open("/tmp/tl_learn.json"))
    ev: dict[int, dict[str, float]] = collections.defaultdict(dict)
    for name, k, t in net + learn:
        ev[k].setdefault(name, t)
    rows = []
    for k in sorted(ev):
        e = ev[k]
        if all(n in e for n in ORDER) and "present_start" in ev.get(k + 1, {}):
            nxt = ev[k + 1]["present_start"]
            rows.append([e[b] - e[a] for a, b in zip(ORDER, ORDER[1:])]
                        + [nxt - e["applied"], nxt - e["present_start"]])
    med = np.median(np.array(rows)[50:], axis=0) * 1e3
    names = [f"{a}->{b}" for a, b in zip(ORDER, ORDER[1:])] + ["applied->next present", "total per sample"]
    out = {n: round(float(v), 3) for n, v in zip(names, med)}
    for n, v in out.items():
        print(f"{v:7.3f} ms  {n:28s} {MEANING.get(n, '')}")
    json.dump({"samples": len(rows), "median_ms": out, "meaning": MEANING}, sys.stdout if "--json" in sys.argv
              else open("/dev/null", "w"), indent=1)


if __name__ == "__main__":
    main()
