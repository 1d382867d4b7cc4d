"""Encoder process: turns the job's digits into input spike batches (lossless PUSH).

Training samples go ``job.batch`` per message (one epoch's, in the trainer's order) to the training worker;
evaluation samples go in padded batches of ``INFER_BATCH`` on the ``eval`` link, dealt
round-robin to every network worker. Sending blocks when the network's queue is full, so
nothing is lost; the shell keeps heartbeating while it waits.
"""

from __future__ import annotations

import sys

from nodes.encoder.core import encode
from pipeline.runtime.job import PipelineJob
from pipeline.base.messages import SpikeBatch
from pipeline.runtime.node import NodeShell
from pipeline.base.schedule import EVAL_EPOCH, epoch_order, eval_batches
from pipeline.runtime.wiring import open_socket


class EncoderNode(NodeShell):
    role = "encoder"

    def __init__(self) -> None:
        super().__init__()
        self.out = open_socket(self.ctx, "spikes", self.role)
        self.eval_out = open_socket(self.ctx, "eval", self.role)

    def run_job(self, job: PipelineJob) -> None:
        self.run_id = job.wire_run
        model, split = job.model_and_split()
        cfg = model.config.network
        n = job.n_per_epoch(split)
        sent = 0
        skip = job.resume_from
        for e in range(model.epochs_done, model.epochs_done + job.epochs):
            order = epoch_order(model.seed, e, len(split.X_train), n)
            if skip:  # recovery: these samples were learned before the checkpoint
                order, skip = order[skip:], max(0, skip - len(order))
            for s in range(0, len(order), job.batch):  # K samples of one epoch per message
                ids = order[s:s + job.batch]
                raster = encode(split.X_train[ids], cfg, model.seed, e, ids)  # one generator per sample
                if not self.send_waiting(self.out, SpikeBatch.from_raster(
                        raster, run=self.run_id, seq=self.next_seq(), sender=self.name, population="input",
                        dt=cfg.dt, sample_ids=ids, labels=split.y_train[ids], epoch=e)):
                    return
                sent += len(ids)
                self.status = {"sent": sent}
        test_cfg = cfg.testing()  # test digits are shown longer (NetworkConfig.test_factor)
        for ids, pad in eval_batches(len(split.X_test)):
            raster = encode(split.X_test[pad], test_cfg, model.seed, EVAL_EPOCH, pad)
            if not self.send_waiting(self.eval_out, SpikeBatch.from_raster(
                    raster, run=self.run_id, seq=self.next_seq(), sender=self.name, population="input",
                    dt=cfg.dt, sample_ids=pad, labels=split.y_test[pad], epoch=EVAL_EPOCH)):
                return
        self.log.info("job %s: sent %d training samples and %d test samples", job.run, sent,
                      len(split.X_test))
        self.tell("done", sent=sent)


if __name__ == "__main__":
    sys.exit(EncoderNode().serve())
