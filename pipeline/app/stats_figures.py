"""Figures of ``pipeline.app.stats``: rates, ISI CV and Fano factor per class; selectivity
matrices; PSTHs. Drawn like ``pipeline.app.figures`` (Agg, no pyplot)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.app.figures import LAYER_COLORS, _figure, _save


def rates_figure(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    pops = list(dict.fromkeys(r["population"] for r in rows))
    keys = (("mean_rate_hz", "mean rate (Hz)"), ("isi_cv", "ISI CV"), ("fano_factor", "Fano factor"))
    fig = _figure(4.0 * len(keys), 2.6 * len(pops) + 0.4)
    axes = np.asarray(fig.subplots(len(pops), len(keys), squeeze=False))
    for i, p in enumerate(pops):
        mine = [r for r in rows if r["population"] == p and r["label"] != "all"]
        labels = [str(r["label"]) for r in mine]
        for ax, (k, title) in zip(axes[i], keys):
            vals = [np.nan if r[k] is None else r[k] for r in mine]
            if np.all(np.isnan(vals)):  # a silent population has no ISIs or Fano factors to show
                ax.text(0.5, 0.5, "no spikes" if k == "mean_rate_hz" or not any(r["mean_rate_hz"] for r in mine)
                        else "too few spikes", ha="center", va="center", transform=ax.transAxes)
                vals = [0.0] * len(mine)
            ax.bar(labels, vals, color=LAYER_COLORS.get(p, "gray"))
            overall = next(r[k] for r in rows if r["population"] == p and r["label"] == "all")
            if overall is not None:
                ax.axhline(overall, color="k", lw=0.8, ls="--", label="all classes")
            ax.set_title(f"{p}: {title}")
            ax.set_xlabel("digit class")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Spike statistics per digit class (Elephant)")
    return _save(fig, path)


def selectivity_figure(path: str | Path, selectivity: dict[str, dict[str, Any]]) -> Path:
    pops = [p for p in selectivity if p != "input"] or list(selectivity)
    fig = _figure(4.5 * len(pops), 4.2)
    axes = np.asarray(fig.subplots(1, len(pops), squeeze=False))[0]
    for ax, p in zip(axes, pops):
        m = np.asarray(selectivity[p]["rate_hz"], float)
        n = len(m)
        m = m[m.max(axis=1) > 0] if m.size else m  # silent neurons have no preference to show
        if m.size:
            order = np.lexsort((-m.max(axis=1), np.argmax(m, axis=1)))  # grouped by preferred class
            im = ax.imshow(m[order], aspect="auto", cmap="magma", interpolation="nearest")
            fig.colorbar(im, ax=ax, label="mean rate (Hz)")
            ax.set_xticks(range(m.shape[1]), [str(c) for c in selectivity[p]["classes"]])
        else:
            ax.text(0.5, 0.5, "no spikes", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{p}: rate per class ({len(m)} of {n} neurons fired)")
        ax.set_xlabel("digit class")
        ax.set_ylabel("firing neurons, by preferred class")
    return _save(fig, path)


def psth_figure(path: str | Path, psth: dict[str, dict[str, Any]]) -> Path:
    pops = list(psth)
    fig = _figure(5.0 * len(pops), 3.4)
    axes = np.asarray(fig.subplots(1, len(pops), squeeze=False))[0]
    for ax, p in zip(axes, pops):
        b = psth[p]["bin_ms"]
        for c, r in psth[p]["rate_hz"].items():
            ax.plot(np.arange(len(r)) * b + b / 2, r, lw=1, label=c)
        ax.set_title(f"{p}: PSTH per digit class")
        ax.set_xlabel("time in presentation (ms)")
        ax.set_ylabel("rate per neuron (Hz)")
    axes[-1].legend(title="class", fontsize=7, ncols=2)
    return _save(fig, path)
