"""A recorded run as an NWB file (pynwb), for the tools of the field (NWB Widgets,
Neurosift, DANDI, Elephant through neo).

Mapping (``export_nwb``):

- ``units``: one row per neuron, input then hidden then output, with its ``population``,
  its index ``neuron`` within it, and its parameters (membrane tau, threshold with the
  learned offset frozen in, refractory period, gain; NaN for the Poisson inputs);
  ``spike_times`` on one timeline in seconds: presentations laid end to end
  (``store.timeline``), a spike at step s of a presentation at ``start + s * dt``.
- ``trials``: one row per presentation (sample id, label, prediction, correct, phase,
  epoch, attempt, weight version, output spike counts, whether its spikes were recorded).
- stimulus: the digit images as ``Images`` (a stimulus template) and an ``IndexSeries``
  saying which image each trial showed, at its start.
- ``processing/membrane``: one ``TimeSeries`` per traced population (mV, with timestamps:
  only some presentations are traced).
- ``analysis/weight_snapshots``: every recorded weight snapshot (w_ih, theta, w_ho).
- the run's configuration, job, models and end summary as JSON in the file's ``notes``.

Memory stays bounded: spike events are read ``EVENT_CHUNK`` at a time, twice (first to
count spikes per neuron, which also finds damage before anything is written; then to
write each neuron's spikes at its place in a preallocated dataset), and traces and
weights a few rows at a time, all through HDMF's chunk iterators. The file is written
under a temporary name beside the target and renamed when complete, so a failed export
never leaves a partial file in place of an existing one.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from bisect import bisect_left
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from hdmf.common.table import DynamicTable, VectorData, VectorIndex
from hdmf.data_utils import AbstractDataChunkIterator, DataChunk
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.base import ImageReferences, Images
from pynwb.epoch import TimeIntervals
from pynwb.file import Subject
from pynwb.image import GrayscaleImage, IndexSeries
from pynwb.misc import Units

from store import layout
from store.runs import RunReader, StoreError
from store.timeline import EVENT_CHUNK, Timeline, log_rows, spike_chunks, timeline

Progress = Callable[[int], None]  # called with the number of items (events, rows) just written
SYNTHETIC = "http://purl.obolibrary.org/obo/NCBITaxon_32630"  # NCBI taxonomy: 'synthetic construct'
TRACE_ROWS = 64  # trace presentations per written chunk


class ExportError(ValueError):
    """An export that cannot be made as asked (the message says how to fix it)."""


class _Feed(AbstractDataChunkIterator):
    """Chunks of a dataset of known shape, written where each says (HDMF writes them in turn)."""

    def __init__(self, chunks: Iterator[DataChunk], shape: tuple[int, ...], dtype: Any) -> None:
        self._chunks, self._shape, self._dtype = chunks, shape, np.dtype(dtype)

    def __iter__(self) -> "_Feed":
        return self

    def __next__(self) -> DataChunk:
        return next(self._chunks)

    def __len__(self) -> int:  # HDMF sizes index columns by their target's length
        return self._shape[0]

    def recommended_chunk_shape(self) -> tuple[int, ...] | None:
        return None

    def recommended_data_shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def maxshape(self) -> tuple[int, ...]:
        return self._shape


def _at(a: int, b: int, tail: tuple[int, ...] = ()) -> tuple[slice, ...]:
    """Rows a:b of a dataset, every slice explicit (HDMF sizes the dataset from the stops)."""
    return (slice(a, b), *(slice(0, n) for n in tail))


# -- units -----------------------------------------------------------------------------------
def _count_spikes(run: RunReader, tl: Timeline, chunk: int) -> np.ndarray:
    """Spikes per unit; reading every event also finds damaged events before any writing."""
    counts = np.zeros(tl.n_units, np.int64)
    base = tl.unit_base()
    for p in tl.populations:
        for _, neurons, _ in spike_chunks(run, tl, p, chunk):
            counts[base[p]:base[p] + tl.sizes[p]] += np.bincount(neurons, minlength=tl.sizes[p])
    return counts


def _spike_feed(run: RunReader, tl: Timeline, counts: np.ndarray, chunk: int,
                progress: Progress | None) -> Iterator[DataChunk]:
    """Each chunk's spikes, grouped by unit, written after that unit's earlier spikes."""
    cursor = np.concatenate([[0], np.cumsum(counts)[:-1]])
    base = tl.unit_base()
    for p in tl.populations:
        for _, neurons, times in spike_chunks(run, tl, p, chunk):
            units = neurons + base[p]
            order = np.argsort(units, kind="stable")  # times stay ascending within a unit
            units, times = units[order], times[order]
            edges = np.flatnonzero(np.diff(units)) + 1
            for a, b in zip(np.concatenate([[0], edges]), np.concatenate([edges, [len(units)]])):
                u = int(units[a])
                c0 = int(cursor[u])
                cursor[u] += b - a
                yield DataChunk(data=np.ascontiguousarray(times[a:b], np.float64), selection=_at(c0, c0 + b - a))
            if progress:
                progress(len(units))


def _find_model(name: Any, model_dir: Path | None):
    """The run's model file, loaded, or None when it is not where the run said (or unreadable)."""
    from store.models import ModelFileError, load_model

    if not isinstance(name, str) or not name:
        return None
    for p in [Path(name)] + ([model_dir / Path(name).name] if model_dir else []):
        if p.is_file():
            try:
                return load_model(p)
            except ModelFileError:
                return None
    return None


def _unit_params(run: RunReader, tl: Timeline, model: Any) -> tuple[dict[str, np.ndarray], str]:
    """Per-unit parameter columns and where they came from."""
    n = tl.n_units
    cols = {k: np.full(n, np.nan, np.float32) for k in ("tau_ms", "v_threshold_mV", "theta_mV",
                                                          "refractory_ms", "gain")}
    base = tl.unit_base()
    start = run.attrs.get("start")
    net = start.get("config", {}).get("network", {}) if isinstance(start, dict) else {}
    net = net if isinstance(net, dict) else {}
    theta = None
    w = run.table("weights", ("theta",)) if "weights" in run.committed else {}
    if w and len(w["theta"]):
        theta = np.asarray(w["theta"][-1], np.float32)  # the last recorded snapshot
    for pop, short in (("hidden", "h"), ("output", "o")):
        if pop not in base:
            continue
        sl = slice(base[pop], base[pop] + tl.sizes[pop])
        if model is not None and getattr(model.params, f"tau_{short}").shape == (tl.sizes[pop],):
            prm = model.params
            cols["tau_ms"][sl] = getattr(prm, f"tau_{short}")
            cols["refractory_ms"][sl] = getattr(prm, f"ref_{short}")
            cols["gain"][sl] = getattr(prm, f"gain_{short}")
            th = getattr(prm, f"vth_{short}")
            off = (prm.theta if theta is None or theta.shape != prm.theta.shape else theta) if short == "h" else 0
        else:
            for col, key in (("tau_ms", "tau"), ("refractory_ms", "tau_ref")):
                v = net.get(key)
                cols[col][sl] = v if isinstance(v, (int, float)) else np.nan
            cols["gain"][sl] = 1.0
            th = net.get("V_th") if isinstance(net.get("V_th"), (int, float)) else np.nan
            off = theta if short == "h" and theta is not None and theta.shape == (tl.sizes[pop],) else 0
        cols["theta_mV"][sl] = off
        cols["v_threshold_mV"][sl] = np.asarray(th, np.float32) + off
    source = (f"per-neuron values of the model {model.path.name}" if model is not None else
              "the configuration's base values (the run's model file was not found: pass --model-dir)")
    return cols, source


def _units(run: RunReader, tl: Timeline, counts: np.ndarray, model: Any, chunk: int,
           progress: Progress | None) -> Units:
    total = int(counts.sum())
    feed: Any = (_Feed(_spike_feed(run, tl, counts, chunk, progress), (total,), np.float64) if total
                 else np.zeros(0, np.float64))
    times = VectorData(name="spike_times", description="spike times in seconds on the run's timeline", data=feed)
    index = VectorIndex(name="spike_times_index", data=np.cumsum(counts), target=times)
    pop = np.concatenate([[p] * tl.sizes[p] for p in tl.populations]) if tl.populations else np.zeros(0, str)
    neuron = np.concatenate([np.arange(tl.sizes[p]) for p in tl.populations]) if tl.populations else []
    params, source = _unit_params(run, tl, model)
    desc = {"tau_ms": "membrane time constant (ms); NaN for Poisson inputs",
            "v_threshold_mV": "firing threshold (mV), the learned homeostatic offset included",
            "theta_mV": "learned homeostatic threshold offset (mV)",
            "refractory_ms": "refractory period (ms)", "gain": "intrinsic excitability (input gain)"}
    cols = [index, times,  # the index first: HDMF checks a target given as an iterator before its index
            VectorData(name="population", description="input (Poisson pixels), hidden or output", data=list(pop)),
            VectorData(name="neuron", description="index of the neuron within its population",
                       data=np.asarray(neuron, np.int64))]
    cols += [VectorData(name=k, description=desc[k], data=v) for k, v in params.items()]
    dt = min(tl.dt.values(), default=1.0) / 1000.0
    return Units(name="units", id=np.arange(tl.n_units), columns=cols, resolution=dt,
                 description=f"every neuron of the network, one row each; parameters: {source}")


# -- trials, stimulus, traces, weights ---------------------------------------------------------
def _trials(tl: Timeline) -> TimeIntervals:
    phase = np.asarray(layout.PHASES, dtype=object)[tl.phase].tolist()
    cols = [VectorData(name="start_time", description="presentation start (s)", data=tl.start),
            VectorData(name="stop_time", description="presentation end (s)", data=tl.stop),
            VectorData(name="sample_id", description="index of the digit in its split part (phase)",
                       data=tl.sample_id),
            VectorData(name="label", description="true digit class", data=tl.label),
            VectorData(name="predicted", description="predicted class (-1: none recorded)", data=tl.predicted),
            VectorData(name="correct", description="predicted == label", data=tl.correct),
            VectorData(name="phase", description="train or test", data=phase),
            VectorData(name="epoch", description=f"training epoch (evaluation: {tl.epoch.max(initial=0)})",
                       data=tl.epoch),
            VectorData(name="attempt", description="retry of a too-quiet presentation (0: first)", data=tl.attempt),
            VectorData(name="weight_version", description="samples learned from when presented",
                       data=tl.weight_version),
            VectorData(name="recorded", description="the presentation's spikes are in the units table "
                       "(test presentations are counted, not recorded)", data=tl.recorded)]
    if tl.counts is not None:
        cols.append(VectorData(name="output_counts", description="spikes per output neuron", data=tl.counts))
    return TimeIntervals(name="trials", description="one row per presentation of a digit", columns=cols)


def _stimulus(run: RunReader, tl: Timeline) -> tuple[Images | None, IndexSeries | None, str | None]:
    """The digit images and which one each trial showed; (None, None, why) if not available."""
    from pipeline.base.data import load_split

    start = run.attrs.get("start")
    job = start.get("job", {}) if isinstance(start, dict) else {}
    split_seed = job.get("split_seed", 0) if isinstance(job, dict) else 0
    if not isinstance(split_seed, int) or isinstance(split_seed, bool):
        return None, None, f"the run's split seed {split_seed!r} is not an integer"
    if not len(tl):
        return None, None, "the run holds no presentations"
    s = load_split(split_seed)
    images, index, seen = [], np.empty(len(tl), np.uint32), {}
    for i, (ph, sid) in enumerate(zip(tl.phase.tolist(), tl.sample_id.tolist())):
        X = s.X_test if layout.PHASES[ph] == "test" else s.X_train
        if not 0 <= sid < len(X):
            return None, None, f"sample {sid} is not in split {split_seed}'s {layout.PHASES[ph]} part"
        key = (ph, sid)
        if key not in seen:
            seen[key] = len(images)
            images.append(GrayscaleImage(name=f"{layout.PHASES[ph]}_{sid:04d}", data=X[sid].reshape(8, 8).astype(np.uint8),
                                         description=f"sklearn digit, {layout.PHASES[ph]} sample {sid} of split "
                                                     f"{split_seed}; pixel values 0..16"))
        index[i] = seen[key]
    imgs = Images(name="digits", images=images, description="the digits shown, 8 x 8 pixels of 0..16",
                  order_of_images=ImageReferences(name="order_of_images", data=images))
    when = _clock(tl.start)
    series = IndexSeries(name="digit_shown", data=index, indexed_images=imgs, unit="N/A", **when,
                         description="index into 'digits' of the image each trial showed, at its start")
    return imgs, series, None


def _clock(t: np.ndarray) -> dict[str, Any]:
    """``starting_time`` and ``rate`` for evenly spaced times (as NWB prefers), else ``timestamps``."""
    d = np.diff(t)
    if len(t) > 1 and d[0] > 0 and np.allclose(d, d[0], rtol=0, atol=1e-9):
        return {"starting_time": float(t[0]), "rate": float(1.0 / d[0])}
    return {"timestamps": t}


def _trace_rows(run: RunReader, tl: Timeline, pop: str, log: dict[str, np.ndarray],
                first_log: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, trial) of each trace row of ``pop`` whose presentation is known, in time order:
    a trace belongs to the latest presentation of its sample logged before it."""
    t = run.table(f"traces/{pop}", ("sample_id",))
    lr = log_rows(run, log, f"traces/{pop}", len(t["sample_id"]))
    by_sample: dict[int, tuple[list[int], list[int]]] = {}
    for i in np.argsort(first_log, kind="stable"):
        if tl.recorded[i]:
            e = by_sample.setdefault(int(tl.sample_id[i]), ([], []))
            e[0].append(int(first_log[i]))
            e[1].append(int(i))
    rows, trials = [], []
    for r, (sid, L) in enumerate(zip(t["sample_id"].tolist(), lr.tolist())):
        logs, idx = by_sample.get(sid, ([], []))
        k = bisect_left(logs, L if L >= 0 else 1 << 62) - 1
        if k >= 0:
            rows.append(r)
            trials.append(idx[k])
    rows_a, trials_a = np.asarray(rows, np.int64), np.asarray(trials, np.int64)
    o = np.argsort(tl.start[trials_a], kind="stable")
    return rows_a[o], trials_a[o]


def _trace_series(run: RunReader, tl: Timeline, pop: str, rows: np.ndarray, trials: np.ndarray,
                  progress: Progress | None) -> TimeSeries:
    g = run.group[f"traces/{pop}"]
    attrs = run.table_attrs(f"traces/{pop}")
    dt = float(attrs["dt"]) / 1000.0
    values = g["values"]
    n_steps, k = values.shape[1:]
    neurons = list(attrs["neurons"])

    def data() -> Iterator[DataChunk]:
        for a in range(0, len(rows), TRACE_ROWS):
            r = rows[a:a + TRACE_ROWS]
            try:
                v = np.stack([np.asarray(values[int(i)]) for i in r]) if not np.all(np.diff(r) == 1) \
                    else np.asarray(values[int(r[0]):int(r[-1]) + 1])
            except Exception as e:
                raise StoreError(f"run {run.run}: traces/{pop} rows are damaged ({type(e).__name__}: {e})") from e
            yield DataChunk(data=v.reshape(len(r) * n_steps, k), selection=_at(a * n_steps, (a + len(r)) * n_steps, (k,)))
            if progress:
                progress(len(r))

    def stamps() -> Iterator[DataChunk]:
        step = np.arange(n_steps) * dt
        for a in range(0, len(rows), TRACE_ROWS):
            tr = trials[a:a + TRACE_ROWS]
            yield DataChunk(data=(tl.start[tr][:, None] + step[None]).ravel(),
                            selection=_at(a * n_steps, (a + len(tr)) * n_steps))

    n = len(rows) * n_steps
    starts = tl.start[trials]
    regular = len(rows) > 0 and np.allclose(np.diff(starts), n_steps * dt, rtol=0, atol=1e-9)
    when: dict[str, Any] = ({"starting_time": float(starts[0]), "rate": 1.0 / dt} if regular
                            else {"timestamps": _Feed(stamps(), (n,), np.float64)})
    return TimeSeries(name=f"membrane_{pop}", data=_Feed(data(), (n, k), np.float32), unit="mV", **when,
                      description=f"membrane potential of {pop} neurons {neurons} (columns, indices in the "
                                  f"population) during the traced presentations")


def _weights(run: RunReader, progress: Progress | None) -> DynamicTable | None:
    if not run.committed.get("weights"):
        return None
    w = run.table("weights", ("version", "samples_seen"))
    g = run.group["weights"]
    n = len(w["version"])

    def rows(name: str) -> _Feed:
        arr = g[name]

        def it() -> Iterator[DataChunk]:
            for i in range(n):
                yield DataChunk(data=np.asarray(arr[i:i + 1], np.float32), selection=_at(i, i + 1, arr.shape[1:]))
                if progress and name == "w_ih":
                    progress(1)
        return _Feed(it(), (n, *arr.shape[1:]), np.float32)

    desc = {"w_ih": "input -> hidden weights (n_input x n_hidden), 0..w_max",
            "theta": "hidden homeostatic threshold offsets (mV)", "w_ho": "hidden -> output weights (n_hidden x n_output)"}
    cols = [VectorData(name="version", description="weight version (samples learned from)", data=w["version"]),
            VectorData(name="samples_seen", description="training samples seen", data=w["samples_seen"])]
    cols += [VectorData(name=k, description=d, data=rows(k)) for k, d in desc.items()]
    return DynamicTable(name="weight_snapshots", description="the plastic weights as recorded during the run",
                        id=np.arange(n), columns=cols)


# -- the file ---------------------------------------------------------------------------------
def _first_log(run: RunReader, tl: Timeline, log: dict[str, np.ndarray]) -> np.ndarray:
    """The first log row of each trial (trials without recorded spikes: after everything)."""
    first = np.full(len(tl), 1 << 62, np.int64)
    for p in tl.populations:
        lr = log_rows(run, log, f"spikes/{p}", len(tl.rows[p]))
        lr = np.where(lr < 0, 1 << 62, lr)
        np.minimum.at(first, tl.rows[p], lr)
    return first


def _born(model: Any, t0: datetime) -> datetime:
    """When the network's lineage began: the oldest creation time its model remembers, else the run."""
    created = [model.created] if model is not None and model.created else []
    for c in created:
        try:
            d = datetime.fromisoformat(c)
            return min(d if d.tzinfo else d.astimezone(timezone.utc), t0)
        except ValueError:
            pass
    return t0


def _metadata(run: RunReader, models: dict[str, Any]) -> dict[str, Any]:
    a = run.attrs
    start, end = (a.get(k) if isinstance(a.get(k), dict) else {} for k in ("start", "end"))
    return {"byob_run": run.run, "kind": a.get("kind"), "mode": a.get("mode"), "status": a.get("status"),
            "config": start.get("config"), "job": start.get("job"), "model_in": a.get("model_in"),
            "model_out": a.get("model_out"), "models": {k: m.meta() for k, m in models.items() if m is not None},
            "summary": end.get("summary"), "missing": a.get("missing")}


def export_nwb(run: RunReader, dest: str | Path, *, zarr: bool = False, model_dir: str | Path | None = None,
               chunk: int = EVENT_CHUNK, progress: Progress | None = None,
               on_total: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Write ``run`` to ``dest`` (HDF5, or Zarr with ``zarr``); returns what was written.
    Raises ``StoreError`` for a damaged run and ``ExportError`` for an export not possible here."""
    if zarr:
        try:
            from hdmf_zarr.nwb import NWBZarrIO  # noqa: F401
        except ImportError as e:
            raise ExportError("--zarr needs hdmf-zarr (pip install hdmf-zarr): hdmf-zarr 0.14 (the first with "
                              "zarr 3) needs Python >= 3.12 and zarr >= 3.4, older releases need zarr 2; this "
                              f"environment has neither ({e}); export to HDF5 (leave out --zarr)") from e
    dest = Path(dest)
    if not dest.parent.is_dir():
        raise ExportError(f"{dest.parent} is not a folder; create it first")
    tl = timeline(run)
    log = run.table("log", ("table", "start", "stop"))
    counts = _count_spikes(run, tl, chunk)  # every event read: damage shows up here, before writing
    model_dir = Path(model_dir) if model_dir else None
    models = {k: _find_model(run.attrs.get(k), model_dir) for k in ("model_out", "model_in")}
    model = models["model_out"] or models["model_in"]
    first_log = _first_log(run, tl, log)
    traced = {p.split("/")[1]: _trace_rows(run, tl, p.split("/")[1], log, first_log)
              for p in sorted(run.committed) if p.startswith("traces/") and run.committed[p]}
    n_w = run.committed.get("weights", 0)
    if on_total:
        on_total(int(counts.sum()) + sum(len(r) for r, _ in traced.values()) + n_w)

    started = run.attrs.get("started")
    t0 = datetime.fromtimestamp(float(started), tz=timezone.utc) if isinstance(started, (int, float)) \
        and not isinstance(started, bool) else datetime(1970, 1, 1, tzinfo=timezone.utc)
    meta = _metadata(run, models)
    born = _born(model, t0)
    nwb = NWBFile(
        session_description=f"byob run {run.run}: a spiking network (BrainPy) learning sklearn's digits with "
                            f"STDP; {run.attrs.get('kind') or 'train'} job, {run.attrs.get('mode') or ''} mode",
        identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"byob:{run.run}:{started}")),
        session_start_time=t0, session_id=run.run,
        experiment_description="Simulated network: Poisson input (64 pixels) -> adaptive LIF hidden layer with "
                               "lateral inhibition -> output layer with Mexican-hat inhibition; presentations "
                               "are laid end to end on one timeline (each starts from a reset network).",
        notes=json.dumps(meta, sort_keys=True, default=str),
        source_script="byob export (build-your-own-brain, store/nwb.py)", source_script_file_name="store/nwb.py",
        keywords=["spiking neural network", "STDP", "simulation", "digits"],
        subject=Subject(subject_id=run.run.replace("/", "-"), species=SYNTHETIC, sex="U", date_of_birth=born,
                        description="a simulated spiking network (in silico), not an animal: species is NCBI's "
                                    "'synthetic construct', sex unknown (not applicable), born when its model "
                                    "was first initialised"),
        trials=_trials(tl), units=_units(run, tl, counts, model, chunk, progress))
    imgs, series, why = _stimulus(run, tl)
    if imgs is not None:
        nwb.add_stimulus_template(imgs)
        nwb.add_stimulus(series)
    if traced:
        mod = nwb.create_processing_module(name="membrane", description="membrane potentials of traced neurons")
        for pop, (rows, trials) in traced.items():
            mod.add(_trace_series(run, tl, pop, rows, trials, progress))
    weights = _weights(run, progress)
    if weights is not None:
        nwb.add_analysis(weights)
    tmp = dest.with_name(f".{dest.stem}.tmp-{os.getpid()}{dest.suffix}")  # pynwb wants the suffix kept
    try:
        if zarr:
            from hdmf_zarr.nwb import NWBZarrIO

            with NWBZarrIO(str(tmp), mode="w") as io:
                io.write(nwb)
        else:
            with NWBHDF5IO(str(tmp), mode="w") as io:
                io.write(nwb)
        _replace(tmp, dest)
    except Exception:
        _remove(tmp)
        raise
    return {"run": run.run, "file": str(dest), "format": "zarr" if zarr else "hdf5", "units": tl.n_units,
            "spikes": int(counts.sum()), "trials": len(tl), "traced_presentations": {p: len(r) for p, (r, _) in traced.items()},
            "weight_snapshots": n_w, "images": None if imgs is None else len(imgs.images), "images_left_out": why,
            "unit_parameters": "model" if model is not None else "config", "bytes": _size(dest)}


def _size(p: Path) -> int:
    return p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def _replace(tmp: Path, dest: Path) -> None:
    """Put the finished ``tmp`` at ``dest``; an existing ``dest`` is replaced only now."""
    if tmp.is_dir() or dest.is_dir():  # a Zarr folder cannot be renamed over a folder
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        if dest.exists():
            os.replace(dest, old)
        os.replace(tmp, dest)
        _remove(old)
    else:
        os.replace(tmp, dest)
