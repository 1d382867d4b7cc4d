"""Pipeline nodes with one injected fault, run as real processes by the fault tests:
``python -m tests.pipeline.faulty FAULT``. Each is the real node with one method
overridden; it logs ``FAULT INJECTED`` at the moment the fault strikes, so a test
synchronises on that event rather than on the clock.

- ``learner-stuck``: the learner's main thread blocks for good after 48 presentations
  while its heartbeat thread lives on (a deadlock, not a crash);
- ``learner-drift``: in lock-step its replica of the weights drifts by one float32 step;
- ``learner-nan`` / ``learner-shape`` / ``learner-version``: in async mode its second
  update carries NaN weights, a wrong shape, or a version ahead of what was presented;
- ``network-drop``: the training worker never sends its third presentation message.
"""

from __future__ import annotations

import dataclasses
import sys
import threading

import numpy as np

from nodes.learner.__main__ import LearnerNode
from nodes.network.__main__ import NetworkNode

INJECTED = "FAULT INJECTED"


class StuckLearner(LearnerNode):
    def collect(self, msg):
        if self.version >= 48:
            self.log.warning("%s: the main thread blocks for good", INJECTED)
            threading.Event().wait()
        super().collect(msg)


class DriftingLearner(LearnerNode):
    def collect(self, msg):
        super().collect(msg)
        if 40 <= self.version < 40 + self.job.batch:  # one weight off by one float32 step
            w = np.array(self.plastic.w_ih)
            w[0, 0] = np.nextafter(w[0, 0], np.float32(1))
            self.plastic = dataclasses.replace(self.plastic, w_ih=w)
            self.log.warning("%s: the replica drifted at version %d", INJECTED, self.version)


class BadUpdateLearner(LearnerNode):
    fault = ""

    def send(self, sock, msg):
        if sock is self.out and getattr(msg, "version", 0) > self.job.batch:
            if self.fault == "nan":
                msg = dataclasses.replace(msg, w_ih=np.full_like(msg.w_ih, np.nan))
            elif self.fault == "shape":
                msg = dataclasses.replace(msg, w_ih=msg.w_ih[:, :-1], theta=msg.theta[:-1], w_ho=msg.w_ho[:-1])
            else:
                msg = dataclasses.replace(msg, version=msg.version + 10_000)
            self.log.warning("%s: update %d is %s", INJECTED, msg.version, self.fault)
        super().send(sock, msg)


class DroppingNetwork(NetworkNode):
    sent = 0

    def send_waiting(self, sock, msg, stall_s=None, what=""):
        if sock is self.to_learner:
            self.sent += 1
            if self.sent == 3:
                self.log.warning("%s: presentation message %d never sent", INJECTED, msg.seq)
                return True
        return super().send_waiting(sock, msg, stall_s, what)


def main(fault: str) -> int:
    if fault == "learner-stuck":
        return StuckLearner().serve()
    if fault == "learner-drift":
        return DriftingLearner().serve()
    if fault.startswith("learner-"):
        node = BadUpdateLearner()
        node.fault = fault.removeprefix("learner-")
        return node.serve()
    if fault == "network-drop":
        return DroppingNetwork().serve()
    raise SystemExit(f"unknown fault {fault!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
