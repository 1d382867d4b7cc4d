"""Learner process: rasters of each presentation in, new weights out (lossless links).

It gathers the four rasters of one presentation (input, hidden, free output, taught
output; one message each, same sequence number), applies the learner core, and sends
the new plastic state with its version (= presentations learned from).
"""

from __future__ import annotations

import sys

import numpy as np

from nodes.learner.core import LearnerCore, plastic_of, training_progress
from nodes.network.params import init_params
from pipeline.config import Config
from pipeline.job import PipelineJob
from pipeline.messages import Control, SpikeBatch, WeightUpdate
from pipeline.node import NodeShell
from pipeline.wiring import open_socket

POPULATIONS = ("input", "hidden", "output", "taught")


class LearnerNode(NodeShell):
    role = "learner"

    def __init__(self) -> None:
        super().__init__()
        self.rasters = open_socket(self.ctx, "plasticity", self.role)
        self.out = open_socket(self.ctx, "weights", self.role)
        self.job: PipelineJob | None = None

    def warm_up(self) -> None:
        """Compile the default configuration's update."""
        cfg = Config()
        params = init_params(cfg.network, 0)
        t, z = cfg.network.n_steps, np.zeros
        LearnerCore(cfg.network, cfg.learning, params).update(
            plastic_of(params), z((t, cfg.network.n_input), bool), z((t, cfg.network.n_hidden), bool),
            z((t, cfg.network.n_output), bool), z((t, cfg.network.n_output), bool))

    def step(self) -> None:
        if self.control.poll(50):
            msg = self.receive(self.control)
            if isinstance(msg, Control) and msg.command == "train":
                self.start(PipelineJob.from_dict(msg.args))
            elif isinstance(msg, Control) and msg.command == "stop":
                self.stopping = True
        if self.job is not None and self.rasters.poll(50):
            msg = self.receive(self.rasters)
            if isinstance(msg, SpikeBatch):
                self.collect(msg)

    def start(self, job: PipelineJob) -> None:
        self.job, self.run_id = job, job.run
        model, split = job.model_and_split()
        self.core = LearnerCore(model.config.network, model.config.learning, model.params)
        self.plastic = plastic_of(model.params)
        self.version = 0
        self.per_epoch = job.n_per_epoch(split)
        self.first_epoch = model.epochs_done
        self.total = self.per_epoch * job.epochs
        self.pending: dict[int, dict[str, SpikeBatch]] = {}
        self.log.info("job %s: learning from %d presentations", job.run, self.total)

    def collect(self, msg: SpikeBatch) -> None:
        if msg.run != self.run_id or msg.population not in POPULATIONS or msg.seq < self.version:
            self.dropped["unexpected-raster"] += 1
            return
        self.pending.setdefault(msg.seq, {})[msg.population] = msg
        # Presentations are learned from strictly in order.
        while len(self.pending.get(self.version, {})) == len(POPULATIONS):
            got = self.pending.pop(self.version)
            r = {p: got[p].to_raster()[0] for p in POPULATIONS}
            e, k = divmod(self.version, self.per_epoch)
            self.plastic = self.core.update(self.plastic, r["input"], r["hidden"], r["output"], r["taught"],
                                            training_progress(self.first_epoch + e, k, self.per_epoch))
            self.version += 1
            self.send(self.out, WeightUpdate(
                run=self.run_id, seq=self.next_seq(), sender=self.name, version=self.version,
                samples_seen=self.version, w_ih=np.asarray(self.plastic.w_ih),
                theta=np.asarray(self.plastic.theta), w_ho=np.asarray(self.plastic.w_ho)))
            self.status = {"learned": self.version}
        if self.version >= self.total:
            self.log.info("job %s: learned from all %d presentations", self.run_id, self.version)
            self.tell("done", learned=self.version)
            self.job = None


if __name__ == "__main__":
    sys.exit(LearnerNode().serve())
