"""The digits: sklearn's ``load_digits`` and a stratified 70/30 split fixed by a seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Split:
    X_train: np.ndarray  # (n, 64) float32, values 0..16
    y_train: np.ndarray  # (n,) int64
    X_test: np.ndarray
    y_test: np.ndarray


def load_split(split_seed: int = 0, test_size: float = 0.3) -> Split:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(
        X.astype(np.float32), y.astype(np.int64), test_size=test_size,
        stratify=y, random_state=split_seed)
    return Split(Xtr, ytr, Xte, yte)


def load_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``X`` (n x 64 or n x 8 x 8, values 0..16) and ``y`` from an .npz; no pickles."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            if "X" not in f or "y" not in f:
                raise ValueError(f"{path}: needs arrays 'X' and 'y', found {sorted(f.files)}")
            X, y = f["X"], f["y"]
    except (OSError, ValueError) as e:
        if isinstance(e, ValueError) and str(path) in str(e):
            raise
        raise ValueError(f"{path}: not a readable .npz file ({e})") from e
    if X.ndim == 3 and X.shape[1:] == (8, 8):
        X = X.reshape(len(X), 64)
    if X.ndim != 2 or X.shape[1] != 64:
        raise ValueError(f"{path}: X has shape {X.shape}, expected (n, 64) or (n, 8, 8)")
    if y.shape != (len(X),):
        raise ValueError(f"{path}: y has shape {y.shape}, expected ({len(X)},)")
    if X.dtype.kind not in "iuf" or y.dtype.kind not in "iu":
        raise ValueError(f"{path}: X must be numeric and y integer, got {X.dtype} and {y.dtype}")
    if len(X) and (np.nanmin(X) < 0 or np.nanmax(X) > 16 or not np.all(np.isfinite(X))):
        raise ValueError(f"{path}: X values must lie in 0..16 like load_digits")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"{path}: y must hold classes 0..9")
    return X.astype(np.float32), y.astype(np.int64)
