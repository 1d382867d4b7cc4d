"""A recorded run laid out on one timeline: presentations end to end, in seconds.

The store keeps each population's spikes per presentation (step index, neuron index).
Exporters (NWB, statistics) want one clock: presentation ``k`` starts where ``k - 1``
stopped, and a spike at step ``s`` of it happens at ``start_k + s * dt``. ``timeline(run)``
works out the presentations from the spike tables' index rows (one presentation per
(epoch, sample, weight version), in the order the log received them) and gives every
prediction its trial: a training prediction belongs to the presentation it was made on;
test predictions (their spikes are counted, not recorded) become trials of their own
after the last recorded presentation, one test presentation long each.

Only the index tables are read whole (a few rows per presentation); spike events are
read in chunks by ``spike_chunks`` so memory stays bounded for any run length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from pipeline.base.schedule import EVAL_EPOCH
from store import layout
from store.runs import RunReader, StoreError

POPULATION_ORDER = ("input", "hidden", "output")
EVENT_CHUNK = 1 << 16  # events read at a time: smaller chunks cost time, larger ones memory (benchmarks/nwb_export.py)


@dataclass(frozen=True)
class Timeline:
    """One row per trial (a presentation, or a test prediction without recorded spikes)."""

    start: np.ndarray  # (n,) float64 seconds
    stop: np.ndarray
    sample_id: np.ndarray  # int64
    label: np.ndarray  # int64
    predicted: np.ndarray  # int64, -1 where no prediction was recorded
    phase: np.ndarray  # uint8 index into layout.PHASES
    epoch: np.ndarray  # int64 (EVAL_EPOCH for evaluation presentations, -1 where unknown)
    attempt: np.ndarray  # int64
    weight_version: np.ndarray  # int64
    counts: np.ndarray | None  # (n, n_output) int32 output spike counts of the prediction, or None
    recorded: np.ndarray  # bool: the trial's spikes are in the store
    rows: dict[str, np.ndarray]  # population -> trial index of each row of its spike table
    populations: list[str]  # in unit order: input, hidden, output, then the others
    sizes: dict[str, int]  # neurons per population
    dt: dict[str, float]  # ms per step per population

    def __len__(self) -> int:
        return len(self.start)

    @property
    def correct(self) -> np.ndarray:
        return (self.predicted == self.label) & (self.predicted >= 0)

    def unit_base(self) -> dict[str, int]:
        """Global unit id of neuron 0 of each population (units numbered in population order)."""
        out, k = {}, 0
        for p in self.populations:
            out[p] = k
            k += self.sizes[p]
        return out

    @property
    def n_units(self) -> int:
        return sum(self.sizes.values())


def _int_attr(attrs: dict, key: str, where: str) -> int:
    v = attrs.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise StoreError(f"{where}: attribute {key!r} is {v!r}, not a positive integer; the store is damaged")
    return v


def _table_attrs(run: RunReader, path: str) -> dict:
    try:
        return run.table_attrs(path)
    except Exception as e:
        raise StoreError(f"run {run.run}: {path} cannot be read ({type(e).__name__}: {e})") from e


def log_rows(run: RunReader, log: dict[str, np.ndarray], path: str, n_rows: int) -> np.ndarray:
    """The log row that brought each row of table ``path`` (rows no log row claims: -1)."""
    out = np.full(n_rows, -1, np.int64)
    if path not in run.tables:
        return out
    sel = np.flatnonzero(log["table"] == run.tables.index(path))
    for i in sel:  # a few rows per presentation: cheap next to the events
        a, b = int(log["start"][i]), int(log["stop"][i])
        if not 0 <= a <= b <= n_rows:
            raise StoreError(f"run {run.run}: log row {i} points at rows {a}:{b} of {path}, which holds {n_rows}")
        out[a:b] = i
    return out


def presentation_ms(run: RunReader, testing: bool) -> float | None:
    """A presentation's length from the run's configuration (test digits: times test_factor)."""
    start = run.attrs.get("start")
    net = start.get("config", {}).get("network", {}) if isinstance(start, dict) else {}
    t, f = (net.get("t_present"), net.get("test_factor", 1.0)) if isinstance(net, dict) else (None, None)
    if not isinstance(t, (int, float)) or not isinstance(f, (int, float)) or t <= 0 or f <= 0:
        return None
    return float(t) * (float(f) if testing else 1.0)


def timeline(run: RunReader) -> Timeline:
    """The trials of ``run`` on one clock; raises ``StoreError`` for a damaged run."""
    pops = run.populations()
    pops = [p for p in POPULATION_ORDER if p in pops] + sorted(set(pops) - set(POPULATION_ORDER))
    log = run.table("log", ("table", "start", "stop"))
    sizes, dts, steps, tabs, order = {}, {}, {}, {}, {}
    for p in pops:
        path = f"spikes/{p}"
        g = _table_attrs(run, path)
        sizes[p], steps[p] = _int_attr(g, "n_neurons", path), _int_attr(g, "n_steps", path)
        dt = g.get("dt")
        if not isinstance(dt, (int, float)) or isinstance(dt, bool) or not dt > 0:
            raise StoreError(f"run {run.run}: {path} has dt {dt!r}; the store is damaged")
        dts[p] = float(dt)
        tabs[p] = run.table(path, ("sample_id", "label", "epoch", "attempt", "weight_version"))
        order[p] = log_rows(run, log, path, len(tabs[p]["sample_id"]))
    # Presentations: (epoch, sample, weight version), first seen at the smallest log row.
    first: dict[tuple[int, int, int], int] = {}
    info: dict[tuple[int, int, int], tuple[int, int, str]] = {}  # label, attempt, population
    keys_of: dict[str, list[tuple[int, int, int]]] = {}
    for p in pops:
        t = tabs[p]
        ks = list(zip(t["epoch"].tolist(), t["sample_id"].tolist(), t["weight_version"].tolist()))
        keys_of[p] = ks
        for k, lr, lab, att in zip(ks, order[p].tolist(), t["label"].tolist(), t["attempt"].tolist()):
            lr = lr if lr >= 0 else 1 << 62
            if k not in first or lr < first[k]:
                first[k] = lr
                info.setdefault(k, (lab, att, p))
    keys = sorted(first, key=lambda k: (first[k], k))
    index = {k: i for i, k in enumerate(keys)}
    n = len(keys)
    length_ms = np.empty(n)
    for i, k in enumerate(keys):
        p = info[k][2]
        length_ms[i] = steps[p] * dts[p]
    rows = {p: np.fromiter((index[k] for k in keys_of[p]), np.int64, len(keys_of[p])) for p in pops}

    # Predictions: a presentation takes the first of its (sample, weight version); the rest are trials.
    pred = run.predictions()
    npred = len(pred.get("sample_id", ()))
    predicted = np.full(n, -1, np.int64)
    n_out = pred["counts"].shape[1] if npred else 0
    counts = np.zeros((n, n_out), np.int32)
    by_key: dict[tuple[int, int], list[int]] = {}
    for i, k in enumerate(keys):
        by_key.setdefault((k[1], k[2]), []).append(i)
    used = np.zeros(n, bool)
    pred_phase = np.full(n, -1, np.int64)
    extra = []
    for j in range(npred):
        cand = by_key.get((int(pred["sample_id"][j]), int(pred["weight_version"][j])), [])
        free = [i for i in cand if not used[i]]
        if free:
            used[free[0]] = True
            predicted[free[0]], counts[free[0]] = pred["predicted"][j], pred["counts"][j]
            pred_phase[free[0]] = pred["phase"][j]
        else:
            extra.append(j)
    epoch = np.array([k[0] for k in keys], np.int64)
    by_epoch = np.where(epoch == EVAL_EPOCH, layout.PHASES.index("test"), layout.PHASES.index("train"))
    if np.any(pred_phase >= len(layout.PHASES)):
        raise StoreError(f"run {run.run}: predictions hold an unknown phase code; the store is damaged")
    phase = np.where(pred_phase >= 0, pred_phase, by_epoch).astype(np.uint8)  # the prediction's, else the epoch's
    sample = np.array([k[1] for k in keys], np.int64)
    version = np.array([k[2] for k in keys], np.int64)
    label = np.array([info[k][0] for k in keys], np.int64)
    attempt = np.array([info[k][1] for k in keys], np.int64)

    # Test predictions without recorded spikes: trials after the recorded ones.
    e = np.asarray(extra, np.int64)
    if len(e) and (np.any(pred["phase"][e] >= len(layout.PHASES))):
        raise StoreError(f"run {run.run}: predictions hold an unknown phase code; the store is damaged")
    fallback = float(np.median(length_ms)) if n else 200.0
    ex_phase = pred["phase"][e].astype(np.uint8) if len(e) else np.zeros(0, np.uint8)
    ex_len = np.array([presentation_ms(run, bool(ph == layout.PHASES.index("test"))) or fallback
                       for ph in ex_phase], float)
    lengths = np.concatenate([length_ms, ex_len]) / 1000.0
    stop = np.cumsum(lengths)
    start = stop - lengths
    return Timeline(
        start=start, stop=stop,
        sample_id=np.concatenate([sample, pred["sample_id"][e] if len(e) else np.zeros(0, np.int64)]),
        label=np.concatenate([label, pred["label"][e] if len(e) else np.zeros(0, np.int64)]),
        predicted=np.concatenate([predicted, pred["predicted"][e] if len(e) else np.zeros(0, np.int64)]),
        phase=np.concatenate([phase, ex_phase]),
        epoch=np.concatenate([epoch, np.where(ex_phase == layout.PHASES.index("test"), EVAL_EPOCH, -1)]),
        attempt=np.concatenate([attempt, np.zeros(len(e), np.int64)]),
        weight_version=np.concatenate([version, pred["weight_version"][e] if len(e) else np.zeros(0, np.int64)]),
        counts=np.concatenate([counts, pred["counts"][e]]) if npred else None,
        recorded=np.concatenate([np.ones(n, bool), np.zeros(len(e), bool)]),
        rows=rows, populations=pops, sizes=sizes, dt=dts)


def spike_chunks(run: RunReader, tl: Timeline, population: str, chunk: int = EVENT_CHUNK
                 ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(trial, neuron, time in s) of ``population``'s spikes, ``chunk`` events at a time, in
    time order per neuron. Raises ``StoreError`` on events that do not fit their table."""
    idx = run.table(f"spikes/{population}", ("start", "stop"))
    ev_path = f"spikes/{population}/events"
    n_ev = run.committed.get(ev_path, 0)
    starts, stops = idx["start"], idx["stop"]
    if len(starts) and (np.any(starts > stops) or starts.min() < 0 or stops.max() > n_ev
                        or np.any(starts[1:] < stops[:-1])):
        raise StoreError(f"run {run.run}: spikes/{population} rows point outside their {n_ev} events; "
                         "the store is damaged")
    trial = tl.rows[population]
    t0 = tl.start[trial]
    # Rows in time order (normally they already are): runs of consecutive rows read together.
    order = np.argsort(t0, kind="stable")
    n_steps = int(_table_attrs(run, f"spikes/{population}")["n_steps"])
    n_neurons, dt = tl.sizes[population], tl.dt[population] / 1000.0
    try:
        g = run.group[ev_path] if n_ev else None
        step_col, neuron_col = (g["step"], g["neuron"]) if g is not None else (None, None)
    except Exception as e:
        raise StoreError(f"run {run.run}: {ev_path} cannot be opened ({type(e).__name__}: {e})") from e
    i = 0
    while i < len(order):
        # Gather consecutive rows until the chunk is full.
        j = i + 1
        while j < len(order) and order[j] == order[j - 1] + 1 and stops[order[j]] - starts[order[i]] <= chunk:
            j += 1
        rows = order[i:j]
        a, b = int(starts[rows[0]]), int(stops[rows[-1]])
        i = j
        if a == b:
            continue
        try:
            steps = np.asarray(step_col[a:b], np.int64)
            neurons = np.asarray(neuron_col[a:b], np.int64)
        except Exception as e:
            raise StoreError(f"run {run.run}: {ev_path} events {a}:{b} are damaged ({type(e).__name__}: {e})") from e
        if len(steps) != b - a or len(neurons) != b - a:
            raise StoreError(f"run {run.run}: {ev_path} holds fewer than its {n_ev} committed events")
        if len(steps) and (steps.max() >= n_steps or neurons.max() >= n_neurons):
            raise StoreError(f"run {run.run}: {ev_path} events {a}:{b} hold steps or neurons outside the "
                             f"{n_steps} x {n_neurons} raster; the store is damaged")
        per_row = stops[rows] - starts[rows]
        tr = np.repeat(trial[rows], per_row)
        yield tr, neurons, tl.start[tr] + steps * dt
