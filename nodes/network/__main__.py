"""Network process: presents input spike batches to the BrainPy core.

Training (one sample per message from the encoder): present with the teacher, hand the
rasters to the learner (one ``presentation`` spike batch per sample), report the free
output's prediction, publish, then apply the learner's weights. In ``lockstep`` mode it
waits for the update of sample n before presenting n+1, which reproduces the in-process
trainer exactly. In ``async`` mode it presents ``ASYNC_BATCH`` samples at once with the
newest weights that have arrived, and waits only when the learner is more than
``MAX_LAG`` samples behind, so weights lag by a bounded number of samples (each
prediction and presentation records the weight version that made it).

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
from nodes.learner.core import Plastic, apply_plastic
from nodes.network.core import NetworkCore
from pipeline.runtime.job import PipelineJob
from pipeline.base.messages import PRESENTATION, Control, Prediction, SpikeBatch, Traces, WeightUpdate
from pipeline.runtime.node import NodeShell
from nodes.network.params import init_params
from pipeline.base.config import Config
from pipeline.base.schedule import EVAL_EPOCH, INFER_BATCH, classify, predict, retry_rows, running_rng
from nodes.network.present import present, to_numpy
from pipeline.runtime.wiring import open_socket
from store.models import save_model


ASYNC_BATCH = 8  # async training: samples presented at once with the same weights
MAX_LAG = 16  # async training: the network waits if the learner is more samples behind


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
        cfg = Config().network
        core, test = NetworkCore.for_config(cfg), NetworkCore.for_config(cfg.testing())
        params = init_params(cfg, 0)
        x = np.full((INFER_BATCH, cfg.n_input), 8.0, np.float32)
        ids = np.arange(INFER_BATCH)
        for b in (1, ASYNC_BATCH):  # lock-step and async training
            present(core, params, x[:b], 0, 0, ids[:b], np.zeros(b, np.int64), n_trace=PipelineJob().trace_neurons)
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
        model, split = job.model_and_split()
        cfg = model.config.network
        core = NetworkCore.for_config(cfg)
        # Connect for evaluation batches only while holding a job: the encoder deals them
        # round-robin to connected workers, so an idle worker is never dealt one.
        eval_in = open_socket(self.ctx, "eval", self.role)
        try:
            t0 = time.perf_counter()
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
            train_s = time.perf_counter() - t0
            t_eval = time.time()
            acc, tested = self.evaluate(job, model, split, core, params, version, eval_in)
        finally:
            eval_in.close(linger=0)
        if acc is None:
            return
        report = dict(test_accuracy=acc, tested=tested, eval_started=t_eval, weight_version=version)
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
        params, version = model.params, 0
        rng = running_rng(model.seed)
        n_train = job.n_per_epoch(split) * job.epochs
        if job.resume_from:  # recovery: the learner's checkpoint, relayed by the controller
            ck = self.wait(self.control, WeightUpdate, timeout_s=30.0)
            if ck is None or ck.version != job.resume_from:
                self.log.error("job %s: no checkpoint %d arrived; giving the job up", job.run, job.resume_from)
                return None, version, 0
            params, version = apply_plastic(params, Plastic(ck.w_ih, ck.theta, ck.w_ho)), ck.version
            rng.random((version, cfg.n_output))  # the tie-breaking draws of the samples before it
            self.log.info("job %s: resuming at sample %d", job.run, version)
        k_trace = min(job.trace_neurons, cfg.n_hidden)
        batch = ASYNC_BATCH if job.mode == "async" else 1
        spent = {"wait_input": 0.0, "present": 0.0, "send": 0.0, "wait_weights": 0.0}
        t = time.perf_counter()
        k = job.resume_from
        msg = self.next_input(cfg) if k < n_train else None
        while k < n_train:
            if msg is None:
                return None, version, k
            # Async: up to ``batch`` samples of one epoch presented at once with the same
            # weights (one compiled call); lockstep: one sample, the learner's newest weights.
            msgs, msg = [msg], None
            while len(msgs) < batch and k + len(msgs) < n_train:
                msg = self.next_input(cfg)
                if msg is None or msg.epoch != msgs[0].epoch:
                    break
                msgs.append(msg)
                msg = None
            # A short batch is padded by repeating its last sample: one compiled shape.
            rows = np.minimum(np.arange(batch), len(msgs) - 1)
            ids = np.concatenate([msgs[r].sample_ids for r in rows])
            labels = np.concatenate([msgs[r].labels for r in rows])
            rasters = [m.to_raster() for m in msgs]
            t1 = time.perf_counter()
            res, attempts = present(core, params, split.X_train[ids], model.seed, msgs[0].epoch, ids, labels,
                                    n_trace=k_trace, spikes=np.concatenate([rasters[r] for r in rows]))
            t2 = time.perf_counter()
            pred = classify(res.output_counts()[:len(msgs)], rng)
            for j, m in enumerate(msgs):
                self.report_sample(k + j, m, res.row(j), int(attempts[j]), version, cfg.dt, pred[j], job)
            k += len(msgs)
            t3 = time.perf_counter()
            # Take the next input while the learner works: receiving and checking it is off
            # the lock-step critical path (its presentation still waits for the weights).
            if msg is None and k < n_train:
                msg = self.next_input(cfg)
            t4 = time.perf_counter()
            # Lockstep: the update of the sample just presented. Async: whatever has arrived,
            # waiting only if the learner fell more than MAX_LAG samples behind.
            params, version = self.apply(params, version, until=k if job.mode == "lockstep"
                                         else (k - MAX_LAG if version < k - MAX_LAG else None))
            t5 = time.perf_counter()
            for name, d in zip(spent, (t1 - t + t4 - t3, t2 - t1, t3 - t2, t5 - t4)):
                spent[name] += d
            t = time.perf_counter()
            self.status = {"trained": k, "weight_version": version}
            if params is None:
                return None, version, k
        params, version = self.apply(params, version, until=n_train)  # async: catch up at the end
        if n_train:
            self.log.info("job %s: per training sample, ms: %s", job.run,
                          ", ".join(f"{k} {1e3 * v / n_train:.2f}" for k, v in spent.items()))
        return params, version, n_train

    def report_sample(self, k: int, msg: SpikeBatch, res, attempt: int, version: int, dt: float,
                      predicted: int, job: PipelineJob) -> None:
        """One presented training sample: its rasters to the learner first (so it learns
        while this node reports), its prediction to the controller, everything to the bus."""
        # One message per presentation: the four layers side by side on the neuron axis.
        shown = SpikeBatch.from_raster(
            np.concatenate([res.input, res.hidden, res.output, res.taught], axis=2),
            run=self.run_id, seq=k, sender=self.name, population=PRESENTATION, dt=dt,
            sample_ids=msg.sample_ids, labels=msg.labels, epoch=msg.epoch, attempt=attempt,
            weight_version=version)
        self.send(self.to_learner, shown)
        counts = res.output_counts()
        p = Prediction(run=self.run_id, seq=self.next_seq(), sender=self.name, sample_ids=msg.sample_ids,
                       labels=msg.labels, predicted=np.array([predicted], np.int64), counts=counts,
                       weight_version=version, phase="train")
        self.send(self.results, p)
        self.publish_sample(shown, res, p, traces=k % job.trace_every == 0)

    def next_input(self, cfg) -> SpikeBatch | None:
        """The next training input of this run with the configured shape; None if asked to stop."""
        msg = self.wait(self.spikes, SpikeBatch)
        while msg is not None and not self.check_input(msg, cfg.n_steps, cfg.n_channels):
            msg = self.wait(self.spikes, SpikeBatch)
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

    def publish_sample(self, shown: SpikeBatch, res, pred: Prediction, traces: bool = True) -> None:
        """What a viewer or the recorder sees of one training presentation (``shown``, the
        message to the learner): the input, hidden and (free) output spikes cut out of it,
        membrane traces and the prediction (made and sent by the publishing thread)."""
        def messages():
            common = dict(run=shown.run, seq=0, sender=self.name, dt=shown.dt, sample_ids=shown.sample_ids)
            lo = 0
            for pop, raster in (("input", res.input), ("hidden", res.hidden), ("output", res.output)):
                n = raster.shape[-1]
                yield shown.select(lo, lo + n, pop)  # numbered on the bus by the publisher
                lo += n
            for pop, v in (("hidden", res.v_hidden), ("output", res.v_output)):
                if traces and v is not None and v.shape[-1]:
                    yield Traces(population=pop, neurons=np.arange(v.shape[-1], dtype=np.int32),
                                 values=np.asarray(v, np.float32), **common)
            yield pred

        self.publish(messages)

    def apply(self, params, version: int, until: int | None):
        """Apply weight updates: wait until ``version >= until`` (lockstep, or the end of
        async training), or only drain what has arrived (``until`` None)."""
        while until is None or version < until:
            if until is None and not self.weights.poll(0):
                break
            msg = self.wait(self.weights, WeightUpdate)
            if msg is None:
                return None, version
            if msg.version <= version:
                self.dropped["stale-weights"] += 1
                continue
            params = apply_plastic(params, Plastic(msg.w_ih, msg.theta, msg.w_ho))
            version = msg.version
        return params, version


if __name__ == "__main__":
    sys.exit(NetworkNode().serve())
