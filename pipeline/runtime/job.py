"""A pipeline job as every node sees it: the same arguments, the same derived facts."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pipeline.base.config import DEFAULT_EPOCHS, MAX_BATCH, Config
from pipeline.base.data import Split
from pipeline.runtime.brain import TrainJob, prepare
from pipeline.base.schedule import INFER_BATCH
from store.models import Model


@dataclass(frozen=True)
class PipelineJob:
    epochs: int = DEFAULT_EPOCHS
    samples: int | None = None
    seed: int = 0
    split_seed: int = 0
    model: str | None = None
    model_dir: str = "models"
    mode: str = "lockstep"  # lockstep | async
    kind: str = "train"  # train | evaluate (no training, no new model file)
    run: str = ""
    snapshot_every: int = 100  # the learner publishes its weights every this many samples
    trace_neurons: int = 4  # hidden neurons whose membrane potential is published
    trace_every: int = 10  # ... for every this many training samples (the heaviest messages)
    # Training presentations per message from the encoder and, in lock-step, to the
    # learner; lock-step results do not depend on it.
    batch: int = 16
    # Async: presentations per round trip to the learner (one message of presentations,
    # one update back); the synapses lag by this to twice this many presentations.
    async_lag: int = 4
    # No wait without a deadline: a node that waits this long for a message the job needs
    # (input, presentations, weights), or a job whose nodes all stand still this long,
    # fails the job with the reason.
    stall_s: float = 10.0
    # Recovery (set by the controller after a node was lost): start at this training
    # sample from the learner's checkpoint; each attempt is an incarnation of the run.
    resume_from: int = 0
    incarnation: int = 0
    # The effective brain configuration (Config.to_dict()) the client resolved from its
    # --config/--preset/--set/--data; None: the defaults (or a continued model's own).
    config: dict[str, Any] | None = None

    @property
    def wire_run(self) -> str:
        """The run id on the wire: messages of an aborted incarnation still in some queue
        never pass for the resumed one's. ``base_run`` maps it back."""
        return self.run if self.incarnation == 0 else f"{self.run}.{self.incarnation}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PipelineJob":
        job = cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})
        if job.mode not in ("lockstep", "async"):
            raise ValueError(f"mode must be lockstep or async, got {job.mode!r}")
        if job.kind not in ("train", "evaluate"):
            raise ValueError(f"kind must be train or evaluate, got {job.kind!r}")
        if job.kind == "evaluate" and not job.model:
            raise ValueError("an evaluate job needs a model file")
        if job.kind == "evaluate":
            job = cls(**{**asdict(job), "epochs": 0})
        if job.epochs < 0 or (job.samples is not None and job.samples < 1):
            raise ValueError("epochs must be >= 0 and samples >= 1")
        if job.resume_from < 0 or job.incarnation < 0:
            raise ValueError("resume_from and incarnation must be >= 0")
        if job.snapshot_every < 1 or job.trace_neurons < 0 or job.trace_every < 1:
            raise ValueError("snapshot_every must be >= 1 and trace_neurons >= 0")
        if not 1 <= job.batch <= MAX_BATCH or not 1 <= job.async_lag <= MAX_BATCH:
            raise ValueError(f"batch and async_lag must be 1..{MAX_BATCH}, got {job.batch!r}, {job.async_lag!r}")
        if not 0 < job.stall_s <= 3600:
            raise ValueError(f"stall_s must be a number of seconds in (0, 3600], got {job.stall_s!r}")
        if job.config is not None:
            Config.from_dict(job.config)  # ConfigError (a ValueError) names the bad key
        return job

    def model_and_split(self) -> tuple[Model, Split]:
        """Every node derives the same model and data from the job (the data file is read
        where each node runs: on several hosts it must exist at the same path)."""
        config = Config.from_dict(self.config) if self.config is not None else None
        if config is not None and self.kind == "evaluate":
            config = None  # an evaluated model keeps its own configuration
        model, split, _ = prepare(TrainJob(epochs=self.epochs, samples=self.samples, seed=self.seed,
                                           split_seed=self.split_seed, model=self.model, config=config))
        return model, split

    def n_per_epoch(self, split: Split) -> int:
        n = len(split.X_train)
        return n if self.samples is None else min(self.samples, n)

    def n_eval_batches(self, split: Split) -> int:
        return -(-len(split.X_test) // INFER_BATCH)


def base_run(wire_run: str) -> str:
    """The run a wire run id belongs to (``run_X.2`` -> ``run_X``)."""
    return wire_run.split(".", 1)[0]
