"""The recorder's pure core: decoded bus messages in, rows of a zarr run store out.

``RunWriter.append(msg, t)`` buffers a message's rows; ``flush()`` writes the buffered
rows of every table, then the run's ``committed`` counts (see ``store.layout``), so the
committed part of a store is always whole. It knows nothing of sockets: the recorder
process feeds it, and tests feed it directly.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import zarr

from pipeline.base.messages import (Message, Metrics, Prediction, RunInfo, SpikeBatch, Traces, WeightUpdate,
                                    valid_run_id)
from store import layout
from store.layout import Column

FLUSH_EVERY_S = 2.0  # commit at least this often (each commit writes every table touched)
RUN_TABLE = 65535  # the log's table index of run start/end (kept in attributes)


class RecordError(ValueError):
    """A message that does not fit the run being recorded (counted and dropped)."""


class TableWriter:
    """Columns of equal length, appended in whole chunks where possible."""

    def __init__(self, group: zarr.Group, columns: dict[str, Column], rows: int = 0) -> None:
        self.group, self.columns, self.rows = group, columns, rows
        self.arrays: dict[str, zarr.Array] = {}
        for name, col in columns.items():
            if name in group:
                a = group[name]
                if a.shape[1:] != col.shape:
                    raise RecordError(f"{group.path}/{name} has rows of shape {a.shape[1:]}, not {col.shape}")
                # Rows past ``rows`` (a killed recorder wrote them, never committed them)
                # are invisible to readers and get overwritten.
            else:
                a = group.create_array(name, shape=(0, *col.shape), chunks=(col.chunk_rows, *col.shape),
                                       dtype=col.dtype, compressors=layout.COMPRESSOR, fill_value=0)
            self.arrays[name] = a
        self.buffer: dict[str, list[np.ndarray]] = {n: [] for n in columns}
        self.pending = 0
        self.flush_rows = 16 * min(c.chunk_rows for c in columns.values())  # commit early past this

    def append(self, **cols: np.ndarray) -> tuple[int, int]:
        n = None
        for name, col in self.columns.items():
            v = np.asarray(cols[name], dtype=col.dtype)
            if v.ndim == len(col.shape):
                v = v[None]
            if v.shape[1:] != col.shape or (n is not None and len(v) != n):
                raise RecordError(f"{self.group.path}/{name}: rows of shape {v.shape}, expected (n, *{col.shape})")
            n = len(v)
            self.buffer[name].append(v)
        start = self.rows + self.pending
        self.pending += n or 0
        return start, start + (n or 0)

    def flush(self) -> None:
        if not self.pending:
            return
        new = self.rows + self.pending
        for name, col in self.columns.items():
            data = np.concatenate(self.buffer[name])
            a = self.arrays[name]
            if a.shape[0] < new:  # grow in whole chunks, doubling: few metadata writes
                cap = max(new, 2 * a.shape[0], 4 * col.chunk_rows)
                a.resize((-(-cap // col.chunk_rows) * col.chunk_rows, *col.shape))
            a[self.rows:new] = data
            self.buffer[name] = []
        self.rows, self.pending = new, 0


# The record link is lossless, so a sender's bus sequence numbers arrive one by one; a
# jump this large is not a lost stretch but a forged or corrupt number.
MAX_SEQ_JUMP = 100_000


class RunWriter:
    """One run's group in the store."""

    def __init__(self, store: zarr.Group, run: str) -> None:
        if not valid_run_id(run) or "." in run:
            raise RecordError(f"run id {run[:60]!r} is not a plain name (letters, digits, _ and -)")
        self.run = run
        existing = run in store
        self.group = store.require_group(run)
        attrs = dict(self.group.attrs) if existing else {}
        self.committed: dict[str, int] = dict(attrs.get("committed", {}))
        self.tables: dict[str, TableWriter] = {}
        self.table_names: list[str] = list(attrs.get("tables", []))
        self.senders: list[str] = list(attrs.get("senders", []))
        # The newest sequence number per (wire run, sender): a message at or below it is a
        # duplicate. The wire run of a resumed incarnation is "<run>.<n>".
        self.last_seq: dict[str, int] = dict(attrs.get("last_seq", {}))
        self.incarnation = int(attrs.get("incarnation", 0))
        self.last_flush = time.monotonic()
        self.pending_attrs: dict[str, Any] = {}  # run start/end: visible with the rows, not before
        if not existing:
            self.group.attrs.update({"schema_version": layout.STORE_VERSION, "run": run, "status": "recording",
                                     "committed": {}, "tables": [], "senders": [], "last_seq": {}})
        self.log = self.table("log", layout.log_columns())

    # -- tables --------------------------------------------------------------------------
    def table(self, path: str, columns: dict[str, Column], **attrs: Any) -> TableWriter:
        if path not in self.tables:
            g = self.group.require_group(path)
            for k, v in attrs.items():
                if k in g.attrs and g.attrs[k] != v:
                    raise RecordError(f"{path}: {k} {v!r} differs from the recorded {g.attrs[k]!r}")
            if attrs and not all(k in g.attrs for k in attrs):
                g.attrs.update(attrs)
            self.tables[path] = TableWriter(g, columns, self.committed.get(path, 0))
            if path not in self.table_names:
                self.table_names.append(path)
        t = self.tables[path]
        for k, v in attrs.items():
            if t.group.attrs.get(k) != v:
                raise RecordError(f"{path}: {k} {v!r} differs from the recorded {t.group.attrs.get(k)!r}")
        return t

    def sender_index(self, sender: str) -> int:
        if sender not in self.senders:
            self.senders.append(sender)
        return self.senders.index(sender)

    # -- messages ------------------------------------------------------------------------
    def append(self, msg: Message, t: float) -> bool:
        """Buffer ``msg``; False if it was a duplicate (a sequence number already seen) or
        left over from an incarnation of the run that a resume has replaced."""
        key = f"{msg.run}|{msg.sender}"
        last = self.last_seq.get(key, 0)
        if msg.seq <= last or incarnation_of(msg.run) < self.incarnation:
            return False
        if last and msg.seq - last > MAX_SEQ_JUMP:  # one forged number must not mute a sender
            raise RecordError(f"{msg.sender}'s sequence number jumps from {last} to {msg.seq}")
        path, (start, stop) = self._rows(msg, t)
        self.log.append(kind=layout.KIND_CODES[msg.KIND], sender=self.sender_index(msg.sender), seq=msg.seq,
                        time=t, table=self.table_names.index(path) if path else RUN_TABLE, start=start,
                        stop=stop)
        self.last_seq[key] = msg.seq
        return True

    def seen(self, wire_run: str, sender: str) -> int:
        return self.last_seq.get(f"{wire_run}|{sender}", 0)

    def presentations(self) -> int:
        """Training presentations held (committed or buffered): a resume may start at any
        checkpoint up to here without losing a sample."""
        t = self.tables.get("spikes/input")
        return t.rows + t.pending if t else self.committed.get("spikes/input", 0)

    def rollback(self, presentation: int) -> None:
        """Forget everything from the ``presentation``-th training presentation on: a
        resumed incarnation sends it again, and no sample may be recorded twice."""
        self.flush()
        n_log = self.log.rows
        log = {c: np.asarray(self.log.arrays[c][:n_log]) for c in ("kind", "table", "start", "stop")}
        is_input = np.zeros(n_log, bool)
        if "spikes/input" in self.table_names:
            is_input = (log["kind"] == layout.KIND_CODES["spikes"]) & \
                (log["table"] == self.table_names.index("spikes/input"))
        # The first input message holding a presentation at or after ``presentation`` (an
        # input message holds a batch of them: rows start..stop of spikes/input). A resume
        # starts at a message boundary, so no message is cut in two.
        msgs = np.flatnonzero(is_input)
        later = msgs[log["stop"][msgs] > presentation]
        cut = int(later[0]) if len(later) else n_log
        if len(later) and int(log["start"][later[0]]) != presentation:
            raise RecordError(f"a resume at presentation {presentation} falls inside a recorded message "
                              f"(rows {int(log['start'][later[0]])}..{int(log['stop'][later[0]])})")
        keep: dict[str, int] = {"log": cut}
        for i, path in enumerate(self.table_names):
            sel = log["table"][:cut] == i
            if path != "log" and not path.endswith("/events"):
                keep[path] = int(log["stop"][:cut][sel].max()) if sel.any() else 0
        for path in self.table_names:
            if path.endswith("/events"):
                owner, n = path.removesuffix("/events"), keep.get(path.removesuffix("/events"), 0)
                keep[path] = int(self.group[owner]["stop"][n - 1]) if n else 0
        for path, n in keep.items():
            if path in self.tables:
                self.tables[path].rows = n
        self.committed = {**self.committed, **keep}
        self.group.attrs.update({"committed": self.committed})

    def _rows(self, msg: Message, t: float) -> tuple[str | None, tuple[int, int]]:
        if isinstance(msg, SpikeBatch):
            pop = self._population(msg.population)
            events = self.table(f"spikes/{pop}/events", layout.event_columns())
            e0 = events.rows + events.pending
            rows = np.repeat(np.arange(len(msg.sample_ids)), np.diff(msg.offsets))
            events.append(sample=msg.sample_ids[rows], step=msg.steps, neuron=msg.neurons)
            samples = self.table(f"spikes/{pop}", layout.sample_columns(), n_neurons=msg.n_neurons,
                                 n_steps=msg.n_steps, dt=msg.dt)
            b = len(msg.sample_ids)
            return f"spikes/{pop}", samples.append(
                sample_id=msg.sample_ids, label=msg.labels, epoch=np.full(b, msg.epoch),
                attempt=msg.attempt, weight_version=msg.weight_version,
                start=e0 + msg.offsets[:-1], stop=e0 + msg.offsets[1:])
        if isinstance(msg, Prediction):
            if msg.phase not in layout.PHASES:
                raise RecordError(f"unknown prediction phase {msg.phase!r}")
            t_ = self.table("predictions", layout.prediction_columns(msg.counts.shape[1]))
            b = len(msg.sample_ids)
            return "predictions", t_.append(
                sample_id=msg.sample_ids, label=msg.labels, predicted=msg.predicted, counts=msg.counts,
                weight_version=msg.weight_version, phase=np.full(b, layout.PHASES.index(msg.phase)))
        if isinstance(msg, WeightUpdate):
            t_ = self.table("weights", layout.weight_columns(*msg.w_ih.shape, msg.w_ho.shape[1]))
            return "weights", t_.append(version=msg.version, samples_seen=msg.samples_seen, w_ih=msg.w_ih,
                                        theta=msg.theta, w_ho=msg.w_ho)
        if isinstance(msg, Traces):
            pop = self._population(msg.population)
            t_ = self.table(f"traces/{pop}", layout.trace_columns(msg.values.shape[1], len(msg.neurons)),
                            neurons=msg.neurons.tolist(), dt=msg.dt)
            return f"traces/{pop}", t_.append(sample_id=msg.sample_ids, values=msg.values)
        if isinstance(msg, Metrics):
            g = self.group.require_group("metrics")
            names = list(g.attrs.get("names") or sorted(
                k for k in msg.values if layout.POPULATION_NAME.match(k) and k != "time"))
            t_ = self.table("metrics", layout.metric_columns(names), names=names)
            return "metrics", t_.append(time=t, **{n: float(msg.values.get(n, np.nan)) for n in names})
        if isinstance(msg, RunInfo):
            body = {**msg.body(), "sender": msg.sender, "seq": msg.seq}
            if msg.event == "start":
                self.pending_attrs.update({"start": body, "kind": msg.kind, "mode": msg.mode,
                                           "model_in": msg.model, "started": msg.time})
                return None, (0, 1)
            if msg.event == "resume":
                self.rollback(int(msg.summary.get("from_sample", 0)))
                self.incarnation = incarnation_of(msg.run)
                resumes = [*(self.pending_attrs.get("resumes") or self.group.attrs.get("resumes", [])), body]
                self.pending_attrs.update({"resumes": resumes, "incarnation": self.incarnation})
                return None, (1 + len(resumes), 2 + len(resumes))
            ok = bool(msg.summary.get("ok", True))
            self.pending_attrs.update({"end": body, "ended": msg.time, "model_out": msg.model,
                                       "status": "done" if ok else "failed"})
            return None, (1, 2)
        raise RecordError(f"the recorder does not keep {msg.KIND} messages")

    @staticmethod
    def _population(name: str) -> str:
        if not layout.POPULATION_NAME.match(name):
            raise RecordError(f"population name {name!r} is not a plain lowercase name")
        return name

    # -- committing ----------------------------------------------------------------------
    def due(self) -> bool:
        return time.monotonic() - self.last_flush > FLUSH_EVERY_S or any(
            t.pending >= t.flush_rows for t in self.tables.values())

    def flush(self) -> None:
        """Write buffered rows, then (only then) the counts that make them visible."""
        for t in self.tables.values():
            t.flush()
        self.committed = {**self.committed, **{p: t.rows for p, t in self.tables.items()}}
        self.group.attrs.update({**self.pending_attrs, "committed": self.committed, "tables": self.table_names,
                                 "senders": self.senders, "last_seq": self.last_seq})
        self.pending_attrs = {}
        self.last_flush = time.monotonic()

    def mark(self, status: str, **attrs: Any) -> None:
        self.flush()
        self.group.attrs.update({"status": status, **attrs})


def open_store_for_writing(path: str) -> zarr.Group:
    """The store at ``path``, created if missing; refuses a zarr group that is not a store."""
    root = zarr.open_group(path, mode="a")
    mark = root.attrs.get("byob_store")
    if mark is None and len(list(root.keys())) == 0:
        root.attrs["byob_store"] = layout.STORE_VERSION
    elif mark != layout.STORE_VERSION:
        raise RecordError(f"{path} is a zarr group but not a byob run store (version {mark!r}); "
                          "point --store at a new directory")
    return root


def incarnation_of(wire_run: str) -> int:
    """0 for ``run_X``, n for the wire run ``run_X.n`` of a resumed incarnation."""
    _, _, n = wire_run.partition(".")
    return int(n) if n.isdigit() else 0
