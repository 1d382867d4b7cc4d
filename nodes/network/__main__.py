"""Network process: presents input spike batches to the BrainPy core.

Training (``job.batch`` samples per message from the encoder; ``nodes/network/training.py``
holds the science): present with the teacher, hand the presentations to the learner (one
``presentation`` spike batch per message), report the free output's predictions, publish.
In ``lockstep`` mode this node runs the learner's core itself, sample by sample, so the
result is the in-process trainer's bit for bit while the learner node replays the same
presentations beside it (checkpoints, a digest check every ``snapshot_every`` samples,
recording). In ``async`` mode the learner learns: this node presents each sample with the
newest synapses the learner sent back (keeping the hidden thresholds current itself),
sends ``async_lag`` presentations per round trip and waits only when the synapses are
more than one round behind; each presentation records the weight version that made it
(its staleness). Every wait has a
deadline (``job.stall_s``): no input, no update or a learner that takes nothing fails the
job with the reason.

Evaluation fans out: every worker (``honcho start -c network=3``) pulls batches from the
``eval`` link; the training worker (network.1) hands its trained weights to the others
through the controller. The controller merges every worker's test predictions in
sample order, computes the accuracy and sends it back; network.1 then saves the model.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import zmq

from nodes.encoder.core import encode
from nodes.learner.core import LearnerCore, Plastic, apply_plastic, plastic_digest, plastic_of
from nodes.network.core import NetworkCore
from nodes.network.training import TrainBatch, TrainingCore, TrainStep
from pipeline.runtime.job import PipelineJob
from pipeline.base.messages import (PRESENTATION, Control, MessageError, Prediction, SpikeBatch, Traces, WeightUpdate,
                                    decode)
from pipeline.runtime.node import NodeShell
from nodes.network.params import init_params
from pipeline.base.config import Config
from pipeline.base.schedule import EVAL_EPOCH, INFER_BATCH, predict, retry_rows, running_rng
from nodes.network.present import present, to_numpy
from pipeline.runtime.wiring import open_socket
from store.models import save_model


class NetworkNode(NodeShell):
    role = "network"

    def __init__(self) -> None:
        super().__init__()
        # The first worker (network.1, or a lone network) trains; every worker evaluates.
        suffix = self.name.rsplit(".", 1)[-1] if "." in self.name else "1"
        self.trainer = suffix == "1"
        if self.trainer:
            self.spikes = open_socket(self.ctx, "spikes", self.role)
            self.to_learner = open_socket(self.ctx, "plasticity", self.role)
            self.weights = open_socket(self.ctx, "weights", self.role)
        self.results = open_socket(self.ctx, "results", self.role)

    def warm_up(self) -> None:
        """Compile the default configuration's training and inference programs."""
        cfg = Config()
        self.compile_for(cfg.network, cfg.learning)

    def compile_for(self, cfg, learning) -> None:
        """Compile (or find compiled) what a job of this configuration runs: a training
        presentation, the learner's update, an evaluation batch and its re-run shape."""
        core, test = NetworkCore.for_config(cfg), NetworkCore.for_config(cfg.testing())
        params = init_params(cfg, 0)
        x = np.full((INFER_BATCH, cfg.n_input), 8.0, np.float32)
        ids = np.arange(INFER_BATCH)
        if self.trainer:
            present(core, params, x[:1], 0, 0, ids[:1], np.zeros(1, np.int64), n_trace=PipelineJob().trace_neurons)
            LearnerCore(cfg, learning, params).update_presentation(
                plastic_of(params), np.zeros((cfg.n_steps, cfg.n_channels + cfg.n_hidden + 2 * cfg.n_output), bool))
        present(test, params, x, 0, EVAL_EPOCH, ids, None, rasters=False)
        small = retry_rows(1, INFER_BATCH)  # the re-run shape for a few quiet samples
        test.simulate(params, encode(x[:small], test.cfg, 0, 0, ids[:small]), test.reset_noise(0, 0, ids[:small]),
                      rasters=False)

    def wait(self, sock: zmq.Socket, kind: type, timeout_s: float | None = None):
        """Next valid message of ``kind`` from this run on ``sock``; None if asked to stop."""
        t0 = time.monotonic()
        while not (sock is not self.control and self.interrupted()) and not self.stopping:
            if sock.poll(100):
                msg = self.receive(sock)
                if isinstance(msg, kind) and msg.run == self.run_id:
                    return msg
                if self.interrupts(msg):
                    return None
                if msg is not None:  # another kind, or left over from an earlier run
                    self.dropped["unexpected-kind" if not isinstance(msg, kind) else "other-run"] += 1
            if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                return None
        return None

    def check_input(self, msg: SpikeBatch, n_steps: int, n_input: int) -> bool:
        ok = msg.population == "input" and msg.n_steps == n_steps and msg.n_neurons == n_input
        if not ok:
            self.dropped["wrong-shape"] += 1
            self.log.warning("dropped spikes from %s: population %s, %d x %d; expected input %d x %d",
                             msg.sender, msg.population, msg.n_steps, msg.n_neurons, n_steps, n_input)
        return ok

    def run_job(self, job: PipelineJob) -> None:
        self.run_id = job.wire_run
        self.staleness: list[np.ndarray] = []  # per training sample: presentations its weights missed
        self.clock = 0.0
        model, split = job.model_and_split()
        cfg = model.config.network
        core = NetworkCore.for_config(cfg)
        if model.config != Config():  # a new configuration compiles first (the controller waits)
            self.status = {"phase": "compiling"}
            self.compile_for(cfg, model.config.learning)
        self.status = {"phase": job.kind}
        # Connect for evaluation batches only while holding a job: the encoder deals them
        # round-robin to connected workers, so an idle worker is never dealt one.
        eval_in = open_socket(self.ctx, "eval", self.role)
        try:
            if job.kind == "evaluate":
                params, version, n_train = model.params, 0, 0
            elif self.trainer:
                params, version, n_train = self.train(job, model, split, core)
                if params is not None:
                    self.tell_weights(params, version)  # for the other workers' evaluation
            else:
                params, version, n_train = self.await_weights(job), 0, 0
            if params is None:
                return
            train_s = self.clock
            t_eval = time.time()
            acc, tested = self.evaluate(job, model, split, core, params, version, eval_in)
        finally:
            eval_in.close(linger=0)
        if acc is None:
            return
        stale = np.concatenate(self.staleness) if self.staleness else np.zeros(1, np.int64)
        report = dict(test_accuracy=acc, tested=tested, eval_started=t_eval, weight_version=version,
                      staleness={"median": float(np.median(stale)), "max": int(stale.max())})
        if job.kind == "evaluate" or not self.trainer:
            self.tell("done", model=job.model if self.trainer else None, train_seconds=0.0,
                      samples_per_second=None, **report)
            return
        model.params = to_numpy(params)
        model.epochs_done += job.epochs
        model.samples_seen += n_train
        model.history.append({"epochs": job.epochs, "samples_per_epoch": job.n_per_epoch(split),
                              "split_seed": job.split_seed, "test_accuracy": acc, "mode": job.mode,
                              "run": job.run, "train_seconds": round(train_s, 3)})
        path = save_model(model, job.model_dir)
        self.log.info("job %s: trained %d samples in %.1f s, test accuracy %.2f%%, saved %s",
                      job.run, n_train, train_s, 100 * acc, path)
        self.tell("done", model=str(path), train_seconds=train_s,
                  samples_per_second=n_train / max(train_s, 1e-9), **report)

    def train(self, job: PipelineJob, model, split, core):
        """Present every training sample, learning as the job's mode says; returns the
        final parameters, their weight version and the number of samples."""
        cfg = core.cfg
        n_train = job.n_per_epoch(split) * job.epochs
        start, plastic = 0, None
        if job.resume_from:  # recovery: the learner's checkpoint, relayed by the controller
            ck = self.wait(self.control, WeightUpdate, timeout_s=30.0)
            if ck is None or ck.version != job.resume_from:
                self.log.error("job %s: no checkpoint %d arrived; giving the job up", job.run, job.resume_from)
                return None, 0, 0
            start, plastic = ck.version, Plastic(ck.w_ih, ck.theta, ck.w_ho)
            self.log.info("job %s: resuming at sample %d", job.run, start)
        rng = running_rng(model.seed)
        rng.random((start, cfg.n_output))  # the tie-breaking draws of the samples before it
        tc = TrainingCore(core, model.params, model.config.learning, model.seed, job.n_per_epoch(split),
                          model.epochs_done, job.mode, min(job.trace_neurons, cfg.n_hidden), rng,
                          start, plastic)
        spent = {"wait_input": 0.0, "present": 0.0, "send": 0.0, "wait_weights": 0.0}
        every = job.snapshot_every
        while tc.k < n_train:
            t0 = time.perf_counter()
            msg = self.next_input(cfg, job)
            if msg is None:
                return None, tc.version, tc.k
            t1 = time.perf_counter()
            self.clock = self.clock or t1  # from the first presentation ...
            whole = TrainBatch(split.X_train[msg.sample_ids], msg.sample_ids, msg.labels, msg.epoch, msg.to_raster())
            # Lock-step: the message at once. Async: ``async_lag`` samples per round trip
            # to the learner, so the synapses lag by ``async_lag`` to twice that.
            size = len(whole.ids) if tc.lockstep else job.async_lag
            for lo in range(0, len(whole.ids), size):
                b = whole.rows(slice(lo, lo + size))
                t1 = time.perf_counter()
                step = tc.step(b)
                t2 = time.perf_counter()
                if not self.report_batch(b, step, cfg.dt, job):
                    return None, tc.version, tc.k
                if tc.lockstep and (tc.k // every > step.first // every or tc.k == n_train):  # the learner checks
                    self.send(self.to_learner, Control(
                        run=self.run_id, seq=tc.k, sender=self.name, command="digest",
                        args={"version": tc.version, "digest": plastic_digest(tc.plastic)}))
                self.staleness.append(step.first + np.arange(len(b.ids)) - step.versions)
                t3 = time.perf_counter()
                # Async: whatever has arrived, waiting only if the learner fell more than
                # one round behind (or, at the end, for the last update).
                if not tc.lockstep and not self.adopt_newest(tc, tc.k - size if tc.k < n_train else n_train, job):
                    return None, tc.version, tc.k
                t4 = time.perf_counter()
                for name, d in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    spent[name] += d
                t0 = t4
            self.status = {"trained": tc.k, "weight_version": tc.version}
        self.clock = time.perf_counter() - (self.clock or time.perf_counter())  # ... to the last update
        if n_train > start:
            self.log.info("job %s: per training sample, ms: %s", job.run,
                          ", ".join(f"{k} {1e3 * v / (n_train - start):.3f}" for k, v in spent.items()))
        return tc.current, tc.version, n_train

    def report_batch(self, b: TrainBatch, step: TrainStep, dt: float, job: PipelineJob) -> bool:
        """One batch of presented training samples: its rasters to the learner first (so
        it learns while this node reports), its predictions to the controller, everything
        to the bus; one message each. False if the learner took nothing for ``stall_s``."""
        res = step.res
        shown = SpikeBatch.from_raster(
            np.concatenate([res.input, res.hidden, res.output, res.taught], axis=2),
            run=self.run_id, seq=step.first, sender=self.name, population=PRESENTATION, dt=dt,
            sample_ids=b.ids, labels=b.labels, epoch=b.epoch, attempt=step.attempts, weight_version=step.versions)
        if not self.send_waiting(self.to_learner, shown, job.stall_s, "the learner took no presentation"):
            return False
        p = Prediction(run=self.run_id, seq=self.next_seq(), sender=self.name, sample_ids=b.ids,
                       labels=b.labels, predicted=step.predicted, counts=res.output_counts(),
                       weight_version=step.versions, phase="train")
        self.send(self.results, p)
        traced = np.flatnonzero((step.first + np.arange(len(b.ids))) % job.trace_every == 0)
        self.publish_sample(shown, res, p, traced)
        return True

    def next_input(self, cfg, job: PipelineJob) -> SpikeBatch | None:
        """The next training input of this run with the configured shape; None if asked to
        stop, or (the job failed) if none came for ``stall_s``."""
        while True:
            msg = self.wait(self.spikes, SpikeBatch, timeout_s=job.stall_s)
            if msg is None:
                if not (self.stopping or self.aborted):
                    self.fail(f"no training input for {job.stall_s:.0f} s (is the encoder stuck?)")
                return None
            if self.check_input(msg, cfg.n_steps, cfg.n_channels):
                return msg

    def tell_weights(self, params, version: int) -> None:
        self.send(self.control, WeightUpdate(run=self.run_id, seq=self.next_seq(), sender=self.name,
                                             version=version, samples_seen=version,
                                             w_ih=np.asarray(params.w_ih, np.float32),
                                             theta=np.asarray(params.theta, np.float32),
                                             w_ho=np.asarray(params.w_ho, np.float32)))

    def await_weights(self, job: PipelineJob):
        """An evaluation worker of a training job: the trained weights, relayed by the
        controller from the training worker."""
        model, _ = job.model_and_split()
        msg = self.wait(self.control, WeightUpdate)
        if msg is None:
            return None
        self.log.info("job %s: received the trained weights (version %d)", job.run, msg.version)
        return apply_plastic(model.params, Plastic(msg.w_ih, msg.theta, msg.w_ho))

    def evaluate(self, job: PipelineJob, model, split, core, params, version: int, eval_in: zmq.Socket):
        """Evaluate the batches dealt to this worker until the controller, holding every
        test prediction, sends the accuracy; returns (accuracy, samples evaluated)."""
        core = NetworkCore.for_config(core.cfg.testing())  # test digits are shown longer
        cfg = core.cfg
        poller = zmq.Poller()
        poller.register(eval_in, zmq.POLLIN)
        poller.register(self.control, zmq.POLLIN)
        tested = 0
        while not self.stopping:
            events = dict(poller.poll(100))
            if self.control in events:
                msg = self.receive(self.control)
                if isinstance(msg, Control) and msg.command == "evaluated" and msg.run == self.run_id:
                    return float(msg.args["test_accuracy"]), tested
                if self.interrupts(msg) and self.aborted:
                    break
            if eval_in not in events:
                continue
            msg = self.receive(eval_in)
            if not isinstance(msg, SpikeBatch) or msg.run != self.run_id or msg.epoch != EVAL_EPOCH \
                    or not self.check_input(msg, cfg.n_steps, cfg.n_channels):
                self.dropped["unexpected-eval"] += 1
                continue
            res, _ = present(core, params, split.X_test[msg.sample_ids], model.seed, EVAL_EPOCH,
                             msg.sample_ids, None, spikes=msg.to_raster(), rasters=False)
            uniq, first = np.unique(msg.sample_ids, return_index=True)
            c = res.output_counts()[first]
            p = Prediction(
                run=self.run_id, seq=self.next_seq(), sender=self.name, sample_ids=uniq.astype(np.int64),
                labels=msg.labels[first], predicted=predict(c, model.seed, uniq).astype(np.int64), counts=c,
                weight_version=version, phase="test")
            self.send(self.results, p)
            self.publish(p)
            tested += len(uniq)
            self.status = {"tested": tested}
        return None, tested

    def publish_sample(self, shown: SpikeBatch, res, pred: Prediction, traced: np.ndarray) -> None:
        """What a viewer or the recorder sees of a batch of training presentations
        (``shown``, the message to the learner): the input, hidden and (free) output
        spikes cut out of it, the membrane traces of the ``traced`` rows and the
        predictions; a few messages per batch, made and sent by the publishing thread."""
        def messages():
            common = dict(run=shown.run, seq=0, sender=self.name, dt=shown.dt, sample_ids=shown.sample_ids[traced])
            lo = 0
            for pop, raster in (("input", res.input), ("hidden", res.hidden), ("output", res.output)):
                n = raster.shape[-1]
                yield shown.select(lo, lo + n, pop)  # numbered on the bus by the publisher
                lo += n
            for pop, v in (("hidden", res.v_hidden), ("output", res.v_output)):
                if len(traced) and v is not None and v.shape[-1]:
                    yield Traces(population=pop, neurons=np.arange(v.shape[-1], dtype=np.int32),
                                 values=np.asarray(v[traced], np.float32), **common)
            yield pred

        self.publish(messages)

    def adopt_newest(self, tc: TrainingCore, until: int, job: PipelineJob) -> bool:
        """Async: act with the newest update that has arrived. Older ones queued before it
        are received but never decoded. Waits (at most ``stall_s`` without one) only
        while the weights are older than version ``until``. An invalid update (NaN, wrong
        shape or version) fails the job: the learner's state can no longer be trusted."""
        t0 = time.monotonic()
        while True:
            newest = None
            while self.weights.poll(0):
                newest = self.weights.recv_multipart()
            if newest is not None:
                try:
                    msg = decode(newest)
                    if not isinstance(msg, WeightUpdate) or msg.run != self.run_id:
                        raise MessageError("unexpected", f"a {msg.KIND} of run {msg.run!r} on the weights link")
                    if msg.w_ih.shape != np.shape(tc.plastic.w_ih) or msg.w_ho.shape != np.shape(tc.plastic.w_ho):
                        raise MessageError("bad-shape", f"weights of shape {msg.w_ih.shape}, {msg.w_ho.shape}")
                    if not tc.version < msg.version <= tc.k:
                        raise MessageError("bad-version", f"version {msg.version} after {tc.version}, "
                                                          f"with {tc.k} presented")
                except MessageError as e:
                    self.dropped[e.reason] += 1
                    self.fail(f"the learner sent an invalid weight update ({e})")
                    return False
                tc.adopt(Plastic(msg.w_ih, msg.theta, msg.w_ho), msg.version)
                t0 = time.monotonic()
            if tc.version >= until:
                return True
            if self.interrupted():
                return False
            if time.monotonic() - t0 > job.stall_s:
                self.fail(f"no weight update for {job.stall_s:.0f} s at version {tc.version} "
                          f"(is the learner stuck?)")
                return False
            self.weights.poll(100)


if __name__ == "__main__":
    sys.exit(NetworkNode().serve())
