"""``byob replay``: a recorded run published onto the monitoring bus again.

Messages go out flagged ``replay`` with the kinds and order they were recorded in, so
a viewer attaches to a replay exactly as to a live run. If a pipeline is up, its hub
carries them (the recorder ignores replays); if not, this process runs a hub of its
own on the same ports. ``byob replay-control pause|resume|seek N|rate R|status``
steers it through the ``replay`` link while it runs.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import zmq

from pipeline.runtime import security
from pipeline.runtime.bus import BusHub
from pipeline.base.messages import Control, MessageError, RunInfo, decode
from pipeline.runtime.node import setup_logging
from pipeline.runtime.wiring import LINKS, open_socket
from store.replay import Replayer
from store.runs import open_run


class ReplayServer:
    def __init__(self, store: str, run: str | None, rate: float | None, start_sample: int, loop: bool,
                 paused: bool = False, log: logging.Logger | None = None) -> None:
        self.log = log or setup_logging("replay")
        self.reader = open_run(store, run)
        self.replayer = Replayer(self.reader, rate, start_sample, loop)
        if paused:
            self.replayer.pause()
        self.ctx = zmq.Context()
        self.hub: BusHub | None = None
        try:
            self.hub = BusHub(self.ctx, self.log, record=False).start()
            self.log.info("no pipeline on %s: replaying on a bus of our own", LINKS["bus"].endpoint())
        except zmq.ZMQError as e:
            if e.errno != zmq.EADDRINUSE:
                raise
            self.log.info("a pipeline holds the bus; replaying through its hub")
        self.control = open_socket(self.ctx, "replay", "replayer")
        self.stop = threading.Event()
        self.emitted = 0

    def _play(self) -> None:
        pub = open_socket(self.ctx, "publish", "replayer")  # used by this thread only
        last: list = [None]

        def emit(m) -> None:
            pub.send_multipart(m.to_wire())
            last[0] = m

        try:
            self.emitted = self.replayer.run(emit, self.stop)
        finally:
            # A viewer on a live bus shows a replay until its end: say so when the replay
            # stops short or its run has no recorded end (a crashed run).
            m = last[0]
            if m is not None and not (isinstance(m, RunInfo) and m.event == "end"):
                pub.send_multipart(RunInfo(run=m.run, seq=m.seq, sender="replay", replay=True, event="end",
                                           summary={"replay": "stopped"}).to_wire())
            pub.close(linger=2000)
            self.stop.set()

    def status(self) -> dict[str, Any]:
        r = self.replayer
        return {"run": self.reader.run, "paused": r.paused, "rate": r.rate, "position": r.position,
                "messages": r.total, "sample": r.sample_position(), "samples": r.samples,
                "subscribers": self.hub.subscribers if self.hub else None}

    def on_control(self, frames: list[bytes]) -> dict[str, Any]:
        try:
            msg = decode(frames)
        except MessageError as e:
            return {"ok": False, "error": str(e)}
        if not isinstance(msg, Control):
            return {"ok": False, "error": f"expected a control message, got {msg.KIND}"}
        r = self.replayer
        try:
            if msg.command == "pause":
                r.pause()
            elif msg.command == "resume":
                r.resume()
            elif msg.command == "seek":
                r.seek(int(msg.args.get("sample", 0)))
            elif msg.command == "rate":
                v = msg.args.get("rate")
                r.set_rate(None if v is None else float(v))
            elif msg.command == "stop":
                self.stop.set()
            elif msg.command != "status":
                return {"ok": False, "error": f"replay does not understand {msg.command!r}"}
        except (TypeError, ValueError) as e:
            return {"ok": False, "error": str(e)}
        return {"ok": True, **self.status()}

    def serve(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        player = threading.Thread(target=self._play, name="replay", daemon=True)
        player.start()
        self.log.info("replaying run %s: %d messages, %d samples, rate %s", self.reader.run,
                      self.replayer.total, self.replayer.samples, self.replayer.rate or "max")
        try:
            while not self.stop.is_set():
                if self.control.poll(100):
                    ident, empty, *frames = self.control.recv_multipart()
                    reply = self.on_control(frames)
                    self.control.send_multipart([ident, empty, *Control(
                        run="", seq=0, sender="replay", command="ack", args=reply).to_wire()])
        except KeyboardInterrupt:
            self.stop.set()
        player.join(timeout=5)
        self.log.info("replay of %s done: %d messages published", self.reader.run, self.emitted)
        if self.hub:
            self.hub.stop()
        security.stop_authenticator(self.ctx)
        self.ctx.destroy(linger=1000)
        return 0
