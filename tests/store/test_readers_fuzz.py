"""Fuzzing the model and run-store readers: a damaged or forged file gives ``ModelFileError``
or ``StoreError`` (or reads fine when the damage was harmless), never another exception,
and nothing is allocated for what a file merely claims to hold.
"""

from __future__ import annotations

import io
import json
import shutil
import tracemalloc
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nodes.network.params import NetParams, init_params
from store.models import Model, ModelFileError, list_models, load_model, save_model
from store.runs import StoreError, list_runs, open_run
from tests.nodes.test_recorder import record, stream

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                      HealthCheck.data_too_large])
json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=6),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                           max_leaves=6)


# -- model files ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_file(tmp_path_factory, small_cfg) -> Path:
    model = Model(params=init_params(small_cfg.network, 1), config=small_cfg, seed=1, epochs_done=2,
                  history=[{"epochs": 2, "test_accuracy": 0.5}])
    return save_model(model, tmp_path_factory.mktemp("model"), now=datetime(2024, 1, 18, 14, 30, 22))


def load_or_refuse(path: Path) -> Model | None:
    try:
        model = load_model(path)
    except ModelFileError as e:
        assert path.name in str(e)
        event("refused")
        return None
    event("loaded")
    expected = NetParams.expected_shapes(model.config.network)
    for k, a in model.params.arrays().items():
        assert np.asarray(a).shape == expected[k][0], k
    return model


@st.composite
def byte_damage(draw, data: bytes) -> bytes:
    """A few flips, truncations, insertions or overwrites at random offsets."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(out)))
        op = draw(st.sampled_from(["flip", "truncate", "insert", "overwrite"]))
        if op == "flip" and at < len(out):
            out[at] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del out[at:]
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            chunk = draw(st.binary(min_size=1, max_size=32))
            out[at:at + len(chunk)] = chunk
    return bytes(out)


@given(data=st.data())
@settings(FUZZ, max_examples=120)
def test_damaged_model_files_are_refused_with_model_file_error(model_file, tmp_path, data):
    path = tmp_path / model_file.name
    path.write_bytes(data.draw(byte_damage(model_file.read_bytes())))
    load_or_refuse(path)


def _rezip(src: Path, dst: Path, change: dict[str, bytes | None]) -> None:
    """``src`` with some members replaced (None: removed), written with valid CRCs, so the damage
    reaches numpy's and byob's own checks instead of stopping at zipfile's."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        names = zin.namelist()
        for name in names:
            raw = change.get(name, zin.read(name))
            if raw is not None:
                zout.writestr(name, raw)
        for name, raw in change.items():
            if name not in names and raw is not None:
                zout.writestr(name, raw)


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=False)
    return buf.getvalue()


def _npy_header(shape: tuple, descr: str, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


@given(data=st.data())
@settings(FUZZ, max_examples=100)
def test_damaged_members_of_a_valid_archive_are_refused(model_file, tmp_path, data):
    with zipfile.ZipFile(model_file) as z:
        members = sorted(z.namelist())
        meta = json.loads(np.load(io.BytesIO(z.read("__meta__.npy"))).tobytes())
    name = data.draw(st.sampled_from(members + ["extra.npy"]))
    how = data.draw(st.sampled_from(["bytes", "header", "meta", "remove"]))
    if how == "bytes":  # the member's .npy bytes damaged, the zip around them intact
        with zipfile.ZipFile(model_file) as z:
            raw = z.read(name) if name in members else b""
        new: bytes | None = data.draw(byte_damage(raw)) if raw else data.draw(st.binary(max_size=64))
    elif how == "header":  # a well-formed .npy header claiming any shape and dtype
        shape = tuple(data.draw(st.lists(st.integers(0, 2**40) | st.sampled_from([0, 1, 3, 100, 2**31, 2**62]),
                                         max_size=3)))
        descr = data.draw(st.sampled_from(["<f4", "<f8", "|u1", "|b1", "<i4", ">f4", "|O", "<U4", "|V8"]))
        new = _npy_header(shape, descr, data.draw(st.binary(max_size=64)))
    elif how == "meta":  # valid JSON, any field of the metadata changed
        key = data.draw(st.sampled_from(sorted(meta) + ["bogus"]))
        if key == "config" and data.draw(st.booleans()):
            part = data.draw(st.sampled_from(["network", "learning"]))
            field = data.draw(st.sampled_from(sorted(meta["config"][part]) + ["bogus"]))
            meta["config"][part][field] = data.draw(json_values)
        else:
            meta[key] = data.draw(json_values)
        name, new = "__meta__.npy", _npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))
    else:
        new = None
    path = tmp_path / model_file.name
    _rezip(model_file, path, {name: new})
    tracemalloc.start()
    try:
        load_or_refuse(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, peak  # the model itself is ~100 KB: nothing claimed is allocated


@pytest.mark.parametrize("member, shape, descr", [
    ("__meta__.npy", (2**33,), "|u1"),  # 8 GiB of metadata
    ("__meta__.npy", (2**20 + 1,), "|u1"),  # just over the metadata limit
    ("w_ih.npy", (2**31, 4), "<f4"),  # 32 GiB of weights
    ("theta.npy", (2**40,), "<f8"),
    ("theta.npy", (100,), "|O"),  # object arrays: a pickle
])
def test_a_member_claiming_a_huge_array_is_refused_unallocated(model_file, tmp_path, member, shape, descr):
    path = tmp_path / model_file.name
    _rezip(model_file, path, {member: _npy_header(shape, descr, b"\0" * 64)})
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=path.name):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak


def test_a_zip_bomb_member_is_refused_unread(model_file, tmp_path):
    path = tmp_path / model_file.name
    _rezip(model_file, path, {"theta.npy": b"\0" * (64 << 20)})  # ~64 KB on disk, 64 MiB inflated
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="theta"):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak


def test_list_models_survives_a_directory_of_damaged_files(model_file, tmp_path):
    data = model_file.read_bytes()
    for i, cut in enumerate([0, 4, 30, len(data) // 2, len(data) - 22, len(data) - 1]):
        (tmp_path / f"stdp_model_20240101_00000{i}.npz").write_bytes(data[:cut])
    shutil.copy(model_file, tmp_path / model_file.name)
    infos = list_models(tmp_path)
    assert [i.error is None for i in infos] == [False] * 6 + [True]


# -- run stores ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pristine_store(tmp_path_factory) -> Path:
    """Two recorded runs; damage to one must leave the catalog and the other readable."""
    path = tmp_path_factory.mktemp("store") / "runs.zarr"
    record(path, stream("run_a", n=2))
    record(path, stream("run_b", n=1, seed=1))
    return path


def read_everything(path: Path, runs: tuple = (None, "run_a")) -> list[str]:
    """Every reader entry point; only StoreError may come out. Returns what failed."""
    failed = []
    try:
        rows = list_runs(path)
        assert {r["run"] for r in rows} <= {"run_a", "run_b"}
    except StoreError:
        failed.append("catalog")
    for run in runs:
        try:
            r = open_run(path, run)
            for t, msg in r.messages():
                assert isinstance(t, float) and msg.run == r.run
            r.predictions(), r.weights(), r.metrics(), r.traces("hidden"), r.summary()
        except StoreError as e:
            assert str(e)
            failed.append(str(run))
    return failed


def _files(store: Path, pattern: str) -> list[str]:
    return sorted(str(p.relative_to(store)) for p in store.rglob(pattern) if p.is_file())


@st.composite
def store_damage(draw, store: Path):
    """A list of (operation, file, argument) to apply to a copy of ``store``."""
    chunks = _files(store, "c/*") + _files(store, "c/*/*/*")
    metas = _files(store, "zarr.json")
    out = []
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["chunk-bytes", "chunk-truncate", "chunk-delete", "json-bytes", "json-field",
                                   "attr", "committed", "cell"]))
        if op.startswith("chunk"):
            f = draw(st.sampled_from(chunks))
            out.append((op, f, (draw(st.integers(0, 400)), draw(st.binary(min_size=1, max_size=32)))))
        elif op.startswith("json"):
            f = draw(st.sampled_from(metas))
            key = draw(st.sampled_from(["shape", "data_type", "chunk_grid", "codecs", "fill_value", "attributes",
                                        "node_type", "zarr_format", "chunk_key_encoding", "dimension_names"]))
            out.append((op, f, (draw(st.integers(0, 400)), draw(st.binary(min_size=1, max_size=16)), key,
                                draw(json_values))))
        elif op == "attr":
            key = draw(st.sampled_from(["committed", "tables", "senders", "start", "end", "started", "schema_version",
                                        "status", "kind"]))
            out.append((op, "run_a/zarr.json", (key, draw(json_values))))
        elif op == "committed":
            table = draw(st.sampled_from(["log", "spikes/input", "spikes/input/events", "predictions", "weights",
                                          "traces/hidden", "metrics", "spikes/hidden"]))
            out.append((op, "run_a/zarr.json", (table, draw(st.integers(1, 5) | st.sampled_from([10**6, 2**40])))))
        else:
            col = draw(st.sampled_from(["log/kind", "log/sender", "log/table", "log/start", "log/stop", "log/seq",
                                        "spikes/input/start", "spikes/input/stop", "predictions/phase",
                                        "spikes/hidden/events/step"]))
            out.append((op, f"run_a/{col}", (draw(st.integers(0, 3)), draw(st.integers(-2**31, 2**31)))))
    return out


def damage(store: Path, ops: list) -> None:
    for op, f, arg in ops:
        p = store / f
        if op == "cell":
            try:
                a = zarr.open_array(str(p), mode="r+")
                row = min(arg[0], a.shape[0] - 1)
                if row >= 0:
                    info = np.iinfo(a.dtype) if a.dtype.kind in "iu" else None
                    a[row] = arg[1] if info is None else int(np.clip(arg[1], info.min, info.max))
            except Exception:  # an earlier operation damaged it beyond writing: the damage stands
                pass
            continue
        if not p.exists():  # an earlier operation removed it
            continue
        raw = bytearray(p.read_bytes())
        if op == "chunk-bytes" or op == "json-bytes":
            at = min(arg[0], len(raw))
            raw[at:at + len(arg[1])] = arg[1]
        elif op == "chunk-truncate":
            del raw[min(arg[0], len(raw) - 1):]
        elif op == "chunk-delete":
            p.unlink()
            continue
        else:
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            attrs = doc.get("attributes") if isinstance(doc, dict) else None
            if op == "json-field" and isinstance(doc, dict):
                doc[arg[2]] = arg[3]
            elif op == "attr" and isinstance(attrs, dict):
                attrs[arg[0]] = arg[1]
            elif op == "committed" and isinstance(attrs, dict):
                committed = attrs.get("committed")
                if isinstance(committed, dict) and isinstance(committed.get(arg[0], 0), int):
                    committed[arg[0]] = committed.get(arg[0], 0) + arg[1]  # more rows than were committed
            raw = bytearray(json.dumps(doc).encode())
        p.write_bytes(bytes(raw))


@given(data=st.data())
@settings(FUZZ, max_examples=30)
def test_damaged_run_stores_raise_only_store_error(pristine_store, tmp_path, data):
    store = tmp_path / "runs.zarr"
    shutil.rmtree(store, ignore_errors=True)
    shutil.copytree(pristine_store, store)
    damage(store, data.draw(store_damage(pristine_store)))
    failed = read_everything(store, ("run_a",))  # (reading is ~0.5 s of zarr: the damaged run only)
    event(f"refused: {', '.join(failed)}" if failed else "read fine")


def test_the_pristine_store_reads_back(pristine_store):
    assert read_everything(pristine_store, (None, "run_a", "run_b")) == []
    assert len(list(open_run(pristine_store, "run_a").messages())) == len(stream("run_a", n=2))


@pytest.fixture
def store(pristine_store, tmp_path) -> Path:
    shutil.copytree(pristine_store, tmp_path / "runs.zarr")
    return tmp_path / "runs.zarr"


def test_a_damaged_root_is_a_store_error(store):
    (store / "zarr.json").write_text("{not json")
    with pytest.raises(StoreError, match="not a zarr store"):
        list_runs(store)
    with pytest.raises(StoreError):
        open_run(store)


def test_one_damaged_run_leaves_the_catalog_and_the_others(store):
    (store / "run_a" / "zarr.json").write_text("{not json")
    rows = {r["run"]: r for r in list_runs(store)}
    assert rows["run_a"]["status"] == "damaged" and rows["run_b"]["status"] == "done"
    assert open_run(store).run == "run_b"  # latest of what can be read
    assert len(list(open_run(store, "run_b").messages())) == len(stream("run_b", n=1, seed=1))
    with pytest.raises(StoreError, match="run_a"):
        open_run(store, "run_a")


@pytest.mark.parametrize("table", ["log", "spikes/input", "spikes/input/events", "predictions", "weights",
                                   "traces/hidden", "metrics"])
def test_committed_counts_beyond_the_arrays_are_a_store_error(store, table):
    # (the recorder grows arrays in whole chunks: a count within that capacity reads the
    # fill value, zeros, so only counts beyond the arrays' length can be told)
    damage(store, [("committed", "run_a/zarr.json", (table, 10**6))])
    assert read_everything(store, ("run_a",)) == ["run_a"]
    assert read_everything(store, ("run_b",)) == []


@pytest.mark.parametrize("value", [[], "x", {"log": -1}, {"log": "3"}, {"log": True}])
def test_committed_of_the_wrong_type_is_a_store_error(store, value):
    damage(store, [("attr", "run_a/zarr.json", ("committed", value))])
    with pytest.raises(StoreError, match="damaged attributes"):
        open_run(store, "run_a")


@pytest.mark.parametrize("col, value", [("log/sender", 999), ("log/table", 999), ("log/start", 10**6),
                                        ("log/stop", 10**6), ("log/start", -5), ("spikes/input/start", 10**9),
                                        ("predictions/phase", 9)])
def test_log_rows_pointing_nowhere_are_a_store_error(store, col, value):
    row = {"predictions/phase": 0, "spikes/input/start": 0}.get(col, 3)
    damage(store, [("cell", f"run_a/{col}", (row, value))])
    with pytest.raises(StoreError, match="run_a"):
        list(open_run(store, "run_a").messages())


@pytest.mark.parametrize("key, value", [("start", "x"), ("start", {"zzz": 1}), ("end", []), ("tables", []),
                                        ("senders", []), ("started", "yesterday")])
def test_damaged_run_attributes_are_a_store_error(store, key, value):
    damage(store, [("attr", "run_a/zarr.json", (key, value))])
    failed = read_everything(store, ("run_a",))
    assert failed in ([], ["run_a"])
    list_runs(store)  # the catalog still lists both


@pytest.mark.parametrize("f", ["run_a/log/kind/zarr.json", "run_a/log/zarr.json", "run_a/predictions/label/zarr.json"])
def test_damaged_array_metadata_is_a_store_error(store, f):
    (store / f).write_text("{")
    assert read_everything(store, ("run_a",)) == ["run_a"]
