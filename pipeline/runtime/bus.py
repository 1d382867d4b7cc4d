"""The monitoring bus hub: one thread that fans the pipeline's published stream out.

Nodes PUSH what they publish to the hub's ``publish`` link (lossless). The hub forwards
each message, undecoded, to

- the ``record`` link (PUSH, lossless) while a recorder is attached: it waits for the
  recorder rather than drop a message, so the store misses nothing;
- the ``bus`` link (PUB, droppable): viewers and tools subscribe at any time; a slow
  subscriber loses messages at its high-water mark and never slows the pipeline.

The controller runs the hub for a live pipeline; ``byob replay`` runs one when no
pipeline holds the ports, so a viewer attaches to either the same way.
"""

from __future__ import annotations

import logging
import threading

import zmq

from pipeline.runtime.wiring import open_socket


class BusHub:
    def __init__(self, ctx: zmq.Context, log: logging.Logger, record: bool = True) -> None:
        self.ctx, self.log = ctx, log
        self.recording = threading.Event()  # set while a recorder is attached
        self.forwarded = 0
        self.subscribers = 0  # subscriptions seen on the bus (XPUB tells us of each)
        self.unrecorded = 0  # messages that passed while no recorder was attached
        self._stop = threading.Event()
        # Bind here, in the caller's thread, so an address in use fails loudly and early.
        self._in = open_socket(ctx, "publish", "hub")
        self._bus = open_socket(ctx, "bus", "hub")
        # Every subscriber's subscription and unsubscription, not just the first and last:
        # once the last viewer leaves, the count falls to zero and the nodes stop publishing.
        self._bus.setsockopt(zmq.XPUB_VERBOSER, 1)
        self._rec = open_socket(ctx, "record", "hub") if record else None
        self._thread = threading.Thread(target=self._forward, name="bus-hub", daemon=True)

    def start(self) -> "BusHub":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _forward(self) -> None:
        try:
            poller = zmq.Poller()
            poller.register(self._in, zmq.POLLIN)
            poller.register(self._bus, zmq.POLLIN)
            while not self._stop.is_set():
                events = dict(poller.poll(100))
                if self._bus in events:  # b"\x01" + topic: subscribe, b"\x00": unsubscribe
                    sub = self._bus.recv()
                    self.subscribers = max(0, self.subscribers + (1 if sub[:1] == b"\x01" else -1))
                if self._in not in events:
                    continue
                frames = self._in.recv_multipart(copy=False)
                self.forwarded += 1
                self._bus.send_multipart(frames, copy=False, flags=zmq.NOBLOCK)
                if self._rec is None or not self.recording.is_set():
                    self.unrecorded += 1
                    continue
                while not self._stop.is_set() and self.recording.is_set():
                    if self._rec.poll(100, zmq.POLLOUT):
                        self._rec.send_multipart(frames, copy=False)
                        break
                else:
                    self.unrecorded += 1
        except zmq.ZMQError as e:  # the context was terminated under us: shutting down
            if e.errno != zmq.ETERM:
                self.log.exception("bus hub failed")
        finally:
            for s in (self._in, self._bus, self._rec):
                if s is not None:
                    s.close(linger=500)
