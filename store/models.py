"""Model files: ``stdp_model_YYYYMMDD_HHMMSS.npz``, never a pickle.

One ``.npz`` holds every array of ``NetParams`` under its own name plus ``__meta__``,
a UTF-8 JSON document (as uint8) with the format tag and version, creation time,
configuration, seed, epochs done, training history and parent model. Files are
written to a temporary name, fsynced and renamed, so a crash never leaves half a
model under a real name. Reading validates the format tag, version, names, shapes
and dtypes before anything is built; every failure names the file and the problem.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np

from nodes.network.params import NetParams
from pipeline.base.config import Config
from pipeline.runtime.provenance import provenance

FORMAT = "byob-model"
FORMAT_VERSION = 1
NAME_RE = re.compile(r"^stdp_model_(\d{8}_\d{6})(?:_(\d+))?\.npz$")
MAX_META_BYTES = 1 << 20
MAX_DEFLATE_RATIO = 1100  # deflate expands data at most ~1032 times


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file and says why."""


@dataclass
class Model:
    params: NetParams
    config: Config
    seed: int
    epochs_done: int = 0
    samples_seen: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    parent: str | None = None
    created: str = ""
    path: Path | None = None
    # Where it was saved from (pipeline/runtime/provenance.py): versions, commit, backend.
    provenance: dict[str, Any] | None = None

    @property
    def test_accuracy(self) -> float | None:
        for h in reversed(self.history):
            if h.get("test_accuracy") is not None:
                return float(h["test_accuracy"])
        return None

    def meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "created": self.created,
            "config": self.config.to_dict(), "seed": self.seed, "epochs_done": self.epochs_done,
            "samples_seen": self.samples_seen, "history": self.history, "parent": self.parent,
            "provenance": self.provenance,
        }


def new_name(model_dir: Path, now: datetime | None = None, k: int = 0) -> Path:
    """The ``k``-th candidate name of a model saved at ``now``: stdp_model_STAMP[_k].npz."""
    stamp = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
    return model_dir / (f"stdp_model_{stamp}.npz" if k == 0 else f"stdp_model_{stamp}_{k}.npz")


def write_new(model_dir: Path, write: Callable[[BinaryIO], None], now: datetime | None = None) -> Path:
    """A new model file in ``model_dir`` with the bytes ``write`` puts in it, under the first
    free timestamped name. Written whole under a temporary name, then linked to the new
    name, which fails if another writer took it first: two saves in the same second (two
    processes, or a sweep's workers) never overwrite each other, and no reader ever sees a
    half-written model."""
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = model_dir / f".stdp_model.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        for k in range(10_000):
            path = new_name(model_dir, now, k)
            try:
                os.link(tmp, path)  # atomic and exclusive: fails if the name exists
                return path
            except FileExistsError:
                continue
        raise ModelFileError(f"{model_dir}: no free model name for {now or datetime.now():%Y-%m-%d %H:%M:%S}")
    finally:
        tmp.unlink(missing_ok=True)


def save_model(model: Model, model_dir: str | Path, now: datetime | None = None) -> Path:
    """Write ``model`` under a new timestamped name in ``model_dir`` (``write_new``)."""
    now = now or datetime.now()
    model.created = now.isoformat(timespec="seconds")
    model.provenance = provenance(model.config.network.backend)
    meta = json.dumps(model.meta(), sort_keys=True).encode()
    arrays = {k: np.asarray(v) for k, v in model.params.arrays().items()}
    model.path = write_new(Path(model_dir), lambda f: np.savez_compressed(
        f, __meta__=np.frombuffer(meta, np.uint8), **arrays), now)
    return model.path


def _declared(path: Path, z: np.lib.npyio.NpzFile, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of an archive member from its .npy header, read before numpy allocates
    the array (it allocates what the header claims, then reads): a member that is not an
    .npy array, or claims more bytes than its zip entry holds, or an entry that claims more
    than deflate can expand this file to (a zip bomb), is refused here."""
    member = name if name in z.zip.namelist() else name + ".npy"  # as NpzFile picks it
    info = z.zip.getinfo(member)
    with z.zip.open(member) as f:
        try:
            version = np.lib.format.read_magic(f)
        except ValueError as e:
            raise ModelFileError(f"{path}: array {name!r} is not an .npy array ({e})") from e
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ModelFileError(f"{path}: array {name!r} has an unsupported .npy version {version}")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > info.file_size or info.compress_size > path.stat().st_size \
            or info.file_size > MAX_DEFLATE_RATIO * info.compress_size + 4096:
        raise ModelFileError(f"{path}: array {name!r} claims shape {shape} {dtype} ({nbytes} bytes), "
                             "more than the file holds: corrupt or forged")
    return shape, dtype


def _read_meta(path: Path, z: np.lib.npyio.NpzFile) -> dict[str, Any]:
    if "__meta__" not in z.files:
        raise ModelFileError(f"{path}: not a byob model (no '__meta__' entry); "
                             "was it written by `byob train`?")
    shape, dtype = _declared(path, z, "__meta__")
    if dtype != np.uint8 or len(shape) != 1 or shape[0] > MAX_META_BYTES:
        raise ModelFileError(f"{path}: '__meta__' is not a JSON document of at most 1 MiB")
    raw = z["__meta__"]
    if raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > MAX_META_BYTES:
        raise ModelFileError(f"{path}: '__meta__' is not a JSON document of at most 1 MiB")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path}: '__meta__' is not valid JSON ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a byob model (format tag is "
                             f"{meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format version {meta.get('format_version')!r}, this "
                             f"byob reads version {FORMAT_VERSION}; use the byob that wrote it")
    return meta


def _upgrade_config(config: Any) -> Any:
    """A model saved before ``test_factor`` existed is tested as it was: test_factor 1."""
    net = config.get("network") if isinstance(config, dict) else None
    if isinstance(net, dict) and "test_factor" not in net:
        return {**config, "network": {**net, "test_factor": 1.0}}
    return config


def load_model(path: str | Path) -> Model:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file (see `byob models` for what exists)")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            raise ModelFileError(f"{path}: corrupt, truncated or foreign file (not an .npz archive); "
                                 "byob models are written by `byob train`")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = _read_meta(path, z)
            cfg = Config.from_dict(_upgrade_config(meta["config"]))
            expected = NetParams.expected_shapes(cfg.network)
            names = set(expected)
            extra = set(z.files) - names - {"__meta__"}
            if extra:
                raise ModelFileError(f"{path}: unexpected arrays {sorted(extra)}")
            for k in sorted(names & set(z.files)):  # shapes and dtypes before allocating
                shape, dtype = _declared(path, z, k)
                if shape != expected[k][0]:
                    raise ModelFileError(f"{path}: array {k!r} has shape {shape}, expected {expected[k][0]}")
                if dtype != np.dtype(expected[k][1]):
                    raise ModelFileError(f"{path}: array {k!r} has dtype {dtype}, expected {expected[k][1]}")
            arrays = {k: z[k] for k in names & set(z.files)}
        params = NetParams.from_arrays(arrays, cfg.network, str(path))
        return Model(
            params=params, config=cfg, seed=int(meta["seed"]), epochs_done=int(meta["epochs_done"]),
            samples_seen=int(meta.get("samples_seen", 0)), history=list(meta.get("history", [])),
            parent=meta.get("parent"), created=str(meta.get("created", "")), path=path,
            provenance=meta["provenance"] if isinstance(meta.get("provenance"), dict) else None)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as e:
        raise ModelFileError(f"{path}: corrupt or truncated model file ({e})") from e
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: invalid model contents ({e})") from e
    except Exception as e:  # a damaged archive can fail in ways numpy does not wrap
        raise ModelFileError(f"{path}: corrupt model file ({type(e).__name__}: {e})") from e


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    created: str
    test_accuracy: float | None
    epochs_done: int
    parent: str | None
    error: str | None = None
    config: Config | None = None


def list_models(model_dir: str | Path) -> list[ModelInfo]:
    """Saved models, oldest first. Unreadable files are listed with their error."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    out = []
    for p in sorted(model_dir.iterdir()):
        m = NAME_RE.match(p.name)
        if not m:
            continue
        try:
            model = load_model(p)
            out.append(ModelInfo(p, model.created, model.test_accuracy, model.epochs_done, model.parent,
                                 config=model.config))
        except ModelFileError as e:
            created = datetime.strptime(m.group(1), "%Y%m%d_%H%M%S").isoformat()
            out.append(ModelInfo(p, created, None, 0, None, error=str(e)))
    return out
