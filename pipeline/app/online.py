"""Online learning during inference (SEED.md's future enhancement, issue 17).

``evaluate_online(model, X, y)`` streams test digits through a trained brain while its
unsupervised plasticity keeps running: input->hidden STDP (with the runner-up rule and
normalisation the model was trained with) and homeostasis. No labels and no teacher: the
hidden->output readout does not change (the teacher rule's change is zero when the free
and taught layers are the same raster).

Per digit, in stream order:
1. predict: a test presentation (``t_present x test_factor``) with the weights as they are,
   the same spike trains and tie-breaking as ``byob evaluate`` (so with ``learn=False``
   the predictions are those of ``nodes.network.present.infer``);
2. learn: a training-length presentation without the teacher, then the learner update,
   at the learning rate the model's training ended with (its annealing factor).
The prediction of a digit never sees that digit's update. The model given is not changed:
the result holds new parameters, which the caller may save as a new model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nodes.learner.core import LearnerCore, apply_plastic, plastic_of
from nodes.network.core import NetworkCore
from nodes.network.params import NetParams
from pipeline.base.config import Config
from pipeline.base.schedule import EVAL_EPOCH, predict
from nodes.network.present import present, to_numpy

LEARN_EPOCH = EVAL_EPOCH + 1  # the spike-train coordinate of the learning presentations


@dataclass
class OnlineResult:
    params: NetParams  # after the stream (the model's own when learn is False)
    predictions: np.ndarray  # (n,) made before each digit's update
    counts: np.ndarray  # (n, n_output) output spike counts of the test presentations
    accuracy: float


def evaluate_online(params: NetParams, config: Config, X: np.ndarray, y: np.ndarray, seed: int,
                    epochs_done: int, learn: bool = True) -> OnlineResult:
    """Stream ``X`` one digit at a time; see the module docstring. ``epochs_done`` sets the
    learning rate (``anneal ** epochs_done``, as at the end of training)."""
    test_core = NetworkCore.for_config(config.testing().network)
    train_core = NetworkCore.for_config(config.network)
    learner = LearnerCore(config.network, config.learning, params)
    plastic = plastic_of(params)
    counts = np.zeros((len(X), config.network.n_output), np.int32)
    current = params
    for i in range(len(X)):
        ids = np.array([i])
        res, _ = present(test_core, current, X[i:i + 1], seed, EVAL_EPOCH, ids, None, rasters=False)
        counts[i] = res.output_counts()[0]
        if not learn:
            continue
        res, _ = present(train_core, current, X[i:i + 1], seed, LEARN_EPOCH, ids, None)
        free = res.output[0]
        plastic = learner.update(plastic, res.input[0], res.hidden[0], free, free, float(epochs_done))
        current = apply_plastic(params, plastic)
    preds = predict(counts, seed)
    acc = float(np.mean(preds == y)) if len(y) else float("nan")
    return OnlineResult(to_numpy(current), preds, counts, acc)


def run_online(model, X: np.ndarray, y: np.ndarray, save: bool = False, seed: int = 0) -> dict:
    """``byob evaluate MODEL --learn [--save]``: the stream's accuracy with online learning
    (the same report as ``run_evaluate``) and, with ``save``, the adapted brain written as a
    new model beside the original (its parent). The original file is never written."""
    from pipeline.app.jobs import confusion
    from store.models import save_model

    res = evaluate_online(model.params, model.config, X, y, seed, model.epochs_done, learn=True)
    cm = confusion(y, res.predictions, model.config.network.n_output)
    recall = np.diag(cm) / np.maximum(cm.sum(1), 1)
    precision = np.diag(cm) / np.maximum(cm.sum(0), 1)
    out = {"accuracy": res.accuracy, "n": int(len(y)), "learn": True, "confusion": cm.tolist(),
           "per_class": [{"class": c, "precision": float(precision[c]), "recall": float(recall[c]),
                          "support": int(cm[c].sum())} for c in range(len(cm))], "saved": None}
    if save:
        import copy

        adapted = copy.copy(model)
        adapted.params, adapted.parent = res.params, model.path.name if model.path else None
        adapted.samples_seen = model.samples_seen + len(X)
        adapted.history = [*model.history, {"online_learning": True, "samples": int(len(X)),
                                            "stream_accuracy": res.accuracy}]
        out["saved"] = str(save_model(adapted, model.path.parent if model.path else "models"))
    return out
