"""What a sweep found: best trials (test accuracy for the best only), parameter
importances, and figures (optimisation history, parallel coordinates, the best brain's
learning curve)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.app.sweep.runner import journal, trial_run_id
from pipeline.app.sweep.spec import SweepSpec, load_spec

TEST_BEST = 3  # trials whose test accuracy is measured at the end of a sweep


def ranked(study) -> list:
    import optuna

    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)) if t.values]
    return sorted(done, key=lambda t: (-t.values[0], t.number))


def finish(store: str | Path, spec: SweepSpec, study, model_dir: Path) -> dict[str, Any]:
    """Measure the test accuracy of the best trials and return the sweep's summary."""
    from pipeline.base.data import load_data
    from pipeline.app.jobs import accuracy
    from pipeline.app.sweep.record import open_catalog, record_test
    from store.models import ModelFileError, load_model

    root = open_catalog(store)
    best = []
    for t in ranked(study)[:TEST_BEST]:
        run = trial_run_id(spec.name, t.number)
        attrs = dict(root[run].attrs) if run in root else {}
        entry = {"trial": t.number, "params": t.params, "validation_accuracy": t.values[0],
                 "run": run, "model": attrs.get("model_out")}
        if attrs.get("test_accuracy") is None and attrs.get("model_out"):
            try:
                m = load_model(attrs["model_out"])
                split, _ = load_data(m.config)
                acc, _, _ = accuracy(m.params, m.config, split.X_test, split.y_test, m.seed)
                record_test(root, spec, t.number, acc)
                entry["test_accuracy"] = acc
            except ModelFileError as e:
                entry["test_accuracy"], entry["error"] = None, str(e)
        else:
            entry["test_accuracy"] = attrs.get("test_accuracy")
        best.append(entry)
    return {"sweep": spec.name, "trials": counts(study), "best": best}


def counts(study) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name.lower()] = out.get(t.state.name.lower(), 0) + 1
    return out


def sweep_name(name: str) -> str:
    """A sweep's id, given either the id or the TOML file it was run from."""
    return load_spec(name).name if name.endswith(".toml") or Path(name).is_file() else name


def load_study(store: str | Path, name: str):
    """The study of sweep ``name``; reading one never creates anything in the store."""
    import optuna

    from pipeline.app.sweep.runner import sweep_dir

    if not (sweep_dir(store, name) / "study.journal").is_file():
        raise FileNotFoundError(f"no sweep {name!r} in {store}; `byob sweep list --store {store}` lists them")
    storage = journal(store, name)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if name not in names:
        raise FileNotFoundError(f"no sweep {name!r} in {store}; `byob sweep list --store {store}` lists them")
    return optuna.load_study(study_name=name, storage=storage)


def show(store: str | Path, name: str, out: Path | None = None, figures: bool = True) -> dict[str, Any]:
    import optuna

    from store.runs import open_run

    name = sweep_name(name)
    study = load_study(store, name)
    rows = []
    for t in ranked(study):
        try:
            attrs = open_run(store, trial_run_id(name, t.number)).attrs
        except Exception:
            attrs = {}
        rows.append({"trial": t.number, "params": t.params, "validation_accuracy": t.values[0],
                     "objectives": list(t.values), "test_accuracy": attrs.get("test_accuracy"),
                     "model": attrs.get("model_out"), "train_seconds": attrs.get("train_seconds")})
    importances: dict[str, float] = {}
    if len(rows) >= 2 and len(study.directions) == 1:
        try:
            importances = {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
        except (RuntimeError, ValueError, ZeroDivisionError):
            importances = {}  # e.g. every trial scored the same
    files: list[str] = []
    if figures and rows:
        files = write_figures(store, study, name, out or Path("analysis") / "sweeps" / name, rows)
    return {"sweep": name, "trials": counts(study), "best": rows[:10], "importances": importances,
            "directions": [d.name.lower() for d in study.directions], "figures": files}


def write_figures(store: str | Path, study, name: str, out: Path, rows: list[dict[str, Any]]) -> list[str]:
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    from store.runs import open_run

    out.mkdir(parents=True, exist_ok=True)
    files = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        target = (lambda t: t.values[0]) if len(study.directions) > 1 else None
        for fname, plot in (("optimisation_history.png", ovm.plot_optimization_history),
                            ("parallel_coordinates.png", ovm.plot_parallel_coordinate)):
            try:
                ax = plot(study, target=target, target_name="validation accuracy") if target else plot(study)
            except (ValueError, RuntimeError):
                continue
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(8, 4.5)
            fig.tight_layout()
            fig.savefig(out / fname, dpi=110)
            plt.close(fig)
            files.append(str(out / fname))
    best = rows[0]
    m = open_run(store, trial_run_id(name, best["trial"])).metrics()
    if len(m.get("epoch", [])):
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(m["epoch"] + 1, m["validation_accuracy"], "o-", label="validation")
        ax.plot(m["epoch"] + 1, m["running_accuracy"], "s--", label="running (training digits)")
        ax.set(xlabel="epoch", ylabel="accuracy", title=f"best brain: trial {best['trial']}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "best_learning_curve.png", dpi=110)
        plt.close(fig)
        files.append(str(out / "best_learning_curve.png"))
    return files

