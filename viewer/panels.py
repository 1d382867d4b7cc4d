"""The viewer's plots: one class per panel, each owning its Bokeh figures and sources.

Every panel has ``layout`` (what the page shows) and ``update(frame)``, which draws
what a ``viewer.state.Frame`` says changed: time series are streamed into their
``ColumnDataSource`` with the state's rollover, snapshots (the current sample, the
latest weights) replace the data. Sources are named ``byob_<what>`` so tests and the
latency benchmark can find them in the page's Bokeh document.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, LinearColorMapper, Range1d
from bokeh.palettes import Blues256, Greys256, Viridis256
from bokeh.plotting import figure

from viewer.state import POPULATIONS, Frame, Sample

COLORS = {"input": "#4c78a8", "hidden": "#e45756", "output": "#54a24b"}
HEIGHTS = {"input": 110, "hidden": 150, "output": 80}
SIZES = {"input": 64, "hidden": 100, "output": 10}  # until the first sample says otherwise
LINE_COLORS = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#b279a2", "#ff9da6", "#9d755d")


def fig(title: str, width: int, height: int, **kw: Any) -> figure:
    p = figure(title=title, width=width, height=height, toolbar_location=None, tools="", **kw)
    p.title.text_font_size = "11px"
    return p


def source(name: str, **cols: Any) -> ColumnDataSource:
    return ColumnDataSource({k: list(v) for k, v in cols.items()}, name=f"byob_{name}")


def clear(src: ColumnDataSource) -> None:
    src.data = {k: [] for k in src.data}


class Streams:
    """Sources fed by ``Series`` deltas (``stream`` with rollover)."""

    def __init__(self) -> None:
        self.sources: dict[str, tuple[ColumnDataSource, int]] = {}

    def add(self, name: str, rollover: int, *cols: str) -> ColumnDataSource:
        src = source(name, **{c: [] for c in cols})
        self.sources[name] = (src, rollover)
        return src

    def update(self, frame: Frame) -> None:
        for name, (src, rollover) in self.sources.items():
            if frame.reset:
                clear(src)
            new = frame.series.get(name)
            if new:
                src.stream({k: new[k] for k in src.data}, rollover=rollover)


class Rasters:
    """Spikes of the three layers: the current sample, and a rolling window of the last
    samples (replaced, not streamed: at 100 samples/s only the last few can be seen)."""

    def __init__(self) -> None:
        self.current = {p: source(f"current_{p}", t=[], neuron=[]) for p in POPULATIONS}
        self.window = {p: source(f"raster_{p}", t=[], neuron=[]) for p in POPULATIONS}
        self.window_range = Range1d(0, 1)  # seconds of the run
        self.y_ranges = {p: Range1d(-1, n) for p, n in SIZES.items()}
        cols_now, cols_win = [], []
        for p in POPULATIONS:
            a = fig(f"{p}: current sample" if p == "input" else p, 300, HEIGHTS[p], x_range=Range1d(0, 200),
                    y_range=self.y_ranges[p])
            a.scatter("t", "neuron", source=self.current[p], size=2, color=COLORS[p])
            w = fig(f"{p}: rolling window" if p == "input" else p, 560, HEIGHTS[p], x_range=self.window_range,
                    y_range=self.y_ranges[p])
            w.scatter("t", "neuron", source=self.window[p], size=2, color=COLORS[p])
            for f in (a, w):
                f.yaxis.axis_label = "neuron"
            cols_now.append(a)
            cols_win.append(w)
        self.now_figs = cols_now
        cols_now[-1].xaxis.axis_label = "time in the sample (ms)"
        cols_win[-1].xaxis.axis_label = "time of the run (s)"
        self.layout = pn.Row(pn.Column(*cols_now), pn.Column(*cols_win))

    def update(self, frame: Frame) -> None:
        if frame.rasters is not None or frame.reset:  # the window moves with its spikes, not between
            st = frame.status
            t_present = st["t_present"] / 1000.0
            end = st["samples"] * t_present
            self.window_range.start = max(0.0, end - st["window"] * t_present)
            self.window_range.end = max(end, t_present)
        for p, n in frame.status.get("sizes", {}).items():  # the run's config, before any spikes
            if p in self.y_ranges and self.y_ranges[p].end != n:
                self.y_ranges[p].end = n
        if frame.sample is not None:
            s = frame.sample
            for p, src in self.current.items():
                steps, neurons = s.spikes.get(p, (np.zeros(0), np.zeros(0)))
                src.data = {"t": steps * s.dt, "neuron": neurons}
            for f in self.now_figs:
                f.x_range.end = s.n_steps * s.dt
            for p, n in s.sizes.items():
                if p in self.y_ranges and self.y_ranges[p].end != n:
                    self.y_ranges[p].end = n
        elif frame.reset:
            for src in self.current.values():
                clear(src)
        if frame.rasters is not None:
            for p, src in self.window.items():
                src.data = dict(frame.rasters.get(p, {"t": [], "neuron": []}))
        elif frame.reset:
            for src in self.window.values():
                clear(src)


class Membrane:
    """Membrane potentials of a few selectable neurons in the current sample, spikes marked."""

    def __init__(self) -> None:
        self.choice = pn.widgets.MultiChoice(name="neurons", options=[], value=[], max_items=6, width=300)
        self.lines = source("traces", xs=[], ys=[], color=[], label=[])
        self.marks = source("trace_spikes", x=[], y=[], color=[])
        p = fig("membrane potential", 300, 240)
        self.title = p.title
        p.multi_line("xs", "ys", source=self.lines, color="color", line_width=1.2)
        p.scatter("x", "y", source=self.marks, color="color", marker="triangle", size=7)
        p.xaxis.axis_label, p.yaxis.axis_label = "time (ms)", "mV"
        self.v_th = -50.0
        self.sample: Sample | None = None
        self.choice.param.watch(lambda *_: self.draw(), "value")
        self.layout = pn.Column(p, self.choice)

    def update(self, frame: Frame) -> None:
        if frame.reset:
            clear(self.lines), clear(self.marks)
            self.sample = None
        s = frame.traced
        old = self.sample
        if s is None or not s.traces or (
                old is not None and (old.index, set(old.traces)) == (s.index, set(s.traces))):
            return  # nothing new to draw
        self.sample = s
        self.title.text = f"membrane potential, sample {s.sample_id} (label {s.label})"
        options = [f"{p} {n}" for p in ("hidden", "output") for n in s.traces.get(p, ([], None))[0]]
        if options and options != self.choice.options:
            keep = [v for v in self.choice.value if v in options]
            self.choice.options = options
            self.choice.value = keep or options[:3]
        self.draw()

    def draw(self) -> None:
        s = self.sample
        if s is None:
            return
        xs, ys, colors, labels, mx, my, mc = [], [], [], [], [], [], []
        for k, name in enumerate(self.choice.value):
            pop, n = name.split()
            neurons, values = s.traces.get(pop, (np.zeros(0, int), None))
            hit = np.flatnonzero(np.asarray(neurons) == int(n))
            if values is None or not len(hit):
                continue
            color = LINE_COLORS[k % len(LINE_COLORS)]
            v = values[:, hit[0]]
            xs.append(np.arange(len(v)) * s.dt)
            ys.append(v)
            colors.append(color)
            labels.append(name)
            steps, spiking = s.spikes.get(pop, (np.zeros(0), np.zeros(0)))
            t = steps[spiking == int(n)] * s.dt
            mx += list(t)
            my += [max(float(np.max(v)), self.v_th) + 2.0] * len(t)
            mc += [color] * len(t)
        self.lines.data = {"xs": xs, "ys": ys, "color": colors, "label": labels}
        self.marks.data = {"x": mx, "y": my, "color": mc}


class Digit:
    """The digit shown now (input spike counts per pixel), its label, prediction and output counts."""

    def __init__(self) -> None:
        self.image = source("digit", image=[np.zeros((8, 8))], dw=[8], dh=[8])
        p = fig("digit (input spikes per pixel)", 220, 220, x_range=Range1d(0, 8), y_range=Range1d(0, 8))
        self.image_ranges = (p.x_range, p.y_range)
        p.image("image", x=0, y=0, dw="dw", dh="dh", source=self.image,
                color_mapper=LinearColorMapper(palette=list(reversed(Greys256)), low=0))
        p.axis.visible = False
        self.counts = source("output_counts", x=list(range(10)), top=[0] * 10, color=["#bbbbbb"] * 10)
        c = fig("output spikes per class", 220, 160, x_range=(-0.6, 9.6), y_range=Range1d(0, 5))
        c.vbar("x", top="top", width=0.8, color="color", source=self.counts)
        self.counts_range = c.y_range
        c.xaxis.ticker = list(range(10))
        self.text = pn.pane.HTML("", width=220)
        self.layout = pn.Column(p, self.text, c)

    def update(self, frame: Frame) -> None:
        s = frame.sample
        if s is None:
            if frame.reset:
                self.text.object = ""
            return
        img = s.image()
        h, w = img.shape
        if (self.image_ranges[0].end, self.image_ranges[1].end) != (w, h):  # 8x8, 28x28, ...
            self.image_ranges[0].end, self.image_ranges[1].end = w, h
        self.image.data = {"image": [img[::-1]], "dw": [w], "dh": [h]}
        pred = "-" if s.predicted is None else str(s.predicted)
        mark = "" if s.predicted is None else (" ✓" if s.predicted == s.label else " ✗")
        self.text.object = (f'<div class="byob-digit" data-label="{s.label}" data-predicted="{pred}" '
                            f'style="font-size:15px">label <b>{s.label}</b> &nbsp; predicted <b>{pred}</b>{mark}'
                            f'<br><small>sample {s.sample_id}, epoch {s.epoch + 1}'
                            f'{", retry " + str(s.attempt) if s.attempt else ""}</small></div>')
        counts = np.zeros(10) if s.counts is None else np.asarray(s.counts, float)[:10]
        color = ["#bbbbbb"] * 10
        if 0 <= s.label < 10:
            color[s.label] = COLORS["output"]
        if s.predicted is not None and s.predicted != s.label and 0 <= s.predicted < 10:
            color[s.predicted] = COLORS["hidden"]
        self.counts.data = {"x": list(range(10)), "top": list(counts) + [0] * (10 - len(counts)), "color": color}
        self.counts_range.end = max(5.0, float(counts.max(initial=0)) * 1.1)


class Activity:
    """Mean firing rate of each layer per sample."""

    def __init__(self, streams: Streams, history: int) -> None:
        p = fig("population activity (mean rate per sample)", 560, 200)
        for pop in POPULATIONS:
            p.line("sample", "rate", source=streams.add(f"activity_{pop}", history, "sample", "rate"),
                   color=COLORS[pop], legend_label=pop)
        p.legend.location, p.legend.label_text_font_size = "top_left", "9px"
        p.xaxis.axis_label, p.yaxis.axis_label = "sample", "Hz"
        self.layout = p

    def update(self, frame: Frame) -> None:
        pass


class Weights:
    """Receptive fields, weight distributions per projection, the change since the start."""

    def __init__(self, streams: Streams, history: int) -> None:
        self.fields = source("fields", image=[np.full((1, 1), np.nan)], dw=[1], dh=[1])
        self.fields_fig = f = fig("receptive fields (input weights per hidden neuron)", 360, 360,
                                  match_aspect=True)
        f.image("image", x=0, y=0, dw="dw", dh="dh", source=self.fields,
                color_mapper=LinearColorMapper(palette=Viridis256, nan_color=(0, 0, 0, 0)))
        f.axis.visible = False
        f.grid.visible = False
        self.hists = {}
        figs = []
        for key, title in (("hist_ih", "w input→hidden"), ("hist_ho", "w hidden→output"),
                           ("hist_dw", "Δw input→hidden since start")):
            self.hists[key] = source(key, left=[], right=[], top=[])
            h = fig(title, 250, 130)
            h.quad(left="left", right="right", top="top", bottom=0, source=self.hists[key], color="#4c78a8")
            figs.append(h)
        d = fig("mean |Δw| since start", 250, 150)
        src = streams.add("weight_change", history, "samples_seen", "dw_ih", "dw_ho")
        d.line("samples_seen", "dw_ih", source=src, color=COLORS["hidden"], legend_label="in→hid")
        d.line("samples_seen", "dw_ho", source=src, color=COLORS["output"], legend_label="hid→out")
        d.scatter("samples_seen", "dw_ih", source=src, color=COLORS["hidden"], size=4)
        d.legend.location, d.legend.label_text_font_size = "top_left", "9px"
        d.xaxis.axis_label = "samples"
        self.layout = pn.Row(f, pn.Column(*figs, d))

    def update(self, frame: Frame) -> None:
        w = frame.weights
        if w is None:
            if frame.reset:
                self.fields.data = {"image": [np.full((1, 1), np.nan)], "dw": [1], "dh": [1]}
                for src in self.hists.values():
                    clear(src)
            return
        img = w["fields"]
        self.fields.data = {"image": [img[::-1]], "dw": [img.shape[1]], "dh": [img.shape[0]]}
        self.fields_fig.title.text = (f"receptive fields, {w['n_hidden']} hidden neurons "
                                      f"(v{w['version']}, {w['samples_seen']} samples)")
        for key, src in self.hists.items():
            src.data = dict(w[key])


class Accuracy:
    """Running accuracy (whole run and recent window) and the confusion matrix."""

    def __init__(self, streams: Streams, history: int) -> None:
        p = fig("accuracy: training presentations (free output before learning) and validation", 360, 220,
                y_range=(0, 1))
        src = streams.add("accuracy", history, "sample", "running", "window")
        p.line("sample", "running", source=src, color="#4c78a8", legend_label="training, running")
        p.line("sample", "window", source=src, color="#f58518", legend_label="training, last 100")
        val = streams.add("validation", history, "sample", "accuracy")
        p.line("sample", "accuracy", source=val, color="#54a24b", line_width=2, legend_label="validation digits")
        p.scatter("sample", "accuracy", source=val, color="#54a24b", size=4)
        p.legend.location, p.legend.label_text_font_size = "top_left", "9px"
        p.xaxis.axis_label = "samples"
        self.conf = source("confusion", x=[], y=[], count=[], text=[])
        c = self.conf_fig = fig("confusion (rows: true, columns: predicted)", 260, 260,
                                x_range=(-0.5, 9.5), y_range=(9.5, -0.5))
        mapper = LinearColorMapper(palette=list(reversed(Blues256)), low=0)
        c.rect("x", "y", 1, 1, source=self.conf, fill_color={"field": "count", "transform": mapper}, line_color=None)
        c.text("x", "y", text="text", source=self.conf, text_align="center", text_baseline="middle",
               text_font_size="8px")
        c.xaxis.ticker = c.yaxis.ticker = list(range(10))
        self.layout = pn.Row(p, c)

    def update(self, frame: Frame) -> None:
        if frame.confusion is None:
            if frame.reset:
                clear(self.conf)
            return
        m = frame.confusion["matrix"]
        y, x = np.indices(m.shape)
        self.conf.data = {"x": x.ravel(), "y": y.ravel(), "count": m.ravel().astype(float),
                          "text": [str(v) if v else "" for v in m.ravel()]}
        self.conf_fig.title.text = f"confusion, {frame.confusion['phase']} ({int(m.sum())} samples)"
