"""The one subscriber of a viewer server: live from the bus, or a recorded run replayed.

A viewer server process holds one ``Feed`` whatever the number of browser sessions.
Its daemon thread either reads the monitoring bus (a SUB socket with a bounded receive
queue: when the viewer falls behind, the hub's PUB drops messages for it and the
viewer counts the gaps; the pipeline never waits) or runs a ``Replayer`` over a run of
the store, and folds every message into the shared ``LiveState``. Browser sessions
only read that state (see ``viewer.app``).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from pipeline.runtime import security
from pipeline.base.messages import BUS_KINDS, MessageError, decode
from pipeline.runtime.rejects import RejectLog
from pipeline.runtime.wiring import LINKS
from store.replay import Replayer
from store.runs import RunReader, StoreError, list_runs, open_run
from store import layout
from viewer.state import LiveState

log = logging.getLogger("viewer.feed")
DRAIN = 1000  # messages read per wake-up before checking for a stop


class Feed:
    def __init__(self, bus: str | None = None, store: str | Path | None = None) -> None:
        self.bus = bus or LINKS["bus"].endpoint()
        self.store = Path(store) if store else None
        self.state = LiveState(source="live", where=self.bus)
        self.reader: RunReader | None = None
        self.replayer: Replayer | None = None
        self.rate: float | None = 1.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._switch = threading.Lock()  # one source change at a time

    # -- sources -------------------------------------------------------------------------
    def live(self) -> "Feed":
        with self._switch:
            self._halt()
            self.reader = self.replayer = None
            self.state.switch("live", self.bus)
            self._start(self._listen)
        return self

    def replay(self, run: str | None = "latest", rate: float | None = None, start_sample: int = 0) -> "Feed":
        """Replay ``run`` of the store (``latest``: the newest); raises StoreError."""
        if self.store is None:
            raise StoreError("no run store given; start the viewer with --store DIR")
        reader = open_run(self.store, run)
        with self._switch:
            self._halt()
            self.reader = reader
            self.rate = rate if rate is not None else self.rate
            self.state.switch("replay", f"{self.store}")
            self._replay_from(start_sample, paused=False)
        return self

    def runs(self) -> list[dict[str, Any]]:
        """The store's runs, newest first ([] without a readable store)."""
        if self.store is None or not self.store.exists():
            return []
        try:
            return [r for r in reversed(list_runs(self.store)) if r.get("status") != "damaged"]
        except StoreError:
            return []

    def close(self) -> None:
        with self._switch:
            self._halt()

    @property
    def replaying(self) -> bool:
        return self.reader is not None

    # -- replay controls (any thread) ----------------------------------------------------
    def pause(self) -> None:
        if self.replayer is not None:
            self.replayer.pause()
            self.state.paused = True

    def resume(self) -> None:
        if self.replayer is None:
            return
        if self._thread is None or not self._thread.is_alive():  # it had reached the end
            self.seek(0)
        self.replayer.resume()
        self.state.paused = False

    def set_rate(self, rate: float | None) -> None:
        self.rate = rate
        if self.replayer is not None:
            self.replayer.set_rate(rate)

    def seek(self, sample: int) -> None:
        """Start over at the ``sample``-th recorded sample: the display is rebuilt from
        the run's start, its first weights and the last weights before that sample."""
        if self.reader is None:
            return
        with self._switch:
            paused = self.replayer.paused if self.replayer is not None else False
            self._halt()
            self.state.reset()
            self._replay_from(max(0, sample), paused)

    # -- threads -------------------------------------------------------------------------
    def _start(self, target) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=target, args=(self._stop,), name="viewer-feed", daemon=True)
        self._thread.start()

    def _halt(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def _listen(self, stop: threading.Event) -> None:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.RCVHWM, LINKS["bus"].hwm)  # bounded: beyond it the hub drops for us
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        try:
            # The same rule as every link: CURVE as soon as an endpoint leaves this host.
            if security.curve_on([self.bus, *(link.endpoint() for link in LINKS.values())]):
                security.secure(sock, binds=False)
            sock.connect(self.bus)
            rejects = RejectLog(log)
            while not stop.is_set():
                rejects.flush()
                if not sock.poll(100):
                    continue
                for _ in range(DRAIN):
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    try:
                        msg = decode(frames)
                    except MessageError as e:
                        self.state.count_bad()
                        rejects.reject(self.bus, e.reason, f"dropped a bad bus message: {e}")
                        continue
                    if msg.KIND in BUS_KINDS:
                        self.state.apply(msg)
        except Exception as e:  # never take the server down; the page says what went wrong
            log.exception("viewer subscriber failed")
            self.state.error = f"the subscriber to {self.bus} failed: {type(e).__name__}: {e}"
        finally:
            sock.close(0)
            ctx.term()

    def _replay_from(self, sample: int, paused: bool) -> None:
        assert self.reader is not None
        rp = Replayer(self.reader, rate=self.rate, start_sample=sample)
        if paused:
            rp.pause()
        self.replayer = rp
        st = self.state
        with st.lock:
            st.replay_samples, st.paused = rp.samples, paused
        if sample > 0:
            for msg in self._prelude(rp, sample):
                st.apply(msg)
            with st.lock:
                st.samples = min(sample, rp.samples)  # the x axes go on from where we are

        def emit(msg) -> None:
            st.apply(msg)
            st.replay_position = rp.sample_position()

        def run(stop: threading.Event) -> None:
            try:
                rp.run(emit, stop)
                st.replay_position = rp.sample_position()
            except Exception:
                log.exception("replay failed")
        self._start(run)

    def _prelude(self, rp: Replayer, sample: int) -> list:
        """The run start, the first weights and the last weights before the seek target."""
        assert self.reader is not None
        if not len(rp.sample_rows):
            return []
        target = int(rp.sample_rows[min(sample, len(rp.sample_rows) - 1)])  # where the replayer starts
        kinds = self.reader.table("log", ("kind",)).get("kind", np.zeros(0))[:target]
        start = np.flatnonzero(kinds == layout.KIND_CODES["run"])[:1]
        w = np.flatnonzero(kinds == layout.KIND_CODES["weights"])
        rows = [*start, *w[:1], *w[1:][-1:]]
        return [next(self.reader.messages(int(i), replay=True))[1] for i in rows]
