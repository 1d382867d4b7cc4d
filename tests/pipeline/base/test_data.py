"""Your own data: the .npz loader's refusals, and 28 x 28 digits trained and evaluated
in-process and through the pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.base.config import Config
from pipeline.base.configfile import resolve
from pipeline.base.data import DataError, load_data, load_npz

ROOT = Path(__file__).resolve().parents[3]


def digits28(path: Path, n: int | None = None) -> Path:
    """sklearn's digits upscaled to 28 x 28 (each pixel a 3 x 3 block, 2 pixels of margin),
    pixel values 0..255 as a user's MNIST-like file would hold them."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8)[:n]
    big = np.pad(np.kron(X, np.ones((3, 3))), ((0, 0), (2, 2), (2, 2))) * (255 / 16)
    np.savez(path, X=big.astype(np.uint8), y=y[:n].astype(np.int64))
    return path


BAD = {
    "nan": ({"X": np.full((20, 64), np.nan), "y": np.arange(20) % 2}, "NaN or infinite"),
    "inf": ({"X": np.full((20, 64), np.inf), "y": np.arange(20) % 2}, "NaN or infinite"),
    "negative": ({"X": -np.ones((20, 64)), "y": np.arange(20) % 2}, "negative pixels"),
    "4-d": ({"X": np.ones((20, 2, 4, 8)), "y": np.arange(20) % 2}, "expected \\(n, d\\) or \\(n, height, width\\)"),
    "float labels": ({"X": np.ones((20, 64)), "y": np.full(20, 0.5)}, "integer class labels"),
    "negative labels": ({"X": np.ones((20, 64)), "y": -np.ones(20, int)}, "labels must be 0.."),
    "huge labels": ({"X": np.ones((20, 64)), "y": np.full(20, 10**6)}, "labels must be 0.."),
    "one class": ({"X": np.ones((20, 64)), "y": np.zeros(20, int)}, "single class"),
    "lengths": ({"X": np.ones((20, 64)), "y": np.arange(19) % 2}, "one label per image"),
    "text X": ({"X": np.array(["a"] * 20), "y": np.arange(20) % 2}, "must be numeric"),
    "no y": ({"X": np.ones((20, 64))}, "needs arrays 'X' and 'y'"),
    "stray": ({"X": np.ones((20, 64)), "y": np.arange(20) % 2, "Z": np.ones(3)}, "unknown arrays"),
    "half test": ({"X": np.ones((20, 64)), "y": np.arange(20) % 2, "X_test": np.ones((5, 64))}, "come together"),
    "empty": ({"X": np.ones((0, 64)), "y": np.zeros(0, int)}, "is empty"),
    "bad vmax": ({"X": np.ones((20, 64)), "y": np.arange(20) % 2, "vmax": np.array([1.0, 2.0])}, "vmax must be"),
    "dark": ({"X": np.zeros((20, 64)), "y": np.arange(20) % 2}, "every pixel is 0"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_data_is_refused_naming_the_file(tmp_path, case):
    arrays, message = BAD[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message) as e:
        load_npz(path)
    assert str(path) in str(e.value)


def test_files_that_are_not_npz_and_object_arrays(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_npz(text)
    single = tmp_path / "single.npy"
    np.save(single, np.ones(3))
    with pytest.raises(DataError, match="not an .npz archive"):
        load_npz(single)
    obj = tmp_path / "obj.npz"
    np.savez(obj, X=np.array([np.ones(3), "x"], dtype=object), y=np.arange(2))
    with pytest.raises(DataError, match="object arrays, which byob never unpickles"):
        load_npz(obj)
    with pytest.raises(DataError, match="no such data file"):
        load_npz(tmp_path / "missing.npz")


def test_shapes_scaling_and_given_test_part(tmp_path):
    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, X=rng.integers(0, 200, (40, 5, 7)), y=np.arange(40) % 4,
             X_test=rng.integers(0, 200, (10, 5, 7)), y_test=np.arange(10) % 4, vmax=100.0)
    split, config = load_data(resolve(sets=[f"data.source={path}"]))
    assert split.image_shape == (5, 7) and split.X_train.shape == (40, 35) and len(split.y_test) == 10
    assert split.X_train.max() == 16.0  # vmax 100 maps to 16; brighter pixels saturate
    net = config.network
    assert (net.n_input, net.n_output, net.image_shape) == (35, 4, (5, 7))
    flat = tmp_path / "flat.npz"
    np.savez(flat, X=rng.random((30, 10)), y=np.arange(30) % 3)
    split, config = load_data(Config().replace(data=Config().data.replace(source=str(flat))))
    assert config.network.image_shape == (1, 10) and len(split.y_test) == 9  # stratified 30%
    assert np.isclose(max(split.X_train.max(), split.X_test.max()), 16.0)  # default vmax: the data's maximum


def byob(*args: str, cwd: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", **(env or {})}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_bad_data_exits_2_before_compiling(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, X=np.full((20, 64), np.nan), y=np.arange(20) % 2)
    for cmd in (["train", "--data", str(path)], ["run", "--data", str(path), "--exit-when-done"],
                ["config", "show", "--data", str(path)]):
        r = byob(*cmd, cwd=tmp_path)
        if cmd[0] == "config":  # show does not read the data, check does
            assert r.returncode == 0
            continue
        assert r.returncode == 2 and "NaN or infinite" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_28x28_digits_train_and_evaluate_in_process(tmp_path):
    data = digits28(tmp_path / "digits28.npz", n=600)
    r = byob("train", "--data", str(data), "--preset", "images28", "--epochs", "2", "--model-dir", str(tmp_path),
             "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(r.stdout.strip().splitlines()[-1])
    assert s["test_accuracy"] > 0.5, s  # chance is 0.1
    from store.models import load_model

    m = load_model(s["model"])
    assert (m.config.network.n_input, m.config.network.image_shape) == (784, (28, 28))
    assert m.config.data.source == str(data)
    r = byob("evaluate", s["model"], "--json", cwd=tmp_path)  # the model's own data by default
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1])["accuracy"] == pytest.approx(s["test_accuracy"])
    r = byob("evaluate", s["model"], "--set", "data.source=digits", cwd=tmp_path)  # 8 x 8 digits do not fit
    assert r.returncode == 2 and "784 inputs" in r.stderr and "Traceback" not in r.stderr
    r = byob("analyze", s["model"], "--out", str(tmp_path / "fig"), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "fig" / "receptive_fields.png").exists()


def test_28x28_digits_through_the_pipeline(tmp_path):
    from pipeline.runtime.wiring import free_base_port
    from store.runs import open_run

    data = digits28(tmp_path / "digits28.npz", n=300)
    r = byob("run", "--data", str(data), "--preset", "images28", "--epochs", "1", "--samples", "20", "--exit-when-done", "--json",
             "--no-viewer", "--store", str(tmp_path / "runs.zarr"), "--model-dir", str(tmp_path / "models"),
             cwd=tmp_path, env={"BYOB_BASE_PORT": str(free_base_port())})
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["ok"] and res["test_predictions"] == len(load_data(resolve(sets=[f"data.source={data}"]))[0].y_test)
    run = open_run(tmp_path / "runs.zarr", res["run"])
    assert run.attrs["start"]["config"]["network"]["image_shape"] == [28, 28]
    assert run.raster("input", 0).dense().shape[1] == 784
