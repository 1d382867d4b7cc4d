"""Reading a run store: the catalog of runs, one run's arrays, and its messages in order.

``list_runs(path)`` summarises every run; ``open_run(path, run)`` gives a ``RunReader``
whose arrays stop at the committed rows (a run whose recorder was killed reads as far
as it was committed). ``RunReader.messages()`` rebuilds the recorded messages exactly
as they were published, which is what replay sends. A foreign or damaged store raises
``StoreError`` naming what is wrong.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import zarr

from pipeline.base.messages import Message, Metrics, Prediction, RunInfo, SpikeBatch, Traces, WeightUpdate
from store import layout

DEFAULT_STORE = Path("runs.zarr")


class StoreError(ValueError):
    """A store or run that cannot be read; the message says what and how to fix it."""


def open_store(path: str | Path) -> zarr.Group:
    p = Path(path)
    if not p.exists():
        raise StoreError(f"no run store at {p}; record one with `byob run --store {p}` or `make run`")
    try:
        root = zarr.open_group(str(p), mode="r")
    except Exception as e:  # zarr raises several types for a non-zarr directory
        raise StoreError(f"{p} is not a zarr store ({type(e).__name__}: {e})") from e
    mark = root.attrs.get("byob_store")
    if mark != layout.STORE_VERSION:
        raise StoreError(f"{p} is a zarr store but not a byob run store (marker {mark!r}, "
                         f"expected {layout.STORE_VERSION})")
    return root


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _run_names(root: zarr.Group, path: Path) -> list[str]:
    """The runs of a store. zarr parses every child's zarr.json to list the groups, so one
    run with damaged metadata would hide the others: then list the directories instead,
    and the damaged one reads as damaged."""
    try:
        names = list(root.group_keys())
    except Exception:
        names = (d.name for d in path.iterdir() if d.is_dir() and (d / "zarr.json").is_file())
    return sorted(n for n in names if n != layout.SWEEPS_GROUP)


def _started(root: zarr.Group, name: str) -> float:
    try:
        t = root[name].attrs.get("started")
    except Exception:  # damaged metadata: sorts first
        return 0.0
    return float(t) if isinstance(t, (int, float)) else 0.0


def list_runs(path: str | Path) -> list[dict[str, Any]]:
    """One summary per run, oldest first: id, date, kind, mode, status, samples, accuracy,
    models in and out, bytes on disk."""
    root = open_store(path)
    out = []
    for name in _run_names(root, Path(path)):
        try:
            r = RunReader(root, name, Path(path))
            out.append(r.summary())
        except StoreError as e:
            out.append({"run": name, "status": "damaged", "error": str(e)})
    return sorted(out, key=lambda d: (d["started"] if isinstance(d.get("started"), (int, float)) else 0,
                                      d["run"]))


def open_run(path: str | Path, run: str | None = None) -> "RunReader":
    """A run of the store; ``None`` or ``"latest"`` picks the newest."""
    root = open_store(path)
    names = _run_names(root, Path(path))
    if not names:
        raise StoreError(f"the store {path} holds no runs yet")
    if run in (None, "latest"):
        run = max(names, key=lambda n: (_started(root, n), n))
    if run not in names:
        raise StoreError(f"no run {run!r} in {path}; `byob runs --store {path}` lists them")
    return RunReader(root, run, Path(path))


@dataclass(frozen=True)
class Raster:
    """One sample's spikes of one population: event lists and the dense view on demand."""

    sample_id: int
    label: int
    steps: np.ndarray
    neurons: np.ndarray
    n_steps: int
    n_neurons: int
    dt: float

    def dense(self) -> np.ndarray:
        out = np.zeros((self.n_steps, self.n_neurons), bool)
        out[self.steps, self.neurons] = True
        return out


class RunReader:
    def __init__(self, root: zarr.Group, run: str, path: Path) -> None:
        self.path, self.run = path, run
        try:
            self.group = root[run]
            self.attrs = dict(self.group.attrs)
        except Exception as e:
            raise StoreError(f"run {run} in {path} cannot be opened: {e}") from e
        if self.attrs.get("schema_version") != layout.STORE_VERSION or "committed" not in self.attrs:
            raise StoreError(f"run {run} in {path} is not a recorded run (schema "
                             f"{self.attrs.get('schema_version')!r})")
        self.committed: dict[str, int] = self.attrs["committed"]
        self.tables: list[str] = self.attrs.get("tables", [])
        self.senders: list[str] = self.attrs.get("senders", [])
        if not isinstance(self.committed, dict) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in self.committed.values()) \
                or not isinstance(self.tables, list) or not all(isinstance(t, str) for t in self.tables) \
                or not isinstance(self.senders, list) or not all(isinstance(t, str) for t in self.senders):
            raise StoreError(f"run {run} in {path}: damaged attributes (committed, tables or senders "
                             "of the wrong type)")

    # -- arrays --------------------------------------------------------------------------
    def table(self, path: str, columns: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """The committed rows of a table, column by column."""
        n = self.committed.get(path, 0)
        try:
            if path not in self.group:
                return {}
            g = self.group[path]
            names = columns or tuple(k for k in g.array_keys())
            out = {c: np.asarray(g[c][:n]) for c in names}
        except Exception as e:
            raise StoreError(f"run {self.run}: table {path} is damaged ({type(e).__name__}: {e})") from e
        short = [c for c, a in out.items() if len(a) != n]
        if short:
            raise StoreError(f"run {self.run}: {path} columns {short} hold fewer than the {n} committed rows")
        return out

    def populations(self) -> list[str]:
        return sorted({p.split("/")[1] for p in self.committed if p.startswith("spikes/") and p.count("/") == 1})

    def spikes(self, population: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(per-sample index, flat events) of a population."""
        return (self.table(f"spikes/{population}"), self.table(f"spikes/{population}/events"))

    def raster(self, population: str, row: int) -> Raster:
        """The ``row``-th recorded sample's spikes of ``population`` (negative counts back)."""
        g = self.group[f"spikes/{population}"]
        n = self.committed.get(f"spikes/{population}", 0)
        row = row + n if row < 0 else row
        if not 0 <= row < n:
            raise IndexError(f"{population}: {n} samples recorded, no row {row}")
        a, b = int(g["start"][row]), int(g["stop"][row])
        ev = g["events"]
        return Raster(int(g["sample_id"][row]), int(g["label"][row]), np.asarray(ev["step"][a:b], np.int64),
                      np.asarray(ev["neuron"][a:b], np.int64), g.attrs["n_steps"], g.attrs["n_neurons"],
                      g.attrs["dt"])

    def predictions(self) -> dict[str, np.ndarray]:
        return self.table("predictions")

    def weights(self) -> dict[str, np.ndarray]:
        return self.table("weights")

    def traces(self, population: str) -> dict[str, Any]:
        t = self.table(f"traces/{population}")
        if t:
            t["neurons"] = np.asarray(self.group[f"traces/{population}"].attrs["neurons"])
            t["dt"] = self.group[f"traces/{population}"].attrs["dt"]
        return t

    def metrics(self) -> dict[str, np.ndarray]:
        return self.table("metrics")

    def dataset(self, table: str = "spikes", chunks: dict[str, int] | None = None) -> Any:
        """The run as a lazy ``xarray.Dataset`` (see ``store.xr``): "spikes", "traces/<population>",
        "weights" or "predictions"."""
        from store.xr import run_dataset

        return run_dataset(self, table, chunks)

    def summary(self) -> dict[str, Any]:
        p = self.predictions()
        test = p.get("phase", np.zeros(0)) == layout.PHASES.index("test")
        train = self.committed.get("spikes/input", 0)
        end = self.attrs.get("end")
        end = end.get("summary") if isinstance(end, dict) else None
        acc = end.get("test_accuracy") if isinstance(end, dict) else None
        acc = acc if isinstance(acc, (int, float)) and not isinstance(acc, bool) else None
        if acc is None and np.any(test) and "predicted" in p and "label" in p:
            acc = float(np.mean(p["predicted"][test] == p["label"][test]))
        return {"run": self.run, "started": self.attrs.get("started"), "ended": self.attrs.get("ended"),
                "kind": self.attrs.get("kind"), "mode": self.attrs.get("mode"),
                "status": self.attrs.get("status"), "samples": int(train),
                "test_samples": int(np.sum(test)), "test_accuracy": acc,
                "model_in": self.attrs.get("model_in") or None, "model_out": self.attrs.get("model_out") or None,
                "sweep": self.attrs.get("sweep"), "trial": self.attrs.get("trial"),
                "params": self.attrs.get("params"), "validation_accuracy": self.attrs.get("validation_accuracy"),
                "messages": self.committed.get("log", 0),
                "bytes": _size(self.path / self.run) if (self.path / self.run).exists() else 0}

    def spike_bytes(self) -> tuple[int, int]:
        """(bytes on disk of spike event columns, number of events) for the size target."""
        size = events = 0
        for pop in self.populations():
            d = self.path / self.run / "spikes" / pop / "events"
            size += _size(d)
            events += self.committed.get(f"spikes/{pop}/events", 0)
        return size, events

    def table_attrs(self, path: str) -> dict[str, Any]:
        """A table's attributes (population size, dt, traced neurons), read once."""
        cache = self.__dict__.setdefault("_table_attrs", {})
        if path not in cache:
            cache[path] = dict(self.group[path].attrs)
        return cache[path]

    # -- messages ------------------------------------------------------------------------
    def messages(self, start: int = 0, replay: bool = False) -> Iterator[tuple[float, Message]]:
        """(arrival time, message) for every committed message from log row ``start``,
        rebuilt exactly as published (``replay`` sets the replay flag)."""
        log = self.table("log")
        cache: dict[str, dict[str, np.ndarray]] = {}

        def tab(path: str) -> dict[str, np.ndarray]:
            if path not in cache:
                cache[path] = self.table(path)
            return cache[path]

        for i in range(start, len(log.get("kind", ()))):
            try:
                item = self._rebuild(i, log, tab, replay)
            except StoreError:
                raise
            except Exception as e:  # log rows pointing outside their tables, damaged attributes
                raise StoreError(f"run {self.run}: log row {i} cannot be rebuilt, the store is damaged "
                                 f"({type(e).__name__}: {e})") from e
            yield item

    def _rebuild(self, i: int, log: dict[str, np.ndarray], tab: Callable[[str], dict[str, np.ndarray]],
                 replay: bool) -> tuple[float, Message]:
        """The message of log row ``i``."""
        kind = layout.KIND_NAMES.get(int(log["kind"][i]))
        a, b = int(log["start"][i]), int(log["stop"][i])
        if not 0 <= a <= b:
            raise StoreError(f"run {self.run}: log row {i} points at rows {a}:{b}")
        common = {"run": self.run, "seq": int(log["seq"][i]), "sender": self.senders[int(log["sender"][i])],
                  "replay": replay}
        if kind == "run":
            body = dict(self.attrs["start"] if a == 0 else self.attrs["end"] if a == 1 else self.attrs["resumes"][a - 2])
            body.pop("sender"), body.pop("seq"), body.pop("replay", None)
            return float(log["time"][i]), RunInfo(**common, **body)
        path = self.tables[int(log["table"][i])]
        t = tab(path)
        if b > min((len(c) for c in t.values()), default=0):
            raise StoreError(f"run {self.run}: log row {i} points at rows {a}:{b} of {path}, which holds fewer")
        if kind == "spikes":
            ev = tab(path + "/events")
            e0, e1 = int(t["start"][a]), int(t["stop"][b - 1]) if b > a else int(t["start"][a])
            if not 0 <= e0 <= e1 <= min((len(c) for c in ev.values()), default=0):
                raise StoreError(f"run {self.run}: {path} rows {a}:{b} point at events {e0}:{e1} that are not there")
            g = self.table_attrs(path)
            msg: Message = SpikeBatch(
                **common, population=path.split("/")[1], n_neurons=g["n_neurons"], n_steps=g["n_steps"],
                dt=g["dt"], epoch=int(t["epoch"][a]), attempt=t["attempt"][a:b].astype(np.int64),
                weight_version=t["weight_version"][a:b].astype(np.int64), sample_ids=t["sample_id"][a:b],
                labels=t["label"][a:b], offsets=np.concatenate([t["start"][a:b], t["stop"][b - 1:b]]) - e0,
                steps=ev["step"][e0:e1].astype(np.int32), neurons=ev["neuron"][e0:e1].astype(np.int32))
        elif kind == "prediction":
            msg = Prediction(**common, sample_ids=t["sample_id"][a:b], labels=t["label"][a:b],
                             predicted=t["predicted"][a:b], counts=t["counts"][a:b],
                             weight_version=t["weight_version"][a:b].astype(np.int64),
                             phase=layout.PHASES[int(t["phase"][a])])
        elif kind == "weights":
            msg = WeightUpdate(**common, version=int(t["version"][a]), samples_seen=int(t["samples_seen"][a]),
                               w_ih=t["w_ih"][a], theta=t["theta"][a], w_ho=t["w_ho"][a])
        elif kind == "traces":
            g = self.table_attrs(path)
            msg = Traces(**common, population=path.split("/")[1], dt=g["dt"], sample_ids=t["sample_id"][a:b],
                         neurons=np.asarray(g["neurons"], np.int32), values=t["values"][a:b])
        elif kind == "metrics":
            names = [n for n in t if n != "time"]
            msg = Metrics(**common, values={n: float(t[n][a]) for n in names if not np.isnan(t[n][a])})
        else:
            raise StoreError(f"run {self.run}: log row {i} has an unknown kind code {int(log['kind'][i])}")
        return float(log["time"][i]), msg


def size_on_disk(path: str | Path) -> int:
    return _size(Path(path)) if os.path.exists(path) else 0
