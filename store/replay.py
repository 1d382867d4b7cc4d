"""Replaying a recorded run: its messages again, in order, at a chosen pace.

``Replayer`` walks a run's log and hands each rebuilt message (flagged ``replay``) to
an ``emit`` callable: ``byob replay`` publishes them on the monitoring bus, the viewer
feeds them straight to its display. Pace follows the recorded arrival times divided
by ``rate`` (``None``: as fast as possible). ``pause``, ``resume``, ``seek`` and
``set_rate`` may be called from any thread while ``run`` is going.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

from pipeline.base.messages import Message
from store import layout
from store.runs import RunReader


class Replayer:
    def __init__(self, reader: RunReader, rate: float | None = 1.0, start_sample: int = 0,
                 loop: bool = False) -> None:
        self.reader, self.loop = reader, loop
        self.rate = rate
        log = reader.table("log", ("kind", "time", "table"))
        self.times = log.get("time", np.zeros(0))
        self.total = len(self.times)
        # The log row where each training sample starts: its input spikes.
        input_table = reader.tables.index("spikes/input") if "spikes/input" in reader.tables else -1
        # (evaluation batches count as one presentation each)
        self.sample_rows = np.flatnonzero((log.get("kind", np.zeros(0)) == layout.KIND_CODES["spikes"])
                                          & (log.get("table", np.zeros(0)) == input_table))
        self.position = 0
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._running.set()
        self._seek: int | None = None
        self.seek(start_sample)

    # -- controls (any thread) -----------------------------------------------------------
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def set_rate(self, rate: float | None) -> None:
        if rate is not None and not rate > 0:
            raise ValueError("rate must be > 0, or None for as fast as possible")
        with self._lock:
            self.rate = rate
            self._seek = self.position  # re-anchor the clock at the new pace

    def seek(self, sample: int) -> None:
        """Go to the ``sample``-th recorded sample (0: the start of the run)."""
        if sample < 0:
            raise ValueError("sample must be >= 0")
        row = 0 if sample == 0 or not len(self.sample_rows) else \
            int(self.sample_rows[min(sample, len(self.sample_rows) - 1)])
        with self._lock:
            self._seek = row

    @property
    def samples(self) -> int:
        return len(self.sample_rows)

    def sample_position(self) -> int:
        return int(np.searchsorted(self.sample_rows, self.position, side="right"))

    # -- the loop ------------------------------------------------------------------------
    def run(self, emit: Callable[[Message], None], stop: threading.Event | None = None) -> int:
        """Emit messages until the end (or forever with ``loop``) or ``stop``; returns the
        number emitted."""
        stop = stop or threading.Event()
        emitted = 0
        while not stop.is_set():
            with self._lock:
                start, self._seek = (self._seek, None) if self._seek is not None else (None, None)
            if start is None:
                start = self.position
            it = self.reader.messages(start, replay=True)
            t_rec0 = self.times[start] if start < self.total else 0.0
            t_wall0 = time.monotonic()
            for i, (t_rec, msg) in enumerate(it, start):
                if stop.is_set() or self._seek is not None:
                    break
                if not self._running.is_set():
                    while not self._running.wait(0.1):
                        if stop.is_set() or self._seek is not None:
                            break
                    t_rec0, t_wall0 = t_rec, time.monotonic()
                    if stop.is_set() or self._seek is not None:
                        break
                while self.rate is not None and not stop.is_set() and self._seek is None and self._running.is_set():
                    wait = (t_rec - t_rec0) / self.rate - (time.monotonic() - t_wall0)
                    if wait <= 0:
                        break
                    stop.wait(min(wait, 0.1))
                if stop.is_set() or self._seek is not None:
                    break
                emit(msg)
                emitted += 1
                self.position = i + 1
            else:
                if not self.loop:
                    return emitted
                with self._lock:
                    self._seek = 0
        return emitted
