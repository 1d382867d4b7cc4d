"""The training worker's pure core: batches of training samples in, presentations out.

``TrainingCore.step(batch)`` presents the samples of one ``TrainBatch`` (one message of
the encoder: up to ``batch`` samples of one epoch) and returns a ``TrainStep``: every
layer's rasters, the attempt and weight version that made each presentation, and the
free output's predictions. How the weights move depends on the mode:

- ``lockstep``: each sample is presented alone with the weights that learned from every
  sample before it, and the learner's own core (``LearnerCore.update``) runs here, on the
  critical path, exactly as the in-process trainer calls it. The pipeline's result is
  therefore the trainer's bit for bit; the learner node replays the same presentations
  beside it and checks a digest of its weights against this one (``plastic_digest``).
- ``async``: each sample is presented with the newest weights the learner sent
  (``adopt``): the synapses are stale by however many presentations the learner has not
  sent back yet, and each presentation records that version. The adaptive threshold
  (``theta``) is the neuron's own state and stays current: homeostasis is applied here
  after every sample, by the learner's rule, so the competition between hidden neurons
  sees every earlier winner (presenting a batch with one stale threshold lets the same
  neuron win it all). It is the same function of the hidden spike counts the learner
  applies, so the learner's ``theta`` of a version is this one's.

No sockets here: the network node's shell receives, calls ``step`` and sends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nodes.learner.core import LearnerCore, Plastic, apply_plastic, homeostasis, plastic_of, training_progress
from nodes.network.core import NetworkCore, SimResult
from nodes.network.params import NetParams
from nodes.network.present import present
from pipeline.base.config import LearningConfig
from pipeline.base.schedule import classify


@dataclass(frozen=True)
class TrainBatch:
    """Training samples of one epoch, in the trainer's order."""

    X: np.ndarray  # (B, pixels) the digits (a retry re-encodes them)
    ids: np.ndarray  # (B,) sample ids
    labels: np.ndarray  # (B,)
    epoch: int  # absolute epoch (a continued model's count goes on)
    spikes: np.ndarray  # (B, T, n_channels) the encoder's trains

    def rows(self, sel: slice) -> "TrainBatch":
        return TrainBatch(self.X[sel], self.ids[sel], self.labels[sel], self.epoch, self.spikes[sel])


@dataclass(frozen=True)
class TrainStep:
    """What presenting one ``TrainBatch`` gave (NumPy, one row per sample)."""

    res: SimResult
    attempts: np.ndarray  # (B,) the retry that made each presentation
    versions: np.ndarray  # (B,) the weight version (presentations learned) that presented it
    predicted: np.ndarray  # (B,) the free output's answer before learning
    first: int  # the training index of the batch's first sample


def concat_results(parts: list[SimResult]) -> SimResult:
    """Batches of NumPy results joined along the sample axis."""
    fields = zip(*(p._fields() for p in parts))
    return SimResult(*(None if f[0] is None else np.concatenate(f) for f in fields))


class TrainingCore:
    """The training state of the network's training worker: the acting parameters, the
    plastic part with its version, the running-accuracy generator, the training index."""

    def __init__(self, core: NetworkCore, params: NetParams, learning: LearningConfig, seed: int,
                 per_epoch: int, first_epoch: int, mode: str, n_trace: int,
                 rng: np.random.Generator, start: int = 0, plastic: Plastic | None = None) -> None:
        self.core, self.params, self.seed = core, params, seed
        self.per_epoch, self.first_epoch = per_epoch, first_epoch
        self.lockstep = mode == "lockstep"
        self.n_trace, self.rng = n_trace, rng
        self.learning = learning
        self.learner = LearnerCore(core.cfg, learning, params) if self.lockstep else None
        self.plastic = plastic if plastic is not None else plastic_of(params)
        self.k = start  # training presentations made so far
        self.version = start  # presentations the acting weights learned from

    @property
    def current(self) -> NetParams:
        return apply_plastic(self.params, self.plastic)

    def adopt(self, plastic: Plastic, version: int) -> None:
        """Async: act with the learner's newer synapses from now on (the threshold stays
        this node's own, ahead of the learner's)."""
        self.plastic, self.version = Plastic(plastic.w_ih, self.plastic.theta, plastic.w_ho), version

    def step(self, b: TrainBatch) -> TrainStep:
        """Present each sample of ``b`` alone, then learn from it as the mode says."""
        parts, attempts, versions, predicted = [], [], [], []
        first = self.k
        for j in range(len(b.ids)):
            res, att = present(self.core, self.current, b.X[j:j + 1], self.seed, b.epoch, b.ids[j:j + 1],
                               b.labels[j:j + 1], n_trace=self.n_trace, spikes=b.spikes[j:j + 1])
            predicted.append(classify(res.output_counts(), self.rng)[0])
            versions.append(self.version)
            parts.append(res)
            attempts.append(att[0])
            if self.lockstep:  # the learner's own update, as the in-process trainer calls it
                in_epoch = self.k - (b.epoch - self.first_epoch) * self.per_epoch
                self.plastic = self.learner.update(self.plastic, res.input[0], res.hidden[0], res.output[0],
                                                   res.taught[0], training_progress(b.epoch, in_epoch, self.per_epoch))
                self.version += 1
            else:  # async: only the threshold moves here (the synapses come from the learner)
                theta = homeostasis(np.asarray(self.plastic.theta, np.float32), res.hidden_counts()[0], self.learning)
                self.plastic = Plastic(self.plastic.w_ih, theta.astype(np.float32), self.plastic.w_ho)
            self.k += 1
        return TrainStep(concat_results(parts), np.asarray(attempts, np.int64), np.asarray(versions, np.int64),
                         np.asarray(predicted, np.int64), first)
