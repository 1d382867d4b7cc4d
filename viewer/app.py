"""The viewer page: one ``Dashboard`` per browser session, all fed by the server's one ``Feed``.

Each session keeps a ``Cursor`` into the shared ``LiveState`` and, every ``PERIOD_MS``,
draws only what changed (``LiveState.frame``). Time series are streamed into the
session's own ``ColumnDataSource``s with rollover, so a page open for hours holds a
bounded amount of data. A session whose browser has not read what was already sent
(more than ``MAX_PENDING_BYTES`` waiting on its websocket) skips frames and counts
them; nothing of this reaches the pipeline, which never waits for a viewer. Panel
stops the periodic callback of a closed session and its models are released.
"""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path
from typing import Any

import panel as pn
from panel.io import hold

from viewer.feed import Feed
from viewer.state import Cursor
from viewer.panels import Accuracy, Activity, Digit, Membrane, Rasters, Streams, Weights, fig
from store.runs import StoreError

log = logging.getLogger("viewer.app")
PERIOD_MS = 100  # the pipeline metrics at up to 10 frames/s
# Everything else (rasters, sample, accuracy, header, ...) at up to 2 frames/s; with more
# browsers attached each redraws less often (HEAVY_S_PER_SESSION x sessions), so the
# browsers' total drawing, which competes with the pipeline on its host, stays bounded.
HEAVY_S = 0.5
HEAVY_S_PER_SESSION = 0.25
MAX_PENDING_BYTES = 1 << 20
SPEEDS = {"¼×": 0.25, "½×": 0.5, "1×": 1.0, "2×": 2.0, "4×": 4.0, "16×": 16.0, "max": 0.0}
LIVE = "live"


def pending_bytes(doc: Any) -> int:
    """Bytes queued on this session's websockets that the browser has not taken yet
    (0 when Bokeh's or tornado's internals are not where we expect them)."""
    try:
        total = 0
        for conn in doc.session_context._session._subscribed_connections:
            stream = conn._socket.ws_connection.stream
            total += stream._total_write_index - stream._total_write_done_index
        return total
    except AttributeError:
        return 0


def heavy_period(sessions: int) -> float:
    """Seconds between a session's full redraws when ``sessions`` browsers are attached."""
    return max(HEAVY_S, HEAVY_S_PER_SESSION * sessions)


def header_html(st: dict[str, Any]) -> str:
    e = html.escape
    live = st["source"] == "live"
    bus_replay = live and st.get("replayed", False)  # `byob replay` published onto the live bus
    badge = ("LIVE", "#c0392b") if live and not bus_replay else ("REPLAY", "#2e6da4")
    attrs = {"source": "replay" if bus_replay else st["source"], "phase": st["phase"], "run": st["run"], "samples": st["samples"],
             "weights": "" if st["weights_version"] is None else st["weights_version"],
             "accuracy": "" if st["running_accuracy"] is None else f"{st['running_accuracy']:.4f}",
             "tested": st["tested"], "sessions": st["sessions"], "received": st["received"],
             "dropped": st["dropped"],
             "validation": f"{st['validation']['accuracy']:.4f}" if "accuracy" in st.get("validation", {}) else ""}
    data = " ".join(f'data-{k}="{e(str(v))}"' for k, v in attrs.items())
    if st["phase"] == "error":
        body = f'<span class="byob-error" style="color:#c0392b">{e(st["error"])}</span>'
    elif st["phase"] == "waiting":
        what = (f"Waiting for a pipeline on {e(st['where'])}: no message received yet. "
                "Start one with <code>make run</code> or <code>byob run</code>; this page attaches by itself."
                if live else f"Replaying from {e(st['where'])}: no message yet.")
        body = f'<span class="byob-waiting">{what}</span>'
    else:
        model = Path(st["model_in"]).name if st["model_in"] else "new model"
        if st["model_out"]:
            model += f" → {Path(st['model_out']).name}"
        acc = "" if st["test_accuracy"] is None else f" · test accuracy <b>{st['test_accuracy']:.1%}</b>"
        run_acc = "" if st["running_accuracy"] is None else f" · running accuracy {st['running_accuracy']:.1%}"
        v = st.get("validation") or {}
        if "accuracy" in v:  # comparable with the test figure: frozen weights, evaluation path
            seen = "held out of training" if v.get("held_out") else "also trained on"
            run_acc += (f' · <span class="byob-validation" data-accuracy="{v["accuracy"]:.4f}">validation accuracy '
                        f'<b>{v["accuracy"]:.1%}</b></span> ({v.get("digits", 0):.0f} training-part digits, '
                        f'{seen}, weights after {v.get("samples_seen", 0):.0f} samples)')
        if st["resumed"]:
            r = st["resumed"]
            acc += (f" · resumed from sample {r.get('from_sample', '?')} after: "
                    f"{e(str(r.get('reason', '?')))}")
        body = (f"run <b>{e(st['run'])}</b> · {e(st['kind'] or '?')} ({e(st['mode'] or '?')}) · "
                f"model <b>{e(model)}</b><br>"
                f"<b>{e(st['phase'])}</b> · {st['samples']} samples shown{run_acc}{acc}")
    where = (f"a replay published on bus {st['where']}; the live display comes back when it ends"
             if bus_replay else f"bus {st['where']}" if live else f"store {st['where']}")
    return (f'<div class="byob-status" {data} style="font-size:14px;line-height:1.5">'
            f'<span style="background:{badge[1]};color:white;padding:2px 8px;border-radius:4px;'
            f'font-weight:bold">{badge[0]}</span> &nbsp;{body}'
            f'<br><small style="color:#777">{e(where)}</small></div>')


def health_html(st: dict[str, Any], skipped: int) -> str:
    m = st["metrics"]
    g = (lambda k, f="{:.0f}": f.format(m[k]) if k in m else "-")
    rows = [("nodes alive", f"{g('nodes_alive')} / {g('nodes')}"), ("samples/s", g("samples_per_second", "{:.1f}")),
            ("trained / tested", f"{g('trained')} / {g('tested')}"), ("bus forwarded", g("bus_forwarded")),
            ("pipeline dropped", g("dropped")), ("viewer received", str(st["received"])),
            ("viewer missed (bus dropped)", str(st["dropped"])), ("viewer bad messages", str(st["bad"])),
            ("frames skipped (this browser)", str(skipped)), ("browsers attached", str(st["sessions"]))]
    cells = "".join(f"<tr><td>{k}</td><td style='text-align:right'><b>{v}</b></td></tr>" for k, v in rows)
    return f'<table class="byob-health" style="font-size:12px">{cells}</table>'


class ReplayControls:
    """Source (live or a recorded run), play / pause, speed and seek; they drive the
    server's one feed, so every browser watching this server follows them."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self._setting = False
        self.source = pn.widgets.Select(name="watch", width=330)
        self.refresh = pn.widgets.Button(name="↻ runs", width=70, margin=(24, 5, 5, 5))
        self.play = pn.widgets.Button(name="▶ play", width=70, margin=(24, 5, 5, 5))
        self.pause = pn.widgets.Button(name="❚❚ pause", width=80, margin=(24, 5, 5, 5))
        self.speed = pn.widgets.Select(name="speed", options=list(SPEEDS), value="1×", width=70)
        self.seek = pn.widgets.IntSlider(name="sample", start=0, end=1, value=0, width=300)
        self.message = pn.pane.HTML("", width=300)
        self._list_runs()
        self.source.param.watch(self._on_source, "value")
        self.refresh.on_click(lambda *_: self._list_runs())
        self.play.on_click(lambda *_: feed.resume())
        self.pause.on_click(lambda *_: feed.pause())
        self.speed.param.watch(lambda e: feed.set_rate(SPEEDS[e.new] or None), "value")
        self.seek.param.watch(lambda e: feed.seek(int(e.new)), "value_throttled")
        self.replay_row = pn.Row(self.play, self.pause, self.speed, self.seek)
        # Shown when there is something to pick: runs in the store, or a replay going on.
        self.layout = pn.Row(self.source, self.refresh, self.replay_row, self.message,
                             visible=feed.replaying or len(self.source.options) > 1)

    def _list_runs(self) -> None:
        options = {f"live: bus {self.feed.bus}": LIVE}
        for r in self.feed.runs():
            options[f"replay {r['run']} ({r.get('samples', 0)} samples, {r.get('status') or '?'})"] = r["run"]
        current = self.feed.reader.run if self.feed.reader is not None else LIVE
        if current not in options.values():
            options[f"replay {current}"] = current
        self._setting = True
        self.source.options, self.source.value = options, current
        self._setting = False

    def _on_source(self, e: Any) -> None:
        if self._setting or e.new == (self.feed.reader.run if self.feed.reader else LIVE):
            return
        try:
            self.feed.live() if e.new == LIVE else self.feed.replay(e.new)
            self.message.object = ""
        except StoreError as err:
            self.message.object = f'<span style="color:#c0392b">{html.escape(str(err))}</span>'

    def update(self, st: dict[str, Any]) -> None:
        replaying = st["source"] == "replay"
        self.replay_row.visible = replaying
        if replaying:
            end = max(st["replay_samples"] - 1, 1)
            if self.seek.end != end:
                self.seek.end = end
            pos = min(st["replay_position"], end)
            if self.seek.value != pos:
                self.seek.value = pos


class Dashboard(pn.viewable.Viewer):
    """One browser session's page."""

    def __init__(self, feed: Feed, **params: Any) -> None:
        super().__init__(**params)
        self.feed = feed
        self.cursor = Cursor()
        self.skipped = 0
        self.last_heavy = 0.0
        state = feed.state
        self.streams = Streams()
        self.rasters = Rasters()
        self.membrane = Membrane()
        self.digit = Digit()
        self.activity = Activity(self.streams, state.history)
        self.weights = Weights(self.streams, state.history)
        self.accuracy = Accuracy(self.streams, state.history)
        self.header = pn.pane.HTML(header_html(state.status()), sizing_mode="stretch_width")
        self.controls = ReplayControls(feed)
        self.health = pn.pane.HTML("", width=260)
        rate = fig("samples/s (controller)", 260, 150)
        rate.line("t", "samples_per_second", source=self.streams.add("metrics", state.history, "t", "trained",
                                                                       "running_accuracy", "samples_per_second",
                                                                       "nodes_alive"), color="#4c78a8")
        rate.xaxis.axis_label = "seconds"
        self.parts = (self.rasters, self.membrane, self.digit, self.activity, self.weights, self.accuracy)
        self.layout = pn.Column(
            self.header, self.controls.layout,
            pn.Row(self.digit.layout, self.rasters.layout, self.membrane.layout),
            pn.Row(self.weights.layout, pn.Column(self.activity.layout, self.accuracy.layout)),
            pn.Row(pn.Column(pn.pane.HTML("<b>pipeline health</b>"), self.health), rate),
        )
        with state.lock:
            state.sessions += 1
        pn.state.on_session_destroyed(self._closed)
        pn.state.add_periodic_callback(self.tick, period=PERIOD_MS)

    def _closed(self, _ctx: Any) -> None:
        with self.feed.state.lock:
            self.feed.state.sessions -= 1

    def tick(self) -> None:
        doc = pn.state.curdoc
        if doc is not None and pending_bytes(doc) > MAX_PENDING_BYTES:
            self.skipped += 1  # this browser is behind: let it catch up, draw later
            return
        now = time.monotonic()
        heavy = now - self.last_heavy >= heavy_period(self.feed.state.sessions)
        if heavy:
            self.last_heavy = now
        frame = self.feed.state.frame(self.cursor, heavy=heavy)
        with hold(doc):
            if heavy or frame.reset:
                head = header_html(frame.status)
                if head != self.header.object:
                    self.header.object = head
                health = health_html(frame.status, self.skipped)
                if health != self.health.object:
                    self.health.object = health
                self.controls.update(frame.status)
            self.streams.update(frame)
            for part in self.parts:
                part.update(frame)

    def __panel__(self) -> pn.Column:
        return self.layout


def make_app(feed: Feed):
    """The page factory for ``pn.serve``: a new Dashboard per session."""
    def app() -> pn.Column:
        pn.state.curdoc.title = "byob viewer"
        return Dashboard(feed).layout
    return app

