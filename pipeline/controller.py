"""The controller process: handshake with every node, submit the job, collect the
results, watch heartbeats, report.

It binds the control (ROUTER) and results (PULL) links. Nodes say ``hello`` when they
start; the job is sent only when every node has, so nothing races at start-up. A node
silent for more than ``LOST_AFTER_S`` is reported as lost, and the run fails (exit 1)
instead of hanging. The result is one JSON object on stdout and, if ``BYOB_RESULT_FILE``
is set, in that file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections import Counter
from typing import Any

import numpy as np
import zmq

from pipeline.job import PipelineJob
from pipeline.messages import Control, Heartbeat, MessageError, Prediction, decode
from pipeline.node import HB_SUFFIX, setup_logging
from pipeline.wiring import open_socket

ROLES = ("encoder", "network", "learner")
LOST_AFTER_S = 2.0
START_TIMEOUT_S = 120.0


class Controller:
    def __init__(self, job: PipelineJob, exit_when_done: bool) -> None:
        self.job, self.exit_when_done = job, exit_when_done
        self.log = setup_logging(os.environ.get("HONCHO_PROCESS_NAME", "controller"))
        self.ctx = zmq.Context()
        self.control = open_socket(self.ctx, "control", "controller")
        self.results = open_socket(self.ctx, "results", "controller")
        self.nodes: dict[str, dict[str, Any]] = {}  # identity -> role, last seen, status
        self.dropped: Counter[str] = Counter()
        self.done: dict[str, dict[str, Any]] = {}
        self.test_ids: list[np.ndarray] = []
        self.train_preds = 0
        self.train_correct = 0
        self.seq = 0

    def send(self, identity: str, command: str, **args: Any) -> None:
        self.seq += 1
        msg = Control(run=self.job.run, seq=self.seq, sender="controller", command=command, args=args)
        self.control.send_multipart([identity.encode(), *msg.to_wire()])

    def poll_once(self, timeout_ms: int = 100) -> None:
        poller = zmq.Poller()
        poller.register(self.control, zmq.POLLIN)
        poller.register(self.results, zmq.POLLIN)
        events = dict(poller.poll(timeout_ms))
        if self.control in events:
            ident, *frames = self.control.recv_multipart()
            self.on_control(ident.decode(errors="replace"), frames)
        if self.results in events:
            try:
                msg = decode(self.results.recv_multipart())
            except MessageError as e:
                self.dropped[e.reason] += 1
                self.log.warning("dropped a bad result: %s", e)
                return
            if isinstance(msg, Prediction):
                self.on_prediction(msg)

    def on_control(self, ident: str, frames: list[bytes]) -> None:
        try:
            msg = decode(frames)
        except MessageError as e:
            self.dropped[e.reason] += 1
            self.log.warning("dropped a bad control message from %s: %s", ident, e)
            return
        ident = ident.removesuffix(HB_SUFFIX)  # a node's heartbeat thread
        node = self.nodes.setdefault(ident, {"role": None, "status": {}})
        node["seen"] = time.monotonic()
        if isinstance(msg, Heartbeat):
            node["status"] = msg.status
        elif isinstance(msg, Control) and msg.command == "hello":
            node["role"] = msg.args.get("role")
            self.log.info("%s is up (pid %s)", ident, msg.args.get("pid"))
        elif isinstance(msg, Control) and msg.command == "done":
            self.done[ident] = msg.args
            self.log.info("%s finished the job", ident)

    def on_prediction(self, msg: Prediction) -> None:
        if msg.phase == "train":
            self.train_preds += len(msg.sample_ids)
            self.train_correct += int(np.sum(msg.predicted == msg.labels))
        else:
            self.test_ids.append(msg.sample_ids)

    def lost(self) -> list[str]:
        now = time.monotonic()
        return [i for i, n in self.nodes.items() if now - n.get("seen", now) > LOST_AFTER_S
                and i not in self.done]

    def roles_up(self) -> dict[str, str]:
        return {n["role"]: i for i, n in self.nodes.items() if n.get("role") in ROLES}

    def run(self) -> int:
        t0 = time.monotonic()
        while len(self.roles_up()) < len(ROLES):
            self.poll_once()
            if time.monotonic() - t0 > START_TIMEOUT_S:
                missing = sorted(set(ROLES) - set(self.roles_up()))
                self.log.error("nodes %s never said hello within %.0f s; are they running and pointed "
                               "at %s?", missing, START_TIMEOUT_S, self.control.getsockopt(zmq.LAST_ENDPOINT))
                return self.finish(1, f"nodes never started: {missing}")
        self.log.info("all nodes up; submitting job %s (%s)", self.job.run, self.job.mode)
        start = time.monotonic()
        for ident in self.roles_up().values():
            self.send(ident, "train", **self.job.to_dict())
        net = self.roles_up()["network"]
        while net not in self.done:
            self.poll_once()
            lost = self.lost()
            if lost:
                for ident in lost:
                    self.log.error("node %s lost: no heartbeat for more than %.1f s", ident, LOST_AFTER_S)
                return self.finish(1, f"node lost: {', '.join(lost)}")
        elapsed = time.monotonic() - start
        while self.results.poll(200):  # the last predictions may trail the done message
            self.poll_once(0)
        return self.finish(0, None, elapsed)

    def finish(self, code: int, error: str | None, elapsed: float | None = None) -> int:
        net = self.done.get(self.roles_up().get("network", ""), {})
        ids = np.concatenate(self.test_ids) if self.test_ids else np.zeros(0, np.int64)
        result = {
            "run": self.job.run, "mode": self.job.mode, "ok": code == 0, "error": error,
            "model": net.get("model"), "test_accuracy": net.get("test_accuracy"),
            "samples_per_second": net.get("samples_per_second"),
            "train_seconds": net.get("train_seconds"), "job_seconds": elapsed,
            "test_predictions": int(len(ids)), "test_unique": int(len(np.unique(ids))),
            "train_running_accuracy": self.train_correct / max(self.train_preds, 1),
            "dropped": {"controller": dict(self.dropped),
                        **{i: n["status"].get("dropped", {}) for i, n in self.nodes.items()}},
        }
        line = json.dumps(result, sort_keys=True)
        print(line, flush=True)
        path = os.environ.get("BYOB_RESULT_FILE")
        if path:
            with open(path, "w") as f:
                f.write(line + "\n")
        if code == 0 and not self.exit_when_done:
            self.log.info("job done; staying up for further jobs (Ctrl-C to stop)")
            try:
                while True:
                    self.poll_once(500)
            except KeyboardInterrupt:
                pass
        self.ctx.destroy(linger=0)
        return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.controller",
                                description="Submit one job to the pipeline's nodes and collect it.")
    p.add_argument("--job", default=os.environ.get("BYOB_JOB", "{}"), help="job as JSON")
    p.add_argument("--exit-when-done", action="store_true",
                   default=os.environ.get("BYOB_EXIT_WHEN_DONE") == "1")
    a = p.parse_args(argv)
    d = json.loads(a.job)
    d.setdefault("run", time.strftime("run_%Y%m%d_%H%M%S_") + uuid.uuid4().hex[:6])
    return Controller(PipelineJob.from_dict(d), a.exit_when_done).run()


if __name__ == "__main__":
    sys.exit(main())
