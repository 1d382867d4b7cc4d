"""The interactive menu of SEED.md: ``python main.py [--model-dir DIR]``.

1. Run classification demo   - a few test digits drawn as text, with the prediction and
                               the output spike counts; optionally the analysis plots
2. Train/Load STDP model     - train a new model (the default brain, a preset or your
                               brain file) or continue a saved one, then save it under a
                               new timestamped name (only if you say so)
3. Analyze existing model    - the figures of ``byob analyze``

Built only on the functions behind ``byob`` (pipeline.app.jobs, pipeline.app.trainer,
pipeline.app.analysis, store.models). Models live in ``--model-dir``, else in the folder
named by the environment variable BYOB_MODEL_DIR, else in ``models/``. End of input
or Ctrl-C leave at once with exit code 0; a model file is only ever written, atomically,
after "Save this model? (y/n): y".
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

from pipeline.runtime import jaxcache
from pipeline.base.config import DEFAULT_EPOCHS, DEFAULT_MODEL_DIR

MENU = """
What would you like to do?
1. Run classification demo
2. Train/Load STDP model
3. Analyze existing model
4. Quit
"""
SHADES = " .:-=+*#%@"  # pixel 0..16 -> ten levels of ink
DEMO_DIGITS = 5


class Console:
    """Prompts on ``stdout``, answers from ``stdin``. End of input raises EOFError. When
    the answers do not come from a terminal they are echoed, so a transcript reads well."""

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.echo = not (hasattr(self.stdin, "isatty") and self.stdin.isatty())

    def say(self, text: str = "") -> None:
        print(text, file=self.stdout, flush=True)

    def ask(self, prompt: str) -> str:
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            raise EOFError
        line = line.rstrip("\r\n")
        if self.echo:
            self.say(line)
        return line.strip()


def ask_number(con: Console, prompt: str, lo: int, hi: int, default: int | None = None) -> int:
    """A whole number in lo..hi; Enter gives ``default`` when there is one."""
    while True:
        text = con.ask(prompt)
        if not text and default is not None:
            return default
        try:
            n = int(text)
        except ValueError:
            n = None
        if n is not None and lo <= n <= hi:
            return n
        extra = f" (or press Enter for {default})" if default is not None else ""
        con.say(f"Please enter a whole number from {lo} to {hi}{extra}.")


def ask_yes_no(con: Console, prompt: str) -> bool:
    while True:
        text = con.ask(prompt).lower()
        if text in ("y", "yes"):
            return True
        if text in ("n", "no"):
            return False
        con.say("Please answer y or n.")


def choose_model(con: Console, model_dir: Path, zero: str, zero_short: str, none_hint: str = "") -> Any:
    """List the saved models with their creation dates; returns the chosen
    ``ModelInfo``, or None for option 0 (``zero``) or when there are none."""
    from store.models import list_models

    infos = list_models(model_dir)
    if not infos:
        con.say(f"\nNo saved models in {model_dir}.{none_hint}")
        return None
    con.say("\nSaved Models Found:\n" + "=" * 50)
    for k, i in enumerate(infos, 1):
        acc = f"test accuracy {i.test_accuracy:.2%}" if i.test_accuracy is not None else "not evaluated"
        epochs = f"{i.epochs_done} epoch{'' if i.epochs_done == 1 else 's'}"
        extra = "  [unreadable]" if i.error else f"  [{acc}, {epochs}]"
        con.say(f"{k}. {i.path.name} (created: {i.created.replace('T', ' ')}){extra}")
    con.say(f"\n0. {zero}")
    while True:
        k = ask_number(con, f"\nEnter your choice (0 to {zero_short}, or model number to load): ",
                       0, len(infos))
        if k == 0:
            return None
        if not infos[k - 1].error:
            return infos[k - 1]
        con.say(f"That model cannot be used: {infos[k - 1].error}\nPlease choose another.")


def load(con: Console, info: Any) -> Any:
    """The chosen model with ``parent`` set (as ``new_or_loaded`` does for a continued
    model), or a fresh one for None; None if the file went bad since it was listed.
    Reading a file needs no JAX, so the questions that follow come without delay."""
    if info is None:
        from pipeline.runtime.brain import TrainJob, new_or_loaded

        return new_or_loaded(TrainJob())
    from store.models import ModelFileError, load_model

    con.say(f"\nLoading model: {info.path.name}")
    try:
        model = load_model(info.path)
    except ModelFileError as e:
        con.say(f"Cannot load it: {e}")
        return None
    model.parent = info.path.name
    con.say(f"Model loaded from: {info.path}")
    return model


def digit_art(pixels: Any) -> list[str]:
    """An 8x8 digit (values 0..16) as eight lines of text, two characters per pixel."""
    levels = [min(len(SHADES) - 1, max(0, round(float(v) / 16 * (len(SHADES) - 1)))) for v in pixels]
    return ["".join(SHADES[levels[r * 8 + c]] * 2 for c in range(8)) for r in range(8)]


def show_digit(con: Console, index: int, pixels: Any, label: int, pred: int, counts: Any) -> None:
    c = [int(v) for v in counts]
    verdict = "correct" if pred == label else "wrong"
    side = [f"test digit #{index}", f"true label: {label}", f"predicted:  {pred} ({verdict})",
            "output spikes per class:", "  ".join(f"{k}:{c[k]}" for k in range(0, 5)),
            "  ".join(f"{k}:{c[k]}" for k in range(5, len(c)))]
    con.say()
    for r, line in enumerate(digit_art(pixels)):
        con.say(f"  |{line}|   {side[r] if r < len(side) else ''}".rstrip())


def demo(con: Console, model_dir: Path) -> None:
    info = choose_model(con, model_dir, "Use an untrained network", "use an untrained network",
                        " The demo uses an untrained network (option 2 trains one).")
    model = load(con, info)
    if model is None:
        return
    n = ask_number(con, f"\nHow many test digits to show (default {DEMO_DIGITS}): ", 1, 20, DEMO_DIGITS)
    import numpy as np

    from pipeline.base.data import load_split
    from pipeline.app.jobs import accuracy

    split = load_split(0)
    con.say("\nClassifying the test digits...")
    acc, counts, preds = accuracy(model.params, model.config, split.X_test, split.y_test, model.seed)
    for i in np.sort(np.random.default_rng().choice(len(split.y_test), n, replace=False)):
        show_digit(con, int(i), split.X_test[i], int(split.y_test[i]), int(preds[i]), counts[i])
    con.say(f"\nAccuracy on all {len(split.y_test)} test digits: {acc:.2%}")
    if ask_yes_no(con, "\nWrite the analysis plots for this network? (y/n): "):
        write_analysis(con, model, info.path if info else None)


def evaluate_only(con: Console, model: Any) -> None:
    from pipeline.base.data import load_split
    from pipeline.app.jobs import accuracy, confusion

    split = load_split(0)
    con.say("\nEvaluating current performance...")
    acc, _, preds = accuracy(model.params, model.config, split.X_test, split.y_test, model.seed)
    con.say(f"Current accuracy: {acc:.2%}")
    cm = confusion(split.y_test, preds)
    con.say("Recall per class: " + "  ".join(f"{c}:{cm[c, c] / max(cm[c].sum(), 1):.0%}" for c in range(10)))


def ask_brain(con: Console, default: Any) -> Any:
    """The brain of a new model: a brain file, a preset name, or Enter for ``default``."""
    from pipeline.base.config import ConfigError
    from pipeline.base.configfile import preset_names, resolve

    while True:
        answer = con.ask(f"Brain file or preset ({', '.join(preset_names())}; Enter: "
                         f"{'the default brain' if default is None else 'the --config/--preset/--set brain'}): ")
        try:
            if not answer:
                return default
            if Path(answer).is_file():
                return resolve(answer)
            if answer in preset_names():
                return resolve(preset=answer)
            con.say(f"{answer!r} is neither a brain file nor a preset; `byob config new FILE` writes a brain file.")
        except ConfigError as e:
            con.say(f"Cannot use it: {e}")


def train_or_load(con: Console, model_dir: Path, brain: Any = None) -> None:
    from pipeline.base.data import DataError, load_data

    info = choose_model(con, model_dir, "Train a new model", "train new", " Training a new model.")
    model = load(con, info) if info else None
    if info and model is None:
        return
    if info and not ask_yes_no(con, "\nContinue training this model? (y/n): "):
        evaluate_only(con, model)
        return
    if info is None:
        brain = ask_brain(con, brain)
    try:
        split, sized = load_data(model.config if model is not None else (brain or _default_config()))
    except DataError as e:
        con.say(f"Cannot load the brain's data: {e}")
        return
    if model is not None:
        from pipeline.app.jobs import accuracy

        con.say("\nEvaluating current performance...")
        con.say(f"Current accuracy: "
                f"{accuracy(model.params, model.config, split.X_test, split.y_test, model.seed)[0]:.2%}")
    con.say("\nTraining with STDP...")
    default_epochs = sized.job.epochs if model is None else DEFAULT_EPOCHS
    epochs = ask_number(con, f"Number of training epochs (default {default_epochs}): ", 1, 1000, default_epochs)
    n = len(split.y_train)
    samples = ask_number(con, f"Number of training samples per epoch (default {n}, all): ", 1, n, n)
    from pipeline.app.jobs import TrainJob, run_train  # JAX loads here, after the questions
    from store.models import save_model

    if model is None:
        from nodes.network.params import init_params
        from store.models import Model

        model = Model(params=init_params(sized.network, sized.job.seed), config=sized, seed=sized.job.seed)
    epoch = [0]

    def progress(done: int, total: int, acc: float) -> None:
        if done == 1:
            epoch[0] += 1
            con.say(f"\nEpoch {epoch[0]}/{epochs}")
        if done % 20 == 0 or done == total:
            con.say(f"  Processed {done}/{total} samples, running accuracy: {acc:.2%}")

    job = TrainJob(epochs=epochs, samples=samples, model=str(info.path) if info else None,
                   model_dir=model_dir, save=False)  # saved below, only if the user says so
    model, s = run_train(job, split=split, progress=progress, model=model,
                         on_epoch=lambda log, acc: con.say(f"  Test accuracy after epoch {epoch[0]}: {acc:.2%}"))
    delta = s["test_accuracy"] - s["accuracy_before"]
    con.say("\nFinal evaluation...")
    con.say(f"Accuracy: {s['accuracy_before']:.2%} → {s['test_accuracy']:.2%} "
            f"({delta:+.2%} {'improvement' if delta > 0 else 'change'})")
    if ask_yes_no(con, "\nSave this model? (y/n): "):
        con.say(f"Model saved to: {save_model(model, model_dir)}")
    else:
        con.say("Model not saved.")


def write_analysis(con: Console, model: Any, path: Path | None) -> None:
    """What ``byob analyze`` does, with the stages printed as they start."""
    from pipeline.app.analysis import default_out_dir, run_analyze

    default = default_out_dir(path)
    out = con.ask(f"Output folder (default {default}): ") or default
    con.say("Analyzing...")
    r = run_analyze(model if path is None else path, out, step=lambda name: con.say(f"  {name}"))
    con.say(f"Test accuracy {r['test_accuracy']:.2%}. Analysis written to {r['out_dir']}:")
    for f in r["files"]:
        con.say(f"  {f}")


def analyze_existing(con: Console, model_dir: Path) -> None:
    from store.models import ModelFileError

    info = choose_model(con, model_dir, "Back to the main menu", "go back",
                        " Train one with option 2 first.")
    if info is None:
        return
    try:
        write_analysis(con, None, info.path)
    except ModelFileError as e:
        con.say(f"Cannot analyze it: {e}")


ACTIONS: dict[int, Callable[[Console, Path], None]] = {1: demo, 2: train_or_load, 3: analyze_existing}


def _default_config() -> Any:
    from pipeline.base.config import Config

    return Config()


def menu(con: Console, model_dir: Path, brain: Any = None) -> None:
    while True:
        con.say(MENU)
        choice = ask_number(con, "Enter your choice (1-4): ", 1, 4)
        if choice == 4:
            con.say("Goodbye.")
            return
        if choice == 2:
            train_or_load(con, model_dir, brain)
        else:
            ACTIONS[choice](con, model_dir)


def main(argv: list[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    p = argparse.ArgumentParser(description="Build Your Own Brain: the interactive menu.")
    p.add_argument("--model-dir", default=os.environ.get("BYOB_MODEL_DIR", str(DEFAULT_MODEL_DIR)),
                   help="where models are saved and listed (env BYOB_MODEL_DIR; default %(default)s)")
    p.add_argument("--preset", default=None, help="the brain option 2 trains by default: a preset ...")
    p.add_argument("--config", default=None, help="... and/or a TOML brain file (`byob config new FILE`)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="... with these keys changed (repeatable)")
    a = p.parse_args(argv)
    brain = None
    if a.preset or a.config or a.sets:
        from pipeline.base.config import ConfigError
        from pipeline.base.configfile import resolve

        try:
            brain = resolve(a.config, a.preset, a.sets)
        except ConfigError as e:
            print(f"main.py: error: {e}", file=sys.stderr)
            return 2
    jaxcache.enable()  # compiled programs are kept between runs, as for byob (pipeline/runtime/jaxcache.py)
    con = Console(stdin, stdout)
    try:
        menu(con, Path(a.model_dir), brain)
    except EOFError:
        con.say("\nEnd of input; goodbye.")
    except KeyboardInterrupt:
        con.say("\nInterrupted; goodbye. (Models are only written after 'Save this model? y'.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
