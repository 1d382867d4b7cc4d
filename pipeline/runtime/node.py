"""The thin process shell every node shares: sockets, handshake, heartbeats, logging,
validated receive, clean shutdown on SIGINT/SIGTERM.

A node's ``run`` loop polls its sockets with a timeout, so it heartbeats and notices a
shutdown request within ``HEARTBEAT_S`` even while idle. Messages that fail validation
are counted per reason, logged with the sender, and dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable

import zmq

from pipeline.runtime.job import PipelineJob
from pipeline.base.messages import Control, Heartbeat, Message, MessageError, decode
from pipeline.runtime import jaxcache, security
from pipeline.runtime.rejects import RejectLog
from pipeline.runtime.wiring import open_socket

HEARTBEAT_S = 0.5
GIL_SWITCH_S = 2e-4  # see NodeShell.__init__
HB_SUFFIX = "#hb"
OUTBOX_ITEMS = 256  # batches of messages waiting for the publisher thread


def setup_logging(name: str) -> logging.Logger:
    logging.basicConfig(level=os.environ.get("BYOB_LOG_LEVEL", "INFO"),
                        format=f"%(asctime)s {name} %(levelname)s %(message)s")
    for noisy in ("jax", "absl", "brainpy", "brainstate"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger(name)


def ancestors() -> tuple[int, int | None]:
    """(parent, grandparent) pids. honcho runs each command under a runner process of
    its own, so the launcher is the grandparent; either one being reparented means the
    launcher is gone. The grandparent is None where /proc cannot tell."""
    parent = os.getppid()
    try:
        stat = Path(f"/proc/{parent}/stat").read_text()
        return parent, int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return parent, None


class NodeShell:
    role = "node"

    def __init__(self) -> None:
        # honcho names its processes (network.2); a node started by hand on another host
        # takes BYOB_NODE_NAME (e.g. network.3: any worker but network.1 only evaluates).
        self.name = os.environ.get("HONCHO_PROCESS_NAME") or os.environ.get("BYOB_NODE_NAME") or self.role
        jaxcache.enable()  # before the warm-up compiles anything
        # A node's main thread shares the GIL with its publisher thread; with Python's
        # default 5 ms switch interval a weight update that has arrived can wait that long
        # behind a bus message being built; 0.2 ms bounds that wait.
        sys.setswitchinterval(float(os.environ.get("BYOB_SWITCH_INTERVAL_S", GIL_SWITCH_S)))
        self.log = setup_logging(self.name)
        self.ctx = zmq.Context()
        self.control = open_socket(self.ctx, "control", self.role, identity=self.name)
        self.run_id = ""
        self.seq = 0
        self.bus_seq = 0  # a sequence of its own, so a viewer can count what it missed
        # Bounded: a bus (recorder) slower than the node makes ``publish`` wait rather
        # than let the queue of messages to publish grow without limit.
        self._outbox: queue.Queue = queue.Queue(maxsize=OUTBOX_ITEMS)
        self._publisher: threading.Thread | None = None
        self.dropped: Counter[str] = Counter()
        self.rejects = RejectLog(self.log)  # bad input: a few lines, then a summary every 10 s
        self.stopping = False
        self.aborted = False  # the controller gave up the running job (a node was lost)
        self.status: dict[str, Any] = {}
        # Whether anyone takes what this node publishes (a viewer or tool subscribed to the
        # bus, or a recorder): the controller says so with a "monitor" command. Unwatched,
        # the per-sample monitoring messages are not even made.
        self.monitoring = True
        # Under a launcher (honcho names its processes), a node must not outlive it; one
        # started by hand (say with nohup on another host) is left alone.
        self._ancestors = ancestors() if "HONCHO_PROCESS_NAME" in os.environ else None
        self._hb_stop = threading.Event()
        self._hb = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.log.info("received %s, shutting down", signal.Signals(signum).name)
        self.stopping = True

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def send(self, sock: zmq.Socket, msg: Message) -> None:
        sock.send_multipart(msg.to_wire(), copy=False)

    def publish(self, msg: Message | Callable[[], Iterable[Message]]) -> None:
        """Put ``msg``, or the messages a callable makes, on the monitoring bus via the hub
        (lossless). A thread of this node makes, numbers (its own bus sequence), encodes
        and sends them in order, off the node's critical path: monitoring never delays
        a presentation. The arrays handed over must not be changed afterwards. Nothing is
        made or sent while no one watches the bus (``monitoring`` off)."""
        if not self.monitoring:
            return
        if self._publisher is None:
            self._publisher = threading.Thread(target=self._publish_loop, name="publisher", daemon=True)
            self._publisher.start()
        while True:  # waits while the bus is behind, but never past a shutdown
            try:
                self._outbox.put(msg, timeout=0.5)
                return
            except queue.Full:
                if self.stopping or self.aborted:
                    self.dropped["publish-behind"] += 1
                    return

    def flush_published(self) -> None:
        """Wait until everything published so far is sent."""
        if self._publisher is not None:
            self._outbox.join()

    def _publish_loop(self) -> None:
        sock = open_socket(self.ctx, "publish", self.role)  # used by this thread only
        try:
            while True:
                item = self._outbox.get()
                try:
                    if item is None:
                        return
                    for m in (item() if callable(item) else [item]):
                        self.bus_seq += 1
                        self.send(sock, dataclasses.replace(m, seq=self.bus_seq))
                except Exception:  # noqa: BLE001 - a monitoring failure must not kill the node
                    self.log.exception("could not publish")
                finally:
                    self._outbox.task_done()
        finally:
            sock.close(linger=2000)

    def send_waiting(self, sock: zmq.Socket, msg: Message, stall_s: float | None = None, what: str = "") -> bool:
        """Send on a lossless link, waiting while its queue is full; False if asked to stop
        or abort meanwhile. With ``stall_s``, waiting longer than that fails the job with
        ``what`` (a stuck or lost peer never hangs it)."""
        frames = msg.to_wire()
        t0 = time.monotonic()
        while not self.interrupted():
            if sock.poll(100, zmq.POLLOUT):
                sock.send_multipart(frames, copy=False)
                return True
            if stall_s is not None and time.monotonic() - t0 > stall_s:
                self.fail(f"{what} for {stall_s:.0f} s")
                return False
        return False

    def fail(self, reason: str) -> None:
        """Give the running job up with ``reason``: the controller ends it and says why."""
        self.log.error("job %s: %s; giving the job up", self.run_id, reason)
        self.tell("done", error=reason)

    def tell(self, command: str, **args: Any) -> None:
        if command == "done":  # how much it published: the recorder knows when it has it all
            self.flush_published()
            args["published"] = self.bus_seq
        self.send(self.control, Control(run=self.run_id, seq=self.next_seq(), sender=self.name,
                                        command=command, args=args))

    def receive(self, sock: zmq.Socket) -> Message | None:
        """One validated message; None if it was bad (counted and logged) or was the
        controller's ``monitor`` command, which is applied here, whoever reads the control
        link and whatever it waits for."""
        frames = sock.recv_multipart()
        try:
            msg = decode(frames)
        except MessageError as e:
            self.dropped[e.reason] += 1
            where = sock.getsockopt(zmq.LAST_ENDPOINT).decode(errors="replace") if sock is not None else ""
            self.rejects.reject(where or "socket", e.reason, f"dropped a bad message: {e}")
            return None
        if sock is self.control and isinstance(msg, Control) and msg.command == "monitor":
            self.set_monitoring(bool(msg.args.get("on", True)))
            return None
        return msg

    def set_monitoring(self, on: bool) -> None:
        """Whether anyone watches the bus (see ``publish``)."""
        if on != self.monitoring:
            self.log.info("bus %s: %s publishing", "watched" if on else "unwatched", "resuming" if on else "pausing")
        self.monitoring = on

    def _beat(self) -> None:
        """Heartbeats from a thread with its own socket (sockets are not shared between
        threads), so a node busy compiling or simulating still proves it is alive; a
        killed or stopped process falls silent. The same thread notices when the launcher
        (honcho, or ``byob run``) died without stopping it (SIGKILL): the node, or honcho's
        runner process between it and the launcher, is reparented, and the node shuts
        down instead of running on as an orphan."""
        sock = open_socket(self.ctx, "control", self.role, identity=self.name + HB_SUFFIX)
        seq = 0
        try:
            while not self._hb_stop.wait(HEARTBEAT_S):
                if self._ancestors and ancestors() != self._ancestors and not self.stopping:
                    self.log.error("the launcher (pid %s) is gone; shutting down rather than run orphaned",
                                   " or ".join(str(p) for p in self._ancestors if p))
                    self.stopping = True
                self.rejects.flush()  # the summary of a flood that has stopped comes too
                seq += 1
                msg = Heartbeat(run=self.run_id, seq=seq, sender=self.name, node=self.name,
                                time=time.time(), status={**self.status, "dropped": dict(self.dropped)})
                try:  # never block: a heartbeat that cannot go now is worthless later
                    sock.send_multipart(msg.to_wire(), flags=zmq.NOBLOCK)
                except zmq.Again:
                    pass
        finally:
            sock.close(linger=0)

    def close(self) -> None:
        if self._publisher is not None:
            try:
                self._outbox.put(None, timeout=2.0)
            except queue.Full:  # the publisher is stuck on a gone bus: the join below gives up
                pass
            self._publisher.join(timeout=5)
        self._hb_stop.set()
        self._hb.join(timeout=2)
        security.stop_authenticator(self.ctx)
        self.ctx.destroy(linger=2000)
        self.log.info("closed")

    def warm_up(self) -> None:
        """Compile what the first job needs before saying hello (a node that is tracing
        JAX code for seconds could starve its heartbeat thread of the GIL)."""

    def serve(self) -> int:
        """Warm up, handshake with the controller, then loop until stopped."""
        t = time.perf_counter()
        self.warm_up()
        self.log.info("warmed up in %.1f s", time.perf_counter() - t)
        self._hb.start()
        self.tell("hello", role=self.role, pid=os.getpid())
        self.log.info("started (pid %d), waiting for jobs", os.getpid())
        try:
            while not self.stopping:
                self.step()
        finally:
            self.close()
        return 0

    def step(self) -> None:
        """Idle: wait for the controller's next command."""
        if self.control.poll(100):
            self.on_control(self.receive(self.control))

    def interrupts(self, msg: Message | None) -> bool:
        """True, with ``stopping`` or ``aborted`` set and logged, if ``msg`` asks this
        node to stop or to abort its current job; the one place that reads those commands."""
        if not isinstance(msg, Control):
            return False
        if msg.command == "stop":
            self.stopping = True
            return True
        if msg.command == "abort" and msg.run == self.run_id:
            if not self.aborted:
                self.log.warning("job %s aborted by the controller: %s", msg.run, msg.args.get("reason"))
            self.aborted = True
            return True
        return False

    def interrupted(self) -> bool:
        """During a job: True once asked to stop or to abort the job (reads the control
        link without blocking; a message that is neither is counted and dropped)."""
        while not (self.stopping or self.aborted) and self.control.poll(0):
            msg = self.receive(self.control)
            if not self.interrupts(msg) and msg is not None:
                self.dropped["busy"] += 1
                self.log.warning("ignored %s from %s while busy with job %s", getattr(msg, "command", msg.KIND),
                                 msg.sender, self.run_id)
        return self.stopping or self.aborted

    def on_control(self, msg: Message | None) -> None:
        if isinstance(msg, Control) and msg.command == "train":
            try:
                job = PipelineJob.from_dict(msg.args)
            except (TypeError, ValueError) as e:
                self.dropped["bad-job"] += 1
                self.log.error("refused a job from %s: %s", msg.sender, e)
                return
            self.aborted = False
            self.run_job(job)
        elif self.interrupts(msg) and self.aborted:
            self.on_abort()

    def on_abort(self) -> None:
        """A node that keeps a job's state between steps (the learner) drops it here."""

    def run_job(self, job: "PipelineJob") -> None:
        raise NotImplementedError
