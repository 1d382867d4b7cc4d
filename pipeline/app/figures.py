"""Figures of a network's activity and learning: pure functions, arrays in, one PNG out.

Each function draws on its own ``matplotlib.figure.Figure`` rendered by Agg (no pyplot,
no global backend state, safe in any process) and writes ``path``. Rasters are bool
arrays (samples, steps, neurons); traces float (samples, steps, k); times in ms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
LAYER_COLORS = {"input": "tab:gray", "hidden": "tab:blue", "output": "tab:red"}


def _figure(w: float, h: float) -> Figure:
    fig = Figure(figsize=(w, h), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI)
    return path


def class_report(labels: np.ndarray, preds: np.ndarray, n: int = 10) -> dict[str, np.ndarray]:
    """Confusion matrix (rows: true class) and per-class precision, recall and F1."""
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (np.asarray(labels, np.int64), np.asarray(preds, np.int64)), 1)
    tp = np.diag(cm).astype(float)
    precision = tp / np.maximum(cm.sum(0), 1)
    recall = tp / np.maximum(cm.sum(1), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return {"confusion": cm, "precision": precision, "recall": recall, "f1": f1}


def raster_figure(path: str | Path, rasters: Mapping[str, np.ndarray], dt: float,
                  images: np.ndarray | None = None, labels: np.ndarray | None = None,
                  image_shape: tuple[int, int] = (8, 8)) -> Path:
    """One row per sample: the digit (if ``images``), then each layer's spikes."""
    layers = list(rasters)
    n = len(next(iter(rasters.values())))
    cols = len(layers) + (images is not None)
    fig = _figure(3.2 * cols, 2.4 * n + 0.4)
    axes = np.asarray(fig.subplots(n, cols, squeeze=False,
                                   width_ratios=([0.6] if images is not None else []) + [1] * len(layers)))
    for s in range(n):
        row = list(axes[s])
        if images is not None:
            ax = row.pop(0)
            ax.imshow(np.asarray(images[s]).reshape(image_shape), cmap="gray_r", vmin=0, vmax=16)
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"sample {s}" + (f" (label {int(labels[s])})" if labels is not None else ""))
        for ax, name in zip(row, layers):
            r = np.asarray(rasters[name][s], bool)
            t, i = np.nonzero(r)
            ax.scatter(t * dt, i, s=2, marker="|", color=LAYER_COLORS.get(name, "k"), linewidths=0.8)
            ax.set_xlim(0, r.shape[0] * dt)
            ax.set_ylim(-0.5, r.shape[1] - 0.5)
            ax.set_title(f"{name}: {int(r.sum())} spikes")
            ax.set_ylabel("neuron")
            if s == n - 1:
                ax.set_xlabel("time (ms)")
    fig.suptitle("Spike rasters")
    return _save(fig, path)


def membrane_figure(path: str | Path, traces: Mapping[str, np.ndarray],
                    trace_neurons: Mapping[str, np.ndarray], rasters: Mapping[str, np.ndarray],
                    dt: float, v_threshold: float | None = None) -> Path:
    """Membrane potential of the traced neurons per sample and layer; spikes (from the
    rasters) marked with a dot at the top of the panel in the trace's colour."""
    layers = list(traces)
    n = len(next(iter(traces.values())))
    fig = _figure(6.0 * len(layers), 2.6 * n + 0.4)
    axes = np.asarray(fig.subplots(n, len(layers), squeeze=False))
    for s in range(n):
        for ax, name in zip(axes[s], layers):
            v = np.asarray(traces[name][s], float)
            ids = np.asarray(trace_neurons[name])
            t = np.arange(v.shape[0]) * dt
            top = max(float(v.max()) if v.size else 0.0, v_threshold or -np.inf) + 2.0
            for j, nid in enumerate(ids):
                line, = ax.plot(t, v[:, j], lw=0.8, label=f"#{int(nid)}")
                if name in rasters:
                    st = np.flatnonzero(np.asarray(rasters[name][s])[:, int(nid)])
                    ax.plot(st * dt, np.full(len(st), top), "o", ms=3, color=line.get_color())
            if v_threshold is not None:
                ax.axhline(v_threshold, color="k", ls="--", lw=0.6)
            ax.set_title(f"sample {s}, {name} neurons")
            ax.set_ylabel("V (mV)")
            if s == n - 1:
                ax.set_xlabel("time (ms)")
            if s == 0 and len(ids) <= 10:
                ax.legend(fontsize=7, ncol=min(len(ids), 5), loc="lower right")
    fig.suptitle("Membrane potentials (dots: spikes, dashed: base threshold)")
    return _save(fig, path)


def weights_figure(path: str | Path, start: Mapping[str, np.ndarray], end: Mapping[str, np.ndarray]) -> Path:
    """Weight distribution of each projection, at the start and at the end."""
    fig = _figure(5.0 * len(end), 3.6)
    axes = np.atleast_1d(fig.subplots(1, len(end)))
    for ax, name in zip(axes, end):
        a, b = np.ravel(start[name]), np.ravel(end[name])
        lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
        bins = np.linspace(lo, hi if hi > lo else lo + 1e-6, 41)
        ax.hist(a, bins=bins, alpha=0.5, label="start", color="tab:gray")
        ax.hist(b, bins=bins, alpha=0.6, label="end", color="tab:blue")
        ax.set_title(f"{name} {tuple(np.shape(end[name]))}: mean {b.mean():.3f}")
        ax.set_xlabel("weight"), ax.set_ylabel("synapses"), ax.set_yscale("log")
        ax.legend()
    fig.suptitle("Weight distributions per projection")
    return _save(fig, path)


def population_figure(path: str | Path, rasters: Mapping[str, np.ndarray], dt: float,
                      bin_ms: float = 5.0) -> Path:
    """Population rate of each layer (Hz per neuron) over the presentation, in bins of
    ``bin_ms``: one thin line per sample, their mean in bold."""
    fig = _figure(8.0, 2.2 * len(rasters) + 0.4)
    axes = np.atleast_1d(fig.subplots(len(rasters), 1, sharex=True))
    for ax, (name, r) in zip(axes, rasters.items()):
        r = np.asarray(r, float)
        k = max(1, int(round(bin_ms / dt)))
        nb = r.shape[1] // k
        rate = r[:, : nb * k].reshape(r.shape[0], nb, k, r.shape[2]).mean(axis=(2, 3)) * 1000.0 / dt
        t = (np.arange(nb) + 0.5) * k * dt
        for row in rate:
            ax.plot(t, row, lw=0.6, alpha=0.5, color=LAYER_COLORS.get(name, "k"))
        ax.plot(t, rate.mean(0), lw=2, color=LAYER_COLORS.get(name, "k"), label="mean")
        ax.set_ylabel("Hz / neuron")
        ax.set_title(f"{name} ({r.shape[2]} neurons)")
    axes[-1].set_xlabel("time (ms)")
    fig.suptitle(f"Population activity ({bin_ms:g} ms bins)")
    return _save(fig, path)


def stdp_change_figure(path: str | Path, w_ih_start: np.ndarray, w_ih_end: np.ndarray,
                       w_ho_start: np.ndarray, w_ho_end: np.ndarray) -> Path:
    """What learning changed: histograms of the change per projection, the total change
    per hidden neuron, and the mean change of each input pixel's outgoing weights."""
    d_ih = np.asarray(w_ih_end, float) - np.asarray(w_ih_start, float)
    d_ho = np.asarray(w_ho_end, float) - np.asarray(w_ho_start, float)
    fig = _figure(11.0, 7.5)
    (a, b), (c, d) = fig.subplots(2, 2)
    for ax, name, delta in ((a, "w_ih (STDP)", d_ih), (b, "w_ho (teacher rule)", d_ho)):
        ax.hist(delta.ravel(), bins=50, color="tab:purple")
        ax.axvline(0, color="k", lw=0.6)
        ax.set_title(f"change of {name}: {np.mean(delta > 0):.0%} up, {np.mean(delta < 0):.0%} down")
        ax.set_xlabel("end - start"), ax.set_ylabel("synapses"), ax.set_yscale("log")
    per_neuron = np.abs(d_ih).sum(axis=0)
    c.bar(np.arange(len(per_neuron)), per_neuron, color="tab:blue", width=1.0)
    c.set_title("total |change| of input weights per hidden neuron")
    c.set_xlabel("hidden neuron"), c.set_ylabel("sum |dw|")
    side = int(round(np.sqrt(d_ih.shape[0])))
    pix = d_ih.mean(axis=1)
    lim = float(np.abs(pix).max()) or 1.0
    if side * side == d_ih.shape[0]:
        im = d.imshow(pix.reshape(side, side), cmap="RdBu_r", vmin=-lim, vmax=lim)
        d.set_xticks([]), d.set_yticks([])
    else:
        im = d.imshow(pix[None, :], cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    fig.colorbar(im, ax=d)
    d.set_title("mean change of each input pixel's weights")
    fig.suptitle("Weight change from start to end of training")
    return _save(fig, path)


def tile_mosaic(w_ih: np.ndarray, tile: tuple[int, int] = (8, 8), cols: int | None = None
                ) -> tuple[np.ndarray, int]:
    """Each hidden neuron's input weights (a column of ``w_ih``) as a ``tile`` image,
    scaled to its own maximum, laid out on a grid with NaN gaps. Returns the mosaic and
    the number of tiles: exactly one per hidden neuron."""
    w = np.asarray(w_ih, float)
    th, tw = tile
    if w.shape[0] == 2 * th * tw:  # ON/OFF inputs: the ON half is the prototype
        w = w[: th * tw]
    if w.shape[0] != th * tw:
        raise ValueError(f"w_ih has {w.shape[0]} inputs, tiles of {tile} need {th * tw}")
    n = w.shape[1]
    cols = cols or max(1, int(np.ceil(np.sqrt(n))))
    rows = max(1, int(np.ceil(n / cols)))
    mosaic = np.full((rows * (th + 1) - 1, cols * (tw + 1) - 1), np.nan)
    for j in range(n):
        r, c = divmod(j, cols)
        f = w[:, j].reshape(th, tw)
        mosaic[r * (th + 1): r * (th + 1) + th, c * (tw + 1): c * (tw + 1) + tw] = f / (f.max() or 1.0)
    return mosaic, n


def receptive_fields_figure(path: str | Path, w_ih: np.ndarray, tile: tuple[int, int] = (8, 8)) -> int:
    """The receptive fields of the hidden neurons on one grid; returns the tiles drawn."""
    mosaic, n = tile_mosaic(w_ih, tuple(tile))
    side = np.sqrt(n)
    fig = _figure(max(4.0, 0.9 * side + 1.0), max(4.0, 0.9 * side + 1.3))
    ax = fig.subplots()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")  # the gaps
    ax.imshow(mosaic, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(f"Receptive fields of {n} hidden neurons (each scaled to its max)")
    _save(fig, path)
    return n


def classification_figure(path: str | Path, labels: np.ndarray, preds: np.ndarray, n: int = 10) -> Path:
    """Confusion matrix with counts, and per-class precision, recall and F1."""
    rep = class_report(labels, preds, n)
    cm = rep["confusion"]
    acc = float(np.trace(cm) / max(cm.sum(), 1))
    fig = _figure(13.0, 5.2)
    a, b = fig.subplots(1, 2, width_ratios=[1, 1.3])
    a.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        if v:
            a.text(j, i, str(v), ha="center", va="center", fontsize=7,
                   color="white" if v > cm.max() / 2 else "black")
    a.set_xticks(range(n)), a.set_yticks(range(n))
    a.set_xlabel("predicted"), a.set_ylabel("true")
    a.set_title(f"confusion ({int(cm.sum())} samples, accuracy {acc:.1%})")
    x = np.arange(n)
    for k, (name, color) in enumerate((("precision", "tab:blue"), ("recall", "tab:orange"), ("f1", "tab:green"))):
        b.bar(x + (k - 1) * 0.27, rep[name], width=0.27, label=name, color=color)
    b.set_xticks(x), b.set_ylim(0, 1.05), b.set_xlabel("class"), b.legend(ncol=3, loc="upper center")
    b.set_title(f"per class (macro F1 {rep['f1'].mean():.2f})")
    fig.suptitle("Classification on the test split")
    return _save(fig, path)
