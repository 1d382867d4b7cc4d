import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.base.messages import (MAX_MESSAGE_BYTES, SCHEMA_VERSION, Control, Heartbeat, MessageError,
                               Metrics, Prediction, SpikeBatch, WeightUpdate, decode)

runs = st.text(min_size=1, max_size=12)
seqs = st.integers(0, 2**40)


@st.composite
def spike_batches(draw):
    b = draw(st.integers(0, 5))
    t = draw(st.integers(1, 30))
    n = draw(st.integers(1, 20))
    raster = draw(st.lists(st.booleans(), min_size=b * t * n, max_size=b * t * n))
    r = np.array(raster, bool).reshape(b, t, n)
    return r, SpikeBatch.from_raster(
        r, run=draw(runs), seq=draw(seqs), population=draw(st.sampled_from(["input", "hidden", "output"])),
        dt=draw(st.floats(0.01, 2.0)), sample_ids=np.arange(b) * 7, labels=np.arange(b) % 10,
        epoch=draw(st.integers(0, 100)), weight_version=draw(st.integers(0, 10**6)))


def same(a, b):
    assert type(a) is type(b)
    for f in a.__dataclass_fields__:
        x, y = getattr(a, f), getattr(b, f)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), f
        else:
            assert x == y, f


@given(spike_batches())
@settings(max_examples=60, deadline=None)
def test_spike_batch_round_trip_and_raster(data):
    raster, msg = data
    back = decode(msg.to_wire())
    same(msg, back)
    assert np.array_equal(back.to_raster(), raster)


@given(spike_batches(), st.data())
@settings(max_examples=60, deadline=None)
def test_a_layer_selected_from_a_presentation_is_the_layer_built_from_its_raster(data, draw):
    raster, msg = data
    n = msg.n_neurons
    lo = draw.draw(st.integers(0, n))
    hi = draw.draw(st.integers(lo, n))
    want = SpikeBatch.from_raster(raster[:, :, lo:hi], run=msg.run, seq=msg.seq, population="hidden", dt=msg.dt,
                                  sample_ids=msg.sample_ids, labels=msg.labels, epoch=msg.epoch,
                                  weight_version=msg.weight_version)
    same(msg.select(lo, hi, "hidden"), want)
    with pytest.raises(ValueError):
        msg.select(0, n + 1, "hidden")


@given(runs, seqs, st.integers(1, 8), st.integers(1, 8), st.integers(1, 4))
@settings(max_examples=30, deadline=None)
def test_weights_prediction_round_trip(run, seq, i, h, o):
    rng = np.random.default_rng(seq % 1000)
    w = WeightUpdate(run=run, seq=seq, sender="learner", version=seq, w_ih=rng.random((i, h), np.float32),
                     theta=rng.random(h, np.float32), w_ho=rng.random((h, o), np.float32))
    same(w, decode(w.to_wire()))
    p = Prediction(run=run, seq=seq, sample_ids=np.arange(i, dtype=np.int64), labels=np.zeros(i, np.int64),
                   predicted=np.ones(i, np.int64), counts=np.ones((i, 10), np.int32))
    same(p, decode(p.to_wire()))


@given(runs, seqs, st.dictionaries(st.text(max_size=5), st.floats(allow_nan=False), max_size=5))
@settings(max_examples=30, deadline=None)
def test_metrics_control_heartbeat_round_trip(run, seq, values):
    for m in (Metrics(run=run, seq=seq, values=values),
              Control(run=run, seq=seq, command="train", args={"epochs": 2}),
              Heartbeat(run=run, seq=seq, node="network.1", time=1.5, status={"queue": 3})):
        same(m, decode(m.to_wire()))


def good():
    return SpikeBatch.from_raster(np.eye(4, dtype=bool)[None], run="r", seq=1, population="input",
                                  dt=0.5, sample_ids=[0]).to_wire()


def header(frames):
    return msgpack.unpackb(frames[0])


def with_header(frames, **changes):
    h = header(frames)
    h.update(changes)
    return [msgpack.packb(h)] + frames[1:]


@pytest.mark.parametrize("frames, reason", [
    ([], "empty"),
    ([b"\xc1garbage"], "bad-header"),
    ([msgpack.packb([1, 2])], "bad-header"),
    (with_header(good(), v=SCHEMA_VERSION + 1), "wrong-version"),
    (with_header(good(), kind="pickle"), "unknown-kind"),
    (with_header(good(), seq=-1), "bad-header"),
    (with_header(good(), seq=True), "bad-header"),
    (good()[:-1], "bad-arrays"),  # a frame missing
    (good()[:-1] + [good()[-1][:-1]], "bad-arrays"),  # truncated buffer
    (with_header(good(), body={"n_neurons": "4"}), "bad-field"),
    (with_header(good(), body={"evil": 1}), "bad-field"),
])
def test_malformed_messages_are_rejected_with_a_reason(frames, reason):
    with pytest.raises(MessageError) as e:
        decode(frames)
    assert e.value.reason == reason


def test_events_out_of_range_and_bad_offsets():
    f = good()
    h = header(f)
    h["body"]["n_neurons"] = 2  # events at neurons 2, 3 fall outside
    with pytest.raises(MessageError, match="out-of-range"):
        decode([msgpack.packb(h)] + f[1:])
    bad_offsets = np.array([0, 3], np.int64).tobytes()  # 4 events, offsets say 3
    with pytest.raises(MessageError, match="bad-offsets"):
        decode(f[:3] + [bad_offsets] + f[4:])


def test_object_dtype_and_oversized_messages_are_rejected():
    f = good()
    h = header(f)
    h["arrays"][3][1] = "object"
    with pytest.raises(MessageError, match="bad-arrays"):
        decode([msgpack.packb(h)] + f[1:])
    with pytest.raises(MessageError, match="too-large"):
        decode(f + [b"\0" * (MAX_MESSAGE_BYTES + 1)])


def test_wrong_weight_shapes_and_nan():
    w = WeightUpdate(run="r", seq=0, w_ih=np.zeros((3, 4), np.float32), theta=np.zeros(5, np.float32),
                     w_ho=np.zeros((4, 2), np.float32))
    with pytest.raises(MessageError, match="bad-shape"):
        decode(w.to_wire())
    w = WeightUpdate(run="r", seq=0, w_ih=np.full((3, 4), np.nan, np.float32), theta=np.zeros(4, np.float32),
                     w_ho=np.zeros((4, 2), np.float32))
    with pytest.raises(MessageError, match="bad-value"):
        decode(w.to_wire())


@given(st.lists(st.binary(max_size=64), min_size=1, max_size=4))
@settings(max_examples=200, deadline=None)
def test_random_bytes_never_crash_the_decoder(frames):
    try:
        decode(frames)
    except MessageError:
        pass
