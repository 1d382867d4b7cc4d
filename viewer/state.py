"""What a viewer knows of a run: a pure, socket-free model of the monitoring bus.

``LiveState.apply(msg)`` folds one decoded bus message (live or replayed) into bounded
buffers: the sample now shown, rolling spike rasters, population rates, accuracy and
confusion, the latest weight snapshot and its change since the run began, pipeline
metrics, and health counters (messages received, messages this subscriber missed,
counted from gaps in each sender's contiguous ``seq``).

Browser sessions never touch sockets: each keeps a ``Cursor`` and asks
``frame(cursor)`` for what changed since it last drew (``Series`` hands out only rows
newer than the session's version), so one state feeds any number of sessions and a
slow session just draws fewer, later frames. Everything is bounded: memory stays flat
however long a run lasts.

A replay published onto the live bus (``byob replay`` while a pipeline is up) is shown
as a replay: its first message sets the live run's display aside and starts a fresh
one with the replayed run's header; the replay's end (its recorded or its stopped
``RunInfo`` end) or a live job's start brings the live display back. Live messages that
arrive meanwhile go on into the live display kept aside.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from pipeline.base.messages import Message, Metrics, Prediction, RunInfo, SpikeBatch, Traces, WeightUpdate

POPULATIONS = ("input", "hidden", "output")
N_CLASSES = 10
SILENT_AFTER_S = 5.0  # no message for this long: the pipeline is said to be silent
# What one run's display is made of (set by ``_new_run``): set aside while a replay on
# the live bus is shown, put back when it ends.
RUN_FIELDS = ("run", "info", "summary", "model_in", "model_out", "resumed", "samples", "t_present", "current",
              "traced", "sample_version", "rasters", "raster_version", "activity", "accuracy", "validation", "last_validation",
              "metrics", "weight_change", "last_metrics", "conf", "confusion_version", "_recent", "weights",
              "first_weights", "weights_version", "_weights_view")
METRIC_NAMES = ("trained", "running_accuracy", "samples_per_second", "nodes_alive")
LIGHT_SERIES = ("metrics",)  # drawn on every frame; the rest only on heavy frames


class Series:
    """A ring buffer of rows that readers catch up on by version (rows appended so far).

    The feed appends; each session remembers the version it drew and streams only the
    newer rows (``ColumnDataSource.stream`` with ``rollover=max_rows``). Columns are
    preallocated float arrays: no per-row objects, memory fixed from the start."""

    def __init__(self, columns: tuple[str, ...], max_rows: int) -> None:
        self.columns, self.max_rows = columns, max_rows
        self._data = {c: np.zeros(max_rows) for c in columns}
        self._starts: deque[int] = deque(maxlen=256)  # where the latest appends began
        self.version = 0  # rows appended in all

    def append(self, **cols: Any) -> None:
        new = {c: np.atleast_1d(np.asarray(cols[c], float))[-self.max_rows:] for c in self.columns}
        n = len(cols[self.columns[0]]) if np.ndim(cols[self.columns[0]]) else 1
        if n == 0:
            return
        kept = len(new[self.columns[0]])
        idx = np.arange(self.version + n - kept, self.version + n) % self.max_rows
        for c in self.columns:
            self._data[c][idx] = new[c]
        self._starts.append(self.version)
        self.version += n

    def _rows(self, start: int) -> dict[str, np.ndarray]:
        idx = np.arange(max(start, self.version - self.max_rows), self.version) % self.max_rows
        return {c: self._data[c][idx] for c in self.columns}

    def since(self, version: int) -> dict[str, np.ndarray]:
        """Rows appended after ``version`` (at most ``max_rows``); {} when none."""
        return self._rows(version) if version < self.version else {}

    def tail(self, appends: int) -> dict[str, np.ndarray]:
        """The rows of the last ``appends`` appends (e.g. the last samples' spikes)."""
        starts = list(self._starts)[-appends:]
        return self._rows(starts[0] if starts else self.version)

    def __len__(self) -> int:
        return min(self.version, self.max_rows)


@dataclass
class Sample:
    """The presentation now shown: one digit's spikes, traces and prediction."""

    index: int  # presentations seen by this viewer in this run (1 = the first)
    sample_id: int
    label: int
    epoch: int
    attempt: int
    n_steps: int
    dt: float
    spikes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # pop -> (steps, neurons)
    sizes: dict[str, int] = field(default_factory=dict)  # pop -> n_neurons
    traces: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # pop -> (neurons, (T, k) mV)
    predicted: int | None = None
    counts: np.ndarray | None = None
    image_shape: tuple[int, int] | None = None  # the run's network.image_shape, when its start was seen

    def image(self) -> np.ndarray:
        """The input spike counts per pixel as the h x w image (brighter: more spikes); the
        run's image shape, else the largest square (ON/OFF channels: the ON half)."""
        steps, neurons = self.spikes.get("input", (np.zeros(0, int), np.zeros(0, int)))
        n = self.sizes.get("input", 64)
        counts = np.bincount(neurons, minlength=n).astype(float)
        if self.image_shape and self.image_shape[0] * self.image_shape[1] <= n:
            h, w = self.image_shape
            return counts[: h * w].reshape(h, w)
        side = max(int(np.sqrt(n)), 1)
        return counts[: side * side].reshape(side, side)


@dataclass
class Cursor:
    """What one session has drawn so far."""

    generation: int = -1
    series: dict[str, int] = field(default_factory=dict)
    sample: int = -1
    rasters: int = -1
    weights: int = -1
    confusion: int = -1


@dataclass
class Frame:
    """What changed for one session since its cursor; None or {}: nothing new."""

    reset: bool
    status: dict[str, Any]
    series: dict[str, dict[str, np.ndarray]]
    sample: Sample | None = None
    traced: Sample | None = None  # the last sample with membrane traces, when ``sample`` is new
    rasters: dict[str, dict[str, np.ndarray]] | None = None  # the last ``window`` samples per layer
    weights: dict[str, Any] | None = None
    confusion: dict[str, Any] | None = None


def receptive_fields(w_ih: np.ndarray, cols: int | None = None,
                     shape: tuple[int, int] | None = None) -> np.ndarray:
    """Each hidden neuron's input weights as an h x w tile (the image shape, else the
    largest square), tiles in a grid with one NaN line between them (drawn transparent);
    row 0 of the result is the top."""
    n_in, n_hidden = w_ih.shape
    if shape and shape[0] * shape[1] <= n_in:
        h, w = shape
    else:
        h = w = max(int(np.sqrt(n_in)), 1)
    cols = cols or int(np.ceil(np.sqrt(n_hidden)))
    rows = int(np.ceil(n_hidden / cols))
    out = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    for j in range(n_hidden):
        r, c = divmod(j, cols)
        tile = w_ih[: h * w, j].reshape(h, w)
        out[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = tile
    return out


def histogram(values: np.ndarray, bins: int = 40) -> dict[str, np.ndarray]:
    values = values[np.isfinite(values)]
    if not len(values):
        return {"left": np.zeros(0), "right": np.zeros(0), "top": np.zeros(0)}
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    top, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return {"left": edges[:-1], "right": edges[1:], "top": top.astype(float)}


class LiveState:
    """The viewer's whole model of the run it watches; thread-safe through ``lock``."""

    def __init__(self, source: str = "live", where: str = "", window: int = 5,
                 history: int = 5000, accuracy_window: int = 100) -> None:
        self.lock = threading.RLock()
        self.source, self.where = source, where  # live + bus endpoint, or replay + store
        self.window, self.history, self.accuracy_window = window, history, accuracy_window
        self.generation = 0
        self.received = self.dropped = self.bad = 0  # health: kept across runs
        self.sessions = 0
        self.replay_position = self.replay_samples = 0
        self.paused = False
        self.error = ""  # the feed could not go on (shown in the page)
        self._last_seq: dict[tuple[bool, str], int] = {}  # (replayed, sender) -> last seq
        self.replayed = False  # the display shows a replay published on the live bus
        self._live_view: dict[str, Any] | None = None  # the live run's display, set aside meanwhile
        self._first_seen: float | None = None
        self._last_seen: float | None = None
        self._new_run(None)

    # -- resets ------------------------------------------------------------------------
    def _new_run(self, run: str | None) -> None:
        self.generation += 1
        self.run = run
        self.info: dict[str, Any] = {}  # the RunInfo start, when seen
        self.summary: dict[str, Any] | None = None  # the RunInfo end
        self.model_in = self.model_out = ""
        self.resumed: dict[str, Any] | None = None  # the last RunInfo resume's summary
        self.samples = 0
        self.t_present = 200.0
        self.current: Sample | None = None
        self.traced: Sample | None = None  # the last sample that came with membrane traces
        self.sample_version = 0
        self.rasters = {p: Series(("t", "neuron"), 20_000) for p in POPULATIONS}  # one chunk a sample
        self.raster_version = 0
        self.activity = {p: Series(("sample", "rate"), self.history) for p in POPULATIONS}
        self.accuracy = Series(("sample", "running", "window"), self.history)
        # The validator's accuracy on validation digits with the learner's checkpoints
        # (x: training samples learned from, as the accuracy's).
        self.validation = Series(("sample", "accuracy"), self.history)
        self.last_validation: dict[str, float] = {}
        self.metrics = Series(("t", *METRIC_NAMES), self.history)
        self.weight_change = Series(("samples_seen", "dw_ih", "dw_ho"), self.history)
        self.last_metrics: dict[str, float] = {}
        self.conf = {"train": np.zeros((N_CLASSES, N_CLASSES), np.int64),
                     "test": np.zeros((N_CLASSES, N_CLASSES), np.int64)}
        self.confusion_version = 0
        self._recent = deque(maxlen=self.accuracy_window)
        self.weights: WeightUpdate | None = None
        self.first_weights: WeightUpdate | None = None
        self.weights_version = 0
        self._weights_view: dict[str, Any] | None = None

    def switch(self, source: str, where: str) -> None:
        """Watch something else (the live bus, or a recorded run): start from nothing."""
        with self.lock:
            self.source, self.where = source, where
            self.received = self.dropped = self.bad = 0
            self.replay_position = self.replay_samples = 0
            self.paused = False
            self.error = ""
            self._last_seq.clear()
            self._first_seen = self._last_seen = None
            self.replayed, self._live_view = False, None
            self._new_run(None)

    def reset(self) -> None:
        """Forget everything of the run (a replay seeks or starts over)."""
        with self.lock:
            self._last_seq.clear()
            self._new_run(self.run)

    # -- messages in -------------------------------------------------------------------
    def apply(self, msg: Message, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self.lock:
            self.received += 1
            if self._first_seen is None:
                self._first_seen = now
            self._last_seen = now
            key = (msg.replay, msg.sender)  # a replay's senders and seqs are the recorded run's
            last = self._last_seq.get(key)
            if last is not None and msg.seq > last + 1:
                self.dropped += msg.seq - last - 1  # the bus dropped these for us
            self._last_seq[key] = msg.seq
            if self.source == "live" and msg.replay != self.replayed:
                if msg.replay:
                    self._enter_replay()
                elif isinstance(msg, RunInfo) and msg.event == "start":
                    self._leave_replay(restore=False)  # a live job starts: its own display
                else:
                    self._fold_aside(msg, now)
                    return
            self._fold(msg, now)
            if self.replayed and isinstance(msg, RunInfo) and msg.event == "end":
                self._leave_replay(restore=True)

    def _enter_replay(self) -> None:
        self._live_view = {k: getattr(self, k) for k in RUN_FIELDS}
        self.replayed = True
        self._new_run(None)  # fresh, even when the replayed run is the one just watched live

    def _leave_replay(self, restore: bool) -> None:
        self.replayed = False
        aside, self._live_view = self._live_view, None
        self._new_run(None)
        if restore and aside is not None:
            for k, v in aside.items():
                setattr(self, k, v)

    def _fold_aside(self, msg: Message, now: float) -> None:
        """Fold a live message into the live display set aside while a replay is shown."""
        if self._live_view is None:
            return
        shown = {k: getattr(self, k) for k in RUN_FIELDS}
        for k, v in self._live_view.items():
            setattr(self, k, v)
        generation = self.generation
        try:
            self._fold(msg, now)
        finally:
            self._live_view = {k: getattr(self, k) for k in RUN_FIELDS}
            for k, v in shown.items():
                setattr(self, k, v)
            self.generation = generation  # the replay's display goes on undisturbed

    def _fold(self, msg: Message, now: float) -> None:
        # A run resumed after a lost node goes on the wire as run_X.1, run_X.2, ...: the
        # same run to a viewer.
        run = msg.run.split(".", 1)[0]
        if run and run != self.run:
            self._new_run(run)
        if isinstance(msg, SpikeBatch):
            self._on_spikes(msg)
        elif isinstance(msg, Traces):
            self._on_traces(msg)
        elif isinstance(msg, Prediction):
            self._on_prediction(msg)
        elif isinstance(msg, WeightUpdate):
            self._on_weights(msg)
        elif isinstance(msg, Metrics):
            self._on_metrics(msg, now)
        elif isinstance(msg, RunInfo):
            self._on_run(msg)

    def count_bad(self) -> None:
        with self.lock:
            self.received += 1
            self.bad += 1

    def image_shape(self) -> tuple[int, int] | None:
        shape = self.info.get("config", {}).get("network", {}).get("image_shape")
        ok = isinstance(shape, (list, tuple)) and len(shape) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
        return (int(shape[0]), int(shape[1])) if ok else None

    def sizes(self) -> dict[str, int]:
        """Neurons per population as the run's config says (before any spikes arrive)."""
        net = self.info.get("config", {}).get("network", {})
        n_in = net.get("n_input")
        out: dict[str, int] = {}
        for pop, n in (("input", n_in * 2 if isinstance(n_in, int) and net.get("on_off") else n_in),
                       ("hidden", net.get("n_hidden")), ("output", net.get("n_output"))):
            if isinstance(n, int) and not isinstance(n, bool) and n > 0:
                out[pop] = n
        return out

    def _on_run(self, m: RunInfo) -> None:
        if m.event == "resume":
            self.resumed = dict(m.summary)
        elif m.event == "start":
            self.info = {"kind": m.kind, "mode": m.mode, "job": m.job, "config": m.config, "time": m.time}
            self.model_in = m.model
            self.t_present = float(m.config.get("network", {}).get("t_present", self.t_present))
        else:
            self.summary = dict(m.summary)
            self.model_out = m.model
            self.info.setdefault("kind", m.kind)
            self.info.setdefault("mode", m.mode)

    def _on_spikes(self, m: SpikeBatch) -> None:
        self.t_present = m.n_steps * m.dt or self.t_present
        for b in range(len(m.sample_ids)):
            a, z = int(m.offsets[b]), int(m.offsets[b + 1])
            steps, neurons = m.steps[a:z], m.neurons[a:z]
            sid = int(m.sample_ids[b])
            if m.population == "input":
                self.samples += 1
                self.current = Sample(self.samples, sid, int(m.labels[b]), m.epoch, int(m.attempt[b]), m.n_steps, m.dt,
                                      image_shape=self.image_shape())
            cur = self.current
            if cur is None or cur.sample_id != sid:
                index = self.samples  # spikes of a sample whose input we missed
            else:
                index = cur.index
                cur.spikes[m.population] = (steps, neurons)
                cur.sizes[m.population] = m.n_neurons
                self.sample_version += 1
            if m.population in self.rasters:
                # seconds of the run (presentations one after another), not ms: 801.2, not 8.012e+5
                t = ((index - 1) * self.t_present + steps * m.dt) / 1000.0
                self.rasters[m.population].append(t=t, neuron=neurons)
                self.raster_version += 1
                rate = len(steps) / max(m.n_neurons, 1) / max(m.n_steps * m.dt / 1000.0, 1e-9)
                self.activity[m.population].append(sample=index, rate=rate)

    def _on_traces(self, m: Traces) -> None:
        cur = self.current
        for b in range(len(m.sample_ids)):
            if cur is not None and cur.sample_id == int(m.sample_ids[b]):
                cur.traces[m.population] = (m.neurons, m.values[b])
                self.traced = cur  # traces come with some samples only: keep the last ones
                self.sample_version += 1

    def _on_prediction(self, m: Prediction) -> None:
        ok = (m.labels >= 0) & (m.labels < N_CLASSES) & (m.predicted >= 0) & (m.predicted < N_CLASSES)
        conf = self.conf["test" if m.phase == "test" else "train"]
        np.add.at(conf, (m.labels[ok], m.predicted[ok]), 1)
        self.confusion_version += 1
        if m.phase != "train":
            return
        cur = self.current
        for b in range(len(m.sample_ids)):
            if cur is not None and cur.sample_id == int(m.sample_ids[b]):
                cur.predicted, cur.counts = int(m.predicted[b]), m.counts[b]
                self.sample_version += 1
            if ok[b]:
                self._recent.append(m.predicted[b] == m.labels[b])
        n = int(np.trace(self.conf["train"])), int(self.conf["train"].sum())
        self.accuracy.append(sample=n[1], running=n[0] / max(n[1], 1),
                             window=float(np.mean(self._recent)) if self._recent else 0.0)

    def _on_weights(self, m: WeightUpdate) -> None:
        if self.first_weights is None or self.first_weights.w_ih.shape != m.w_ih.shape \
                or self.first_weights.w_ho.shape != m.w_ho.shape:
            self.first_weights = m
        self.weights = m
        self.weights_version += 1
        self._weights_view = None
        f = self.first_weights
        self.weight_change.append(samples_seen=m.samples_seen, dw_ih=float(np.mean(np.abs(m.w_ih - f.w_ih))),
                                  dw_ho=float(np.mean(np.abs(m.w_ho - f.w_ho))))

    def _on_metrics(self, m: Metrics, now: float) -> None:
        if "validation_accuracy" in m.values:  # the controller's validation figure, not its health
            v = {k.removeprefix("validation_"): float(x) for k, x in m.values.items() if k.startswith("validation_")}
            self.last_validation = v
            self.validation.append(sample=v.get("samples_seen", np.nan), accuracy=v["accuracy"])
            return
        self.last_metrics = dict(m.values)
        self.metrics.append(t=now - (self._first_seen or now),
                            **{k: m.values.get(k, np.nan) for k in METRIC_NAMES})

    # -- views out ---------------------------------------------------------------------
    def phase(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        if self.error:
            return "error"
        if self._last_seen is None:
            return "waiting"
        if self.source == "replay" and self.paused:
            return "paused"
        if self.summary is not None:
            return "ended"
        if now - self._last_seen > SILENT_AFTER_S:
            return "silent"
        return "evaluating" if self.conf["test"].any() else "training"

    def status(self, now: float | None = None) -> dict[str, Any]:
        """The header and health figures, plain values only."""
        with self.lock:
            test = self.conf["test"]
            train = self.conf["train"]
            summary = self.summary or {}
            return {
                "source": self.source, "where": self.where, "phase": self.phase(now), "run": self.run or "",
                "error": self.error,
                "kind": self.info.get("kind", ""), "mode": self.info.get("mode", ""),
                "model_in": self.model_in, "model_out": self.model_out, "resumed": self.resumed,
                "samples": self.samples, "received": self.received, "dropped": self.dropped, "bad": self.bad,
                "train_seen": int(train.sum()),
                "running_accuracy": float(np.trace(train) / train.sum()) if train.any() else None,
                "tested": int(test.sum()),
                "test_accuracy": summary.get("test_accuracy",
                                             float(np.trace(test) / test.sum()) if test.any() else None),
                "weights_version": self.weights.version if self.weights is not None else None,
                "metrics": dict(self.last_metrics), "sessions": self.sessions,
                "replay_position": self.replay_position, "replay_samples": self.replay_samples,
                "replayed": self.replayed, "sizes": self.sizes(), "validation": dict(self.last_validation),
            }

    def weights_view(self) -> dict[str, Any] | None:
        """Receptive-field image and weight histograms of the latest snapshot (cached)."""
        if self.weights is None:
            return None
        if self._weights_view is None:
            w, f = self.weights, self.first_weights
            self._weights_view = {
                "version": w.version, "samples_seen": w.samples_seen, "fields": receptive_fields(w.w_ih, shape=self.image_shape()),
                "n_hidden": w.w_ih.shape[1], "hist_ih": histogram(w.w_ih.ravel()),
                "hist_ho": histogram(w.w_ho.ravel()), "hist_dw": histogram((w.w_ih - f.w_ih).ravel()),
                "theta": histogram(w.theta.ravel())}
        return self._weights_view

    def series(self) -> dict[str, Series]:
        out: dict[str, Series] = {f"activity_{p}": s for p, s in self.activity.items()}
        out.update(accuracy=self.accuracy, validation=self.validation, metrics=self.metrics,
                   weight_change=self.weight_change)
        return out

    def frame(self, cursor: Cursor, now: float | None = None, heavy: bool = True) -> Frame:
        """What changed since ``cursor`` (which is moved on); a new run or a seek resets.
        ``heavy`` False gives only the pipeline metrics: a session draws the rest less
        often (at 100 samples/s only the last few samples are worth drawing, and every
        redrawn plot costs the browser)."""
        with self.lock:
            reset = cursor.generation != self.generation
            if reset:
                cursor.generation, cursor.series = self.generation, {}
                cursor.sample = cursor.rasters = cursor.weights = cursor.confusion = -1
            out = Frame(reset=reset, status=self.status(now), series={})
            for name, s in self.series().items():
                if (heavy or name in LIGHT_SERIES) and s.version != cursor.series.get(name, 0):
                    out.series[name] = s.since(cursor.series.get(name, 0))
                    cursor.series[name] = s.version
            if heavy and cursor.rasters != self.raster_version:
                out.rasters = {p: s.tail(self.window) for p, s in self.rasters.items()}
                cursor.rasters = self.raster_version
            if heavy and self.current is not None and cursor.sample != self.sample_version:
                cur = self.current
                out.sample = replace(cur, spikes=dict(cur.spikes), sizes=dict(cur.sizes), traces=dict(cur.traces))
                t = self.traced
                out.traced = out.sample if t is cur or t is None else \
                    replace(t, spikes=dict(t.spikes), sizes=dict(t.sizes), traces=dict(t.traces))
                cursor.sample = self.sample_version
            if heavy and cursor.weights != self.weights_version:
                out.weights = self.weights_view()
                cursor.weights = self.weights_version
            if heavy and cursor.confusion != self.confusion_version:
                phase = "test" if self.conf["test"].any() else "train"
                out.confusion = {"phase": phase, "matrix": self.conf[phase].copy()}
                cursor.confusion = self.confusion_version
            out.status["t_present"] = self.t_present
            out.status["window"] = self.window
            return out
