"""The viewer's one subscriber: live from a real PUB socket, and replaying a recorded run."""

import time

import numpy as np
import pytest
import zmq

from nodes.recorder.core import RunWriter, open_store_for_writing
from pipeline.base.messages import Metrics, RunInfo, WeightUpdate
from store.runs import StoreError
from tests.viewer.test_state import RUN, present
from viewer.feed import Feed


def wait_for(cond, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Collect:
    """A stand-in for LiveState.apply that keeps the messages (to build a recorded run)."""

    def __init__(self):
        self.msgs = []

    def apply(self, msg, now=None):
        self.msgs.append(msg)


def recorded_run(path, samples=8):
    c = Collect()
    c.apply(RunInfo(run=RUN, seq=1, sender="controller", event="start", kind="train", mode="lockstep",
                    config={"network": {"t_present": 20.0}}))
    rng = np.random.default_rng(0)
    for version, seq_w in ((0, 1),):
        c.apply(WeightUpdate(run=RUN, seq=seq_w, sender="learner.1", version=version, samples_seen=version,
                             w_ih=rng.random((64, 16), dtype=np.float32), theta=np.zeros(16, np.float32),
                             w_ho=rng.random((16, 10), dtype=np.float32)))
    seq = 1
    for sid in range(samples):
        seq = present(c, seq, sid, sid % 10, sid % 10)
        if sid == samples // 2:
            c.apply(WeightUpdate(run=RUN, seq=2, sender="learner.1", version=sid + 1, samples_seen=sid + 1,
                                 w_ih=rng.random((64, 16), dtype=np.float32), theta=np.zeros(16, np.float32),
                                 w_ho=rng.random((16, 10), dtype=np.float32)))
    c.apply(RunInfo(run=RUN, seq=2, sender="controller", event="end", model="m.npz",
                    summary={"test_accuracy": 0.5}))
    w = RunWriter(open_store_for_writing(str(path)), RUN)
    for i, m in enumerate(c.msgs):
        w.append(m, 1000.0 + 0.01 * i)
    w.flush()
    return c.msgs


@pytest.fixture
def pub():
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    yield sock, f"tcp://127.0.0.1:{port}"
    sock.close(0)
    ctx.term()


def test_live_feed_folds_bus_messages_into_the_state_and_counts_bad_ones(pub):
    sock, endpoint = pub
    feed = Feed(bus=endpoint).live()
    try:
        assert feed.state.status()["phase"] == "waiting" and feed.state.where == endpoint
        seq = 0
        while feed.state.received == 0:  # the slow joiner: publish until the subscription is up
            seq += 1
            sock.send_multipart(Metrics(run=RUN, seq=seq, sender="controller", values={"trained": seq}).to_wire())
            time.sleep(0.05)
        sock.send_multipart([b"not msgpack"])
        sock.send_multipart(Metrics(run=RUN, seq=seq + 3, sender="controller", values={}).to_wire())
        wait_for(lambda: feed.state.bad == 1 and feed.state.dropped == 2, what="bad and dropped counts")
        assert feed.state.run == RUN
    finally:
        feed.close()
    assert feed._thread is None


def test_replay_feed_plays_a_recorded_run_and_seeks_with_the_weights_before(tmp_path):
    msgs = recorded_run(tmp_path / "runs.zarr")
    feed = Feed(store=tmp_path / "runs.zarr")
    assert [r["run"] for r in feed.runs()] == [RUN]
    feed.replay("latest", rate=None)
    try:
        st = feed.state
        wait_for(lambda: st.status()["phase"] == "ended", what="the replay to end")
        assert st.received == len(msgs) and st.samples == 8 and st.dropped == 0
        assert st.status()["source"] == "replay" and st.replay_samples == 8
        assert st.weights.version == 5 and st.status()["test_accuracy"] == 0.5
        feed.pause()
        feed.seek(6)
        assert st.paused and st.status()["phase"] == "paused"
        # the run start and the weights before sample 6 are there before it plays on
        assert st.info["kind"] == "train" and st.weights.version == 5 and st.first_weights.version == 0
        time.sleep(0.3)
        assert st.samples == 6  # paused: nothing more
        feed.resume()
        wait_for(lambda: st.status()["phase"] == "ended", what="the replay to end after the seek")
        assert st.samples == 8 and st.rasters["input"].since(0)["t"].min() >= 6 * 0.020  # samples 6 and 7 (s)
    finally:
        feed.close()


def test_replay_of_a_missing_store_or_run_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no run store"):
        Feed(store=tmp_path / "nothing.zarr").replay("latest")
    recorded_run(tmp_path / "runs.zarr", samples=2)
    with pytest.raises(StoreError, match="no run 'run_x'"):
        Feed(store=tmp_path / "runs.zarr").replay("run_x")
