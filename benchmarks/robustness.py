"""Robustness and online learning (issue 17) over split seeds 0-4.

The robustness set of a split: each of its test digits shifted by one pixel in one of the
four directions (chosen per digit, fixed by the split seed; the vacated row or column is
blank) plus Gaussian pixel noise of sigma 1.5, clipped to 0..16. On it, in the same run:
pixel logistic regression and SVM-RBF (trained on the clean training digits, reference
points only, not in any brain's prediction path) and the brain, frozen and learning online
(``pipeline.app.online``: unsupervised STDP and homeostasis while the stream goes by,
predictions before each digit's update), then the online-adapted brain on the clean test set.

The brain per seed is the model ``byob train --split-seed K`` saves (given with
``--models DIR``, one ``split<K>.npz`` per seed as ``benchmarks.accuracy --keep-models`` keeps
them) or, without ``--models``, trained here with the default configuration.

Run: ``python -m benchmarks.robustness [--models DIR] [--out benchmarks/results/robustness.json]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from benchmarks.report import write

SHIFTS = ((-1, 0), (1, 0), (0, -1), (0, 1))  # (rows, columns): up, down, left, right
NOISE_SIGMA = 1.5


def shift_image(img: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """An 8x8 image (flat 64) moved by (dr, dc) pixels; what comes in is blank."""
    a = np.asarray(img, np.float32).reshape(8, 8)
    out = np.zeros_like(a)
    rs, rd = (slice(0, 8 - dr), slice(dr, 8)) if dr >= 0 else (slice(-dr, 8), slice(0, 8 + dr))
    cs, cd = (slice(0, 8 - dc), slice(dc, 8)) if dc >= 0 else (slice(-dc, 8), slice(0, 8 + dc))
    out[rd, cd] = a[rs, cs]
    return out.reshape(64)


def robust_set(X: np.ndarray, seed: int, sigma: float = NOISE_SIGMA) -> np.ndarray:
    """Each digit shifted one pixel in a random one of four directions, plus N(0, sigma)
    noise, clipped to 0..16; fixed by ``seed``."""
    rng = np.random.default_rng([seed, 17])
    which = rng.integers(0, 4, len(X))
    moved = np.stack([shift_image(x, *SHIFTS[k]) for x, k in zip(X, which)]) if len(X) else X
    noisy = moved + rng.normal(0.0, sigma, moved.shape).astype(np.float32)
    return np.clip(noisy, 0.0, 16.0).astype(np.float32)


def references(split, X_robust: np.ndarray) -> dict[str, float]:
    """Pixel logistic regression and SVM-RBF on the clean and the robustness set."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    out = {}
    for name, clf in (("logistic_regression", LogisticRegression(max_iter=5000)), ("svm_rbf", SVC())):
        clf.fit(split.X_train, split.y_train)
        out[name + "_clean"] = float(np.mean(clf.predict(split.X_test) == split.y_test))
        out[name + "_robust"] = float(np.mean(clf.predict(X_robust) == split.y_test))
    return out


def brain_for(k: int, models: Path | None, split):
    from pipeline.app.jobs import run_train
    from pipeline.runtime.brain import TrainJob
    from store.models import load_model

    if models is not None:
        return load_model(models / f"split{k}.npz")
    model, _ = run_train(TrainJob(split_seed=k, save=False), split=split)
    return model


def one_seed(k: int, models: Path | None) -> dict:
    from pipeline.base.data import load_split
    from pipeline.app.jobs import accuracy
    from pipeline.app.online import evaluate_online

    split = load_split(k)
    Xr = robust_set(split.X_test, k)
    row = {"split_seed": k, **references(split, Xr)}
    model = brain_for(k, models, split)
    row["brain_clean"], _, _ = accuracy(model.params, model.config, split.X_test, split.y_test, model.seed)
    row["brain_robust"], _, _ = accuracy(model.params, model.config, Xr, split.y_test, model.seed)
    t = time.perf_counter()
    frozen = evaluate_online(model.params, model.config, Xr, split.y_test, model.seed, model.epochs_done,
                             learn=False)
    online = evaluate_online(model.params, model.config, Xr, split.y_test, model.seed, model.epochs_done)
    row["online_seconds"] = round(time.perf_counter() - t, 1)
    row["stream_frozen"], row["stream_online"] = frozen.accuracy, online.accuracy
    row["clean_after_online"], _, _ = accuracy(online.params, model.config, split.X_test, split.y_test,
                                               model.seed)
    row["robust_after_online"], _, _ = accuracy(online.params, model.config, Xr, split.y_test, model.seed)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--models", type=Path, default=None, help="folder with split<K>.npz per seed")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    rows = []
    for k in a.seeds:
        rows.append(one_seed(k, a.models))
        print(rows[-1], file=sys.stderr)
    keys = [k for k in rows[0] if k not in ("split_seed", "online_seconds")]
    out = {"benchmark": "robustness", "command": "python -m benchmarks.robustness", "shift_pixels": 1,
           "noise_sigma": NOISE_SIGMA, "runs": rows,
           "mean": {k: statistics.mean(r[k] for r in rows) for k in keys}}
    write(out, a.out)


if __name__ == "__main__":
    main()
