"""Online learning during inference: predictions before each update, no labels, the saved
model untouched without --save."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.app.jobs import run_train

from pipeline.runtime.brain import TrainJob
from pipeline.app.online import evaluate_online
from nodes.network.present import infer

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory, small_cfg, digits):
    d = tmp_path_factory.mktemp("online")
    model, summary = run_train(TrainJob(epochs=1, samples=60, seed=2, model_dir=d, config=small_cfg), split=digits)
    return model, Path(summary["model"])


def test_frozen_stream_predicts_as_evaluate_and_learning_changes_only_input_weights(small_model, digits):
    model, _ = small_model
    X, y = digits.X_test[:24], digits.y_test[:24]
    _, preds = infer(model.params, model.config.testing(), X, model.seed)
    frozen = evaluate_online(model.params, model.config, X, y, model.seed, model.epochs_done, learn=False)
    assert np.array_equal(frozen.predictions, preds)
    assert all(np.array_equal(a, b) for a, b in zip(frozen.params.arrays().values(),
                                                    model.params.arrays().values()))
    online = evaluate_online(model.params, model.config, X, y, model.seed, model.epochs_done)
    assert online.predictions[0] == frozen.predictions[0]  # the first digit sees no update
    assert np.array_equal(online.counts[0], frozen.counts[0])
    assert not np.array_equal(online.params.w_ih, model.params.w_ih)  # STDP ran
    assert not np.array_equal(online.params.theta, model.params.theta)  # homeostasis ran
    assert np.array_equal(online.params.w_ho, model.params.w_ho)  # no labels, no teacher: readout fixed


def byob(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_evaluate_learn_leaves_the_model_file_untouched_without_save(small_model, digits, tmp_path):
    _, path = small_model
    np.savez(tmp_path / "few.npz", X=digits.X_train[:40], y=digits.y_train[:40], X_test=digits.X_test[:30],
             y_test=digits.y_test[:30])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    before = sorted(p.name for p in path.parent.iterdir())
    r = byob("evaluate", str(path), "--data", str(tmp_path / "few.npz"), "--learn", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["learn"] and out["n"] == 30 and out["saved"] is None
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in path.parent.iterdir()) == before
    r = byob("evaluate", str(path), "--data", str(tmp_path / "few.npz"), "--learn", "--save", "--json",
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    saved = Path(json.loads(r.stdout.strip().splitlines()[-1])["saved"])
    assert saved.exists() and saved != path and saved.parent == path.parent
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    from store.models import load_model

    child, parent = load_model(saved), load_model(path)
    assert child.parent == path.name and not np.array_equal(child.params.w_ih, parent.params.w_ih)
    r = byob("evaluate", str(path), "--data", str(tmp_path / "few.npz"), "--save", cwd=tmp_path)
    assert r.returncode == 2 and "--learn" in r.stderr
