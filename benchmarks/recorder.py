"""The recorder and the run store: does recording slow the pipeline, how fast can it
write, how small is the store, how fast does a run replay.

Run: ``python -m benchmarks.recorder [--samples N] [--repeats R] [--out FILE]``

- overhead: `byob run --mode async` (the fastest mode) with the recorder against
  `--no-record`, same job, alternating in the same run; medians and their ratio
  (target: with >= 95% of without).
- sustained: events/s the recorder core writes to zarr (RunWriter.append + flush of a
  synthetic stream shaped like training: per sample one input, hidden and output spike
  batch, two trace messages and a prediction), in one process.
- size: bytes on disk per spike event (compressed) of the recorded run (target <= 2),
  weight snapshots reported apart.
- replay: how much faster than the original run a replay at full speed rebuilds and
  encodes every message for the bus (target >= 20x).
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

import numpy as np
from benchmarks.report import write

ROOT = Path(__file__).resolve().parents[1]


def pipeline(samples: int, record: bool, store: Path, port: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--epochs", "1", "--samples", str(samples),
                            "--mode", "async", "--exit-when-done", "--json", "--model-dir", d, "--store", str(store),
                            *(() if record else ("--no-record",))],
                           cwd=d, env={**os.environ, "PYTHONPATH": str(ROOT), "BYOB_BASE_PORT": str(port)},
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(r.stderr[-3000:])
        return json.loads(r.stdout.strip().splitlines()[-1])


def sustained(n_samples: int = 2000) -> dict[str, float]:
    from nodes.recorder.core import RunWriter, open_store_for_writing
    from pipeline.base.messages import Prediction, SpikeBatch, Traces

    rng = np.random.default_rng(0)
    msgs = []
    for i in range(n_samples):
        for pop, n, p in (("input", 64, 0.04), ("hidden", 100, 0.002), ("output", 10, 0.003)):
            msgs.append(SpikeBatch.from_raster(rng.random((1, 400, n)) < p, run="r", seq=len(msgs) + 1, sender="n",
                                               population=pop, dt=0.5, sample_ids=[i], labels=[i % 10]))
        for pop, k in (("hidden", 4), ("output", 10)):
            msgs.append(Traces(run="r", seq=len(msgs) + 1, sender="n", population=pop, dt=0.5, sample_ids=np.array([i]),
                               neurons=np.arange(k, dtype=np.int32),
                               values=rng.standard_normal((1, 400, k)).astype(np.float32)))
        msgs.append(Prediction(run="r", seq=len(msgs) + 1, sender="n", sample_ids=np.array([i]),
                               labels=np.array([1]), predicted=np.array([1]), counts=np.ones((1, 10), np.int32),
                               phase="train"))
    events = sum(len(m.steps) for m in msgs if isinstance(m, SpikeBatch))
    with tempfile.TemporaryDirectory() as d:
        w = RunWriter(open_store_for_writing(f"{d}/s.zarr"), "r")
        t = time.perf_counter()
        for m in msgs:
            w.append(m, 0.0)
            if w.due():
                w.flush()
        w.flush()
        dt = time.perf_counter() - t
    return {"messages_per_second": round(len(msgs) / dt, 1), "events_per_second": round(events / dt, 1),
            "samples_per_second": round(n_samples / dt, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=1257, help="training samples per run (1257: one full epoch)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    from store.replay import Replayer
    from store.runs import open_run

    port = 22000 + os.getpid() % 20000
    rows: dict[str, list[float]] = {"with": [], "without": [], "ratio": []}
    with tempfile.TemporaryDirectory() as d:
        store = Path(d) / "runs.zarr"
        for rep in range(a.repeats):
            without = pipeline(a.samples, False, store, port)["samples_per_second"]
            res = pipeline(a.samples, True, store, port)
            rows["with"].append(res["samples_per_second"])
            rows["without"].append(without)
            rows["ratio"].append(res["samples_per_second"] / without)
            print(f"repeat {rep + 1}: with {rows['with'][-1]:.1f}/s, without {without:.1f}/s", file=sys.stderr)
        run = open_run(store, res["run"])
        spike_bytes, events = run.spike_bytes()
        weight_bytes = sum(f.stat().st_size for f in (store / run.run / "weights").rglob("*") if f.is_file())
        total = run.summary()["bytes"]
        msgs: list[Any] = []
        t = time.perf_counter()
        Replayer(run, rate=None).run(lambda m: msgs.append(len(m.to_wire())))
        replay_s = time.perf_counter() - t
        original_s = run.attrs["ended"] - run.attrs["started"]
    out = {"benchmark": "recorder",
           "command": f"python -m benchmarks.recorder --samples {a.samples} --repeats {a.repeats}",
           "samples": a.samples, "repeats": a.repeats,
           "throughput_samples_per_second": {k: [round(x, 3) for x in v] for k, v in rows.items()},
           "median": {k: round(statistics.median(v), 3) for k, v in rows.items()},
           "size": {"spike_events": events, "spike_bytes": spike_bytes,
                    "bytes_per_spike_event": round(spike_bytes / max(events, 1), 3),
                    "weight_snapshot_bytes": weight_bytes, "run_bytes": total},
           "replay": {"messages": len(msgs), "seconds": round(replay_s, 3), "original_seconds": round(original_s, 3),
                      "speedup": round(original_s / replay_s, 1)},
           "sustained": sustained()}
    write(out, a.out)


if __name__ == "__main__":
    main()
