"""Fuzzing the message decoder: whatever arrives on a socket, ``decode`` either builds a
valid message or raises ``MessageError`` with a known reason (never another exception),
never allocates more than the frames it was given, and a node counts every rejection.

Three kinds of input: arbitrary frames, arbitrary msgpack headers, and real messages of
every kind with their header fields, array specs and buffers mutated.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import tracemalloc
from collections import Counter

import msgpack
import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pipeline.base.messages import (ALLOWED_DTYPES, KINDS, MAX_HEADER_BYTES, MAX_MESSAGE_BYTES, SCHEMA_VERSION,
                               Control, Heartbeat, Message, MessageError, Metrics, Prediction, RunInfo,
                               SpikeBatch, Traces, WeightUpdate, decode)
from pipeline.runtime.node import NodeShell
from pipeline.runtime.rejects import RejectLog

# Every reason decode (and the validate methods) may give: a node counts drops by reason.
REASONS = {"empty", "too-large", "bad-header", "wrong-version", "unknown-kind", "bad-arrays", "bad-field",
           "bad-shape", "bad-offsets", "out-of-range", "bad-value", "bad-command", "bad-dtype"}
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def attempt(frames: list[bytes]) -> Message | None:
    """decode, allowing only a MessageError with a known reason."""
    try:
        msg = decode(frames)
    except MessageError as e:
        assert e.reason in REASONS, e
        if currently_in_test_context():  # statistics: pytest --hypothesis-show-statistics
            event(f"rejected: {e.reason}")
        return None
    assert isinstance(msg, Message)
    if currently_in_test_context():
        event(f"accepted: {msg.KIND}")
    return msg


def samples() -> list[Message]:
    """One valid message of every kind, arrays included."""
    r = SpikeBatch.from_raster(np.eye(4, dtype=bool)[None].repeat(2, 0), run="r", seq=3, sender="network.1",
                               population="hidden", dt=0.5, sample_ids=[1, 2], labels=[3, 4], epoch=1)
    return [
        r,
        WeightUpdate(run="r", seq=1, sender="learner.1", version=2, samples_seen=5,
                     w_ih=np.ones((3, 2), np.float32), theta=np.zeros(2, np.float32),
                     w_ho=np.ones((2, 4), np.float32)),
        Prediction(run="r", seq=2, sample_ids=np.arange(2), labels=np.zeros(2, np.int64),
                   predicted=np.ones(2, np.int64), counts=np.ones((2, 3), np.int32), phase="train"),
        Metrics(run="r", seq=4, sender="controller", values={"trained": 3.0, "acc": 0.5}),
        Control(run="r", seq=5, command="train", args={"epochs": 1, "samples": 10}),
        Heartbeat(run="r", seq=6, node="network.1", time=12.5, status={"dropped": {"bad-header": 1}}),
        Traces(run="r", seq=7, population="hidden", dt=0.5, sample_ids=np.arange(2),
               neurons=np.arange(3, dtype=np.int32), values=np.zeros((2, 5, 3), np.float32)),
        RunInfo(run="r", seq=8, sender="controller", event="start", time=1.0, job={"epochs": 1},
                config={"network": {"n_hidden": 5}}),
    ]


SAMPLES = samples()


def test_every_kind_is_fuzzed():
    assert {m.KIND for m in SAMPLES} == set(KINDS)

# Any value msgpack can carry (ints to the edges of its 64-bit range, bytes, ext types).
scalars = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(max_size=8)
           | st.binary(max_size=4) | st.sampled_from([2**62, 2**40, -1, 0, 1, 2**64 - 1, -2**63])
           | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=3)))
values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c,
                                                                                      max_size=4), max_leaves=12)
dims = st.integers(-2**63, 2**64 - 1) | st.sampled_from([0, 1, 2, 3, 10, 2**31, 2**32, 2**40, 2**62, 2**63,
                                                         -1, True, False, 1.0])
shapes = st.lists(dims, max_size=6) | st.lists(st.just(1), min_size=33, max_size=80) | values


@given(st.lists(st.binary(max_size=300), max_size=5))
@settings(FUZZ, max_examples=300)
def test_arbitrary_frames_are_rejected_cleanly(frames):
    attempt(frames)


@given(values, st.lists(st.binary(max_size=64), max_size=4))
@settings(FUZZ, max_examples=200)
def test_arbitrary_msgpack_headers_are_rejected_cleanly(header, buffers):
    attempt([msgpack.packb(header, use_bin_type=True), *buffers])
    if isinstance(header, dict):  # a plausible envelope around it
        attempt([msgpack.packb({**header, "v": SCHEMA_VERSION, "kind": "heartbeat"}, use_bin_type=True),
                 *buffers])


@st.composite
def mutated(draw):
    """A real message's frames with a few header fields, specs or buffers changed."""
    msg = draw(st.sampled_from(SAMPLES))
    frames = msg.to_wire()
    h = msgpack.unpackb(frames[0])
    bufs = list(frames[1:])
    for _ in range(draw(st.integers(1, 3))):
        what = draw(st.sampled_from(["top", "drop", "body", "body", "number", "number", "spec", "shape", "dtype",
                                     "buffer", "frames", "array", "array", "array"]))
        if what == "top":
            h[draw(st.sampled_from(["v", "kind", "run", "seq", "sender", "body", "arrays"]))] = draw(values)
        elif what == "drop":
            h.pop(draw(st.sampled_from(["v", "kind", "run", "seq", "sender", "body", "arrays"])), None)
        elif what == "body" and isinstance(h.get("body"), dict):
            keys = sorted(h["body"]) + ["bogus", "replay", "run", "seq"]
            h["body"][draw(st.sampled_from(keys))] = draw(values)
        elif what == "number" and isinstance(h.get("body"), dict) and h["body"]:
            # a field of the right type with an awkward value: what validate is for
            h["body"][draw(st.sampled_from(sorted(h["body"])))] = draw(st.integers(-3, 40) | st.floats())
        elif what == "array" and isinstance(h.get("arrays"), list) and h["arrays"] and bufs:
            # a consistent spec and buffer of another shape, dtype or content
            i = draw(st.integers(0, min(len(h["arrays"]), len(bufs)) - 1))
            dtype = draw(st.sampled_from(sorted(ALLOWED_DTYPES)))
            shape = draw(st.lists(st.integers(0, 5), min_size=1, max_size=3))
            h["arrays"][i] = [h["arrays"][i][0] if isinstance(h["arrays"][i], list) and h["arrays"][i] else "x",
                              dtype, shape]
            n = int(np.prod(shape)) * np.dtype(dtype).itemsize
            small = (np.arange(n // np.dtype(dtype).itemsize) % 3).astype(dtype)  # 0, 1, 2, ...
            bufs[i] = draw(st.binary(min_size=n, max_size=n) | st.just(small.tobytes()))
        elif what in ("spec", "shape", "dtype") and isinstance(h.get("arrays"), list) and h["arrays"]:
            i = draw(st.integers(0, len(h["arrays"]) - 1))
            spec = h["arrays"][i]
            if not isinstance(spec, list) or len(spec) != 3:
                continue
            if what == "spec":
                spec[draw(st.integers(0, 2))] = draw(values)
                if draw(st.booleans()):
                    del spec[draw(st.integers(0, len(spec) - 1))]
            elif what == "shape":
                spec[2] = draw(shapes)
            else:
                spec[1] = draw(st.sampled_from(sorted(ALLOWED_DTYPES) + ["object", "float16", "<f8", "V8", "U3"]))
        elif what == "buffer" and bufs:
            i = draw(st.integers(0, len(bufs) - 1))
            cut = draw(st.integers(0, len(bufs[i])))
            bufs[i] = draw(st.sampled_from([bufs[i][:cut], bufs[i] + draw(st.binary(min_size=1, max_size=16)),
                                            draw(st.binary(max_size=len(bufs[i]) + 8))]))
        elif what == "frames":
            if bufs and draw(st.booleans()):
                bufs.pop(draw(st.integers(0, len(bufs) - 1)))
            else:
                bufs.append(draw(st.binary(max_size=16)))
    return [msgpack.packb(h, use_bin_type=True), *bufs]


@given(mutated())
@settings(FUZZ, max_examples=600)
def test_mutated_messages_decode_or_are_rejected(frames):
    msg = attempt(frames)
    if msg is not None:  # what decode accepts, it can send again unchanged
        again = decode(msg.to_wire())
        assert again.digest() == msg.digest()
        if isinstance(msg, SpikeBatch) and len(msg.sample_ids) * msg.n_steps * msg.n_neurons < 1e6:
            # and a valid spike batch renders (its events are integer indices in range)
            assert msg.to_raster().shape == (len(msg.sample_ids), msg.n_steps, msg.n_neurons)


def _header(kind: str, arrays: list, body: dict | None = None) -> bytes:
    return msgpack.packb({"v": SCHEMA_VERSION, "kind": kind, "run": "r", "seq": 1, "sender": "s",
                          "body": body or {}, "arrays": arrays}, use_bin_type=True)


SPIKE_ARRAYS = ["sample_ids", "labels", "offsets", "steps", "neurons"]


@pytest.mark.parametrize("shape, nbytes", [
    ([2**40], 10),  # far more than the buffer
    ([2**32, 2**32], 0),  # wraps to 0 in int64
    ([2**62, 4], 0),  # wraps to 0 in int64
    ([2**63, 2], 0),
    ([2**64 - 1], 8),  # beyond int64
    ([0, 2**62], 0),  # no elements, but an absurd axis
    ([1] * 70, 8),  # more axes than numpy has
    ([], 8),  # a scalar where an array is expected
])
def test_impossible_array_specs_are_rejected_before_allocating(shape, nbytes):
    specs = [[n, "int64", [1]] for n in SPIKE_ARRAYS]
    specs[0] = ["sample_ids", "int64", shape]
    bufs = [b"\0" * nbytes] + [b"\0" * 8] * 4
    tracemalloc.start()
    try:
        with pytest.raises(MessageError) as e:
            decode([_header("spikes", specs, {"dt": 1.0}), *bufs])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.value.reason == "bad-arrays"
    assert peak < 2 << 20, peak


def test_a_header_that_would_unpack_into_gigabytes_is_refused_unread():
    # A header just over the limit, of empty maps (each ~70 bytes once unpacked): refused unread.
    empty_maps = b"\xdc\xff\xff" + b"\x80" * 0xFFFF
    frame = b"\x81\xa1x" + b"\xdd" + (MAX_HEADER_BYTES // len(empty_maps) + 1).to_bytes(4, "big") \
        + empty_maps * (MAX_HEADER_BYTES // len(empty_maps) + 1)
    tracemalloc.start()
    try:
        with pytest.raises(MessageError) as e:
            decode([frame])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.value.reason == "too-large" and peak < 2 << 20


def test_a_header_at_the_limit_stays_bounded_and_quick():
    n = (MAX_HEADER_BYTES - 128) // 16
    body = b"\x81\xa6status\x81\xa1a\xdd" + n.to_bytes(4, "big") + (b"\x9f" + b"\x80" * 15) * n
    env = {"v": SCHEMA_VERSION, "kind": "heartbeat", "run": "r", "seq": 1, "sender": "", "arrays": []}
    frame = b"\x87" + b"".join(msgpack.packb(k) + msgpack.packb(v) for k, v in env.items()) + b"\xa4body" + body
    assert len(frame) <= MAX_HEADER_BYTES
    t = time.perf_counter()
    msg = attempt([frame])  # ~260k Python objects (~20 MB), then accepted
    assert isinstance(msg, Heartbeat) and len(msg.status["a"]) == n and time.perf_counter() - t < 10


def test_deep_nesting_is_rejected():
    assert attempt([b"\x91" * 100_000 + b"\x01"]) is None  # msgpack's own stack limit
    deep: object = 1
    for _ in range(200):
        deep = [deep]
    with pytest.raises(MessageError, match="nests too deep"):
        decode([_header("heartbeat", [], {"status": {"a": deep}})])


@pytest.mark.parametrize("value", [b"", msgpack.ExtType(3, b"x"), msgpack.Timestamp(1, 0), {b"": 1}])
def test_bodies_hold_only_what_json_can(value):
    """A recorder keeps run bodies as JSON attributes: bytes, ext types or bytes keys would crash it."""
    with pytest.raises(MessageError) as e:
        decode([_header("run", [], {"event": "start", "config": {"a": value}})])
    assert e.value.reason == "bad-field"


def test_spike_batches_must_be_integer_event_lists():
    good = SAMPLES[0].to_wire()
    h = msgpack.unpackb(good[0])
    h["arrays"][3][1] = "float64"  # steps: in range, but not indices
    steps = np.frombuffer(good[4], np.int32).astype(np.float64) + 0.5
    with pytest.raises(MessageError) as e:
        decode([msgpack.packb(h), *good[1:4], steps.tobytes(), *good[5:]])
    assert e.value.reason == "bad-dtype"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_kind_field_cannot_be_a_map_or_list(kind):
    frames = next(m for m in SAMPLES if m.KIND == kind).to_wire()
    h = msgpack.unpackb(frames[0])
    for bad in ([kind], {kind: 1}, 1, None, b""):
        h["kind"] = bad
        with pytest.raises(MessageError) as e:
            decode([msgpack.packb(h, use_bin_type=True), *frames[1:]])
        assert e.value.reason == "unknown-kind"


# -- round trips -------------------------------------------------------------------------------
names = st.text(max_size=10)
finite32 = st.floats(allow_nan=False, allow_infinity=False, width=32)
json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=False)
                           | st.text(max_size=6),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                           max_leaves=8)
maps = st.dictionaries(st.text(max_size=6), json_values, max_size=4)
common = {"run": names, "seq": st.integers(0, 2**64 - 1), "sender": names}


@st.composite
def spike_batches(draw):
    b, t, n = draw(st.integers(0, 4)), draw(st.integers(1, 12)), draw(st.integers(1, 10))
    raster = draw(hnp.arrays(bool, (b, t, n)))
    return SpikeBatch.from_raster(raster, run=draw(names), seq=draw(common["seq"]), sender=draw(names),
                                  population=draw(names), dt=draw(st.floats(1e-6, 1e6)),
                                  sample_ids=draw(hnp.arrays(np.int64, b)), labels=draw(hnp.arrays(np.int64, b)),
                                  epoch=draw(st.integers(0, 2**63)), attempt=draw(st.integers(0, 9)),
                                  weight_version=draw(st.integers(-2**63, 2**63)))


@st.composite
def weight_updates(draw):
    i, h, o = draw(st.integers(0, 6)), draw(st.integers(0, 6)), draw(st.integers(0, 4))
    return WeightUpdate(**{k: draw(s) for k, s in common.items()}, version=draw(st.integers(0, 2**40)),
                        samples_seen=draw(st.integers(0, 2**40)),
                        w_ih=draw(hnp.arrays(np.float32, (i, h), elements=finite32)),
                        theta=draw(hnp.arrays(np.float32, h, elements=finite32)),
                        w_ho=draw(hnp.arrays(np.float32, (h, o), elements=finite32)))


@st.composite
def predictions(draw):
    b, k = draw(st.integers(0, 6)), draw(st.integers(0, 12))
    return Prediction(**{k_: draw(s) for k_, s in common.items()}, sample_ids=draw(hnp.arrays(np.int64, b)),
                      labels=draw(hnp.arrays(np.int64, b)), predicted=draw(hnp.arrays(np.int64, b)),
                      counts=draw(hnp.arrays(np.int32, (b, k))), weight_version=draw(st.integers(0, 2**40)),
                      phase=draw(st.sampled_from(["train", "test"])))


@st.composite
def traces(draw):
    b, t, k = draw(st.integers(0, 3)), draw(st.integers(0, 8)), draw(st.integers(0, 4))
    return Traces(**{k_: draw(s) for k_, s in common.items()}, population=draw(names), dt=draw(st.floats(1e-3, 10)),
                  sample_ids=draw(hnp.arrays(np.int64, b)), neurons=draw(hnp.arrays(np.int32, k)),
                  values=draw(hnp.arrays(np.float32, (b, t, k))))


messages = st.one_of(
    spike_batches(), weight_updates(), predictions(), traces(),
    st.builds(Metrics, **common, values=st.dictionaries(names, st.floats(allow_nan=False), max_size=5)),
    st.builds(Control, **common, command=st.sampled_from(sorted(Control.COMMANDS)), args=maps),
    st.builds(Heartbeat, **common, node=names, time=st.floats(allow_nan=False), status=maps),
    st.builds(RunInfo, **common, event=st.sampled_from(["start", "end"]), kind=names, mode=names, model=names,
              time=st.floats(0, 2e9), job=maps, config=maps, summary=maps),
)


@given(messages, st.booleans())
@settings(FUZZ, max_examples=250)
def test_every_kind_round_trips(msg, replay):
    msg = dataclasses.replace(msg, replay=replay)
    back = decode(msg.to_wire())
    assert type(back) is type(msg) and back.digest() == msg.digest() and back.replay == replay
    for n in msg.ARRAYS:
        a, b = getattr(msg, n), getattr(back, n)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


# -- the documented reasons --------------------------------------------------------------------
def test_oversized_wrong_version_unknown_kind_have_their_reasons():
    frames = SAMPLES[1].to_wire()
    h = msgpack.unpackb(frames[0])
    cases = {
        "empty": [],
        "too-large": [frames[0], *frames[1:], b"\0" * (MAX_MESSAGE_BYTES + 1)],
        "wrong-version": [msgpack.packb({**h, "v": SCHEMA_VERSION + 1}), *frames[1:]],
        "unknown-kind": [msgpack.packb({**h, "kind": "weights2"}), *frames[1:]],
        "bad-header": [b"\xc1", *frames[1:]],
        "bad-arrays": [frames[0], *frames[1:-1]],
    }
    for reason, fr in cases.items():
        with pytest.raises(MessageError) as e:
            decode(fr)
        assert e.value.reason == reason
    with pytest.raises(MessageError, match="wrong-version"):
        decode([msgpack.packb({k: v for k, v in h.items() if k != "v"}), *frames[1:]])


# -- a node counts what it drops ---------------------------------------------------------------
class _Shell(NodeShell):
    """The receive logic of a real node, without the sockets and signal handlers of __init__."""

    def __init__(self) -> None:  # deliberately not calling NodeShell.__init__
        self.dropped: Counter[str] = Counter()
        self.log = logging.getLogger("fuzz-node")
        self.rejects = RejectLog(self.log)
        self.control = None  # no control link: receive applies no monitor command


def test_a_node_counts_every_rejection_and_keeps_going():
    ctx = zmq.Context()
    try:
        pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
        pull.bind("inproc://fuzz-node")
        push.connect("inproc://fuzz-node")
        node = _Shell()
        good = SAMPLES[3].to_wire()
        bad = {"bad-header": [b"junk"], "wrong-version": [msgpack.packb({"v": 99})],
               "unknown-kind": [msgpack.packb({"v": SCHEMA_VERSION, "kind": "nope"})],
               "bad-arrays": SAMPLES[0].to_wire()[:-1],
               "too-large": [b"\x80" * (MAX_HEADER_BYTES + 1)]}
        got = []
        for _ in range(2):
            for frames in [*bad.values(), good]:
                push.send_multipart(frames)
                assert pull.poll(2000)
                got.append(node.receive(pull))
        assert dict(node.dropped) == {r: 2 for r in bad}
        assert [m.digest() for m in got if m is not None] == [SAMPLES[3].digest()] * 2
        assert sum(m is None for m in got) == 2 * len(bad)
    finally:
        ctx.destroy(linger=0)

