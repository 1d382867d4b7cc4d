"""Every message that crosses a socket, in one module.

Wire format: a ZeroMQ multipart message ``[header, *buffers]``. The header is a msgpack
map ``{"v": SCHEMA_VERSION, "kind", "run", "seq", "sender", "body", "arrays"}``; each
array travels as a raw little-endian buffer frame described in ``arrays`` by name,
dtype and shape (no nested lists, no pickle). ``decode`` validates everything before
allocating: schema version, kind, field types, dtypes from an allow-list, shapes that
match the buffer sizes, and a maximum message size. A bad message raises
``MessageError`` with a reason; nodes count it and drop it, they never crash on it.

Spikes travel as event lists: for a batch of B samples, ``steps`` and ``neurons`` hold
one entry per spike, ``offsets`` (B + 1) delimit each sample's events (like NWB's
``spike_times_index``), with the population size and dt beside them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgpack
import numpy as np

# 2: a spike batch and a prediction carry a weight version (and a spike batch an attempt)
# per sample, so K presentations travel in one message whatever each one's version.
SCHEMA_VERSION = 2
# The population name of a training presentation sent to the learner: the input, hidden,
# free output and taught output rasters side by side on the neuron axis, in that order.
PRESENTATION = "presentation"
MAX_MESSAGE_BYTES = 64 << 20
# The msgpack header unpacks into Python objects up to ~70 times its size (an empty map is one
# byte on the wire) that decode then checks one by one, so it gets a limit of its own (worst
# case ~20 MB and well under a second); real headers are a few KiB.
MAX_HEADER_BYTES = 1 << 18
MAX_NDIM = 32
# A run id as stores and file names may use it: a plain name, and for a resumed run's
# incarnation a dot and its number (``run_X.2``). Never empty, never a path.
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}(\.[0-9]{1,6})?")


def valid_run_id(run: str) -> bool:
    return isinstance(run, str) and RUN_ID.fullmatch(run) is not None
ALLOWED_DTYPES = {"bool", "uint8", "int32", "int64", "float32", "float64"}


class MessageError(ValueError):
    """A message that fails validation; ``reason`` is a short machine-friendly tag."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Message:
    run: str
    seq: int
    sender: str = ""
    replay: bool = False  # published by a replay of a recorded run, not by a live pipeline
    KIND: ClassVar[str] = ""
    ARRAYS: ClassVar[tuple[str, ...]] = ()

    def body(self) -> dict[str, Any]:
        skip = {"run", "seq", "sender", *self.ARRAYS}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}

    def to_wire(self) -> list[bytes]:
        arrays = [np.ascontiguousarray(getattr(self, n)) for n in self.ARRAYS]
        header = {
            "v": SCHEMA_VERSION, "kind": self.KIND, "run": self.run, "seq": self.seq,
            "sender": self.sender, "body": self.body(),
            "arrays": [[n, a.dtype.name, list(a.shape)] for n, a in zip(self.ARRAYS, arrays)],
        }
        frames = [msgpack.packb(header, use_bin_type=True)]
        frames += [a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes() for a in arrays]
        return frames

    def validate(self) -> None:
        """Kind-specific consistency checks; raise MessageError."""

    def digest(self) -> str:
        """A hash of what the message says, independent of map order and of the replay
        flag: a recorded or replayed message has the digest of the one published."""
        body = {k: v for k, v in self.body().items() if k != "replay"}
        h = hashlib.sha256(json.dumps([self.KIND, self.run, self.seq, self.sender, body],
                                      sort_keys=True, default=str).encode())
        h.update(json.dumps([[n, getattr(self, n).dtype.str, getattr(self, n).shape] for n in self.ARRAYS])
                 .encode())
        for n in self.ARRAYS:
            h.update(np.ascontiguousarray(getattr(self, n)).tobytes())
        return h.hexdigest()


def _per_sample(msg: Message, *names: str) -> None:
    """Per-sample integer fields given as one int become that int for every sample."""
    b = len(msg.sample_ids)
    for n in names:
        v = getattr(msg, n)
        if not isinstance(v, np.ndarray):
            object.__setattr__(msg, n, np.full(b, v, np.int64))


@dataclass(frozen=True)
class SpikeBatch(Message):
    """Spike events of one population for a batch of samples."""

    population: str = "input"
    n_neurons: int = 0
    n_steps: int = 0
    dt: float = 0.0
    epoch: int = 0  # a batch never spans two epochs
    # Per sample (B,): the retry that made it (0: first) and the weight version that
    # presented it. An int given is every sample's.
    attempt: np.ndarray | int = 0
    weight_version: np.ndarray | int = 0
    sample_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # -1: unknown
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    neurons: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    KIND: ClassVar[str] = "spikes"
    ARRAYS: ClassVar[tuple[str, ...]] = ("sample_ids", "labels", "offsets", "steps", "neurons", "attempt",
                                         "weight_version")

    def __post_init__(self) -> None:
        _per_sample(self, "attempt", "weight_version")

    @classmethod
    def from_raster(cls, raster: np.ndarray, *, run: str, seq: int, population: str, dt: float,
                    sample_ids: np.ndarray, labels: np.ndarray | None = None, **kw: Any) -> "SpikeBatch":
        raster = np.asarray(raster, bool)
        b, t, n = raster.shape
        # One flat scan (much faster than a 3-D nonzero); row-major, so events come grouped
        # by sample, then time.
        flat = np.flatnonzero(raster.reshape(-1))
        bi, rem = np.divmod(flat, t * n)
        steps, neurons = np.divmod(rem, n)
        offsets = np.zeros(b + 1, np.int64)
        np.cumsum(np.bincount(bi, minlength=b), out=offsets[1:])
        lab = np.full(b, -1, np.int64) if labels is None else np.asarray(labels, np.int64)
        return cls(run=run, seq=seq, population=population, n_neurons=n, n_steps=t, dt=dt,
                   sample_ids=np.asarray(sample_ids, np.int64), labels=lab, offsets=offsets,
                   steps=steps.astype(np.int32), neurons=neurons.astype(np.int32), **kw)

    def to_raster(self) -> np.ndarray:
        b = len(self.sample_ids)
        out = np.zeros((b, self.n_steps, self.n_neurons), bool)
        rows = np.repeat(np.arange(b), np.diff(self.offsets))
        out[rows, self.steps, self.neurons] = True
        return out

    def select(self, lo: int, hi: int, population: str) -> "SpikeBatch":
        """The events of neurons ``lo <= n < hi``, renumbered from 0, as a batch of
        ``population``: one layer cut out of a presentation without rebuilding it from a
        raster (the same message ``from_raster`` of that layer's raster gives)."""
        if not 0 <= lo <= hi <= self.n_neurons:
            raise ValueError(f"neurons {lo}..{hi} are not within 0..{self.n_neurons}")
        keep = (self.neurons >= lo) & (self.neurons < hi)
        rows = np.repeat(np.arange(len(self.sample_ids)), np.diff(self.offsets))
        counts = np.bincount(rows[keep], minlength=len(self.sample_ids))
        offsets = np.zeros(len(self.offsets), np.int64)
        np.cumsum(counts, out=offsets[1:])
        return dataclasses.replace(self, population=population, n_neurons=hi - lo, offsets=offsets,
                                   steps=self.steps[keep], neurons=(self.neurons[keep] - lo).astype(np.int32))

    def validate(self) -> None:
        b = len(self.sample_ids)
        if self.n_neurons < 0 or self.n_steps < 0 or not self.dt > 0:
            raise MessageError("bad-field", "n_neurons, n_steps must be >= 0 and dt > 0")
        if any(getattr(self, n).dtype.kind not in "iu" for n in self.ARRAYS):
            raise MessageError("bad-dtype", f"{', '.join(self.ARRAYS)} must be integer arrays")
        if self.labels.shape != (b,) or self.offsets.shape != (b + 1,) or self.attempt.shape != (b,) \
                or self.weight_version.shape != (b,):
            raise MessageError("bad-shape", f"labels/offsets/attempt/weight_version do not match {b} samples")
        if self.steps.shape != self.neurons.shape or self.steps.ndim != 1:
            raise MessageError("bad-shape", "steps and neurons must be 1-D and of equal length")
        if self.offsets[0] != 0 or self.offsets[-1] != len(self.steps) or np.any(np.diff(self.offsets) < 0):
            raise MessageError("bad-offsets", "offsets must rise from 0 to the number of events")
        if len(self.steps) and (self.steps.min() < 0 or self.steps.max() >= self.n_steps
                                or self.neurons.min() < 0 or self.neurons.max() >= self.n_neurons):
            raise MessageError("out-of-range", "an event lies outside n_steps x n_neurons")
        if self.n_steps * self.n_neurons * b > MAX_MESSAGE_BYTES * 8:
            raise MessageError("too-large", "the dense raster of this batch would be too large")


@dataclass(frozen=True)
class WeightUpdate(Message):
    """The learner's new plastic state after ``version`` updates."""

    version: int = 0
    samples_seen: int = 0
    w_ih: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    theta: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    w_ho: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    KIND: ClassVar[str] = "weights"
    ARRAYS: ClassVar[tuple[str, ...]] = ("w_ih", "theta", "w_ho")

    def validate(self) -> None:
        if self.w_ih.ndim != 2 or self.w_ho.ndim != 2 or self.theta.shape != (self.w_ih.shape[1],) \
                or self.w_ho.shape[0] != self.w_ih.shape[1]:
            raise MessageError("bad-shape", "w_ih (in, hidden), theta (hidden,), w_ho (hidden, out)")
        for n in self.ARRAYS:
            a = getattr(self, n)
            if a.dtype != np.float32 or not np.all(np.isfinite(a)):
                raise MessageError("bad-value", f"{n} must be finite float32")


@dataclass(frozen=True)
class Prediction(Message):
    sample_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    predicted: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    counts: np.ndarray = field(default_factory=lambda: np.zeros((0, 10), np.int32))
    weight_version: np.ndarray | int = 0  # per sample (B,); an int given is every sample's
    phase: str = "test"  # train: the free output before learning; test: evaluation
    KIND: ClassVar[str] = "prediction"
    ARRAYS: ClassVar[tuple[str, ...]] = ("sample_ids", "labels", "predicted", "counts", "weight_version")

    def __post_init__(self) -> None:
        _per_sample(self, "weight_version")

    def validate(self) -> None:
        b = len(self.sample_ids)
        if self.labels.shape != (b,) or self.predicted.shape != (b,) or self.counts.ndim != 2 \
                or self.counts.shape[0] != b or self.weight_version.shape != (b,):
            raise MessageError("bad-shape", f"labels, predicted, counts must have {b} rows")


@dataclass(frozen=True)
class Metrics(Message):
    values: dict[str, float] = field(default_factory=dict)
    KIND: ClassVar[str] = "metrics"

    def validate(self) -> None:
        if not all(isinstance(k, str) and isinstance(v, (int, float)) for k, v in self.values.items()):
            raise MessageError("bad-field", "metrics values must map names to numbers")


@dataclass(frozen=True)
class Control(Message):
    command: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    KIND: ClassVar[str] = "control"
    COMMANDS: ClassVar[frozenset[str]] = frozenset(
        {"train", "evaluate", "stop", "status", "pause", "resume", "seek", "rate", "ack", "hello", "done", "validated",
         "evaluated", "abort", "monitor", "digest"})

    def validate(self) -> None:
        if self.command not in self.COMMANDS:
            raise MessageError("bad-command", f"unknown command {self.command!r}")


@dataclass(frozen=True)
class Traces(Message):
    """Membrane potentials of a few neurons of one population while samples were shown."""

    population: str = "hidden"
    dt: float = 0.0
    sample_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    neurons: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # which neurons
    values: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), np.float32))  # (B, T, k) mV
    KIND: ClassVar[str] = "traces"
    ARRAYS: ClassVar[tuple[str, ...]] = ("sample_ids", "neurons", "values")

    def validate(self) -> None:
        b, k = len(self.sample_ids), len(self.neurons)
        if self.values.ndim != 3 or self.values.shape[0] != b or self.values.shape[2] != k \
                or self.values.dtype != np.float32 or not self.dt > 0:
            raise MessageError("bad-shape", f"values must be float32 ({b}, steps, {k}) and dt > 0")


@dataclass(frozen=True)
class RunInfo(Message):
    """A run starts or ends: what it is, so a recorder or viewer joining needs nothing else."""

    event: str = "start"  # start | resume (after a lost node, from a checkpoint) | end
    kind: str = "train"  # train | evaluate
    mode: str = "lockstep"
    model: str = ""  # the model continued (start) or produced (end); "" for a new one
    time: float = 0.0  # seconds since the epoch
    job: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)  # end: accuracy, throughput, ok, error
    KIND: ClassVar[str] = "run"

    def validate(self) -> None:
        if self.event not in ("start", "end", "resume"):
            raise MessageError("bad-field", f"event must be start, resume or end, got {self.event!r}")


@dataclass(frozen=True)
class Heartbeat(Message):
    node: str = ""
    time: float = 0.0
    status: dict[str, Any] = field(default_factory=dict)
    KIND: ClassVar[str] = "heartbeat"


KINDS: dict[str, type[Message]] = {c.KIND: c for c in (SpikeBatch, WeightUpdate, Prediction, Metrics,
                                                       Control, Heartbeat, Traces, RunInfo)}
# What the monitoring bus carries (and the recorder keeps).
BUS_KINDS = frozenset({"spikes", "weights", "prediction", "metrics", "traces", "run"})


def _body_fields(cls: type[Message]) -> dict[str, tuple[Any, bool, bool]]:
    """Per body field of ``cls``: (the Python type(s) it must hold or None, must be a map,
    is a float), worked out once per kind instead of once per message."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.name in cls.ARRAYS or f.name in ("run", "seq", "sender"):
            continue
        kind = str(f.type)
        want = {"int": int, "float": (int, float), "str": str, "bool": bool}.get(kind.split("[")[0])
        out[f.name] = (want, kind.startswith("dict"), f.type == "float")
    return out


BODY_FIELDS = {kind: _body_fields(cls) for kind, cls in KINDS.items()}
_WIRE_DTYPES = {name: np.dtype(name).newbyteorder("<") for name in ALLOWED_DTYPES}


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(obj: dict[str, Any], max_depth: int = 32) -> bool:
    """Only what JSON holds (maps with str keys, lists, str, numbers, bool, None), nested at
    most ``max_depth`` deep: a recorder keeps bodies as JSON attributes, and msgpack also
    yields bytes, extension types and timestamps that JSON cannot encode."""
    level = [obj]
    for _ in range(max_depth + 1):  # one nesting level at a time
        deeper: list[Any] = []
        for o in level:
            if type(o) is dict and not all(type(k) is str for k in o):
                return False
            for v in (o.values() if type(o) is dict else o):
                t = type(v)
                if t is dict or t is list:
                    deeper.append(v)
                elif t not in _SCALARS:
                    return False
        if not deeper:
            return True
        level = deeper
    return False


def decode(frames: list[bytes]) -> Message:
    """Validate and build a message from its frames; raise MessageError on anything wrong."""
    if not frames:
        raise MessageError("empty", "no frames")
    size = sum(len(f) for f in frames)
    if size > MAX_MESSAGE_BYTES:
        raise MessageError("too-large", f"{size} bytes > {MAX_MESSAGE_BYTES}")
    if len(frames[0]) > MAX_HEADER_BYTES:
        raise MessageError("too-large", f"header of {len(frames[0])} bytes > {MAX_HEADER_BYTES}")
    try:
        h = msgpack.unpackb(frames[0], raw=False, strict_map_key=True, max_bin_len=0,
                            max_array_len=1 << 16, max_map_len=1 << 12, max_str_len=1 << 16)
    except Exception as e:  # msgpack raises several unrelated types on garbage
        raise MessageError("bad-header", f"header is not msgpack ({type(e).__name__})") from e
    if not isinstance(h, dict):
        raise MessageError("bad-header", "header is not a map")
    if h.get("v") != SCHEMA_VERSION:
        raise MessageError("wrong-version", f"schema version {h.get('v')!r}, expected {SCHEMA_VERSION}")
    cls = KINDS.get(h["kind"]) if isinstance(h.get("kind"), str) else None
    if cls is None:
        raise MessageError("unknown-kind", f"kind {h.get('kind')!r}")
    run, seq, sender, body, specs = (h.get(k) for k in ("run", "seq", "sender", "body", "arrays"))
    if not isinstance(run, str) or not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 \
            or not isinstance(sender, str) or not isinstance(body, dict) or not isinstance(specs, list):
        raise MessageError("bad-header", "run (str), seq (int >= 0), sender, body, arrays required")
    if not _plain(body):
        raise MessageError("bad-field", "the body holds binary or extension values, or nests too deep")
    names = [s[0] if isinstance(s, list) and s else None for s in specs]
    if names != list(cls.ARRAYS) or len(frames) != 1 + len(specs):
        raise MessageError("bad-arrays", f"{cls.KIND} carries arrays {list(cls.ARRAYS)}")
    kwargs: dict[str, Any] = {}
    for spec, buf in zip(specs, frames[1:]):
        if len(spec) != 3 or not isinstance(spec[1], str) or spec[1] not in ALLOWED_DTYPES \
                or not isinstance(spec[2], list) or not 1 <= len(spec[2]) <= MAX_NDIM \
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d for d in spec[2]):
            raise MessageError("bad-arrays", f"array spec {spec!r}"[:200])
        dtype = _WIRE_DTYPES[spec[1]]
        count = math.prod(spec[2])  # exact: an int64 product could wrap around to the buffer size
        if count * dtype.itemsize != len(buf) or math.prod(max(d, 1) for d in spec[2]) > MAX_MESSAGE_BYTES:
            raise MessageError("bad-arrays", f"{spec[0]}: {len(buf)} bytes for shape {spec[2]} {spec[1]}")
        kwargs[spec[0]] = np.frombuffer(buf, dtype=dtype).astype(dtype.newbyteorder("="))\
            .reshape(spec[2])
    fields = BODY_FIELDS[cls.KIND]
    for k, v in body.items():
        f = fields.get(k)
        if f is None:
            raise MessageError("bad-field", f"unexpected field {k!r} in {cls.KIND}")
        want, is_map, is_float = f
        if want is int and (not isinstance(v, int) or isinstance(v, bool)):
            raise MessageError("bad-field", f"{k} must be an integer")
        if want is not None and not isinstance(v, want):
            raise MessageError("bad-field", f"{k} must be {cls.__dataclass_fields__[k].type}")
        if is_map and not isinstance(v, dict):
            raise MessageError("bad-field", f"{k} must be a map")
        kwargs[k] = float(v) if is_float else v
    msg = cls(run=run, seq=seq, sender=sender, **kwargs)
    msg.validate()
    return msg
