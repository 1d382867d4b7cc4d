"""A recorded run as xarray objects, read lazily from the zarr store.

``run_dataset(run, table)`` (``RunReader.dataset``) gives one ``xarray.Dataset`` per kind
of table, with named dimensions and coordinates, and the run's attributes:

- ``"spikes"``: ``spikes`` (sample, step, neuron), bool. Samples are the recorded
  presentations in order (``store.timeline``) with coordinates ``sample_id``, ``label``,
  ``predicted``, ``phase``, ``epoch``, ``attempt``, ``weight_version``, ``start_ms`` (on the
  run's timeline); steps have ``time_ms``; neurons of every population side by side, with
  ``population`` and ``index`` (within the population) as coordinates. Only the rasters
  indexed are built, from the event lists of those samples.
- ``"traces"``: ``v`` (sample, step, neuron), mV, for each traced population (one
  dataset per population: ``table="traces/hidden"``), coordinates ``sample_id``, ``time_ms``
  and the traced neurons' indices.
- ``"weights"``: ``w_ih`` (snapshot, input, hidden), ``theta`` (snapshot, hidden), ``w_ho``
  (snapshot, hidden, output) with ``version`` and ``samples_seen``.
- ``"predictions"``: ``counts`` (prediction, output) with ``sample_id``, ``label``,
  ``predicted``, ``phase``, ``weight_version``.

Nothing is read until values are asked for; ``chunks`` (e.g. ``{"sample": 256}``) gives
dask-backed arrays for reductions over runs larger than memory.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from store import layout
from store.runs import RunReader, StoreError
from store.timeline import Timeline, timeline

SPAN_GAP = 1 << 16  # events between two asked-for samples worth reading past rather than seeking


class _Rows(BackendArray):
    """The committed rows of a zarr array."""

    def __init__(self, array: Any, rows: int) -> None:
        self.array, self.shape, self.dtype = array, (rows, *array.shape[1:]), np.dtype(array.dtype)

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._raw)

    def _raw(self, key: tuple) -> np.ndarray:
        first = key[0]
        if isinstance(first, slice):  # rows past the committed ones are not the run's
            first = slice(*first.indices(self.shape[0]))
        elif first < 0:
            first += self.shape[0]
        try:
            return np.asarray(self.array[(first, *key[1:])])
        except Exception as e:
            raise StoreError(f"{self.array.path} is damaged ({type(e).__name__}: {e})") from e


class _Rasters(BackendArray):
    """Dense (sample, step, neuron) spikes, built from the event lists of the samples asked for."""

    def __init__(self, run: RunReader, tl: Timeline, samples: np.ndarray, n_steps: int) -> None:
        self.run, self.tl, self.samples = run, tl, samples
        self.base = tl.unit_base()
        self.shape, self.dtype = (len(samples), n_steps, tl.n_units), np.dtype(bool)
        self.row_of: dict[str, np.ndarray] = {}
        self.index = {p: run.table(f"spikes/{p}", ("start", "stop")) for p in tl.populations}
        for p in tl.populations:
            r = np.full(len(tl), -1, np.int64)
            r[tl.rows[p]] = np.arange(len(tl.rows[p]))
            self.row_of[p] = r[samples]

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        # OUTER: a list of samples arrives as that list, not as the slice that spans it.
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._raw)

    def _raw(self, key: tuple) -> np.ndarray:
        s_key = key[0]
        picked = np.arange(self.shape[0])[s_key]
        out = np.zeros((np.size(picked), self.shape[1], self.shape[2]), bool)
        wanted = np.zeros(self.shape[2], bool)
        wanted[key[2]] = True
        for p in self.tl.populations:
            if not wanted[self.base[p]:self.base[p] + self.tl.sizes[p]].any():
                continue  # no neuron of this population asked for: its events stay unread
            rows = self.row_of[p][np.atleast_1d(picked)]
            have = np.flatnonzero(rows >= 0)
            if not len(have):
                continue
            st, sp = self.index[p]["start"][rows[have]], self.index[p]["stop"][rows[have]]
            order = np.argsort(st, kind="stable")
            # One read per run of samples whose events lie close together, not one span over all.
            breaks = np.flatnonzero(st[order][1:] - sp[order][:-1] > SPAN_GAP) + 1
            for group in np.split(order, breaks):
                a, b = int(st[group].min()), int(sp[group].max())
                if b == a:
                    continue
                try:
                    ev = self.run.group[f"spikes/{p}/events"]
                    step = np.asarray(ev["step"][a:b], np.int64)
                    neuron = np.asarray(ev["neuron"][a:b], np.int64)
                except Exception as e:
                    raise StoreError(f"run {self.run.run}: spikes/{p}/events {a}:{b} are damaged "
                                     f"({type(e).__name__}: {e})") from e
                for j, s0, s1 in zip(have[group], st[group] - a, sp[group] - a):
                    out[j, step[s0:s1], self.base[p] + neuron[s0:s1]] = True
        # Outer indexing of steps and neurons, one axis at a time (an int drops its axis).
        out = out[:, key[1]]
        out = out[:, key[2]] if isinstance(key[1], (int, np.integer)) else out[:, :, key[2]]
        return out[0] if isinstance(s_key, (int, np.integer)) else out


def _lazy(a: BackendArray) -> indexing.LazilyIndexedArray:
    return indexing.LazilyIndexedArray(a)


def _attrs(run: RunReader, **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"run": run.run}
    for k in ("kind", "mode", "status", "started", "ended", "model_in", "model_out"):
        v = run.attrs.get(k)
        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
            out[k] = v
    start = run.attrs.get("start")
    if isinstance(start, dict):
        out["config"] = json.dumps(start.get("config"), sort_keys=True)
        out["job"] = json.dumps(start.get("job"), sort_keys=True)
    return {**out, **more}


def _spikes(run: RunReader) -> xr.Dataset:
    tl = timeline(run)
    samples = np.flatnonzero(tl.recorded)
    n_steps = max((int(run.table_attrs(f"spikes/{p}")["n_steps"]) for p in tl.populations), default=0)
    dt = min(tl.dt.values(), default=1.0)
    pop = np.concatenate([[p] * tl.sizes[p] for p in tl.populations]) if tl.populations else np.zeros(0, str)
    idx = np.concatenate([np.arange(tl.sizes[p]) for p in tl.populations]) if tl.populations else np.zeros(0, int)
    phase = np.asarray(layout.PHASES)[tl.phase[samples]]
    coords = {"sample_id": ("sample", tl.sample_id[samples]), "label": ("sample", tl.label[samples]),
              "predicted": ("sample", tl.predicted[samples]), "phase": ("sample", phase),
              "epoch": ("sample", tl.epoch[samples]), "attempt": ("sample", tl.attempt[samples]),
              "weight_version": ("sample", tl.weight_version[samples]),
              "start_ms": ("sample", tl.start[samples] * 1000.0),
              "time_ms": ("step", np.arange(n_steps) * dt), "population": ("neuron", pop), "index": ("neuron", idx)}
    var = xr.Variable(("sample", "step", "neuron"), _lazy(_Rasters(run, tl, samples, n_steps)),
                      attrs={"long_name": "spike", "description": "True where the neuron spiked in that step"})
    return xr.Dataset({"spikes": var}, coords=coords, attrs=_attrs(run, dt_ms=dt))


def _traces(run: RunReader, pop: str) -> xr.Dataset:
    path = f"traces/{pop}"
    n = run.committed.get(path, 0)
    try:
        g = run.group[path]
        attrs = run.table_attrs(path)
        neurons, dt = np.asarray(attrs["neurons"], np.int64), float(attrs["dt"])
        values = g["values"]
    except Exception as e:
        raise StoreError(f"run {run.run}: {path} cannot be read ({type(e).__name__}: {e})") from e
    t = run.table(path, ("sample_id",))
    n_steps = values.shape[1]
    v = xr.Variable(("sample", "step", "neuron"), _lazy(_Rows(values, n)), attrs={"units": "mV"})
    return xr.Dataset({"v": v}, coords={"sample_id": ("sample", t["sample_id"]),
                                        "time_ms": ("step", np.arange(n_steps) * dt), "neuron": neurons},
                      attrs=_attrs(run, population=pop, dt_ms=dt))


def _weights(run: RunReader) -> xr.Dataset:
    n = run.committed.get("weights", 0)
    if "weights" not in run.committed:
        raise StoreError(f"run {run.run} holds no weight snapshots")
    g = run.group["weights"]
    t = run.table("weights", ("version", "samples_seen"))
    dims = {"w_ih": ("snapshot", "input", "hidden"), "theta": ("snapshot", "hidden"),
            "w_ho": ("snapshot", "hidden", "output")}
    data = {k: xr.Variable(d, _lazy(_Rows(g[k], n))) for k, d in dims.items()}
    return xr.Dataset(data, coords={"version": ("snapshot", t["version"]),
                                    "samples_seen": ("snapshot", t["samples_seen"])}, attrs=_attrs(run))


def _predictions(run: RunReader) -> xr.Dataset:
    p = run.predictions()
    if not p:
        raise StoreError(f"run {run.run} holds no predictions")
    if np.any(p["phase"] >= len(layout.PHASES)):
        raise StoreError(f"run {run.run}: predictions hold an unknown phase code; the store is damaged")
    return xr.Dataset({"counts": (("prediction", "output"), p["counts"])},
                      coords={"sample_id": ("prediction", p["sample_id"]), "label": ("prediction", p["label"]),
                              "predicted": ("prediction", p["predicted"]),
                              "phase": ("prediction", np.asarray(layout.PHASES)[p["phase"]]),
                              "weight_version": ("prediction", p["weight_version"])}, attrs=_attrs(run))


def run_dataset(run: RunReader, table: str = "spikes", chunks: dict[str, int] | None = None) -> xr.Dataset:
    """``table``: "spikes", "traces/<population>", "weights" or "predictions"."""
    if table == "spikes":
        ds = _spikes(run)
    elif table.startswith("traces/") and table in run.committed:
        ds = _traces(run, table.split("/", 1)[1])
    elif table == "weights":
        ds = _weights(run)
    elif table == "predictions":
        ds = _predictions(run)
    else:
        traced = [p for p in sorted(run.committed) if p.startswith("traces/")]
        raise StoreError(f"run {run.run} has no table {table!r}; choose spikes, weights, predictions"
                         + "".join(f", {p}" for p in traced))
    if not chunks:
        return ds
    # Only the data goes to dask: coordinates stay NumPy, so selecting by them stays simple.
    return ds.chunk(chunks).assign_coords({k: ds[k].variable for k in ds.coords})
