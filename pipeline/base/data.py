"""The digits the brain sees: sklearn's ``load_digits`` or the user's own ``.npz``.

``load_data(config)`` returns a ``Split`` (train and test parts, pixel values scaled to
the encoder's 0..16) and the configuration with ``n_input``, ``n_output`` and
``image_shape`` set from the data. An ``.npz`` holds ``X`` (n x d, or n x h x w) and
``y`` (integer labels 0..k-1), optionally ``X_test``/``y_test`` (else a stratified split
by ``job.split_seed``) and ``vmax`` (the pixel value that maps to ``max_rate``; default
the data's maximum). Files are read with ``allow_pickle=False``; bad data raises
``DataError`` naming the file and what is wrong, before anything compiles.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pipeline.base.config import Config

PIXEL_MAX = 16.0  # the encoder maps 0..16 onto 0..max_rate (sklearn's digits' range)
MAX_CLASSES = 1000
KNOWN_ARRAYS = {"X", "y", "X_test", "y_test", "vmax"}


class DataError(ValueError):
    """Data that cannot be trained on; the message names the file and says how to fix it."""


@dataclass(frozen=True)
class Split:
    X_train: np.ndarray  # (n, d) float32, values 0..16
    y_train: np.ndarray  # (n,) int64
    X_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, int] = (8, 8)
    # False for a user's file without X_test/y_test: the test part is our stratified cut
    # of its X, and every image of the file is "a test image" to someone evaluating it.
    test_given: bool = True

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(initial=0), self.y_test.max(initial=0))) + 1


def load_split(split_seed: int = 0, test_size: float = 0.3) -> Split:
    """sklearn's digits, stratified train/test split fixed by ``split_seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(
        X.astype(np.float32), y.astype(np.int64), test_size=test_size,
        stratify=y, random_state=split_seed)
    return Split(Xtr, ytr, Xte, yte)


def _arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(f"{path}: no such data file (an .npz with arrays X and y, see `byob train --help`)")
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic == b"\x93NUMPY":
        raise DataError(f"{path}: a single .npy array, not an .npz archive; save with "
                        "numpy.savez(path, X=..., y=...)")
    if magic[:4] != b"PK\x03\x04":
        raise DataError(f"{path}: not a readable .npz file (no zip archive); save with "
                        "numpy.savez(path, X=..., y=...)")
    try:
        with np.load(path, allow_pickle=False) as f:
            names = set(f.files)
            if not {"X", "y"} <= names:
                raise DataError(f"{path}: needs arrays 'X' and 'y', found {sorted(names)}")
            unknown = sorted(names - KNOWN_ARRAYS)
            if unknown:
                raise DataError(f"{path}: unknown arrays {unknown}; allowed: {sorted(KNOWN_ARRAYS)}")
            return {k: f[k] for k in names}
    except DataError:
        raise
    except ValueError as e:  # object arrays refuse to load without pickle
        if "pickle" in str(e).lower():
            raise DataError(f"{path}: holds object arrays, which byob never unpickles; store numeric "
                            "arrays (numpy.savez(path, X=X.astype('float32'), y=y.astype('int64')))") from e
        raise DataError(f"{path}: not a readable .npz file ({e})") from e
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from e


def _images(X: np.ndarray, name: str, path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    if X.dtype.kind not in "iuf":
        raise DataError(f"{path}: {name} must be numeric, got dtype {X.dtype}")
    if X.ndim == 3:
        shape = (int(X.shape[1]), int(X.shape[2]))
    elif X.ndim == 2:
        d = int(X.shape[1])
        side = math.isqrt(d)
        shape = (side, side) if side * side == d else (1, d)
    else:
        raise DataError(f"{path}: {name} has shape {X.shape}; expected (n, d) or (n, height, width)")
    if len(X) == 0 or shape[0] * shape[1] == 0:
        raise DataError(f"{path}: {name} is empty (shape {X.shape})")
    X = X.reshape(len(X), -1).astype(np.float32)
    if not np.all(np.isfinite(X)):
        raise DataError(f"{path}: {name} holds NaN or infinite values")
    if X.min() < 0:
        raise DataError(f"{path}: {name} holds negative pixels (min {X.min():g}); pixels are intensities >= 0")
    return X, shape


def _labels(y: np.ndarray, n: int, name: str, path: Path) -> np.ndarray:
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise DataError(f"{path}: {name} must hold integer class labels, got dtype {y.dtype}")
    if y.shape != (n,):
        raise DataError(f"{path}: {name} has shape {y.shape}, expected ({n},) (one label per image)")
    if y.min() < 0 or y.max() >= MAX_CLASSES:
        raise DataError(f"{path}: {name} labels must be 0..{MAX_CLASSES - 1}, found {y.min()}..{y.max()}")
    return y.astype(np.int64)


def load_npz(path: str | Path, split_seed: int = 0, test_size: float = 0.3,
             vmax: float | None = None) -> Split:
    """A user's data file as a ``Split`` (pixels scaled so that ``vmax`` becomes 16)."""
    path = Path(path)
    a = _arrays(path)
    X, shape = _images(a["X"], "X", path)
    y = _labels(a["y"], len(X), "y", path)
    if ("X_test" in a) != ("y_test" in a):
        raise DataError(f"{path}: X_test and y_test come together (found only one of them)")
    if vmax is None and "vmax" in a:
        v = np.asarray(a["vmax"])
        if v.shape != () or v.dtype.kind not in "iuf" or not np.isfinite(v) or v <= 0:
            raise DataError(f"{path}: vmax must be one positive number, got {v!r}")
        vmax = float(v)
    if "X_test" in a:
        Xte, shape_te = _images(a["X_test"], "X_test", path)
        if shape_te != shape and Xte.shape[1] != X.shape[1]:
            raise DataError(f"{path}: X_test images are {shape_te}, X images {shape}")
        yte = _labels(a["y_test"], len(Xte), "y_test", path)
        Xtr, ytr = X, y
    else:
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            raise DataError(f"{path}: y holds a single class ({classes[0]}); a classifier needs two or more")
        if counts.min() < 2:
            raise DataError(f"{path}: class {classes[counts.argmin()]} has a single image; a stratified "
                            "split needs two per class (or give X_test and y_test)")
        from sklearn.model_selection import train_test_split

        try:
            Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, stratify=y, random_state=split_seed)
        except ValueError as e:  # too few images for a stratified cut of test_size
            raise DataError(f"{path}: {len(X)} images of {len(classes)} classes cannot be split {1 - test_size:.0%}/"
                            f"{test_size:.0%} with every class on both sides ({e}); give X_test and y_test, "
                            "or more images") from e
    if len(np.unique(ytr)) < 2:
        raise DataError(f"{path}: the training labels hold a single class; a classifier needs two or more")
    top = vmax if vmax is not None else float(max(Xtr.max(), Xte.max()))
    if top <= 0:
        raise DataError(f"{path}: every pixel is 0; there is nothing to see")
    scale = PIXEL_MAX / top
    Xtr = np.clip(Xtr * scale, 0, PIXEL_MAX).astype(np.float32)
    Xte = np.clip(Xte * scale, 0, PIXEL_MAX).astype(np.float32)
    return Split(Xtr, ytr, Xte, yte, image_shape=shape, test_given="X_test" in a)


def load_data(config: "Config") -> tuple[Split, "Config"]:
    """The split ``config.data`` names and ``config`` with the network sized to it."""
    d = config.data
    if d.source == "digits":
        split = load_split(config.job.split_seed, d.test_size)
        if d.vmax is not None:
            s = PIXEL_MAX / d.vmax
            split = Split(np.clip(split.X_train * s, 0, PIXEL_MAX), split.y_train,
                          np.clip(split.X_test * s, 0, PIXEL_MAX), split.y_test)
    else:
        split = load_npz(d.source, config.job.split_seed, d.test_size, d.vmax)
    return split, sized_to(config, split)


def sized_to(config: "Config", split: Split) -> "Config":
    net = config.network.replace(n_input=int(split.X_train.shape[1]), image_shape=split.image_shape,
                                 n_output=max(split.n_classes, 2))
    return config.replace(network=net)
