"""One sweep trial, run as a whole Dask task on whichever worker takes it.

``run_trial(task)`` is a pure function of plain values: it trains the trial's brain on
the training part minus the validation digits, scores it on those after every epoch,
asks Optuna's own pruner (an in-memory study holding the finished trials the driver
sent along) whether to stop, and returns the scores and the model file's bytes. It
writes nothing shared, so the same task runs on a LocalCluster or on another host,
and a task rerun after its worker died gives the same result.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


class Pruned(Exception):
    """Raised inside training when the pruner stops a trial."""


def validation_split(X: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """Stratified: the digits a trial is scored on come out of the training part."""
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=fraction, stratify=y, random_state=seed)


def _pruner_trial(task: dict[str, Any]):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(
        n_startup_trials=task.get("startup_trials", 2), n_warmup_steps=0))
    for t in task.get("finished", []):
        study.add_trial(t)
    return study.ask()


def run_trial(task: dict[str, Any]) -> dict[str, Any]:
    """``task``: config (Config.to_dict()), number, validation, pruning, finished (Optuna
    FrozenTrials for the pruner). Returns state, value, per-epoch curve, model bytes."""
    from pipeline.base.config import Config
    from pipeline.base.data import load_data
    from pipeline.app.jobs import accuracy
    from pipeline.app.trainer import train
    from nodes.network.params import init_params
    from store.models import Model, save_model

    t0 = time.perf_counter()
    config = Config.from_dict(task["config"])
    split, config = load_data(config)
    X, Xv, y, yv = validation_split(split.X_train, split.y_train, task["validation"], config.job.split_seed)
    model = Model(params=init_params(config.network, config.job.seed), config=config, seed=config.job.seed)
    pruner = _pruner_trial(task) if task.get("pruning") else None
    curve: list[dict[str, float]] = []

    def on_epoch(log, params) -> None:
        acc, _, _ = accuracy(params, config, Xv, yv, config.job.seed)
        curve.append({"epoch": log.epoch, "validation_accuracy": acc, "running_accuracy": log.running_accuracy,
                      "seconds": round(log.seconds, 3)})
        if pruner is not None:
            pruner.report(acc, log.epoch)
            if log.epoch + 1 < config.job.epochs and pruner.should_prune():
                raise Pruned()

    state = "complete"
    t_train = time.perf_counter()
    try:
        res = train(model.params, config, X, y, config.job.epochs, config.job.samples, config.job.seed,
                    on_epoch=on_epoch)
        model.params = res.params
        model.epochs_done = config.job.epochs
        model.samples_seen = res.samples
    except Pruned:
        state = "pruned"
    train_seconds = time.perf_counter() - t_train
    model.history.append({"epochs": len(curve), "sweep_trial": task["number"], "split_seed": config.job.split_seed,
                          "validation_accuracy": curve[-1]["validation_accuracy"] if curve else None,
                          "epoch_log": curve, "train_seconds": round(train_seconds, 3),
                          "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    data = b""
    if state == "complete":
        with tempfile.TemporaryDirectory() as d:
            data = Path(save_model(model, d)).read_bytes()
    return {"number": task["number"], "state": state, "curve": curve,
            "value": curve[-1]["validation_accuracy"] if curve else float("nan"),
            "train_seconds": train_seconds, "seconds": time.perf_counter() - t0,
            "model": data, "n_validation": int(len(yv)), "host": _host()}


def _host() -> str:
    """The Dask worker that ran the trial (its address names the host), else this host."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        import socket

        return socket.gethostname()


def model_from_bytes(data: bytes):
    """Validate a trial's returned model file (the same checks as any model file)."""
    from store.models import load_model

    with tempfile.NamedTemporaryFile(suffix=".npz") as f:
        f.write(data)
        f.flush()
        return load_model(f.name)

