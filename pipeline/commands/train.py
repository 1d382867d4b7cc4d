"""Training and evaluating brains: ``byob train`` and ``byob evaluate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pipeline.commands.brain import UsageError, add_brain_options, brain_config
from pipeline.commands.common import emit, progress_bar
from pipeline.base.config import DEFAULT_MODEL_DIR


def job_flags(a: argparse.Namespace) -> dict[str, Any]:
    """The explicit job flags a command was given (they win over every file and --set)."""
    flags = {"job.epochs": a.epochs, "job.samples": a.samples, "job.seed": a.seed,
             "job.split_seed": a.split_seed}
    for k, v in flags.items():
        if v is not None and v < (0 if k.endswith("seed") else 1):
            raise UsageError(f"--{k[4:].replace('_', '-')} must be at least {0 if k.endswith('seed') else 1}")
    if getattr(a, "mode", None):
        flags["job.mode"] = a.mode
    if getattr(a, "neuron_model", None):
        flags["network.neuron_model"] = a.neuron_model
    return flags


def model_config(a: argparse.Namespace, flags: dict[str, Any]):
    """The effective configuration; a continued model's own configuration is the base."""
    from store.models import ModelFileError, load_model

    if not getattr(a, "model", None):
        return brain_config(a, flags)
    if flags.get("network.neuron_model"):
        raise UsageError("--neuron-model applies to new models; a continued --model keeps its own")
    try:
        base = load_model(a.model).config
    except ModelFileError as e:
        raise UsageError(str(e)) from e
    return brain_config(a, flags, base=base)


def cmd_train(a: argparse.Namespace) -> int:
    from pipeline.base.config import ConfigError
    from pipeline.base.data import DataError
    from pipeline.app.jobs import run_train
    from pipeline.runtime.brain import TrainJob
    from store.models import ModelFileError

    config = model_config(a, job_flags(a))
    j = config.job
    job = TrainJob(epochs=j.epochs, samples=j.samples, seed=j.seed, split_seed=j.split_seed,
                   model=a.model, model_dir=Path(a.model_dir), config=config)
    try:
        _, summary = run_train(
            job, progress=progress_bar("train"),
            on_epoch=lambda e, acc: print(f"epoch {e.epoch + 1}: running accuracy "
                                          f"{e.running_accuracy:.1%}, test accuracy {acc:.1%} "
                                          f"({e.seconds:.1f} s)", file=sys.stderr))
    except (ModelFileError, ConfigError, DataError) as e:
        raise UsageError(str(e)) from e
    emit(summary, a.json, [
        f"Accuracy: {summary['accuracy_before']:.2%} -> {summary['test_accuracy']:.2%} "
        f"({summary['test_accuracy'] - summary['accuracy_before']:+.2%})",
        f"trained {summary['epochs']} epochs in {summary['train_seconds']:.1f} s "
        f"({summary['train_samples_per_second']:.0f} samples/s)",
        f"Model saved to: {summary['model']}"])
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from pipeline.base.data import DataError, load_data
    from pipeline.app.jobs import run_evaluate
    from store.models import ModelFileError, load_model

    try:
        models = [load_model(m) for m in a.models]
    except ModelFileError as e:
        raise UsageError(str(e)) from e
    # The first model's data (the digits, or its own file) unless --data or --set data.* say otherwise.
    config = brain_config(a, {"job.split_seed": a.split_seed}, base=models[0].config)
    try:
        split, sized = load_data(config)
    except DataError as e:
        raise UsageError(str(e)) from e
    for m in models:
        net, want = m.config.network, sized.network
        if (net.n_input, net.image_shape) != (want.n_input, want.image_shape) or net.n_output < want.n_output:
            raise UsageError(f"{m.path}: the model takes {net.n_input} inputs {list(net.image_shape)} and "
                             f"{net.n_output} classes; the data has {want.n_input} {list(want.image_shape)} "
                             f"and {want.n_output}")
    X, y = split.X_test, split.y_test
    if not split.test_given and getattr(a, "data", None):
        # A file of images handed over to evaluate: all of them, not our cut of them. (The
        # model's own data file, by default, gives its test part: the figure training gave.)
        import numpy as np

        X, y = np.concatenate([split.X_train, split.X_test]), np.concatenate([split.y_train, split.y_test])
    if a.save and not a.learn:
        raise UsageError("--save saves what --learn adapted; give --learn too")
    if a.learn and len(models) > 1:
        raise UsageError("--learn adapts one model; give a single MODEL")
    if a.learn:
        from pipeline.app.online import run_online

        r = run_online(models[0], X, y, save=a.save)
    else:
        r = run_evaluate(models, X, y)
    lines = []
    for m in r.get("members", []):
        lines.append(f"{m['model']}: {m['accuracy']:.2%}")
    lines.append(f"{'ensemble ' if r.get('ensemble') else ''}accuracy: {r['accuracy']:.2%} on {r['n']} samples")
    lines.append("class  precision  recall  support")
    lines += [f"{c['class']:>5}  {c['precision']:>9.2%}  {c['recall']:>6.2%}  {c['support']:>7}"
              for c in r["per_class"]]
    lines.append("confusion (rows: true class, columns: predicted):")
    lines += ["  " + " ".join(f"{v:>3}" for v in row) for row in r["confusion"]]
    if r.get("learn"):
        lines.insert(0, "online learning (unsupervised STDP and homeostasis while streaming)"
                     + (f"; adapted model saved to: {r['saved']}" if r["saved"] else "; model file unchanged"))
    emit(r, a.json, lines)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    t = sub.add_parser("train", formatter_class=fmt, help="train a new model or continue one, then save it",
                       description="Train on sklearn's digits (stratified 70/30 split) or your own "
                                   "--data, evaluate on the test part and save a timestamped model. "
                                   "Flags left out take the brain's [job] values (default 14 epochs, "
                                   "all samples, seed 0, split seed 0).")
    t.add_argument("--epochs", type=int, default=None, help="passes over the training split (job.epochs)")
    t.add_argument("--samples", type=int, default=None, help="cap on samples per epoch (job.samples; default: all)")
    t.add_argument("--seed", type=int, default=None, help="seed of weights, spikes and sample order "
                   "(job.seed; a continued model keeps its own)")
    t.add_argument("--split-seed", type=int, default=None, help="seed of the train/test split (job.split_seed)")
    t.add_argument("--model", default=None, help="continue training this model file")
    t.add_argument("--model-dir", default=str(DEFAULT_MODEL_DIR), help="where models are saved")
    t.add_argument("--neuron-model", choices=["lif", "izhikevich", "adex"], default=None,
                   help="neurons of a new model (default lif); a continued model keeps its own")
    t.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    add_brain_options(t)
    t.set_defaults(fn=cmd_train)

    e = sub.add_parser("evaluate", formatter_class=fmt, help="accuracy, per-class report, confusion",
                       description="Evaluate one model, or several as a voting ensemble.")
    e.add_argument("models", nargs="+", metavar="MODEL", help="model file(s); several vote")
    e.add_argument("--split-seed", type=int, default=None, help="evaluate on this split's test part "
                   "(default: the model's own)")
    e.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    e.add_argument("--learn", action="store_true", help="online learning: unsupervised STDP and homeostasis "
                   "(no labels) keep running while the digits stream; each prediction comes before that "
                   "digit's update; the model file is not changed")
    e.add_argument("--save", action="store_true", help="with --learn: save the adapted brain as a new model "
                   "beside the original")
    add_brain_options(e)
    e.set_defaults(fn=cmd_evaluate)
