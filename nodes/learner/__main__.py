"""Learner process: presentations in, weights out (lossless links).

Presentations arrive ``job.batch`` per message, each the input, hidden, free output and
taught output rasters side by side; the learner applies its core to them strictly in
order. In ``async`` mode it sends the new plastic state (version = presentations
learned from) once per message: the network acts with the newest one. In ``lockstep``
mode the network runs the same core on its critical path, so nothing goes back; this
node keeps an exact replica, compares it with the digests the network sends every
``snapshot_every`` presentations (a mismatch fails the job), and owns the checkpoints a
recovery resumes from and the weight snapshots the recorder keeps. A presentation that
never arrives while later ones do fails the job after ``stall_s``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import zmq

from nodes.learner.core import LearnerCore, Plastic, plastic_digest, plastic_of, training_progress
from nodes.network.params import init_params
from pipeline.base.config import Config
from pipeline.runtime.job import PipelineJob
from pipeline.base.messages import PRESENTATION, Control, SpikeBatch, WeightUpdate
from pipeline.runtime.node import NodeShell
from pipeline.runtime.wiring import open_socket

POPULATIONS = ("input", "hidden", "output", "taught")
CHECKPOINT_WAIT_S = 30.0


class LearnerNode(NodeShell):
    role = "learner"

    def __init__(self) -> None:
        super().__init__()
        self.rasters = open_socket(self.ctx, "plasticity", self.role)
        self.out = open_socket(self.ctx, "weights", self.role)
        self.job: PipelineJob | None = None
        self.poller = zmq.Poller()
        self.poller.register(self.control, zmq.POLLIN)
        self.poller.register(self.rasters, zmq.POLLIN)

    def warm_up(self) -> None:
        """Compile the default configuration's update."""
        cfg = Config()
        params = init_params(cfg.network, 0)
        n = cfg.network
        core, width = LearnerCore(n, cfg.learning, params), n.n_channels + n.n_hidden + 2 * n.n_output
        core.update_presentation(plastic_of(params), np.zeros((n.n_steps, width), bool))  # lock-step
        k = PipelineJob().async_lag
        core.update_many(plastic_of(params), np.zeros((k, n.n_steps, width), bool), np.zeros(k))  # async

    def step(self) -> None:
        events = dict(self.poller.poll(100))
        if self.control in events:
            self.on_control(self.receive(self.control))
        # Drain every raster that has arrived before polling again; without a job (one that
        # was aborted left some behind) they are dropped, or the poll would never sleep.
        while self.rasters.poll(0):
            msg = self.receive(self.rasters)
            if self.job is None:
                self.dropped["no-job"] += 1
            elif isinstance(msg, SpikeBatch):
                self.collect(msg)
            elif isinstance(msg, Control) and msg.command == "digest" and msg.run == self.run_id:
                self.digests[int(msg.args.get("version", -1))] = str(msg.args.get("digest", ""))
                self.check_digests()
        if self.job is not None and time.monotonic() - self.progressed > self.job.stall_s:
            if self.pending:
                self.fail(f"presentation {self.version} never arrived (later ones did) for {self.job.stall_s:.0f} s")
            elif self.version >= self.total:
                self.fail(f"the network's digest of the final weights never arrived for {self.job.stall_s:.0f} s")

    def run_job(self, job: PipelineJob) -> None:
        """Start learning for ``job``; rasters are then handled as they arrive in ``step``."""
        self.job, self.run_id = job, job.wire_run
        model, split = job.model_and_split()
        self.core = LearnerCore(model.config.network, model.config.learning, model.params)
        self.plastic = plastic_of(model.params)
        self.version = 0
        if job.resume_from:  # recovery: continue from the checkpoint the controller kept
            ck = self.await_checkpoint(job)
            if ck is None:
                self.job = None
                return
            self.plastic, self.version = Plastic(ck.w_ih, ck.theta, ck.w_ho), ck.version
        self.per_epoch = job.n_per_epoch(split)
        self.first_epoch = model.epochs_done
        self.total = self.per_epoch * job.epochs
        self.pending: dict[int, SpikeBatch] = {}  # first presentation of a message -> the message
        self.digests: dict[int, str] = {}  # lock-step: the network's digest of version -> its weights
        self.progressed = time.monotonic()
        self.verified = self.version  # lock-step: the newest version checked against the network's
        n = model.config.network
        self.sizes = {"input": n.n_channels, "hidden": n.n_hidden, "output": n.n_output, "taught": n.n_output}
        self.log.info("job %s: learning from %d presentations%s", job.run, self.total,
                      f", resuming at {self.version}" if self.version else "")
        if not job.resume_from:
            self.publish(self.snapshot())  # the starting point of "what STDP changed"
        if self.version >= self.total:  # an evaluation, or resumed after the last sample
            self.tell("done", learned=self.version)
            self.job = None

    def on_abort(self) -> None:
        self.job = None

    def await_checkpoint(self, job: PipelineJob) -> WeightUpdate | None:
        t0 = time.monotonic()
        while not self.stopping and time.monotonic() - t0 < CHECKPOINT_WAIT_S:
            if self.control.poll(100):
                msg = self.receive(self.control)
                if isinstance(msg, WeightUpdate) and msg.run == self.run_id and msg.version == job.resume_from:
                    return msg
                if self.interrupts(msg):
                    return None
        self.log.error("job %s: no checkpoint %d arrived; giving the job up", job.run, job.resume_from)
        return None

    def snapshot(self) -> WeightUpdate:
        return WeightUpdate(run=self.run_id, seq=self.next_seq(), sender=self.name, version=self.version,
                            samples_seen=self.version, w_ih=np.asarray(self.plastic.w_ih),
                            theta=np.asarray(self.plastic.theta), w_ho=np.asarray(self.plastic.w_ho))

    def checkpoint(self) -> None:
        update = self.snapshot()
        self.publish(update)
        self.send(self.control, update)  # the controller keeps it to resume from

    def fail(self, reason: str) -> None:
        super().fail(reason)
        self.job = None

    def check_digests(self) -> None:
        """Lock-step: the replica must equal the network's weights bit for bit."""
        if self.job is None or self.version not in self.digests:
            return
        mine, theirs = plastic_digest(self.plastic), self.digests.pop(self.version)
        if mine != theirs:
            self.fail(f"the learner's replica differs from the network's weights at version {self.version} "
                      f"(digest {mine} != {theirs})")
            return
        self.verified = self.version
        self.progressed = time.monotonic()
        self.maybe_done()

    def collect(self, msg: SpikeBatch) -> None:
        widths = [self.sizes[p] for p in POPULATIONS]
        if msg.run != self.run_id or msg.population != PRESENTATION or msg.seq < self.version \
                or msg.n_neurons != sum(widths):
            self.dropped["unexpected-raster"] += 1
            self.log.warning("dropped a raster from %s: run %s, population %s, %d neurons, seq %d",
                             msg.sender, msg.run, msg.population, msg.n_neurons, msg.seq)
            return
        self.pending[msg.seq] = msg  # seq: the training index of its first presentation
        # Presentations are learned from strictly in order.
        while self.job is not None and self.version in self.pending:
            batch = self.pending.pop(self.version)
            rasters = batch.to_raster()  # POPULATIONS side by side
            progress = [training_progress(self.first_epoch + e, k, self.per_epoch)
                        for e, k in (divmod(v, self.per_epoch) for v in range(self.version, self.version + len(rasters)))]
            before = self.version
            if self.job.mode == "async":  # the whole message in one dispatch
                self.plastic = self.core.update_many(self.plastic, rasters, np.asarray(progress))
                self.version += len(rasters)
            else:  # sample by sample, as the network ran it
                for raster, p in zip(rasters, progress):
                    self.plastic = self.core.update_presentation(self.plastic, raster, p)
                    self.version += 1
            # Checkpoints at the end of a message (a resume starts where a message did, so
            # the recorder drops whole messages), every ``snapshot_every`` presentations.
            if self.version // self.job.snapshot_every > before // self.job.snapshot_every \
                    or self.version == self.total:
                self.checkpoint()
            if self.job.mode == "async":
                self.send(self.out, self.snapshot())
            self.progressed = time.monotonic()
            self.status = {"learned": self.version}
            self.check_digests()
        self.maybe_done()

    def maybe_done(self) -> None:
        """Done once every presentation is learned (lock-step: and the replica matched the
        network's final weights)."""
        if self.job is None or self.version < self.total or (self.job.mode == "lockstep" and self.verified < self.total):
            return
        self.log.info("job %s: learned from all %d presentations%s", self.run_id, self.version,
                      ", the same weights as the network's" if self.job.mode == "lockstep" else "")
        self.tell("done", learned=self.version)
        self.job = None


if __name__ == "__main__":
    sys.exit(LearnerNode().serve())
