"""The recorder core against a real zarr store on disk: what goes in comes back out."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from nodes.recorder.core import RecordError, RunWriter, open_store_for_writing
from pipeline.base.messages import Metrics, Prediction, RunInfo, SpikeBatch, Traces, WeightUpdate
from store.runs import StoreError, list_runs, open_run


def stream(run: str = "run_a", n: int = 6, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    msgs: list = [RunInfo(run=run, seq=1, sender="controller", event="start", time=1000.0,
                          job={"epochs": 1}, config={"network": {"n_hidden": 5}})]
    seq = {"network.1": 0, "learner.1": 0, "controller": 1}

    def nxt(s: str) -> int:
        seq[s] += 1
        return seq[s]

    msgs.append(WeightUpdate(run=run, seq=nxt("learner.1"), sender="learner.1", version=0,
                             w_ih=rng.random((8, 5), dtype=np.float32), theta=np.zeros(5, np.float32),
                             w_ho=rng.random((5, 3), dtype=np.float32)))
    for i in range(n):
        for pop, width in (("input", 8), ("hidden", 5), ("output", 3)):
            raster = rng.random((1, 20, width)) < 0.2
            msgs.append(SpikeBatch.from_raster(raster, run=run, seq=nxt("network.1"), sender="network.1",
                                               population=pop, dt=0.5, sample_ids=[i * 3], labels=[i % 3],
                                               epoch=0, attempt=i % 2, weight_version=i))
        msgs.append(Traces(run=run, seq=nxt("network.1"), sender="network.1", population="hidden", dt=0.5,
                           sample_ids=np.array([i * 3]), neurons=np.arange(2, dtype=np.int32),
                           values=rng.standard_normal((1, 20, 2)).astype(np.float32)))
        msgs.append(Prediction(run=run, seq=nxt("network.1"), sender="network.1", sample_ids=np.array([i * 3]),
                               labels=np.array([i % 3]), predicted=np.array([1]),
                               counts=np.array([[0, 2, 1]], np.int32), weight_version=i, phase="train"))
        msgs.append(Metrics(run=run, seq=nxt("controller"), sender="controller",
                            values={"trained": float(i + 1), "running_accuracy": 0.5}))
    ids = np.arange(4)
    msgs.append(SpikeBatch.from_raster(rng.random((4, 20, 8)) < 0.1, run=run, seq=nxt("network.1"),
                                       sender="network.1", population="input", dt=0.5, sample_ids=ids,
                                       labels=ids % 3, epoch=7))
    msgs.append(Prediction(run=run, seq=nxt("network.1"), sender="network.1", sample_ids=ids, labels=ids % 3,
                           predicted=ids % 3, counts=np.ones((4, 3), np.int32), phase="test"))
    msgs.append(RunInfo(run=run, seq=nxt("controller"), sender="controller", event="end", time=1010.0,
                        model="m.npz", summary={"ok": True, "test_accuracy": 1.0}))
    return msgs


def record(path, msgs, flush_every: int = 5) -> RunWriter:
    root = open_store_for_writing(str(path))
    w = RunWriter(root, msgs[0].run)
    for i, m in enumerate(msgs):
        w.append(m, 1000.0 + i)
        if i % flush_every == 0:
            w.flush()
    w.flush()
    return w


def test_recorded_run_reads_back_every_message_in_order(tmp_path):
    msgs = stream()
    record(tmp_path / "s.zarr", msgs)
    back = [m for _, m in open_run(tmp_path / "s.zarr", "run_a").messages()]
    assert [m.digest() for m in back] == [m.digest() for m in msgs]
    assert all(m.replay for _, m in open_run(tmp_path / "s.zarr").messages(replay=True))


def test_arrays_views_and_catalog(tmp_path):
    msgs = stream(n=4)
    record(tmp_path / "s.zarr", msgs)
    r = open_run(tmp_path / "s.zarr")
    first = next(m for m in msgs if isinstance(m, SpikeBatch) and m.population == "hidden")
    ras = r.raster("hidden", 0)
    assert np.array_equal(ras.dense(), first.to_raster()[0]) and ras.sample_id == 0
    assert r.weights()["w_ih"].shape == (1, 8, 5)
    assert r.traces("hidden")["values"].shape == (4, 20, 2)
    assert list(r.metrics()["trained"]) == [1.0, 2.0, 3.0, 4.0]
    [row] = list_runs(tmp_path / "s.zarr")
    assert row["status"] == "done" and row["samples"] == 4 + 4 and row["test_accuracy"] == 1.0
    assert row["model_out"] == "m.npz" and row["bytes"] > 0


def test_duplicates_are_recorded_once(tmp_path):
    msgs = stream(n=2)
    w = record(tmp_path / "s.zarr", msgs)
    assert not w.append(msgs[3], 0.0)  # the same sender and sequence number again
    w.flush()
    assert len(list(open_run(tmp_path / "s.zarr").messages())) == len(msgs)


def test_uncommitted_rows_are_invisible_and_trimmed_on_resume(tmp_path):
    msgs = stream(n=3)
    w = record(tmp_path / "s.zarr", msgs[:10])
    for i, m in enumerate(msgs[10:]):  # written but never committed: a recorder killed here
        w.append(m, 0.0)
    for t in w.tables.values():
        t.flush()
    r = open_run(tmp_path / "s.zarr")
    assert [m.digest() for _, m in r.messages()] == [m.digest() for m in msgs[:10]]
    assert r.attrs["status"] == "recording"
    w2 = RunWriter(zarr.open_group(str(tmp_path / "s.zarr"), mode="a"), "run_a")  # a restarted recorder
    assert w2.log.rows == 10  # the uncommitted rows are overwritten
    for m in msgs[10:]:
        assert w2.append(m, 0.0)
    w2.flush()
    assert [m.digest() for _, m in open_run(tmp_path / "s.zarr").messages()] == [m.digest() for m in msgs]


def test_inconsistent_population_shape_is_refused(tmp_path):
    msgs = stream(n=1)
    w = record(tmp_path / "s.zarr", msgs)
    bad = SpikeBatch.from_raster(np.zeros((1, 20, 9), bool), run="run_a", seq=99, sender="network.1",
                                 population="input", dt=0.5, sample_ids=[0])
    with pytest.raises(RecordError, match="n_neurons"):
        w.append(bad, 0.0)


def test_foreign_and_missing_stores_give_clear_errors(tmp_path):
    with pytest.raises(StoreError, match="no run store"):
        open_run(tmp_path / "nothing.zarr")
    foreign = zarr.open_group(str(tmp_path / "f.zarr"), mode="w")
    foreign.create_array("x", shape=(3,), dtype="int8")
    with pytest.raises(StoreError, match="not a byob run store"):
        open_run(tmp_path / "f.zarr")
    with pytest.raises(RecordError, match="not a byob run store"):
        open_store_for_writing(str(tmp_path / "f.zarr"))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "zarr.json").write_text("{not json")
    with pytest.raises(StoreError):
        open_run(tmp_path / "junk")
    record(tmp_path / "s.zarr", stream(n=1))
    with pytest.raises(StoreError, match="no run 'nope'"):
        open_run(tmp_path / "s.zarr", "nope")


@pytest.mark.parametrize("run", ["", "..", "../elsewhere", "a/b", "x" * 200, "run.2"])
def test_run_ids_that_are_not_plain_names_are_refused(tmp_path, run):
    from nodes.recorder.core import RecordError, RunWriter, open_store_for_writing

    with pytest.raises(RecordError, match="not a plain name"):
        RunWriter(open_store_for_writing(tmp_path / "runs.zarr"), run)


def test_a_forged_sequence_number_does_not_mute_its_sender(tmp_path):
    """One message with a huge sequence number is refused; the sender's next real message
    is still recorded (it is not taken for a duplicate)."""
    from nodes.recorder.core import RecordError, RunWriter, open_store_for_writing
    from pipeline.base.messages import Metrics

    w = RunWriter(open_store_for_writing(tmp_path / "runs.zarr"), "run_x")
    m = lambda seq: Metrics(run="run_x", seq=seq, sender="network.1", values={"a": 1.0})  # noqa: E731
    assert w.append(m(1), 0.0)
    with pytest.raises(RecordError, match="jumps"):
        w.append(m(2**62), 0.0)
    assert w.append(m(2), 0.0)
