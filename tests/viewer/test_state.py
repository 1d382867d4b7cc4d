"""The viewer's pure model of the bus: bounded buffers, gap counting, accuracy, frames."""

import numpy as np
import pytest

from pipeline.base.messages import Metrics, Prediction, RunInfo, SpikeBatch, Traces, WeightUpdate
from viewer.state import Cursor, LiveState, Series, histogram, receptive_fields

RUN = "run_test"
T, DT = 40, 0.5


def spikes(seq, pop, n, sid, label=3, run=RUN, sender="network.1", events=5, rng=None):
    rng = rng or np.random.default_rng(seq)
    raster = np.zeros((1, T, n), bool)
    raster[0, rng.integers(0, T, events), rng.integers(0, n, events)] = True
    return SpikeBatch.from_raster(raster, run=run, seq=seq, sender=sender, population=pop, dt=DT,
                                  sample_ids=np.array([sid]), labels=np.array([label]))


def prediction(seq, sid, label, pred, phase="train", sender="network.1"):
    counts = np.zeros((1, 10), np.int32)
    counts[0, pred] = 4
    return Prediction(run=RUN, seq=seq, sender=sender, sample_ids=np.array([sid]), labels=np.array([label]),
                      predicted=np.array([pred]), counts=counts, phase=phase)


def weights(seq, version, w_ih, sender="learner.1"):
    return WeightUpdate(run=RUN, seq=seq, sender=sender, version=version, samples_seen=version,
                        w_ih=w_ih.astype(np.float32), theta=np.zeros(w_ih.shape[1], np.float32),
                        w_ho=np.full((w_ih.shape[1], 10), 0.1, np.float32))


def present(state, seq, sid, label, pred):
    """One training sample as the network publishes it; returns the next seq."""
    for pop, n in (("input", 64), ("hidden", 16), ("output", 10)):
        state.apply(spikes(seq, pop, n, sid, label))
        seq += 1
    state.apply(Traces(run=RUN, seq=seq, sender="network.1", population="hidden", dt=DT,
                       sample_ids=np.array([sid]), neurons=np.array([0, 5], np.int32),
                       values=np.full((1, T, 2), -60.0, np.float32)))
    state.apply(prediction(seq + 1, sid, label, pred))
    return seq + 2


def test_series_keeps_a_bounded_tail_and_hands_out_only_new_rows():
    s = Series(("x",), max_rows=10)
    for k in range(7):
        s.append(x=[3 * k, 3 * k + 1, 3 * k + 2])
    assert len(s) == 10 and s.version == 21
    v = s.version
    assert s.since(v) == {}
    s.append(x=[100])
    assert list(s.since(v)["x"]) == [100]
    assert list(s.since(0)["x"]) == list(range(12, 21)) + [100]  # at most max_rows
    assert list(s.tail(2)["x"]) == [18, 19, 20, 100]
    s.append(x=[])
    assert s.version == v + 1  # an empty append is not a change
    s.append(x=np.arange(25))  # more than it holds: the last max_rows
    assert list(s.since(0)["x"]) == list(range(15, 25)) and list(s.tail(1)["x"]) == list(range(15, 25))


def test_a_sample_builds_up_the_current_digit_rasters_and_accuracy():
    st = LiveState()
    st.apply(RunInfo(run=RUN, seq=1, sender="controller", event="start", kind="train", mode="lockstep",
                     model="", config={"network": {"t_present": T * DT}}))
    seq = present(st, 1, sid=42, label=3, pred=3)
    seq = present(st, seq, sid=43, label=5, pred=1)
    cur = st.current
    assert (cur.index, cur.sample_id, cur.label, cur.predicted) == (2, 43, 5, 1)
    assert set(cur.spikes) == {"input", "hidden", "output"} and "hidden" in cur.traces
    assert cur.image().shape == (8, 8) and cur.image().sum() == len(cur.spikes["input"][0])
    raster = st.rasters["input"].since(0)
    # seconds of the run: sample k starts at k x t_present
    assert raster["t"].min() >= 0 and raster["t"].max() < 2 * T * DT / 1000
    assert np.all(raster["t"][-len(cur.spikes["input"][0]):] >= T * DT / 1000)  # the second sample follows the first
    acc = st.accuracy.since(0)
    assert list(acc["sample"]) == [1, 2] and list(acc["running"]) == [1.0, 0.5]
    status = st.status()
    assert status["phase"] == "training" and status["samples"] == 2 and status["running_accuracy"] == 0.5
    assert st.conf["train"][3, 3] == 1 and st.conf["train"][5, 1] == 1
    assert status["dropped"] == 0 and status["received"] == 11


def test_gaps_in_a_senders_sequence_count_as_dropped_and_a_restart_does_not():
    st = LiveState()
    st.apply(Metrics(run=RUN, seq=1, sender="controller", values={"trained": 1.0}))
    st.apply(Metrics(run=RUN, seq=5, sender="controller", values={"trained": 2.0}))  # 2, 3, 4 missed
    st.apply(spikes(10, "input", 64, 1))  # another sender: its first message is no gap
    st.apply(spikes(12, "input", 64, 2))  # 11 missed
    st.apply(Metrics(run=RUN, seq=1, sender="controller", values={"trained": 3.0}))  # a new pipeline
    assert st.dropped == 4
    assert list(st.metrics.since(0)["trained"]) == [1.0, 2.0, 3.0]


def test_a_new_run_starts_afresh_but_keeps_the_health_counters():
    st = LiveState()
    present(st, 1, 7, 2, 2)
    gen = st.generation
    st.apply(spikes(20, "input", 64, 8, run="run_other"))
    assert st.generation == gen + 1 and st.run == "run_other" and st.samples == 1
    assert st.conf["train"].sum() == 0 and st.received == 6


def test_weights_give_receptive_fields_histograms_and_the_change_since_the_start():
    st = LiveState()
    w0 = np.zeros((64, 9))
    st.apply(weights(1, 0, w0))
    w1 = w0.copy()
    w1[:, 4] = 0.5
    st.apply(weights(2, 100, w1))
    view = st.weights_view()
    assert view["version"] == 100 and view["fields"].shape == (3 * 9 - 1, 3 * 9 - 1)
    assert np.nanmax(view["fields"]) == 0.5 and np.isnan(view["fields"][8, 0])  # separator line
    ch = st.weight_change.since(0)
    assert list(ch["samples_seen"]) == [0, 100] and ch["dw_ih"][1] == pytest.approx(0.5 / 9)
    assert view["hist_dw"]["top"].sum() == 64 * 9


def test_receptive_fields_put_each_neuron_in_its_own_tile():
    w = np.arange(64 * 3, dtype=float).reshape(64, 3)
    img = receptive_fields(w, cols=2)
    assert img.shape == (17, 17)
    assert np.array_equal(img[:8, :8], w[:, 0].reshape(8, 8))
    assert np.array_equal(img[:8, 9:], w[:, 1].reshape(8, 8))
    assert np.array_equal(img[9:, :8], w[:, 2].reshape(8, 8))
    assert np.all(np.isnan(img[9:, 9:]))
    assert histogram(np.array([1.0, 1.0]))["top"].sum() == 2


def test_frames_hand_each_session_only_what_changed_and_reset_on_a_new_run():
    st = LiveState()
    a, b = Cursor(), Cursor()
    seq = present(st, 1, 1, 4, 4)
    fa = st.frame(a)
    assert fa.reset and fa.sample.sample_id == 1 and len(fa.rasters["input"]["t"]) > 0
    assert fa.confusion["phase"] == "train" and fa.weights is None
    again = st.frame(a)
    assert not again.reset and again.series == {} and again.sample is None and again.confusion is None
    assert again.rasters is None
    seq = present(st, seq, 2, 4, 0)
    st.apply(Metrics(run=RUN, seq=1, sender="controller", values={"trained": 2.0}))
    light = st.frame(a, heavy=False)  # a light frame: the metrics only, the rest later
    assert light.sample is None and light.rasters is None and list(light.series) == ["metrics"]
    assert light.confusion is None and light.weights is None  # redrawn only on full frames
    fa, fb = st.frame(a), st.frame(b)
    assert fa.sample.sample_id == 2 and "metrics" not in fa.series and fa.rasters["input"]["t"].min() < T * DT / 1000
    assert list(fa.series["accuracy"]["sample"]) == [2]  # a: only the new row
    assert list(fb.series["accuracy"]["sample"]) == [1, 2]  # b joined late: all retained rows
    st.apply(prediction(100, 9, 7, 7, phase="test"))
    fa = st.frame(a)
    assert fa.confusion["phase"] == "test" and fa.status["phase"] == "evaluating"
    st.apply(spikes(200, "input", 64, 3, run="run_next"))
    assert st.frame(a).reset


def test_phase_waiting_silent_ended_and_replay_paused():
    st = LiveState(where="tcp://127.0.0.1:1")
    assert st.status()["phase"] == "waiting" and st.status()["where"] == "tcp://127.0.0.1:1"
    st.apply(Metrics(run=RUN, seq=1, sender="controller", values={}), now=100.0)
    assert st.phase(now=101.0) == "training" and st.phase(now=200.0) == "silent"
    st.apply(RunInfo(run=RUN, seq=2, sender="controller", event="end", model="m.npz",
                     summary={"test_accuracy": 0.8}), now=201.0)
    s = st.status(now=300.0)
    assert s["phase"] == "ended" and s["model_out"] == "m.npz" and s["test_accuracy"] == 0.8
    st.switch("replay", "runs.zarr")
    assert st.status()["phase"] == "waiting" and st.received == 0
    st.apply(Metrics(run=RUN, seq=1, sender="controller", values={}))
    st.paused = True
    assert st.phase() == "paused"


def test_memory_stays_bounded_over_many_samples():
    st = LiveState(history=50)
    seq = 1
    for sid in range(200):
        seq = present(st, seq, sid, sid % 10, (sid * 7) % 10)
    assert len(st.accuracy) == 50 and len(st.activity["hidden"]) == 50
    window = st.frame(Cursor()).rasters["input"]["t"]  # the last 5 samples, whole
    assert window.min() >= 195 * T * DT / 1000 and window.max() < 200 * T * DT / 1000
    assert st.samples == 200 and st.conf["train"].sum() == 200


def test_a_resumed_run_is_the_same_run_and_says_from_where():
    st = LiveState()
    seq = present(st, 1, 1, 2, 2)
    gen = st.generation
    st.apply(RunInfo(run=RUN + ".1", seq=50, sender="controller", event="resume",
                     summary={"from_sample": 100, "incarnation": 1, "reason": "network.1 lost"}))
    st.apply(spikes(seq, "input", 64, 2, run=RUN + ".1"))
    s = st.status()
    assert st.generation == gen and s["run"] == RUN and s["phase"] == "training" and st.samples == 2
    assert s["resumed"]["from_sample"] == 100


def test_the_last_traced_sample_stays_when_later_samples_come_without_traces():
    st = LiveState()
    seq = present(st, 1, 1, 4, 4)  # with traces
    for pop, n in (("input", 64), ("hidden", 16)):  # sample 2: no traces
        st.apply(spikes(seq, pop, n, 2))
        seq += 1
    f = st.frame(Cursor())
    assert f.sample.sample_id == 2 and not f.sample.traces
    assert f.traced.sample_id == 1 and "hidden" in f.traced.traces and "hidden" in f.traced.spikes


def test_more_browsers_redraw_less_often():
    from viewer.app import HEAVY_S, heavy_period

    assert heavy_period(0) == heavy_period(1) == HEAVY_S
    assert heavy_period(4) > heavy_period(2) >= HEAVY_S


def replayed(msg):
    from dataclasses import replace as copy
    return copy(msg, replay=True)


def test_a_replay_on_the_live_bus_is_shown_apart_and_the_live_run_comes_back():
    st = LiveState(source="live", where="tcp://bus")
    st.apply(RunInfo(run=RUN, seq=0, sender="controller", event="start", kind="train", mode="lockstep",
                     model="", config={"network": {"t_present": T * DT, "n_hidden": 16}}))
    seq = 1
    for sid in range(3):
        seq = present(st, seq, sid, sid, sid)
    st.apply(RunInfo(run=RUN, seq=1, sender="controller", event="end", summary={"test_accuracy": 0.9}))
    cur = Cursor()
    st.frame(cur)
    assert st.status()["phase"] == "ended" and st.samples == 3 and not st.status()["replayed"]
    # `byob replay latest`: the same run, its recorded messages flagged replay
    st.apply(replayed(RunInfo(run=RUN, seq=0, sender="controller", event="start", kind="train",
                              mode="lockstep", model="", config={"network": {"t_present": T * DT}})))
    f = st.frame(cur)
    assert f.reset and f.status["replayed"] and f.status["samples"] == 0 and f.status["phase"] == "training"
    assert st.summary is None and st.conf["train"].sum() == 0  # a fresh display, not appended to the live one
    rseq = 1
    for pop, n in (("input", 64), ("hidden", 16), ("output", 10)):
        st.apply(replayed(spikes(rseq, pop, n, 0)))
        rseq += 1
    assert st.samples == 1 and st.dropped == 0  # the recorded seqs are counted apart from the live ones
    # a live metrics message meanwhile goes into the live display set aside
    st.apply(Metrics(run=RUN, seq=2, sender="controller", values={"trained": 3.0}))
    assert st.samples == 1 and st.replayed and len(st.metrics) == 0
    st.apply(replayed(RunInfo(run=RUN, seq=1, sender="controller", event="end", summary={})))
    f = st.frame(cur)
    assert f.reset and not f.status["replayed"] and f.status["samples"] == 3 and f.status["phase"] == "ended"
    assert f.status["test_accuracy"] == 0.9 and len(st.metrics) == 1  # the live run as it was, and went on
    # a replay again, cut short by a live job's start: the new live run, fresh
    st.apply(replayed(spikes(1, "input", 64, 0)))
    assert st.replayed and st.samples == 1
    st.apply(RunInfo(run="run_next", seq=3, sender="controller", event="start", kind="train",
                     mode="lockstep", model="", config={}))
    assert not st.replayed and st.run == "run_next" and st.samples == 0 and st.summary is None


def test_the_rasters_size_follows_the_runs_config_before_any_spike():
    st = LiveState()
    assert st.status()["sizes"] == {}
    st.apply(RunInfo(run=RUN, seq=0, sender="controller", event="start", kind="train", mode="lockstep", model="",
                     config={"network": {"n_input": 64, "n_hidden": 200, "n_output": 10, "on_off": True}}))
    assert st.status()["sizes"] == {"input": 128, "hidden": 200, "output": 10}


def test_the_validators_accuracy_is_a_series_of_its_own_and_in_the_header():
    from viewer.app import header_html

    st = LiveState()
    st.apply(RunInfo(run=RUN, seq=0, sender="controller", event="start", kind="train", mode="lockstep", model="",
                     config={}))
    st.apply(Metrics(run=RUN, seq=1, sender="controller", values={"trained": 100.0, "samples_per_second": 50.0}))
    st.apply(Metrics(run=RUN, seq=2, sender="controller", values={
        "validation_accuracy": 0.91, "validation_samples_seen": 100.0, "validation_digits": 200.0,
        "validation_held_out": 1.0}))
    assert len(st.metrics) == 1  # the health series has no row of NaNs for it
    f = st.frame(Cursor())
    assert list(f.series["validation"]["accuracy"]) == [0.91] and list(f.series["validation"]["sample"]) == [100.0]
    st.apply(prediction(3, 1, 2, 2))
    head = header_html(st.status())
    assert 'data-validation="0.9100"' in head and "validation accuracy <b>91.0%</b>" in head
    assert "200 training-part digits, held out of training" in head
