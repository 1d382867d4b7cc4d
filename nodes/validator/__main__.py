"""Validator process: the held-out (or, said so, seen) accuracy of the weights as they learn.

Not a participant of the job: training, evaluation and their numbers are the same with
or without it (lock-step still reproduces ``byob train``). The controller sends it the
job and, at most every ``VALIDATE_EVERY_S``, the learner's latest checkpoint (the
weights it already keeps to resume from); the validator evaluates its validation digits
(``nodes.validator.core``) with them and tells the controller, which publishes the
figure on the bus for viewers and the recorder. Checkpoints that arrive while it is busy
are skipped for the newest. ``BYOB_VALIDATE=0`` leaves it idle.
"""

from __future__ import annotations

import os
import sys
import time

from nodes.validator.core import Validation, accuracy, validation_digits, with_weights
from pipeline.runtime.job import PipelineJob
from pipeline.base.messages import Message, WeightUpdate
from pipeline.runtime.node import NodeShell

OFF = ("0", "off", "no", "false")


class ValidatorNode(NodeShell):
    role = "validator"

    def __init__(self) -> None:
        super().__init__()
        os.nice(10)  # monitoring must not slow what it monitors: the pipeline's nodes run first
        self.enabled = os.environ.get("BYOB_VALIDATE", "1").lower() not in OFF
        self.job: PipelineJob | None = None
        self.model = self.digits = None

    def warm_up(self) -> None:
        if not self.enabled:
            return
        # The inference program of the default job, compiled before the first checkpoint.
        job = PipelineJob(run="warm-up")
        try:
            model, split = job.model_and_split()
            accuracy(model.params, model.config, validation_digits(split, len(split.X_train), 8), model.seed)
        except Exception:  # noqa: BLE001 - a warm-up failure only costs the first validation time
            self.log.exception("warm-up failed")

    def run_job(self, job: PipelineJob) -> None:
        if not self.enabled:
            return
        self.job, self.run_id = job, job.wire_run
        model, split = job.model_and_split()
        self.model = model
        self.digits: Validation = validation_digits(split, job.n_per_epoch(split))
        self.log.info("job %s: validating on %d training-part digits (%s)", job.run, len(self.digits.y),
                      "held out: not trained on" if self.digits.held_out else "also trained on")

    def step(self) -> None:
        if not self.control.poll(100):
            return
        latest: WeightUpdate | None = None
        while self.control.poll(0):  # drain: only the newest checkpoint is worth evaluating
            msg: Message | None = self.receive(self.control)
            if isinstance(msg, WeightUpdate):
                latest = msg
            elif msg is not None:
                self.on_control(msg)
        if latest is not None and self.job is not None and latest.run == self.job.wire_run:
            self.validate(latest)

    def validate(self, w: WeightUpdate) -> None:
        t = time.perf_counter()
        try:
            params = with_weights(self.model.params, w.w_ih, w.theta, w.w_ho)
            acc = accuracy(params, self.model.config, self.digits, self.model.seed)
        except Exception as e:  # noqa: BLE001 - a failed validation must not stop the pipeline
            self.dropped["validation-failed"] += 1
            self.log.warning("could not validate checkpoint %d: %s", w.version, e)
            return
        seconds = time.perf_counter() - t
        self.status = {"validated": w.version, "validation_accuracy": acc}
        self.tell("validated", accuracy=acc, samples_seen=w.samples_seen, digits=len(self.digits.y),
                  held_out=self.digits.held_out, seconds=round(seconds, 3))


if __name__ == "__main__":
    sys.exit(ValidatorNode().serve())
