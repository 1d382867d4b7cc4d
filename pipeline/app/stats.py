"""Spike statistics of a recorded run with Elephant on neo SpikeTrains (``byob analyze RUN
--stats``).

Each recorded presentation is a trial: a neo ``SpikeTrain`` per neuron, from the
presentation's start (0) to its end. Over the last ``presentations`` recorded ones:

- per population and per label (and over all labels): the mean firing rate (Hz,
  ``elephant.statistics.mean_firing_rate`` averaged over the trains), the ISI coefficient
  of variation (``cv(isi(...))`` of every train with at least 3 spikes, averaged) and the
  Fano factor (``fanofactor`` of each neuron's trains over the label's trials, averaged
  over the neurons that fired);
- a neuron x label selectivity matrix per population: the mean rate of each neuron for
  each digit class, and each neuron's selectivity index (best class against the mean of
  the others, (best - rest) / (best + rest));
- a PSTH per digit class and population (``time_histogram``, rate per neuron).

Written as ``stats.csv`` and ``stats.json`` (everything, matrices and PSTHs included) plus
``stats_rates.png``, ``selectivity.png`` and ``psth.png``, linked from ``summary.html``.
"""

from __future__ import annotations

import csv
import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from store.runs import RunReader, StoreError
from store.timeline import spike_chunks, timeline

PRESENTATIONS = 300  # the most recent recorded presentations the statistics look at
PSTH_BIN_MS = 5.0
FILES = (("stats_rates.png", "Mean rate, ISI CV and Fano factor per population and digit class"),
         ("selectivity.png", "Selectivity: mean rate of each neuron per digit class"),
         ("psth.png", "PSTH per digit class"),
         ("stats.csv", "The statistics table (CSV)"), ("stats.json", "Everything, as JSON"))


def _trains(run: RunReader, presentations: int
            ) -> tuple[Any, np.ndarray, dict[str, list[list[np.ndarray]]], dict[str, np.ndarray]]:
    """(timeline, chosen trials, population -> per chosen trial -> per neuron spike times in s
    from the trial's start, population -> which chosen trials recorded it)."""
    tl = timeline(run)
    recorded = np.flatnonzero(tl.recorded)
    chosen = recorded[-presentations:]
    slot = np.full(len(tl), -1, np.int64)
    slot[chosen] = np.arange(len(chosen))
    out: dict[str, list[list[np.ndarray]]] = {}
    has: dict[str, np.ndarray] = {}
    for p in tl.populations:
        parts: list[list[list[float]]] = [[[] for _ in range(tl.sizes[p])] for _ in chosen]
        for trial, neuron, t in spike_chunks(run, tl, p):
            k = slot[trial]
            keep = k >= 0
            for kk, j, tt in zip(k[keep].tolist(), neuron[keep].tolist(), (t - tl.start[trial])[keep].tolist()):
                parts[kk][j].append(tt)
        out[p] = [[np.asarray(x) for x in row] for row in parts]
        has[p] = np.isin(chosen, tl.rows[p])
    return tl, chosen, out, has


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def spike_stats(run: RunReader, presentations: int = PRESENTATIONS) -> dict[str, Any]:
    """The statistics of ``run`` as plain JSON (see the module docstring)."""
    import logging
    import warnings

    logging.getLogger("elephant").setLevel(logging.ERROR)  # its bin-rounding notices, once per PSTH
    with warnings.catch_warnings():  # quantities deprecates an argument Elephant passes, once per train
        warnings.filterwarnings("ignore", message="The 'copy' argument in Quantity is deprecated")
        return _spike_stats(run, presentations)


def _spike_stats(run: RunReader, presentations: int) -> dict[str, Any]:
    import neo
    import quantities as pq
    from elephant.statistics import cv, fanofactor, isi, mean_firing_rate, time_histogram

    tl, chosen, spikes, has = _trains(run, presentations)
    if not len(chosen):
        raise StoreError(f"run {run.run} holds no recorded presentations to take statistics of")
    length = tl.stop[chosen] - tl.start[chosen]
    labels = tl.label[chosen]
    classes = sorted(set(labels.tolist()))
    rows, selectivity, psth = [], {}, {}
    for p, per_trial in spikes.items():
        n = tl.sizes[p]
        trains = [[neo.SpikeTrain(times * pq.s, t_start=0 * pq.s, t_stop=float(length[k]) * pq.s)
                   for times in per_trial[k]] for k in range(len(chosen))]
        rate = np.array([[float(mean_firing_rate(st).rescale(pq.Hz).magnitude) for st in row] for row in trains])
        for lab in ["all", *classes]:  # the trials that recorded this population
            ks = np.flatnonzero(has[p] & ((labels == lab) if lab != "all" else True))
            cvs = [float(cv(isi(trains[k][j]))) for k in ks for j in range(n) if len(trains[k][j]) >= 3]
            fanos = [float(fanofactor([trains[k][j] for k in ks])) for j in range(n)
                     if any(len(trains[k][j]) for k in ks)]
            rows.append({"population": p, "label": lab, "presentations": int(len(ks)), "neurons": n,
                         "mean_rate_hz": _finite(float(rate[ks].mean())) if len(ks) else None,
                         "isi_cv": _finite(float(np.mean(cvs))) if cvs else None, "isi_cv_trains": len(cvs),
                         "fano_factor": _finite(float(np.mean(fanos))) if len(ks) > 1 and fanos else None})
        classes_p = [c for c in classes if np.any(has[p] & (labels == c))]
        m = np.array([rate[has[p] & (labels == c)].mean(axis=0) for c in classes_p]).reshape(-1, n).T
        best = m.max(axis=1) if len(classes_p) else np.zeros(n)
        rest = (m.sum(axis=1) - best) / max(len(classes_p) - 1, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            index = np.where(best + rest > 0, (best - rest) / (best + rest), np.nan)
        selectivity[p] = {"rate_hz": m.tolist(), "classes": classes_p,
                          "preferred_class": [classes_p[i] for i in np.argmax(m, axis=1)] if classes_p else [],
                          "index": [_finite(v) for v in index.tolist()]}
        t_stop = float(length.min())
        bin_s = max(PSTH_BIN_MS / 1000.0, tl.dt[p] / 1000.0)
        psth[p] = {"bin_ms": bin_s * 1000.0, "rate_hz": {}}
        for c in classes_p:
            pooled = []
            for k in np.flatnonzero(has[p] & (labels == c)):  # the shortest presentation bounds every trial
                t = np.concatenate(per_trial[k]) if n else np.zeros(0)
                pooled.append(neo.SpikeTrain(t[t < t_stop] * pq.s, t_start=0 * pq.s, t_stop=t_stop * pq.s))
            h = time_histogram(pooled, bin_size=bin_s * pq.s, output="rate")
            psth[p]["rate_hz"][str(c)] = (np.asarray(h.rescale(pq.Hz).magnitude).ravel() / max(n, 1)).tolist()
    return {"run": run.run, "presentations": int(len(chosen)), "of_recorded": int(tl.recorded.sum()),
            "trials_from": int(chosen[0]), "rows": rows, "selectivity": selectivity, "psth": psth}


def write_stats(stats: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """The table (CSV, JSON) and the three figures; returns their paths."""
    from pipeline.app import stats_figures

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "stats.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(stats["rows"][0]))
        w.writeheader()
        w.writerows(stats["rows"])
    (out / "stats.json").write_text(json.dumps(stats, sort_keys=True), encoding="utf-8")
    stats_figures.rates_figure(out / "stats_rates.png", stats["rows"])
    stats_figures.selectivity_figure(out / "selectivity.png", stats["selectivity"])
    stats_figures.psth_figure(out / "psth.png", stats["psth"])
    return [out / name for name, _ in FILES]


def link_summary(out_dir: str | Path, stats: dict[str, Any]) -> Path:
    """Add a 'Spike statistics' section to the ``summary.html`` that ``analyze`` wrote."""
    page = Path(out_dir) / "summary.html"
    text = page.read_text(encoding="utf-8") if page.exists() else "<!doctype html><html><body></body></html>"
    head = ("<tr><th>population</th><th>label</th><th>presentations</th><th>rate (Hz)</th><th>ISI CV</th>"
            "<th>Fano</th></tr>")
    cell = lambda v: "-" if v is None else f"{v:.3g}" if isinstance(v, float) else html.escape(str(v))  # noqa: E731
    body = "".join(f"<tr><td>{cell(r['population'])}</td><td>{cell(r['label'])}</td><td>{r['presentations']}</td>"
                   f"<td>{cell(r['mean_rate_hz'])}</td><td>{cell(r['isi_cv'])}</td><td>{cell(r['fano_factor'])}</td></tr>"
                   for r in stats["rows"] if r["label"] == "all")
    links = " ".join(f"<a href='{n}'>{html.escape(t)}</a><br>" for n, t in FILES)
    figs = "".join(f"<h3>{html.escape(t)}</h3><img src='{n}' alt='{html.escape(t)}'>" for n, t in FILES
                   if n.endswith(".png"))
    section = (f"<section id='spike-statistics'><h2>Spike statistics (Elephant)</h2><p>The last "
               f"{stats['presentations']} of {stats['of_recorded']} recorded presentations.</p>"
               f"<table>{head}{body}</table><p>{links}</p>{figs}</section>")
    start = text.find("<section id='spike-statistics'>")
    if start >= 0:  # analyzed again: replace the old section
        text = text[:start] + text[text.index("</section>", start) + len("</section>"):]
    text = text.replace("</body>", section + "</body>") if "</body>" in text else text + section
    page.write_text(text, encoding="utf-8")
    return page


def run_stats(run: RunReader, out_dir: str | Path, presentations: int = PRESENTATIONS) -> list[str]:
    """``byob analyze RUN --stats``: compute, write the table and figures, link them from
    ``summary.html``; returns the files written."""
    stats = spike_stats(run, presentations)
    files = write_stats(stats, out_dir)
    link_summary(out_dir, stats)
    return [str(f) for f in files]
