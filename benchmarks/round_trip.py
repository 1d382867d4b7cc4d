"""The floor under lock-step's per-sample overhead: a bare ZeroMQ round trip between two
processes, like network -> learner -> network, with no decoding and no learning.

Run: ``python -m benchmarks.round_trip [--n 600] [--work-ms 0 4.5]``

Two processes over tcp on 127.0.0.1 (the pipeline's transport): the "network" sends a
presentation-sized message (3 frames, ~5 KB) and waits for a weights-sized reply (2 frames,
~60 KB) from the "learner", which does nothing but answer. Between round trips the
network spins for ``--work-ms`` (0: back to back; 4.5: about one lock-step presentation
at the default dt, so the learner has been idle that long when the message arrives, as
in the pipeline). Medians over ``--n`` round trips, in ms. ``results/round_trip.json``
holds the session's run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import zmq

from pipeline.runtime.wiring import free_base_port

PEER = r"""
import sys, zmq, numpy as np
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = zmq.Context()
a = ctx.socket(zmq.PULL); a.bind(f"tcp://127.0.0.1:{port}")
b = ctx.socket(zmq.PUSH); b.connect(f"tcp://127.0.0.1:{port + 1}")
reply = [b"h" * 200, np.zeros(64 * 200 + 200 + 200 * 10, np.float32).tobytes()]
for _ in range(n + 1):
    a.recv_multipart()
    b.send_multipart(reply)
"""


def round_trips(n: int, work_ms: float) -> dict[str, float]:
    port = free_base_port(2)
    peer = subprocess.Popen([sys.executable, "-c", PEER, str(port), str(n)])
    ctx = zmq.Context()
    try:
        a = ctx.socket(zmq.PUSH)
        a.connect(f"tcp://127.0.0.1:{port}")
        b = ctx.socket(zmq.PULL)
        b.bind(f"tcp://127.0.0.1:{port + 1}")
        msg = [b"h" * 300, np.zeros(600, np.int32).tobytes(), np.zeros(600, np.int32).tobytes()]
        a.send_multipart(msg)
        b.recv_multipart()
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            while time.perf_counter() - t < work_ms / 1e3:  # the presentation, busy
                pass
            t0 = time.perf_counter()
            a.send_multipart(msg)
            b.recv_multipart()
            ts.append(time.perf_counter() - t0)
        peer.wait(30)
    finally:
        ctx.destroy(linger=0)
        if peer.poll() is None:
            peer.kill()
    ms = np.array(ts) * 1e3
    return {"work_ms": work_ms, "median_ms": round(float(np.median(ms)), 3), "mean_ms": round(float(ms.mean()), 3),
            "p90_ms": round(float(np.percentile(ms, 90)), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--work-ms", type=float, nargs="+", default=[0.0, 4.5])
    a = ap.parse_args()
    print(json.dumps({"benchmark": "round_trip", "n": a.n, "runs": [round_trips(a.n, w) for w in a.work_ms]},
                     indent=1))


if __name__ == "__main__":
    main()
