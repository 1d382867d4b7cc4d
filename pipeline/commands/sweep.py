"""``byob sweep``: search for a better brain with Optuna, trials on Dask.

``byob sweep SWEEP.toml`` runs a sweep file (``byob sweep new FILE`` writes a starter),
``--resume`` continues it after Ctrl-C or a crash, ``byob sweep show NAME`` reports it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pipeline.commands.brain import UsageError

ACTIONS = ("run", "new", "show", "list")


def cmd_run(a: argparse.Namespace) -> int:
    from pipeline.base.config import ConfigError
    from pipeline.base.data import DataError, load_data
    from pipeline.app.sweep.runner import Progress, SweepRunner
    from pipeline.app.sweep.spec import load_spec

    if a.trials is not None and a.trials < 1:
        raise UsageError("--trials must be at least 1")
    if a.workers is not None and not 1 <= a.workers <= 256:
        raise UsageError("--workers must be 1..256")
    try:
        spec = load_spec(a.file, a.trials, a.sets)
        load_data(spec.config_for({}))  # bad data fails here, not in every trial
    except (ConfigError, DataError) as e:
        raise UsageError(str(e)) from e
    if a.workers:
        from dataclasses import replace
        spec = replace(spec, workers=a.workers)
    runner = SweepRunner(spec, a.store, a.model_dir, scheduler=a.scheduler, resume=a.resume,
                         progress=Progress(spec))
    try:
        summary = runner.run()
    except KeyboardInterrupt:
        from pipeline.app.sweep.report import counts, load_study

        done = counts(load_study(a.store, spec.name))
        print(f"byob sweep: interrupted; the study and its finished trials are kept in {a.store} ({done}); "
              f"continue with `byob sweep {a.file} --store {a.store} --resume`", file=sys.stderr)
        return 130
    except (FileExistsError, FileNotFoundError) as e:
        raise UsageError(str(e)) from e
    except OSError as e:
        raise UsageError(f"cannot reach the Dask scheduler {a.scheduler}: {e}") from e
    lines = [f"sweep {spec.name}: {summary['trials']} in {summary['wall_seconds']:.0f} s"]
    for b in summary["best"]:
        test = f", test {b['test_accuracy']:.2%}" if b.get("test_accuracy") is not None else ""
        lines.append(f"  trial {b['trial']}: validation {b['validation_accuracy']:.2%}{test} {b['params']} "
                     f"model {b['model']}")
    lines.append(f"`byob sweep show {spec.name} --store {a.store}` draws it")
    if a.json:
        print(json.dumps(summary, sort_keys=True, default=str))
    else:
        print("\n".join(lines))
    return 0


def cmd_new(a: argparse.Namespace) -> int:
    from pipeline.base.config import ConfigError
    from pipeline.base.configfile import preset_text
    from pipeline.app.sweep.spec import starter_sweep

    path = Path(a.file)
    if path.exists() and not a.force:
        raise UsageError(f"{path} exists; choose another name or add --force to overwrite it")
    try:
        preset_text(a.preset)
    except ConfigError as e:
        raise UsageError(str(e)) from e
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(starter_sweep(a.preset), encoding="utf-8")
    print(f"wrote {path}; run it with `byob sweep {path}`")
    return 0


def cmd_show(a: argparse.Namespace) -> int:
    from pipeline.app.sweep.report import show
    from pipeline.app.sweep.runner import fmt
    from store.runs import StoreError

    try:
        r = show(a.store, a.name, Path(a.out) if a.out else None, figures=not a.no_figures)
    except (FileNotFoundError, StoreError, ValueError) as e:  # ValueError: a bad sweep file (ConfigError)
        raise UsageError(str(e)) from e
    if a.json:
        print(json.dumps(r, sort_keys=True, default=str))
        return 0
    print(f"sweep {r['sweep']}: {r['trials']}")
    for b in r["best"]:
        test = f"{b['test_accuracy']:.2%}" if b.get("test_accuracy") is not None else "-"
        ps = " ".join(f"{k.split('.', 1)[1]}={fmt(v)}" for k, v in b["params"].items())
        print(f"  trial {b['trial']:>4}: validation {b['validation_accuracy']:.2%}  test {test:>6}  {ps}")
    if r["importances"]:
        print("parameter importances: " + ", ".join(f"{k} {v:.2f}" for k, v in r["importances"].items()))
    for f in r["figures"]:
        print(f"figure: {f}")
    return 0


def cmd_list(a: argparse.Namespace) -> int:
    from pipeline.app.sweep.runner import SWEEPS

    d = Path(a.store) / SWEEPS
    names = sorted(p.name for p in d.iterdir() if (p / "study.journal").is_file()) if d.is_dir() else []
    if a.json:
        print(json.dumps(names))
    else:
        print("\n".join(names) if names else f"(no sweeps in {a.store})")
    return 0


def normalise_argv(argv: list[str]) -> list[str]:
    """``byob sweep FILE ...`` is ``byob sweep run FILE ...``."""
    if len(argv) >= 2 and argv[0] == "sweep" and argv[1] not in ACTIONS and argv[1] not in ("-h", "--help"):
        return ["sweep", "run", *argv[1:]]
    return argv


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    store = os.environ.get("BYOB_STORE", "runs.zarr")
    s = sub.add_parser("sweep", formatter_class=fmt, help="search for a better brain (Optuna on Dask)",
                       description="byob sweep SWEEP.toml runs a sweep file: Optuna proposes brains from its "
                                   "search space, each trial trains on Dask (an embedded LocalCluster, one "
                                   "trial per core, or --scheduler ADDRESS) and is scored on validation "
                                   "digits from the training part; every trial is a run of the store's "
                                   "catalog. Actions: run (the default), new, show, list.")
    ss = s.add_subparsers(dest="sweep_command", metavar="ACTION", required=True)
    r = ss.add_parser("run", formatter_class=fmt, help="run or --resume a sweep file (the default action)")
    r.add_argument("file", metavar="SWEEP.toml")
    r.add_argument("--store", default=store, help="run store holding the study and the trials (env BYOB_STORE)")
    r.add_argument("--trials", type=int, default=None, help="number of trials (overrides the file)")
    r.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="change the base brain, e.g. --set job.epochs=2 (repeatable)")
    r.add_argument("--resume", action="store_true", help="continue the sweep of the same name in --store")
    r.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                   help="run the trials on this Dask scheduler instead of an embedded LocalCluster")
    r.add_argument("--workers", type=int, default=None, help="LocalCluster workers (default: the file's, "
                   "else one per core)")
    r.add_argument("--model-dir", default="models", help="trial models go to MODEL_DIR/sweeps/NAME/")
    r.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    r.set_defaults(fn=cmd_run)
    n = ss.add_parser("new", formatter_class=fmt, help="write a commented starter sweep file")
    n.add_argument("file", metavar="FILE")
    n.add_argument("--preset", default="default", help="the base brain's preset")
    n.add_argument("--force", action="store_true", help="overwrite an existing file")
    n.set_defaults(fn=cmd_new)
    sh = ss.add_parser("show", formatter_class=fmt, help="best trials, parameter importances, figures")
    sh.add_argument("name", metavar="SWEEP")
    sh.add_argument("--store", default=store, help="run store (env BYOB_STORE)")
    sh.add_argument("--out", default=None, help="figure folder (default analysis/sweeps/NAME)")
    sh.add_argument("--no-figures", action="store_true", help="tables only")
    sh.add_argument("--json", action="store_true", help="print one JSON object")
    sh.set_defaults(fn=cmd_show)
    ls = ss.add_parser("list", formatter_class=fmt, help="the sweeps of a store")
    ls.add_argument("--store", default=store, help="run store (env BYOB_STORE)")
    ls.add_argument("--json", action="store_true", help="print a JSON list")
    ls.set_defaults(fn=cmd_list)

