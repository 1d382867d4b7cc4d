"""Recorder process: everything the pipeline publishes, kept in a zarr run store.

It pulls the hub's ``record`` link (lossless: the hub waits for it rather than drop a
message) and feeds ``RunWriter``. At a run's end it waits until it holds every message
each node said it published, commits, and tells the controller, so a finished job is a
finished record. On SIGTERM it commits what it has and marks open runs ``failed`` (interrupted).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import zmq

from nodes.recorder.core import RecordError, RunWriter, incarnation_of, open_store_for_writing
from pipeline.runtime.job import PipelineJob, base_run
from pipeline.base.messages import RunInfo
from pipeline.runtime.node import NodeShell
from pipeline.runtime.wiring import open_socket
from store.runs import DEFAULT_STORE

END_WAIT_S = 10.0  # how long a run's end waits for messages still on their way


class RecorderNode(NodeShell):
    role = "recorder"

    def __init__(self, store: str) -> None:
        super().__init__()
        self.store_path = store
        self.root = open_store_for_writing(store)
        self.stream = open_socket(self.ctx, "record", self.role)
        self.writers: dict[str, RunWriter] = {}
        self.ending: dict[str, tuple[float, dict[str, int]]] = {}  # run -> (since, published per sender)
        self.recorded = 0
        self.failed_runs: set[str] = set()
        # Runs whose end is recorded: a straggler that arrives later (say from an aborted
        # incarnation's queue) is dropped and counted, never reopens a finished run.
        self.ended_runs: set[str] = set()
        self.reopened: dict[str, int] = {}  # run -> the incarnation a restarted recorder reopened it in
        self.wire: dict[str, str] = {}  # run -> the wire id of its current incarnation
        self.poller = zmq.Poller()
        self.poller.register(self.control, zmq.POLLIN)
        self.poller.register(self.stream, zmq.POLLIN)
        self.log.info("recording into %s", os.path.abspath(store))

    def run_job(self, job: PipelineJob) -> None:
        """The stream itself says what to record; a job only tells a restarted recorder
        which run to reopen, so it can say how many presentations it holds."""
        self.run_id = job.wire_run
        if job.run not in self.writers and job.run in self.root and job.run not in self.failed_runs:
            try:
                self.writers[job.run] = RunWriter(self.root, job.run)
                self.wire[job.run] = job.wire_run
                # What this incarnation still has on its way arrives after a gap (what the
                # killed recorder held but never committed): it is dropped, and the run
                # resumes from what is committed, in a later incarnation.
                self.reopened[job.run] = incarnation_of(job.wire_run)
            except (OSError, RecordError) as e:
                self.log.error("cannot reopen run %s: %s", job.run, e)
        self.status = {**self.status, "presentations": {r: w.presentations() for r, w in self.writers.items()}}

    def step(self) -> None:
        events = dict(self.poller.poll(100))
        if self.control in events:
            self.on_control(self.receive(self.control))
        n = 0
        while n < 1000 and self.stream.poll(0):  # drain what has arrived, in bounded bites
            msg = self.receive(self.stream)
            n += 1
            if msg is not None:
                self.record(msg)
        for run, w in list(self.writers.items()):
            try:
                if w.due():
                    w.flush()
                self.check_end(run)
            except OSError as e:
                self.write_failed(run, e)

    def write_failed(self, run: str, e: OSError) -> None:
        """The store cannot take more (disk full, permissions): what was committed stays
        readable (counts are written only after their rows); the run is given up and the
        controller told, so the job fails with this reason instead of hanging."""
        reason = f"cannot write the run store {os.path.abspath(self.store_path)}: {e.strerror or e}"
        self.log.error("%s; run %s keeps its committed part and stops recording", reason, run)
        self.writers.pop(run, None)
        self.ending.pop(run, None)
        self.failed_runs.add(run)
        self.run_id = self.wire.get(run, run)
        self.tell("done", run=run, error=reason)

    def record(self, msg) -> None:
        run = base_run(msg.run)  # a resumed incarnation's wire id names the same run
        if run in self.failed_runs:
            self.dropped["run-not-recordable"] += 1
            return
        if run in self.ended_runs:
            self.dropped["after-end"] += 1
            return
        if run in self.reopened and incarnation_of(msg.run) <= self.reopened[run]:
            self.dropped["before-resume"] += 1
            return
        if msg.replay:  # a replay of a recorded run shares the bus; it is already in a store
            self.dropped["replay"] += 1
            return
        try:
            w = self.writers.get(run)
            if w is None:
                w = self.writers[run] = RunWriter(self.root, run)
                self.log.info("recording run %s", run)
            if not w.append(msg, time.time()):
                self.dropped["duplicate-or-stale"] += 1
                return
        except OSError as e:
            self.write_failed(run, e)
            return
        except RecordError as e:
            self.dropped["unrecordable"] += 1
            self.log.warning("dropped a %s message from %s: %s", msg.KIND, msg.sender, e)
            return
        self.recorded += 1
        self.wire[run] = msg.run
        if isinstance(msg, RunInfo) and msg.event == "resume":
            self.log.warning("run %s resumes at sample %s: later samples recorded before are dropped",
                             run, msg.summary.get("from_sample"))
        self.status = {"recorded": self.recorded, "runs_open": len(self.writers),
                       "presentations": {r: wr.presentations() for r, wr in self.writers.items()}}
        if isinstance(msg, RunInfo) and msg.event == "start":
            try:  # commit at once: the run is in the catalog from its first moment
                w.flush()
            except OSError as e:
                self.write_failed(run, e)
        if isinstance(msg, RunInfo) and msg.event == "end":
            self.ending[run] = (time.monotonic(), dict(msg.summary.get("published", {})))

    def check_end(self, run: str) -> None:
        if run not in self.ending:
            return
        since, published = self.ending[run]
        w = self.writers[run]
        wire = self.wire.get(run, run)
        missing = {s: n - w.seen(wire, s) for s, n in published.items() if w.seen(wire, s) < n}
        late = time.monotonic() - since > END_WAIT_S
        if missing and not late:
            return
        if missing:
            self.log.error("run %s ended with messages missing: %s", run, missing)
        w.mark(w.pending_attrs.get("status") or w.group.attrs.get("status", "done"), missing=missing)
        del self.writers[run], self.ending[run]
        self.ended_runs.add(run)
        self.log.info("run %s recorded: %s", run, {p: n for p, n in w.committed.items() if "/" not in p})
        self.run_id = wire
        self.tell("done", run=run, missing=missing)

    def close(self) -> None:
        for run, w in self.writers.items():
            try:
                w.mark("failed", error="interrupted: the recorder stopped before the run ended")
                self.log.info("run %s stopped before its end: committed and marked failed", run)
            except OSError as e:
                self.log.error("run %s could not be committed at shutdown: %s", run, e)
        super().close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nodes.recorder",
                                description="Record the pipeline's streams into a zarr run store.")
    p.add_argument("--store", default=os.environ.get("BYOB_STORE", str(DEFAULT_STORE)),
                   help="run store directory (env BYOB_STORE)")
    a = p.parse_args(argv)
    try:
        node = RecorderNode(a.store)
    except RecordError as e:
        print(f"recorder: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"recorder: cannot open the run store {a.store} for writing: {e}; choose a writable "
              "--store (or BYOB_STORE)", file=sys.stderr)
        return 2
    return node.serve()


if __name__ == "__main__":
    sys.exit(main())
