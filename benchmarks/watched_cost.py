"""What watching the bus costs the lock-step pipeline, measured inside one run.

Run: ``python -m benchmarks.watched_cost [--tree NAME=PATH ...] [--phases 12] [--phase-s 2.5]``

Each tree (a checkout of this project; default: this one) runs ``byob run --mode lockstep
--no-record --no-viewer`` long enough for ``--phases`` phases. Phases alternate: no one
on the bus (the nodes make no monitoring messages), then a plain SUB socket subscribed to
everything on the bus (the nodes publish spikes, traces and predictions, the hub
forwards them). Each phase waits 0.4 s for the ``monitor`` command to reach the nodes,
then reads the controller's count of training predictions (``byob status``'s ``trained``)
at its start and end: samples/s per phase, the same run, the same minute, so the
machine's drift between runs cancels. Reports the median rate per kind of phase and
watched/unwatched. To compare two versions, give both trees, e.g.
``git worktree add /tmp/before <rev>`` and ``--tree before=/tmp/before --tree after=.``
One JSON object on stdout; ``results/watched_cost.json`` holds the session's run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import zmq

ROOT = Path(__file__).resolve().parents[1]
SETTLE_S = 0.4


def trained(port: int) -> tuple[float, int] | None:
    """(time, training predictions so far) from the controller at ``port``'s pipeline (a
    request of a few ms, timed at its middle), None once no job runs."""
    from pipeline.runtime.client import ControllerUnreachable, request

    os.environ["BYOB_BASE_PORT"] = str(port)  # where the wiring looks for the controller
    t = time.monotonic()
    try:
        st = request("status", timeout_s=2.0)
    except ControllerUnreachable:
        return None
    job = st.get("status", st).get("job")
    return ((t + time.monotonic()) / 2, int(job["trained"])) if job else None


class Watcher:
    """A SUB socket on the bus that takes everything while ``on``."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint, self.received = endpoint, 0
        self._stop = threading.Event()
        self._t: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def stop(self) -> None:
        self._stop.set()
        if self._t:
            self._t.join()

    def _run(self) -> None:
        ctx = zmq.Context()
        s = ctx.socket(zmq.SUB)
        s.connect(self.endpoint)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        while not self._stop.is_set():
            if s.poll(50):
                s.recv_multipart()
                self.received += 1
        s.close(linger=0)
        ctx.term()


def measure(tree: Path, phases: int, phase_s: float, port: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "BYOB_BASE_PORT": str(port)}
    samples = 1257  # one epoch of the training split
    epochs = max(2, int(phases * (phase_s + SETTLE_S + 1.5) * 2500 / samples) + 1)  # more than enough at 2,500/s
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", "--epochs", str(epochs), "--samples",
                              str(samples), "--mode", "lockstep", "--exit-when-done", "--json", "--no-record",
                              "--no-viewer", "--model-dir", d], cwd=d, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        try:
            while True:  # until training is under way
                got = trained(port)
                if got and got[1] > 50:
                    break
                if p.poll() is not None:
                    raise RuntimeError(f"byob run in {tree} ended before training")
                time.sleep(0.3)
            watcher = Watcher(f"tcp://127.0.0.1:{port + 7}")
            rates: dict[str, list[float]] = {"unwatched": [], "watched": []}
            for k in range(phases):
                kind = ("unwatched", "watched")[k % 2]
                if kind == "watched":
                    watcher.start()
                time.sleep(SETTLE_S)
                a = trained(port)
                time.sleep(phase_s)
                b = trained(port)
                if kind == "watched":
                    watcher.stop()
                if a is None or b is None:
                    break
                rates[kind].append((b[1] - a[1]) / (b[0] - a[0]))
        finally:
            p.terminate()
            p.wait(60)
    med = {k: round(statistics.median(v), 1) for k, v in rates.items() if v}
    return {"tree": str(tree), "samples_per_second": {k: [round(x, 1) for x in v] for k, v in rates.items()},
            "median": med, "watched_over_unwatched": round(med["watched"] / med["unwatched"], 3),
            "bus_messages_received": watcher.received}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", action="append", default=[], help="NAME=PATH of a checkout (default: this one)")
    ap.add_argument("--phases", type=int, default=12)
    ap.add_argument("--phase-s", type=float, default=2.5)
    a = ap.parse_args()
    from pipeline.runtime.wiring import free_base_port

    trees = [t.split("=", 1) for t in a.tree] or [["this", str(ROOT)]]
    out = {"benchmark": "watched_cost", "phases": a.phases, "phase_s": a.phase_s,
           "runs": {name: measure(Path(path).resolve(), a.phases, a.phase_s, free_base_port())
                    for name, path in trees}}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
