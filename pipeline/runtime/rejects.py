"""Logging rejected messages without drowning the log: the first few per sender and
reason in full, then one summary line every ``every_s`` seconds with the counts.

A flood of malformed input (a fuzzer, a misconfigured peer) into a node's sockets must
leave the node working and every rejection counted (the node's ``dropped`` counters,
reported in its heartbeats), but it should not write one warning line per message:
25 s of such a flood is 33k lines. ``RejectLog`` only decides what to write; the
counting stays with the caller. Thread-safe: a node's heartbeat thread flushes the
summary while its main thread rejects.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Callable

FIRST = 3  # rejections logged in full per (sender, reason)
EVERY_S = 10.0  # then a summary line at most this often


class RejectLog:
    def __init__(self, log: logging.Logger, first: int = FIRST, every_s: float = EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log, self.first, self.every_s, self.clock = log, first, every_s, clock
        self.total: Counter[tuple[str, str]] = Counter()  # every rejection, by (sender, reason)
        self._pending: Counter[tuple[str, str]] = Counter()  # not yet in a log line
        self._last = clock()
        self._lock = threading.Lock()

    def reject(self, sender: str, reason: str, detail: str) -> None:
        """Note one rejected message; log it if it is among the first few of its kind."""
        key = (sender, reason)
        with self._lock:
            self.total[key] += 1
            n = self.total[key]
            if n <= self.first:
                more = (f" (further {reason} rejections from {sender} are summarised every "
                        f"{self.every_s:.0f} s)") if n == self.first else ""
                self.log.warning("rejected a message from %s (%s): %s%s", sender, reason, detail, more)
            else:
                if not self._pending:  # the summary covers from the first one it counts
                    self._last = self.clock()
                self._pending[key] += 1
        self.flush()

    def flush(self, force: bool = False) -> None:
        """Write the summary line if one is due (``force``: now, when there is anything)."""
        with self._lock:
            now = self.clock()
            if not self._pending or (not force and now - self._last < self.every_s):
                return
            span = now - self._last
            counts = ", ".join(f"{s} {r}: {n} (total {self.total[(s, r)]})"
                               for (s, r), n in sorted(self._pending.items()))
            self.log.warning("rejected %d more messages in the last %.0f s: %s",
                             sum(self._pending.values()), span, counts)
            self._pending.clear()
            self._last = now
