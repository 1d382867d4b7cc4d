"""``python main.py`` as a real subprocess with scripted answers on stdin: every menu
path, re-prompts on bad input, and clean exits (code 0, no traceback) on end of input
and Ctrl-C. The model folder is given with ``--model-dir`` (or BYOB_MODEL_DIR)."""

import hashlib
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.app.analysis import FIGURES, SUMMARY
from pipeline.base.config import DEFAULT_EPOCHS

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict:
    # BYOB_JAX_CACHE (tests/conftest.py) is passed on: the menu processes share compiled
    # programs through it, as the menu does between a user's runs.
    env = {k: v for k, v in os.environ.items() if k != "BYOB_MODEL_DIR"}
    return {**env, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", **extra}


def menu(answers: str, cwd: Path, model_dir: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    args = ["--model-dir", str(model_dir)] if model_dir else []
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], input=answers, cwd=cwd,
                       env=_env(**env), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    return r


def models_in(d: Path) -> list[Path]:
    return sorted(d.glob("stdp_model_*.npz"))


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    """One session through the main paths (one process: the network compiles once):
    train a new model (1 epoch of 20 samples) and save it, the demo on it (two digits,
    no plots), analyze it into the default folder, quit. Returns the folder it ran in,
    the model folder and the transcript of each part."""
    d = tmp_path_factory.mktemp("menu")
    r = menu("2\n\n1\n20\ny\n" "1\n1\n2\nn\n" "3\n1\n\n" "4\n", d, d / "models")
    parts = r.stdout.split("What would you like to do?")
    assert len(parts) == 5, r.stdout
    return d, d / "models", {"train": parts[1], "demo": parts[2], "analyze": parts[3], "quit": parts[4]}


@pytest.fixture
def model_dir(tour, tmp_path):
    """A private copy of the trained model's folder."""
    shutil.copytree(tour[1], tmp_path / "models")
    return tmp_path / "models"


def test_train_new_model_prints_progress_and_saves(tour):
    _, d, parts = tour
    out = parts["train"]
    assert "No saved models" in out and "Training with STDP..." in out
    assert f"Number of training epochs (default {DEFAULT_EPOCHS}): 1" in out
    assert "Epoch 1/1" in out
    assert re.search(r"Processed 20/20 samples, running accuracy: \d+\.\d\d%", out)
    assert re.search(r"Test accuracy after epoch 1: \d+\.\d\d%", out)
    assert re.search(r"Accuracy: \d+\.\d\d% → \d+\.\d\d% \([+-]\d+\.\d\d% (improvement|change)\)", out)
    [saved] = models_in(d)
    assert f"Model saved to: {saved}" in out
    assert parts["quit"].rstrip().endswith("Goodbye.")


def test_demo_shows_digits_predictions_and_counts(tour):
    out = tour[2]["demo"]
    assert "Saved Models Found:" in out and "0. Use an untrained network" in out
    assert out.count("test digit #") == 2 and out.count("output spikes per class:") == 2
    assert len(re.findall(r"predicted: +\d \((correct|wrong)\)", out)) == 2
    assert len(re.findall(r"^  \|[ .:\-=+*#%@]{16}\|", out, re.M)) == 2 * 8  # the digits as text
    assert "Accuracy on all 540 test digits:" in out
    assert "Write the analysis plots for this network? (y/n): n" in out


def test_analyze_writes_every_figure(tour):
    d, models, parts = tour
    [model] = models_in(models)
    out = parts["analyze"]
    folder = Path("analysis") / model.stem
    assert f"Analysis written to {folder}:" in out
    for name in [n for n, _ in FIGURES] + [SUMMARY]:
        assert (d / folder / name).stat().st_size > 1000, name
        assert f"  {folder / name}" in out


def test_load_evaluate_then_continue_and_save(model_dir, tmp_path):
    [first] = models_in(model_dir)
    before = digest(first)
    r = menu("2\n1\nn\n"  # load, only evaluate
             "2\n9\n1\ny\n1\n20\nmaybe\ny\n4\n",  # bad model number, continue, bad y/n, save
             tmp_path, model_dir)
    out = r.stdout
    assert "Saved Models Found:" in out and f"1. {first.name} (created: " in out
    assert "0. Train a new model" in out
    assert f"Loading model: {first.name}" in out and "Model loaded from:" in out
    assert out.count("Current accuracy:") == 2 and "Recall per class:" in out
    assert "Please enter a whole number from 0 to 1." in out and "Please answer y or n." in out
    new = [p for p in models_in(model_dir) if p != first]
    assert len(new) == 1 and f"Model saved to: {new[0]}" in out
    assert digest(first) == before  # the loaded model is never overwritten

    from store.models import load_model

    m = load_model(new[0])
    assert m.parent == first.name and m.epochs_done == 2 and len(m.history) == 2


def test_invalid_menu_choices_reprompt(tmp_path):
    r = menu("7\nabc\n\n0\n4\n", tmp_path, tmp_path / "models")
    assert r.stdout.count("Please enter a whole number from 1 to 4.") == 4
    assert r.stdout.count("Enter your choice (1-4):") == 5
    assert r.stdout.rstrip().endswith("Goodbye.")


def test_model_dir_from_environment(model_dir, tmp_path):
    [model] = models_in(model_dir)
    r = menu("3\n0\n4\n", tmp_path, None, BYOB_MODEL_DIR=str(model_dir))
    assert f"1. {model.name} (created: " in r.stdout and "0. Back to the main menu" in r.stdout


@pytest.mark.parametrize("answers, where", [
    ("", "Enter your choice (1-4):"),
    ("2\n\n1\n", "Number of training samples per epoch"),
    ("3\n", "Enter your choice (1-4):"),  # no models: back to the menu, then the end
])
def test_end_of_input_exits_cleanly(tmp_path, answers, where):
    r = menu(answers, tmp_path, tmp_path / "models")
    assert r.stdout.rstrip().endswith("End of input; goodbye.")
    assert where in r.stdout.rstrip().splitlines()[-2]
    assert not list((tmp_path / "models").glob("*"))


def test_end_of_input_at_a_yes_no_question_changes_no_model(model_dir, tmp_path):
    [model] = models_in(model_dir)
    before = digest(model)
    r = menu("2\n1\n", tmp_path, model_dir)
    assert "Continue training this model? (y/n):" in r.stdout and "End of input; goodbye." in r.stdout
    assert models_in(model_dir) == [model] and digest(model) == before


def _interrupt_after(answers: str, marker: str, cwd: Path, model_dir: Path) -> tuple[int, str]:
    """Start the menu, send the answers (stdin stays open), press Ctrl-C once ``marker``
    has been printed. Returns the exit code and everything printed."""
    p = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--model-dir", str(model_dir)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         cwd=cwd, env=_env())
    try:
        p.stdin.write(answers.encode())
        p.stdin.flush()
        seen, deadline = b"", time.monotonic() + 300
        while marker.encode() not in seen:
            assert time.monotonic() < deadline and p.poll() is None, seen.decode()
            if select.select([p.stdout], [], [], 0.2)[0]:
                seen += os.read(p.stdout.fileno(), 65536)
        time.sleep(0.5)  # into the work that follows the marker
        p.send_signal(signal.SIGINT)
        rest, _ = p.communicate(timeout=120)
        return p.returncode, (seen + rest).decode()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_ctrl_c_at_the_menu_exits_cleanly(tmp_path):
    code, out = _interrupt_after("", "Enter your choice (1-4): ", tmp_path, tmp_path / "models")
    assert code == 0 and "Interrupted; goodbye." in out and "Traceback" not in out


def test_ctrl_c_while_training_saves_nothing(tmp_path):
    code, out = _interrupt_after("2\n\n1\n\n", "Epoch 1/1", tmp_path, tmp_path / "models")
    assert code == 0 and "Interrupted; goodbye." in out and "Traceback" not in out, out
    assert not list((tmp_path / "models").glob("*"))


def test_option_2_trains_a_brain_file_or_preset(tmp_path):
    brain = tmp_path / "brain.toml"
    brain.write_text("[network]\nn_hidden = 30\n[job]\nepochs = 1\n")
    r = menu(f"2\nnonsense\n{brain}\n\n20\ny\n4\n", tmp_path, tmp_path / "models")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "'nonsense' is neither a brain file nor a preset" in r.stdout
    assert "Number of training epochs (default 1): " in r.stdout  # the brain file's [job] epochs
    from store.models import load_model

    [saved] = models_in(tmp_path / "models")
    assert load_model(saved).config.network.n_hidden == 30
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "--set", "network.tau=-1"], input="4\n",
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "network.tau" in r.stderr and "Traceback" not in r.stderr
