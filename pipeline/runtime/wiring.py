"""Every endpoint, socket kind and per-link policy of the pipeline, in one place.

Each link names who binds, who connects, the socket kinds and its policy:
- ``lossless``: PUSH/PULL or ROUTER/DEALER; a full queue blocks the sender (credit flow
  control by high-water mark), so training data and plasticity are never dropped.
- ``droppable``: PUB/SUB; a slow subscriber loses messages, never slows the sender.

Defaults bind to 127.0.0.1. Override any endpoint with ``BYOB_<LINK>_ENDPOINT``
(e.g. ``BYOB_SPIKES_ENDPOINT=tcp://10.0.0.5:5751``) or ``BYOB_BASE_PORT`` to move the
whole block of ports, so nodes can run on different hosts or several pipelines on one.
As soon as any endpoint leaves this host, every link is CURVE-encrypted and
authenticated (``pipeline.runtime.security``; ``byob keys`` makes the keys).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import zmq

from pipeline.base.messages import MAX_MESSAGE_BYTES
from pipeline.runtime import security


@dataclass(frozen=True)
class Link:
    name: str
    port_offset: int
    binder: str  # the node that binds
    bind_kind: int
    connect_kind: int
    policy: str  # lossless | droppable
    hwm: int

    def endpoint(self) -> str:
        env = os.environ.get(f"BYOB_{self.name.upper()}_ENDPOINT")
        if env:
            return env
        base = int(os.environ.get("BYOB_BASE_PORT", "5750"))
        return f"tcp://127.0.0.1:{base + self.port_offset}"


LINKS: dict[str, Link] = {l.name: l for l in (
    # controller <-> every node: hello, jobs, acks, heartbeats
    Link("control", 0, "controller", zmq.ROUTER, zmq.DEALER, "lossless", 10_000),
    # encoder -> the training network worker (network.1): training samples, in order
    Link("spikes", 1, "encoder", zmq.PUSH, zmq.PULL, "lossless", 64),
    # network -> learner: rasters of one presentation
    Link("plasticity", 2, "learner", zmq.PULL, zmq.PUSH, "lossless", 64),
    # learner -> network: new weights
    Link("weights", 3, "learner", zmq.PUSH, zmq.PULL, "lossless", 64),
    # network -> controller: predictions
    Link("results", 4, "controller", zmq.PULL, zmq.PUSH, "lossless", 10_000),
    # byob status / submit / stop -> controller (request-reply)
    Link("api", 5, "controller", zmq.ROUTER, zmq.REQ, "lossless", 1_000),
    # every node -> the bus hub: what the pipeline publishes (spikes, predictions, weight
    # snapshots, traces, metrics, run start/end); blocks rather than drop
    Link("publish", 6, "hub", zmq.PULL, zmq.PUSH, "lossless", 10_000),
    # the hub -> viewers: the monitoring bus; a slow viewer loses messages (it counts the
    # gaps in each sender's sequence numbers), the pipeline never waits for it
    Link("bus", 7, "hub", zmq.XPUB, zmq.SUB, "droppable", 2_000),
    # the hub -> the recorder: the same stream, never dropped (a slow recorder slows the run)
    Link("record", 8, "hub", zmq.PUSH, zmq.PULL, "lossless", 10_000),
    # byob replay's pause / resume / seek / speed (request-reply)
    Link("replay", 9, "replayer", zmq.ROUTER, zmq.REQ, "lossless", 100),
    # encoder -> every network worker: evaluation batches, dealt round-robin (fan-out);
    # a worker connects only while it holds a job, so none is dealt to an idle worker
    Link("eval", 11, "encoder", zmq.PUSH, zmq.PULL, "lossless", 4),  # (offset 10: the viewer's HTTP port)
)}


# Ports a pipeline uses from BYOB_BASE_PORT: every link, and the viewer's at offset 10.
PORT_BLOCK = max(max(l.port_offset for l in LINKS.values()), 10) + 1


def free_base_port(n: int = PORT_BLOCK) -> int:
    """A free block of ``n`` consecutive loopback ports, so that several pipelines (tests,
    benchmarks) on one machine never collide."""
    import random
    import socket

    for _ in range(100):
        base = random.randint(20000, 60000)
        socks = [socket.socket() for _ in range(n)]
        try:
            for k, s in enumerate(socks):
                s.bind(("127.0.0.1", base + k))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


def busy_endpoints() -> list[str]:
    """The tcp endpoints this host's pipeline binds that something already holds (another
    pipeline on the same ports, most likely). Endpoints of other hosts are not checked."""
    import errno
    import socket

    busy = []
    for link in LINKS.values():
        ep = link.endpoint()
        if not ep.startswith("tcp://"):
            continue
        host, _, port = ep[len("tcp://"):].rpartition(":")
        with socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET) as s:
            # As libzmq binds: a port left in TIME_WAIT by a pipeline that just ended is
            # free; one a live socket holds is not.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host.strip("[]").replace("*", "0.0.0.0"), int(port)))
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    busy.append(ep)
    return busy


def open_socket(ctx: zmq.Context, link_name: str, role: str, identity: str | None = None) -> zmq.Socket:
    """The socket of ``role`` on a link: binds if ``role`` is the link's binder."""
    link = LINKS[link_name]
    binds = role == link.binder
    sock = ctx.socket(link.bind_kind if binds else link.connect_kind)
    sock.setsockopt(zmq.SNDHWM, link.hwm)
    sock.setsockopt(zmq.RCVHWM, link.hwm)
    sock.setsockopt(zmq.LINGER, 2000 if link.policy == "lossless" else 0)
    # No frame larger than the largest legal message is ever read into memory: libzmq
    # disconnects a peer that sends one, before the frame is buffered whole.
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
    if sock.type == zmq.DEALER:
        sock.setsockopt_string(zmq.IDENTITY, identity or role)
    if sock.type == zmq.ROUTER and link_name == "control":
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    if sock.type == zmq.SUB:
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    endpoint = link.endpoint()
    if security.curve_on([endpoint, *(l.endpoint() for l in LINKS.values())]):
        security.secure(sock, binds)
    (sock.bind if binds else sock.connect)(endpoint)
    return sock
