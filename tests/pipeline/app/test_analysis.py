"""``byob analyze`` and the figures of ``pipeline.app.analysis``: every figure is written and
is a real image; the receptive-field grid has one tile per hidden neuron; a Recording
built by hand (as a recorded run will be) is checked and drawn."""

import json

import numpy as np
import pytest
from matplotlib.image import imread

from nodes.network.params import init_params
from pipeline import cli
from pipeline.app.analysis import FIGURES, SUMMARY, Recording, analyze, recording_from_model
from pipeline.app.figures import class_report, receptive_fields_figure, tile_mosaic
from pipeline.app.trainer import train
from store.models import Model, save_model


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, small_cfg, digits):
    """Ten samples of training (no evaluation: the analysis evaluates), saved."""
    res = train(init_params(small_cfg.network, 2), small_cfg, digits.X_train, digits.y_train, 1, 10, 2)
    model = Model(params=res.params, config=small_cfg, seed=2, epochs_done=1, samples_seen=10)
    return str(save_model(model, tmp_path_factory.mktemp("analysis")))


def check_png(path) -> None:
    img = imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4), img.shape
    assert 250 <= img.shape[0] <= 4000 and 250 <= img.shape[1] <= 4000, img.shape
    assert float(img[..., :3].std()) > 0.01  # something is drawn on it


def test_byob_analyze_writes_every_figure(model_file, tmp_path, capsys):
    out = tmp_path / "figs"
    assert cli.main(["analyze", model_file, "--out", str(out), "--samples", "2", "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    names = [n for n, _ in FIGURES]
    assert r["files"] == [str(out / n) for n in names + [SUMMARY]]
    assert r["model"] == model_file and 0.0 <= r["test_accuracy"] <= 1.0
    for n in names:
        check_png(out / n)
    page = (out / SUMMARY).read_text()
    assert all(f"src='{n}'" in page for n in names) and "test_accuracy" in page


def test_byob_analyze_lists_files_and_rejects_bad_input(model_file, tmp_path, capsys):
    assert cli.main(["analyze", str(tmp_path / "nothing.npz")]) == 2
    assert "neither a model file" in capsys.readouterr().err
    (tmp_path / "foreign.npz").write_bytes(b"hello")
    assert cli.main(["analyze", str(tmp_path / "foreign.npz")]) == 2
    assert "not an .npz archive" in capsys.readouterr().err
    assert cli.main(["analyze", model_file, "--samples", "0"]) == 2
    assert "--samples must be 1..20" in capsys.readouterr().err


def test_recording_from_an_untrained_model(small_cfg):
    cfg = small_cfg.network
    m = Model(params=init_params(cfg, 4), config=small_cfg, seed=4)
    rec = recording_from_model(m, n_samples=2, seed=1, n_trace=3)
    steps = cfg.n_steps
    assert rec.rasters["hidden"].shape == (2, steps, cfg.n_hidden) and rec.rasters["input"].dtype == bool
    assert rec.traces["hidden"].shape == (2, steps, 3) and rec.traces["output"].shape == (2, steps, 10)
    counts = rec.rasters["hidden"].sum(axis=(0, 1))
    assert counts[rec.trace_neurons["hidden"][0]] == counts.max()  # the most active are traced
    assert np.array_equal(rec.w_ih_start, rec.w_ih_end)  # untrained: nothing changed
    assert rec.info["model"] == "untrained network" and len(rec.labels) == 540


@pytest.mark.parametrize("n_hidden", [100, 37])
def test_receptive_field_grid_has_one_tile_per_hidden_neuron(n_hidden, tmp_path):
    w = np.random.default_rng(0).random((64, n_hidden)) + 0.01
    mosaic, n = tile_mosaic(w)
    assert n == n_hidden
    cols = int(np.ceil(np.sqrt(n_hidden)))
    tiles = [mosaic[r * 9: r * 9 + 8, c * 9: c * 9 + 8] for r in range((mosaic.shape[0] + 1) // 9)
             for c in range(cols)]
    assert sum(t.shape == (8, 8) and np.isfinite(t).all() for t in tiles) == n_hidden
    assert np.isfinite(mosaic).sum() == 64 * n_hidden  # nothing but the tiles
    assert receptive_fields_figure(tmp_path / "rf.png", w) == n_hidden
    check_png(tmp_path / "rf.png")


def synthetic(n_hidden: int = 20, samples: int = 2, steps: int = 50, n_test: int = 30, **change) -> Recording:
    rng = np.random.default_rng(1)
    rasters = {k: rng.random((samples, steps, n)) < 0.05 for k, n in (("input", 64), ("hidden", n_hidden),
                                                                       ("output", 10))}
    fields = dict(
        dt=1.0, rasters=rasters,
        traces={"hidden": rng.normal(-60, 3, (samples, steps, 2)), "output": rng.normal(-60, 3, (samples, steps, 10))},
        trace_neurons={"hidden": np.array([3, 5]), "output": np.arange(10)},
        images=rng.integers(0, 17, (samples, 64)), sample_labels=np.array([1, 2][:samples]),
        w_ih_start=rng.random((64, n_hidden)), w_ih_end=rng.random((64, n_hidden)),
        w_ho_start=rng.random((n_hidden, 10)), w_ho_end=rng.random((n_hidden, 10)),
        labels=rng.integers(0, 10, n_test), predictions=rng.integers(0, 10, n_test),
        counts=rng.integers(0, 5, (n_test, 10)), v_threshold=-50.0, info={"model": "synthetic"})
    fields.update(change)
    return Recording(**fields)


def test_a_hand_built_recording_is_drawn(tmp_path):
    paths = analyze(synthetic(), tmp_path)
    assert [p.name for p in paths] == [n for n, _ in FIGURES] + [SUMMARY]
    for p in paths[:-1]:
        check_png(p)


@pytest.mark.parametrize("change, message", [
    ({"w_ih_end": np.zeros((64, 19))}, "w_ih_end has shape"),
    ({"rasters": {"input": np.zeros((2, 50, 64), bool)}}, "lack layers"),
    ({"traces": {"hidden": np.zeros((2, 50, 3))}}, r"traces\['hidden'\] has shape"),
    ({"counts": np.zeros((30, 9))}, "counts"),
])
def test_an_inconsistent_recording_says_what_is_wrong(change, message):
    with pytest.raises(ValueError, match=message):
        synthetic(**change)


def test_class_report():
    rep = class_report(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 3)
    assert rep["confusion"].tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    assert rep["precision"][1] == pytest.approx(2 / 3) and rep["recall"][0] == 0.5
    assert rep["f1"][2] == 0.0
