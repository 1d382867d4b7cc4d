"""Sweeps in the run store: each trial a run of the catalog, the study beside them.

A trial's run ``<sweep>-tNNNN`` holds its per-epoch metrics table (epoch, validation and
running accuracy, seconds) and attributes: kind ``trial``, the sweep, the trial number,
its parameters, its effective configuration, its state and its model file. Recording a
trial number again (a trial rerun after its driver died) replaces the earlier record,
so the catalog holds each trial once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from nodes.recorder.core import RunWriter, open_store_for_writing
from pipeline.app.sweep.runner import SWEEPS, trial_run_id
from pipeline.app.sweep.spec import SweepSpec
from store import layout

METRICS = ["epoch", "validation_accuracy", "running_accuracy", "seconds"]


def open_catalog(store: str | Path) -> zarr.Group:
    root = open_store_for_writing(str(store))
    root.require_group(SWEEPS)
    return root


def write_spec(root: zarr.Group, spec: SweepSpec) -> None:
    g = root.require_group(f"{SWEEPS}/{spec.name}")
    g.attrs.update({"spec": spec.to_dict(), "source": spec.source, "updated": time.time()})


def _fresh(root: zarr.Group, run: str) -> RunWriter:
    if run in root:
        del root[run]
    return RunWriter(root, run)


def write_model(data: bytes, model_dir: Path) -> Path:
    """A trial's model file under a new timestamped name, written atomically and exclusively."""
    from store.models import write_new

    return write_new(model_dir, lambda f: f.write(data))


def record_trial(root: zarr.Group, spec: SweepSpec, number: int, params: dict[str, Any], r: dict[str, Any],
                 model_dir: Path) -> str | None:
    from pipeline.app.sweep.trial import model_from_bytes

    path = None
    if r.get("model"):
        model = model_from_bytes(r["model"])  # a damaged file is refused, not recorded
        path = write_model(r["model"], model_dir).resolve()
        config = model.config.to_dict()
    else:
        config = spec.config_for(params).to_dict()
    w = _fresh(root, trial_run_id(spec.name, number))
    tab = w.table("metrics", layout.metric_columns(METRICS))
    now = time.time()
    for c in r["curve"]:
        tab.append(time=np.float64(now), **{k: np.float64(c[k]) for k in METRICS})
    w.mark("finished" if r["state"] == "complete" else r["state"], kind="trial", mode="sweep",
           sweep=spec.name, trial=number, params=params, config=config, trial_state=r["state"],
           validation_accuracy=r["value"], train_seconds=r["train_seconds"], n_validation=r["n_validation"],
           host=r.get("host"), started=now - r["seconds"], ended=now, model_out=str(path) if path else None)
    return str(path) if path else None


def record_failed(root: zarr.Group, spec: SweepSpec, number: int, params: dict[str, Any], error: str) -> None:
    w = _fresh(root, trial_run_id(spec.name, number))
    now = time.time()
    w.mark("failed", kind="trial", mode="sweep", sweep=spec.name, trial=number, params=params,
           trial_state="failed", error=error, started=now, ended=now)


def record_test(root: zarr.Group, spec: SweepSpec, number: int, accuracy: float) -> None:
    """The test accuracy of one of the best trials (the test digits never steer the search)."""
    g = root[trial_run_id(spec.name, number)]
    g.attrs.update({"end": {"summary": {"test_accuracy": accuracy}}, "test_accuracy": accuracy})
