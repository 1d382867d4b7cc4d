"""Offline analysis of a network: what ``byob analyze`` and menu item 3 write.

A ``Recording`` holds plain arrays (a few samples' rasters and membrane traces, the
weights at the start and at the end, the evaluated test set); ``analyze`` turns it into
PNG figures (``pipeline.app.figures``) and one ``summary.html`` page that shows them all.
Recordings come from a model file (``recording_from_model``: the network core is run
again on a few test digits) or, later, from a recorded pipeline run: the store's
``recording_from_run`` builds the same dataclass from a run's spike events, weight
snapshots and predictions, and everything below works unchanged.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from pipeline.app import figures

LAYERS = ("input", "hidden", "output")
# (file name, what it shows), in the order analyze writes them.
FIGURES = (
    ("raster.png", "Spike rasters of every layer"),
    ("membrane.png", "Membrane potentials with spike markers"),
    ("weights.png", "Weight distributions per projection"),
    ("population.png", "Population activity per layer"),
    ("stdp_change.png", "Weight change from start to end (STDP)"),
    ("receptive_fields.png", "Receptive fields of the hidden neurons"),
    ("classification.png", "Confusion matrix and per-class precision, recall, F1"),
)
SUMMARY = "summary.html"
StepFn = Callable[[str], None]  # called with the name of each stage as it starts


@dataclass(frozen=True)
class Recording:
    """Everything the figures need, as NumPy arrays.

    ``rasters``: layer name ("input", "hidden", "output") -> bool (samples, steps, neurons)
    of the few shown samples. ``traces``: layer -> float membrane potential (samples,
    steps, k) in mV of the neurons ``trace_neurons[layer]`` (k indices into the layer).
    ``images`` (samples, 64) pixel values 0..16 and ``sample_labels`` (samples,) of the
    shown samples. Weights at the start and at the end of training: ``w_ih_*`` (n_input,
    n_hidden), ``w_ho_*`` (n_hidden, n_output). ``labels``, ``predictions`` (n,) and
    ``counts`` (n, n_output) output spike counts of the evaluated test set. ``info``:
    plain JSON facts shown on the summary page (model name, accuracy, epochs...).
    """

    dt: float
    rasters: Mapping[str, np.ndarray]
    traces: Mapping[str, np.ndarray]
    trace_neurons: Mapping[str, np.ndarray]
    images: np.ndarray
    sample_labels: np.ndarray
    w_ih_start: np.ndarray
    w_ih_end: np.ndarray
    w_ho_start: np.ndarray
    w_ho_end: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    counts: np.ndarray
    v_threshold: float | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    image_shape: tuple[int, int] = (8, 8)  # of the input images (28 x 28 for your own, ...)

    def __post_init__(self) -> None:
        """Shapes that disagree fail here, with what was expected, not deep in a figure."""
        missing = [k for k in LAYERS if k not in self.rasters]
        if missing:
            raise ValueError(f"Recording: rasters lack layers {missing} (need {list(LAYERS)})")
        shapes = {k: np.shape(v) for k, v in self.rasters.items()}
        if any(len(s) != 3 for s in shapes.values()) or len({s[:2] for s in shapes.values()}) != 1:
            raise ValueError(f"Recording: rasters must be (samples, steps, neurons) with the same "
                             f"samples and steps in every layer, got {shapes}")
        n, steps = shapes["input"][:2]
        i, h, o = shapes["input"][2], shapes["hidden"][2], shapes["output"][2]
        expect = {"w_ih_start": (i, h), "w_ih_end": (i, h), "w_ho_start": (h, o), "w_ho_end": (h, o),
                  "images": (n, self.image_shape[0] * self.image_shape[1]), "sample_labels": (n,)}
        for name, shape in expect.items():
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"Recording: {name} has shape {np.shape(getattr(self, name))}, "
                                 f"expected {shape}")
        for layer, v in self.traces.items():
            k = len(self.trace_neurons.get(layer, ()))
            if np.shape(v) != (n, steps, k):
                raise ValueError(f"Recording: traces[{layer!r}] has shape {np.shape(v)}, expected "
                                 f"{(n, steps, k)} (samples, steps, len(trace_neurons[{layer!r}]))")
        m = len(self.labels)
        if np.shape(self.predictions) != (m,) or np.shape(self.counts) != (m, o):
            raise ValueError(f"Recording: labels {np.shape(self.labels)}, predictions "
                             f"{np.shape(self.predictions)} and counts {np.shape(self.counts)} "
                             f"must be (n,), (n,) and (n, {o})")

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.predictions == self.labels)) if len(self.labels) else float("nan")


def recording_from_model(model: Any, n_samples: int = 3, seed: int = 0, split_seed: int = 0,
                         n_trace: int = 5, step: StepFn | None = None) -> Recording:
    """Run a model (a file path or a loaded ``store.models.Model``) on ``n_samples`` test
    digits chosen by ``seed``, with rasters and membrane traces of the ``n_trace`` most
    active hidden neurons and every output neuron, and evaluate the whole test split of
    ``split_seed``. The spike trains are those of evaluation (the model's seed,
    ``EVAL_EPOCH``, the digit's index in the test split), so the shown counts are the
    evaluation's counts. The start weights are the model's initial weights."""
    from nodes.network.core import NetworkCore
    from nodes.network.params import init_params
    from pipeline.base.data import load_data
    from pipeline.app.jobs import accuracy
    from pipeline.base.schedule import EVAL_EPOCH
    from nodes.network.present import present
    from store.models import load_model

    step = step or (lambda name: None)
    m = model if hasattr(model, "params") else load_model(model)
    split, _ = load_data(m.config.replace(job=m.config.job.replace(split_seed=split_seed)))
    cfg = m.config.network
    if not 1 <= n_samples <= len(split.y_test):
        raise ValueError(f"n_samples must be 1..{len(split.y_test)}, got {n_samples}")
    ids = np.sort(np.random.default_rng(seed).choice(len(split.y_test), n_samples, replace=False))
    step("simulate samples")
    res, _ = present(NetworkCore.for_config(cfg), m.params, split.X_test[ids], m.seed, EVAL_EPOCH, ids,
                     labels=None, n_trace=cfg.n_hidden)
    active = np.argsort(-res.hidden.sum(axis=(0, 1)), kind="stable")[:n_trace]
    step("evaluate test split")
    acc, counts, preds = accuracy(m.params, m.config, split.X_test, split.y_test, m.seed)
    start = init_params(cfg, m.seed)
    name = Path(m.path).name if getattr(m, "path", None) else "untrained network"
    return Recording(
        dt=cfg.dt, rasters={"input": res.input, "hidden": res.hidden, "output": res.output},
        traces={"hidden": np.asarray(res.v_hidden)[:, :, active], "output": np.asarray(res.v_output)},
        trace_neurons={"hidden": active, "output": np.arange(cfg.n_output)},
        images=split.X_test[ids], sample_labels=split.y_test[ids],
        w_ih_start=start.w_ih, w_ih_end=np.asarray(m.params.w_ih),
        w_ho_start=start.w_ho, w_ho_end=np.asarray(m.params.w_ho),
        labels=split.y_test, predictions=preds, counts=counts, v_threshold=cfg.V_th,
        info={"model": name, "created": m.created or None, "epochs_done": m.epochs_done,
              "samples_seen": m.samples_seen, "seed": m.seed, "split_seed": split_seed,
              "test_accuracy": acc, "test_samples": int(len(split.y_test)),
              "shown_test_indices": ids.tolist()}, image_shape=tuple(cfg.image_shape))


def recording_from_run(run: Any, n_samples: int = 3) -> Recording:
    """A recorded pipeline run (a ``store.runs.RunReader``) as a ``Recording``: the last
    ``n_samples`` training presentations' rasters and membrane traces, the first and last
    weight snapshots, and the test predictions (the training predictions if the run
    never reached its evaluation)."""
    from pipeline.base.config import Config, ConfigError
    from pipeline.base.data import DataError, load_data
    from store.layout import PHASES
    from store.runs import StoreError

    n_rec = min(run.committed.get(f"spikes/{k}", 0) for k in LAYERS)
    w = run.weights()
    if n_rec == 0 or not len(w.get("version", ())):
        raise StoreError(f"run {run.run} holds no training presentations or weight snapshots to analyze")
    # Membrane traces are published for every ``trace_every``-th presentation: show the
    # last presentations that have them (matched by sample id, newest first), else the last.
    hidden_t, output_t = run.traces("hidden"), run.traces("output")
    n_tr = min(len(hidden_t.get("values", ())), len(output_t.get("values", ())))
    input_ids = run.table("spikes/input", ("sample_id",))["sample_id"][:n_rec]
    rows, trace_rows = [], []
    for j in range(n_tr - 1, -1, -1):
        hits = np.flatnonzero(input_ids == hidden_t["sample_id"][j])
        if len(hits) and len(rows) < n_samples:
            rows.insert(0, int(hits[-1]))
            trace_rows.insert(0, j)
    traces, neurons = {}, {}
    if rows:
        for k, t in (("hidden", hidden_t), ("output", output_t)):
            traces[k], neurons[k] = t["values"][trace_rows], t["neurons"]
    else:
        rows = list(range(max(0, n_rec - n_samples), n_rec))
    rasters = {k: np.stack([run.raster(k, r).dense() for r in rows]) for k in LAYERS}
    ids = np.array([run.raster("input", r).sample_id for r in rows])
    start = run.attrs.get("start", {})
    job, cfg = start.get("job", {}), start.get("config", {}).get("network", {})
    try:  # the run's own data (digits, or the file it was trained on)
        config = Config.from_dict(start.get("config", {}))
        config = config.replace(job=config.job.replace(split_seed=int(job.get("split_seed", 0))))
        split, config = load_data(config)
    except (ConfigError, DataError, TypeError, ValueError) as e:
        raise StoreError(f"run {run.run}: its data cannot be loaded again ({e})") from e
    p = run.predictions()
    test = p["phase"] == PHASES.index("test")
    sel = test if np.any(test) else ~test
    return Recording(
        dt=float(run.group["spikes/input"].attrs["dt"]), rasters=rasters, traces=traces, trace_neurons=neurons,
        images=split.X_train[ids], sample_labels=split.y_train[ids],
        w_ih_start=w["w_ih"][0], w_ih_end=w["w_ih"][-1], w_ho_start=w["w_ho"][0], w_ho_end=w["w_ho"][-1],
        labels=p["label"][sel], predictions=p["predicted"][sel], counts=p["counts"][sel],
        v_threshold=cfg.get("V_th"),
        info={"run": run.run, "status": run.attrs.get("status"), "mode": run.attrs.get("mode"),
              "model_in": run.attrs.get("model_in") or None, "model_out": run.attrs.get("model_out") or None,
              "samples": n_rec, "evaluated": "test" if np.any(test) else "training (no evaluation recorded)",
              "weight_versions": [int(w["version"][0]), int(w["version"][-1])]},
        image_shape=tuple(config.network.image_shape))


def analyze(rec: Recording, out_dir: str | Path, step: StepFn | None = None) -> list[Path]:
    """Write every figure of ``FIGURES`` and ``summary.html`` into ``out_dir``; returns
    their paths in that order."""
    step = step or (lambda name: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    w_start = {"w_ih": rec.w_ih_start, "w_ho": rec.w_ho_start}
    w_end = {"w_ih": rec.w_ih_end, "w_ho": rec.w_ho_end}
    rasters = {k: rec.rasters[k] for k in LAYERS}
    draw = {
        "raster.png": lambda p: figures.raster_figure(p, rasters, rec.dt, rec.images, rec.sample_labels,
                                                      rec.image_shape),
        "membrane.png": lambda p: figures.membrane_figure(p, rec.traces, rec.trace_neurons, rasters,
                                                          rec.dt, rec.v_threshold),
        "weights.png": lambda p: figures.weights_figure(p, w_start, w_end),
        "population.png": lambda p: figures.population_figure(p, rasters, rec.dt),
        "stdp_change.png": lambda p: figures.stdp_change_figure(p, rec.w_ih_start, rec.w_ih_end,
                                                                rec.w_ho_start, rec.w_ho_end),
        "receptive_fields.png": lambda p: figures.receptive_fields_figure(p, rec.w_ih_end, rec.image_shape),
        "classification.png": lambda p: figures.classification_figure(p, rec.labels, rec.predictions,
                                                                      rec.counts.shape[1]),
    }
    paths = []
    for name, _ in FIGURES:
        step(name)
        draw[name](out / name)
        paths.append(out / name)
    step(SUMMARY)
    paths.append(write_summary(rec, out))
    return paths


def write_summary(rec: Recording, out_dir: Path) -> Path:
    """One HTML page: the facts of ``rec.info``, a per-class table and every figure
    (linked by relative path, so the folder can be moved as a whole)."""
    rep = figures.class_report(rec.labels, rec.predictions, rec.counts.shape[1])
    facts = {**rec.info, "test_accuracy": rec.accuracy}
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
                   for k, v in facts.items())
    classes = "".join(f"<tr><td>{c}</td><td>{rep['precision'][c]:.2%}</td><td>{rep['recall'][c]:.2%}</td>"
                      f"<td>{rep['f1'][c]:.2f}</td><td>{int(rep['confusion'][c].sum())}</td></tr>"
                      for c in range(len(rep["f1"])))
    figs = "".join(f"<h2>{html.escape(title)}</h2><img src='{name}' alt='{html.escape(title)}'>"
                   for name, title in FIGURES)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>byob analysis: "
            f"{html.escape(str(rec.info.get('model', '')))}</title><style>body{{font-family:sans-serif;"
            f"max-width:1400px;margin:auto}} img{{max-width:100%}} td,th{{padding:2px 10px;text-align:left}}"
            f"</style></head><body><h1>Build Your Own Brain: analysis</h1><table>{rows}</table>"
            f"<h2>Per class</h2><table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
            f"<th>support</th></tr>{classes}</table>{figs}</body></html>")
    path = Path(out_dir) / SUMMARY
    path.write_text(page, encoding="utf-8")
    return path


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.2%}" if 0.0 <= v <= 1.0 else f"{v:g}"
    return v if isinstance(v, str) else json.dumps(v)


def default_out_dir(model: str | Path | None) -> Path:
    return Path("analysis") / (Path(model).stem if model else "untrained")


def run_analyze(model: Any, out_dir: str | Path | None = None, n_samples: int = 3, seed: int = 0,
                step: StepFn | None = None) -> dict[str, Any]:
    """The job behind ``byob analyze`` and menu item 3: record ``model`` (a path, a
    loaded model, or a recorded run's ``RunReader``), write the figures. Returns what
    ``--json`` prints."""
    if hasattr(model, "committed"):  # a recorded run
        out = Path(out_dir) if out_dir else Path("analysis") / model.run
        step = step or (lambda name: None)
        step("read the run")
        rec = recording_from_run(model, n_samples=n_samples)
        step("(recorded: nothing to simulate)")
        files = analyze(rec, out, step=step)
        return {"model": None, "run": model.run, "out_dir": str(out), "test_accuracy": rec.accuracy,
                "files": [str(f) for f in files]}
    path = getattr(model, "path", None) if hasattr(model, "params") else model
    out = Path(out_dir) if out_dir else default_out_dir(path)
    rec = recording_from_model(model, n_samples=n_samples, seed=seed, step=step)
    files = analyze(rec, out, step=step)
    return {"model": str(path) if path else None, "out_dir": str(out), "test_accuracy": rec.accuracy,
            "files": [str(f) for f in files]}


ANALYZE_STEPS = 2 + len(FIGURES) + 1  # the calls of ``step`` during ``run_analyze``
