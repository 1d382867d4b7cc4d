import json
from datetime import datetime

import numpy as np
import pytest

from nodes.network.params import init_params
from store.models import FORMAT_VERSION, Model, ModelFileError, list_models, load_model, save_model


@pytest.fixture
def model(small_cfg):
    return Model(params=init_params(small_cfg.network, 1), config=small_cfg, seed=1, epochs_done=2,
                 history=[{"epochs": 2, "test_accuracy": 0.5}], parent="stdp_model_20240101_000000.npz")


def test_round_trip_keeps_every_array_and_the_metadata(tmp_path, model):
    path = save_model(model, tmp_path, now=datetime(2024, 1, 18, 14, 30, 22))
    assert path.name == "stdp_model_20240118_143022.npz"
    back = load_model(path)
    for k, v in model.params.arrays().items():
        got = back.params.arrays()[k]
        assert got.dtype == v.dtype and np.array_equal(got, v), k
    assert back.config == model.config
    assert (back.seed, back.epochs_done, back.parent) == (1, 2, model.parent)
    assert back.history == model.history and back.created == "2024-01-18T14:30:22"


def test_same_second_gets_a_distinct_name(tmp_path, model):
    now = datetime(2024, 1, 18, 14, 30, 22)
    a, b = save_model(model, tmp_path, now), save_model(model, tmp_path, now)
    assert a != b and b.name == "stdp_model_20240118_143022_1.npz"


def test_list_models_shows_dates_accuracy_and_unreadable_files(tmp_path, model):
    save_model(model, tmp_path, datetime(2024, 1, 18, 14, 30, 22))
    (tmp_path / "stdp_model_20240119_000000.npz").write_bytes(b"garbage")
    (tmp_path / "notes.txt").write_text("ignored")
    infos = list_models(tmp_path)
    assert [i.path.name for i in infos] == ["stdp_model_20240118_143022.npz", "stdp_model_20240119_000000.npz"]
    assert infos[0].test_accuracy == 0.5 and infos[0].error is None
    assert "not an .npz archive" in infos[1].error


def _meta(path):
    with np.load(path) as z:
        return json.loads(z["__meta__"].tobytes()), {k: z[k] for k in z.files if k != "__meta__"}


def _rewrite(path, meta, arrays):
    np.savez(path, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)


def test_truncated_file(tmp_path, model):
    path = save_model(model, tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=f"{path.name}.*(corrupt|truncated)"):
        load_model(path)


def test_flipped_bytes(tmp_path, model):
    path = save_model(model, tmp_path)
    data = bytearray(path.read_bytes())
    for i in range(200, 400):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=path.name):
        load_model(path)


def test_foreign_npz_without_meta(tmp_path):
    path = tmp_path / "stdp_model_20240101_000000.npz"
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(ModelFileError, match="not a byob model"):
        load_model(path)


def test_pickle_is_never_loaded(tmp_path):
    import pickle

    path = tmp_path / "stdp_model_20240101_000000.npz"
    path.write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    with pytest.raises(ModelFileError, match=path.name):
        load_model(path)


def test_object_arrays_are_refused(tmp_path, model):
    path = save_model(model, tmp_path)
    meta, arrays = _meta(path)
    arrays["theta"] = np.array([object()] * 10, dtype=object)
    np.savez(path, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
    with pytest.raises(ModelFileError, match=path.name):
        load_model(path)


def test_wrong_version_and_tag(tmp_path, model):
    path = save_model(model, tmp_path)
    meta, arrays = _meta(path)
    _rewrite(path, {**meta, "format_version": FORMAT_VERSION + 1}, arrays)
    with pytest.raises(ModelFileError, match="format version"):
        load_model(path)
    _rewrite(path, {**meta, "format": "other"}, arrays)
    with pytest.raises(ModelFileError, match="not a byob model"):
        load_model(path)


def test_a_model_saved_before_test_factor_is_tested_as_it_was(tmp_path, model):
    path = save_model(model, tmp_path)
    meta, arrays = _meta(path)
    del meta["config"]["network"]["test_factor"]
    _rewrite(path, meta, arrays)
    back = load_model(path)
    assert back.config.network.test_factor == 1.0
    assert back.config.network.testing().n_steps == model.config.network.n_steps


def test_wrong_shapes_dtypes_and_nan(tmp_path, model):
    path = save_model(model, tmp_path)
    meta, arrays = _meta(path)
    _rewrite(path, meta, {**arrays, "w_ih": arrays["w_ih"][:10]})
    with pytest.raises(ModelFileError, match="'w_ih' has shape"):
        load_model(path)
    _rewrite(path, meta, {**arrays, "theta": arrays["theta"].astype(np.float64)})
    with pytest.raises(ModelFileError, match="'theta' has dtype"):
        load_model(path)
    bad = arrays["w_ho"].copy()
    bad[0, 0] = np.nan
    _rewrite(path, meta, {**arrays, "w_ho": bad})
    with pytest.raises(ModelFileError, match="NaN"):
        load_model(path)
    _rewrite(path, {**meta, "config": {"network": {"bogus": 1}}}, arrays)
    with pytest.raises(ModelFileError, match="network.bogus: unknown key"):
        load_model(path)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "nope.npz")


def test_no_temp_file_left_behind(tmp_path, model):
    save_model(model, tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_saves_in_the_same_second_never_overwrite_each_other(tmp_path):
    """Many threads save at the very same timestamp: every model gets a file of its own."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import datetime

    from nodes.network.params import init_params
    from pipeline.base.config import Config
    from store.models import Model, load_model, save_model

    now = datetime(2026, 12, 6, 12, 0, 0)

    def save(seed: int):
        cfg = Config()
        return save_model(Model(params=init_params(cfg.network, seed), config=cfg, seed=seed), tmp_path, now)

    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(save, range(16)))
    assert len(set(paths)) == 16 and sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    assert sorted(load_model(p).seed for p in paths) == list(range(16))
