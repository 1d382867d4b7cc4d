"""Brains side by side: models and recorded runs compared on what a user weighs.

``compare(sources)`` takes model files and run ids of a store and returns one entry
per brain: its configuration's differences from the defaults (and the keys on which the
brains differ from each other), test accuracy, per-class recall, training time, hidden
spikes per test digit, model size, and its learning curve. A model is evaluated on its
own test split here; a run is read from the store as recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.base.config import Config, ConfigError
from pipeline.base.configfile import differences


class CompareError(ValueError):
    """A source that is neither a readable model file nor a run of the store."""


def _model_entry(path: Path) -> dict[str, Any]:
    from nodes.network.core import NetworkCore
    from pipeline.base.data import load_data
    from pipeline.base.schedule import EVAL_EPOCH, INFER_BATCH, eval_batches, predict
    from nodes.network.present import present
    from store.models import load_model

    m = load_model(path)
    split, _ = load_data(m.config)
    test = m.config.testing()
    core = NetworkCore.for_config(test.network)
    counts = np.zeros((len(split.X_test), test.network.n_output), np.int32)
    hidden = np.zeros(len(split.X_test), np.int64)
    for ids, pad in eval_batches(len(split.X_test), INFER_BATCH):
        res, _ = present(core, m.params, split.X_test[pad], m.seed, EVAL_EPOCH, pad, None, rasters=False)
        counts[ids] = res.output_counts()[: len(ids)]
        hidden[ids] = res.hidden_counts()[: len(ids)].sum(1)
    preds = predict(counts, m.seed)
    curve = [{"epoch": e["epoch"] + 1, "accuracy": e["test_accuracy"]}
             for h in m.history for e in h.get("epoch_log", []) if e.get("test_accuracy") is not None]
    curve += [{"epoch": e["epoch"] + 1, "accuracy": e["validation_accuracy"]}
              for h in m.history for e in h.get("epoch_log", []) if "validation_accuracy" in e and not
              e.get("test_accuracy")]
    return {"source": str(path), "kind": "model", "config": m.config,
            "test_accuracy": float(np.mean(preds == split.y_test)),
            "recall": _recall(split.y_test, preds, test.network.n_output),
            "train_seconds": float(sum(h.get("train_seconds", 0) for h in m.history)),
            "spikes_per_digit": float(hidden.mean()) if len(hidden) else None,
            "model_bytes": path.stat().st_size, "curve": curve, "curve_label": "test accuracy per epoch"}


def _recall(y: np.ndarray, preds: np.ndarray, n: int) -> list[float | None]:
    out: list[float | None] = []
    for c in range(n):
        sel = y == c
        out.append(float(np.mean(preds[sel] == c)) if sel.any() else None)
    return out


def _run_entry(store: str | Path, run: str) -> dict[str, Any]:
    from store.layout import PHASES
    from store.runs import open_run

    r = open_run(store, run)
    attrs = r.attrs
    raw = attrs.get("config") or attrs.get("start", {}).get("config") or {}
    try:
        config = Config.from_dict(raw)
    except ConfigError as e:
        raise CompareError(f"run {r.run}: its configuration cannot be read ({e})") from e
    s = r.summary()
    p = r.predictions()
    test = p.get("phase", np.zeros(0)) == PHASES.index("test")
    recall = _recall(p["label"][test], p["predicted"][test], config.network.n_output) if np.any(test) else []
    spikes = None
    n_hidden_rows = r.committed.get("spikes/hidden", 0)
    if n_hidden_rows:
        spikes = r.committed.get("spikes/hidden/events", 0) / n_hidden_rows
    end = attrs.get("end", {}).get("summary", {}) if isinstance(attrs.get("end"), dict) else {}
    m = r.metrics()
    if "validation_accuracy" in m:
        curve = [{"epoch": int(e) + 1, "accuracy": float(a)} for e, a in zip(m["epoch"], m["validation_accuracy"])]
        label = "validation accuracy per epoch"
    elif "running_accuracy" in m and len(m["running_accuracy"]):
        t0 = float(m["time"][0])
        curve = [{"time_s": float(t) - t0, "accuracy": float(a)} for t, a in zip(m["time"], m["running_accuracy"])]
        label = "running accuracy over the run"
    else:
        curve, label = [], ""
    model = s.get("model_out")
    seconds = attrs.get("train_seconds") or end.get("train_seconds")
    if seconds is None and s.get("started") and s.get("ended"):
        seconds = float(s["ended"]) - float(s["started"])
    return {"source": r.run, "kind": s.get("kind") or "run", "config": config,
            "test_accuracy": s.get("test_accuracy"), "recall": recall, "train_seconds": seconds,
            "spikes_per_digit": spikes, "model_bytes": Path(model).stat().st_size if model and Path(model).exists()
            else None, "curve": curve, "curve_label": label}


def compare(sources: list[str], store: str | Path) -> dict[str, Any]:
    from store.models import ModelFileError
    from store.runs import StoreError

    entries = []
    for src in sources:
        try:
            entries.append(_model_entry(Path(src)) if Path(src).is_file() else _run_entry(store, src))
        except (ModelFileError, StoreError, CompareError) as e:
            raise CompareError(f"{src}: {e}") from e
    keys = sorted({k for e in entries for k in differences(e["config"])} | {
        k for e in entries for k in differences(e["config"], entries[0]["config"])})
    for e in entries:
        flat = e["config"].to_dict()
        e["settings"] = {k: flat[k.split(".")[0]][k.split(".")[1]] for k in keys}
        e["differs_from_default"] = {k: list(v) for k, v in differences(e["config"]).items()}
        e["config"] = flat
    return {"brains": entries, "keys": keys}


def figure(result: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    xlabel = "epoch"
    for e in result["brains"]:
        c = e["curve"]
        if not c:
            continue
        x = [p.get("epoch", p.get("time_s")) for p in c]
        if "time_s" in c[0]:
            xlabel = "epoch, or seconds into a pipeline run"
        ax.plot(x, [p["accuracy"] for p in c], "o-", ms=3, label=f"{Path(e['source']).name} ({e['curve_label']})")
    ax.set(xlabel=xlabel, ylabel="accuracy", title="learning curves")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
