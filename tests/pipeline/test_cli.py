"""The ``byob`` command in real subprocesses: exit codes, JSON lines, clear errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def byob(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    r = byob("train", "--epochs", "1", "--samples", "40", "--model-dir", str(d / "models"), "--json", cwd=d)
    assert r.returncode == 0, r.stderr
    return d, json.loads(r.stdout.strip().splitlines()[-1])


def test_train_json_summary_and_progress(trained):
    d, s = trained
    for k in ("model", "test_accuracy", "train_seconds", "train_samples_per_second"):
        assert k in s
    assert Path(s["model"]).name.startswith("stdp_model_") and Path(s["model"]).exists()
    assert 0.0 <= s["test_accuracy"] <= 1.0


def test_models_lists_the_saved_model(trained):
    d, s = trained
    r = byob("models", "--model-dir", str(d / "models"), "--json", cwd=d)
    assert r.returncode == 0
    rows = json.loads(r.stdout.strip().splitlines()[-1])["models"]
    assert [row["model"] for row in rows] == [s["model"]]
    assert rows[0]["test_accuracy"] == pytest.approx(s["test_accuracy"])
    text = byob("models", "--model-dir", str(d / "models"), cwd=d).stdout
    assert "created:" in text


def test_evaluate_on_npz_and_ensemble(trained, tmp_path):
    d, s = trained
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", X=rng.integers(0, 17, (30, 8, 8)), y=np.arange(30) % 10,
             X_test=rng.integers(0, 17, (20, 8, 8)), y_test=rng.integers(0, 10, 20), vmax=16)
    r = byob("evaluate", s["model"], "--data", str(tmp_path / "data.npz"), "--json", cwd=d)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["n"] == 20 and len(out["confusion"]) == 10
    r = byob("evaluate", s["model"], s["model"], "--json", cwd=d)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["ensemble"] and len(out["members"]) == 2
    # A file of images without X_test is evaluated whole, not cut into a training part.
    np.savez(tmp_path / "all.npz", X=rng.integers(0, 17, (60, 8, 8)), y=np.arange(60) % 10, vmax=16)
    r = byob("evaluate", s["model"], "--data", str(tmp_path / "all.npz"), "--json", cwd=d)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["n"] == 60


@pytest.mark.parametrize("content, message", [
    ({"X": np.ones((20, 10)), "y": np.arange(20) % 2}, "takes 64 inputs"),
    ({"X": np.zeros((5, 64))}, "needs arrays 'X' and 'y'"),
    ({"X": np.full((20, 64), -1.0), "y": np.arange(20) % 10}, "negative pixels"),
    ({"X": np.ones((30, 64)), "y": np.arange(30) % 10}, "give X_test and y_test, or more images"),
])
def test_evaluate_bad_data_exits_2_with_a_clear_message(trained, tmp_path, content, message):
    d, s = trained
    np.savez(tmp_path / "bad.npz", **content)
    r = byob("evaluate", s["model"], "--data", str(tmp_path / "bad.npz"), cwd=d)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    import re
    assert re.search(message, r.stderr), r.stderr


def test_bad_model_file_exits_2(tmp_path):
    bad = tmp_path / "stdp_model_20240101_000000.npz"
    bad.write_bytes(b"not a model")
    r = byob("evaluate", str(bad), cwd=tmp_path)
    assert r.returncode == 2 and "not an .npz archive" in r.stderr and "Traceback" not in r.stderr
    r = byob("train", "--model", str(tmp_path / "missing.npz"), cwd=tmp_path)
    assert r.returncode == 2 and "no such model file" in r.stderr


def test_help_and_bad_arguments(tmp_path):
    r = byob("--help", cwd=tmp_path)
    assert r.returncode == 0 and "train" in r.stdout and "evaluate" in r.stdout
    r = byob("train", "--help", cwd=tmp_path)
    assert "--split-seed" in r.stdout and "default" in r.stdout
    assert byob("train", "--epochs", "0", cwd=tmp_path).returncode == 2
    assert byob("train", "--epochs", "x", cwd=tmp_path).returncode == 2
    assert byob("frobnicate", cwd=tmp_path).returncode == 2


def test_a_second_pipeline_on_ports_in_use_is_refused_before_any_node_starts(tmp_path):
    """Something (here a plain socket; in life a first `byob run`) holds the control port:
    `byob run` exits 2 saying so, and starts no process."""
    import socket

    from tests.pipeline.test_end_to_end import byob_cli, env_with_ports

    env = env_with_ports()
    with socket.socket() as held:
        held.bind(("127.0.0.1", int(env["BYOB_BASE_PORT"])))
        held.listen()
        r = byob_cli("run", "--epochs", "1", "--samples", "8", "--exit-when-done", "--model-dir", str(tmp_path),
                     env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "already in use" in r.stderr and "BYOB_BASE_PORT" in r.stderr
    assert "started (pid" not in r.stderr and not list(tmp_path.glob("*.npz"))


def test_a_saved_model_says_where_it_came_from(trained):
    """Provenance: versions, Python, platform, backend and kernel, the commit of a checkout."""
    d, s = trained
    r = byob("models", "--show", s["model"], "--json", cwd=d)
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout.strip().splitlines()[-1])["provenance"]
    assert p["packages"]["numpy"] == np.__version__ and p["packages"]["build-your-own-brain"]
    assert p["backend"] in ("native", "brainpy") and p["python"] and p["platform"]
    assert p["git"] is None or len(p["git"]["commit"]) == 40
    text = byob("models", "--show", s["model"], cwd=d).stdout
    assert "backend:" in text and "commit:" in text
    r = byob("models", "--show", str(d / "nope.npz"), cwd=d)
    assert r.returncode == 2 and "no such model file" in r.stderr
