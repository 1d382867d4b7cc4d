"""Training and evaluation jobs shared by ``byob`` and ``main.py``.

Each job is a plain function returning a plain dict (what ``--json`` prints), so the
command line, the menu and the tests all go through the same code.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from pipeline.base.config import Config
from pipeline.base.data import Split, load_data
from pipeline.base.schedule import classify
from pipeline.runtime.brain import TrainJob, prepare
from store.models import Model, save_model

if TYPE_CHECKING:
    from pipeline.app.trainer import EpochLog
# The trainer (JAX, BrainPy) is imported where a job runs, not here: the pipeline's
# controller, encoder and recorder read jobs without simulating anything.


def accuracy(params, config: Config, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Test accuracy, output counts and predictions, with the test presentation time."""
    from nodes.network.present import infer

    counts, preds = infer(params, config.testing(), X, seed)
    return float(np.mean(preds == y)) if len(y) else float("nan"), counts, preds


def confusion(y: np.ndarray, preds: np.ndarray, n: int = 10) -> np.ndarray:
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (y, preds), 1)
    return m


def run_train(job: TrainJob, split: Split | None = None,
              progress: Callable[[int, int, float], None] | None = None,
              on_epoch: Callable[[EpochLog, float], None] | None = None,
              model: Model | None = None) -> tuple[Model, dict[str, Any]]:
    """Train (new or continued), evaluate before and after, save. Returns the model and
    the summary printed by ``byob train --json``."""
    changes: dict[str, list] = {}
    if model is None:
        model, loaded, changes = prepare(job)
        split = split or loaded
    elif split is None:
        split, _ = load_data(model.config)
    cfg = model.config
    before, _, _ = accuracy(model.params, cfg, split.X_test, split.y_test, model.seed)

    def epoch_done(log: EpochLog, params) -> None:
        log.test_accuracy, _, _ = accuracy(params, cfg, split.X_test, split.y_test, model.seed)
        if on_epoch:
            on_epoch(log, log.test_accuracy)

    from pipeline.app.trainer import train

    res = train(model.params, cfg, split.X_train, split.y_train, job.epochs, job.samples, model.seed,
                start_epoch=model.epochs_done, progress=progress, on_epoch=epoch_done)
    after = res.epochs[-1].test_accuracy if res.epochs else before
    model.params = res.params
    model.epochs_done += job.epochs
    model.samples_seen += res.samples
    model.history.append({
        "epochs": job.epochs, "samples_per_epoch": res.samples // max(job.epochs, 1),
        "split_seed": job.split_seed, "accuracy_before": before, "test_accuracy": after,
        "train_seconds": round(res.seconds, 3),
        "epoch_log": [{"epoch": e.epoch, "running_accuracy": e.running_accuracy,
                       "test_accuracy": e.test_accuracy, "seconds": round(e.seconds, 3)}
                      for e in res.epochs],
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **({"config_changes": changes} if changes else {}),
    })
    path = save_model(model, job.model_dir) if job.save else None
    summary = {
        "model": str(path) if path else None, "parent": model.parent, "seed": model.seed,
        "split_seed": job.split_seed, "epochs": job.epochs, "epochs_done": model.epochs_done,
        "accuracy_before": before, "test_accuracy": after,
        "train_seconds": round(res.seconds, 3),
        "train_samples_per_second": round(res.samples / max(res.seconds, 1e-9), 2),
    }
    return model, summary


def run_evaluate(models: list[Model], X: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Accuracy, confusion and per-class report of each model; with several models, the
    ensemble's majority vote over their predictions (ties broken at random)."""
    members = []
    n_classes = max(m.config.network.n_output for m in models)
    votes = np.zeros((len(X), n_classes), np.int64)
    for m in models:
        acc, counts, preds = accuracy(m.params, m.config, X, y, seed)
        votes[np.arange(len(X)), preds] += 1
        members.append({"model": str(m.path) if m.path else None, "accuracy": acc})
    preds = classify(votes, np.random.default_rng([seed, 13])) if len(models) > 1 else preds
    cm = confusion(y, preds, n_classes)
    recall = np.diag(cm) / np.maximum(cm.sum(1), 1)
    precision = np.diag(cm) / np.maximum(cm.sum(0), 1)
    out: dict[str, Any] = {
        "accuracy": float(np.mean(preds == y)) if len(y) else float("nan"), "n": int(len(y)),
        "confusion": cm.tolist(),
        "per_class": [{"class": c, "precision": float(precision[c]), "recall": float(recall[c]),
                       "support": int(cm[c].sum())} for c in range(n_classes)],
    }
    if len(models) > 1:
        out["members"] = members
        out["ensemble"] = True
    return out
