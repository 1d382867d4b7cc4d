"""The brain a job trains, as every process derives it: a new model sized to its data,
or a continued one with the configuration changes it may take (architecture changes are
refused, naming the key)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodes.network.params import init_params
from pipeline.base.config import DEFAULT_EPOCHS, DEFAULT_MODEL_DIR, Config, ConfigError
from pipeline.base.configfile import architecture_conflicts, differences
from pipeline.base.data import Split, load_data
from store.models import Model, load_model


@dataclass
class TrainJob:
    epochs: int = DEFAULT_EPOCHS
    samples: int | None = None
    seed: int = 0
    split_seed: int = 0
    model: str | None = None  # continue this model file
    model_dir: Path = DEFAULT_MODEL_DIR
    save: bool = True
    config: Config | None = None


def continued_with(model: Model, asked: Config) -> dict[str, list]:
    """Apply ``asked`` to a continued model: architecture changes are refused (ConfigError
    naming the key), other changes are taken and returned as ``{key: [old, new]}``."""
    conflicts = architecture_conflicts(model.config, asked)
    if conflicts:
        raise ConfigError(conflicts[0].split(":", 1)[0],
                          "a continued model keeps its architecture; " + "; ".join(conflicts)
                          + ". Train a new model for a different architecture (leave out --model)")
    changes = {k: [a, b] for k, (a, b) in differences(asked, model.config).items()
               if not k.startswith("job.")}
    model.config = asked
    return changes


def _with_job(config: Config, job: TrainJob) -> Config:
    """``config`` with the job's own figures, so the model records what it was trained with."""
    changes: dict[str, Any] = {"split_seed": job.split_seed, "samples": job.samples}
    if job.epochs >= 1:
        changes["epochs"] = job.epochs
    if not job.model:
        changes["seed"] = job.seed
    return config.replace(job=config.job.replace(**changes))


def prepare(job: TrainJob) -> tuple[Model, Split, dict[str, list]]:
    """The model a job trains (new and sized to its data, or continued), its data, and the
    configuration changes a continued model takes."""
    if job.model:
        m = load_model(job.model)
        m.parent = Path(job.model).name
        changes = continued_with(m, job.config) if job.config is not None else {}
        m.config = _with_job(m.config, job)
        split, sized = load_data(m.config)
        conflicts = architecture_conflicts(m.config, sized)
        if conflicts:
            raise ConfigError("data", f"the data does not fit the model ({'; '.join(conflicts)}): "
                                      "continue it on data of the same shape and classes")
        return m, split, changes
    split, cfg = load_data(_with_job(job.config or Config(), job))
    return Model(params=init_params(cfg.network, job.seed), config=cfg, seed=job.seed), split, {}


def new_or_loaded(job: TrainJob) -> Model:
    return prepare(job)[0]
