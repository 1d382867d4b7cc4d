"""Serving the viewer: ``byob view`` and the Procfile's ``viewer`` line.

One process, one Panel (Bokeh) server bound to 127.0.0.1 by default, with an explicit
websocket origin allow-list, one ``Feed`` for every browser. The URL is printed when
it is up. SIGTERM (honcho stopping the pipeline) or Ctrl-C stops it with exit code 0.

The port is ``--port``, else ``BYOB_VIEWER_PORT``, else ``BYOB_BASE_PORT + 10`` (5760
with the default port block), so pipelines on other port blocks get their own viewer.
Under the Procfile (``--optional``) the viewer never takes the pipeline down: a busy
port moves it to a free one, and any other failure to start, or ``BYOB_VIEWER=0``,
leaves it idle until the pipeline stops.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger("viewer")
OFF = ("0", "off", "no", "false")


class ViewerError(Exception):
    """The viewer cannot start as asked (bad port, unreadable store): exit code 2."""


@dataclass
class ViewOptions:
    port: int | None = None
    address: str = "127.0.0.1"
    bus: str | None = None
    store: str | None = None
    run: str | None = None
    rate: float = 1.0
    origins: list[str] = field(default_factory=list)
    optional: bool = False
    nice: int = 10  # the viewer yields the CPU to the pipeline's nodes on a shared host


def default_port() -> int:
    if os.environ.get("BYOB_VIEWER_PORT"):
        return int(os.environ["BYOB_VIEWER_PORT"])
    return int(os.environ.get("BYOB_BASE_PORT", "5750")) + 10


def port_free(address: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((address, port))
            return True
        except OSError:
            return False


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def _idle(reason: str) -> int:
    """Stay up doing nothing until the pipeline stops us (honcho stops every process
    when one exits, so an optional viewer must not exit on its own)."""
    print(f"byob viewer: {reason}; idle until the pipeline stops", flush=True)
    try:
        while True:
            signal.pause()
    except (SystemExit, KeyboardInterrupt):
        return 0


def serve(o: ViewOptions, ready: Callable[[str], None] | None = None) -> int:
    """Run the viewer until SIGTERM / SIGINT; returns the exit code."""
    if o.optional and os.environ.get("BYOB_VIEWER", "1").lower() in OFF:
        return _idle("turned off (BYOB_VIEWER=0)")
    if o.nice > 0:  # monitoring must not slow what it monitors: the nodes run first
        os.nice(o.nice)
    port = o.port if o.port is not None else default_port()
    if port == 0 or (o.optional and not port_free(o.address, port)):
        if port:
            print(f"byob viewer: port {port} is busy, using a free one", flush=True)
        port = free_port(o.address)
    elif not port_free(o.address, port):
        raise ViewerError(f"port {port} on {o.address} is in use; pick another with --port P "
                          "(or BYOB_VIEWER_PORT)")
    try:
        return _serve(o, port, ready)
    except ViewerError:
        raise
    except Exception as e:
        if not o.optional:
            raise
        log.exception("the viewer could not start")
        return _idle(f"could not start ({type(e).__name__}: {e})")


def _serve(o: ViewOptions, port: int, ready: Callable[[str], None] | None) -> int:
    from store.runs import StoreError
    from viewer.feed import Feed

    store = o.store or os.environ.get("BYOB_STORE") or "runs.zarr"
    feed = Feed(bus=o.bus, store=store)
    # Subscribe before the slow imports below, so a viewer started with the pipeline
    # sees the run from its first message.
    try:
        feed.replay(o.run, rate=o.rate or None) if o.run else feed.live()
    except StoreError as e:
        raise ViewerError(str(e)) from e

    import panel as pn

    from viewer.app import make_app

    for noisy in ("tornado.access", "bokeh", "panel"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    hosts = {o.address, "127.0.0.1", "localhost"} if o.address in ("127.0.0.1", "localhost") else {o.address}
    origins = sorted({f"{h}:{port}" for h in hosts} | set(o.origins))
    server = pn.serve({"/": make_app(feed)}, port=port, address=o.address, websocket_origin=origins,
                      show=False, start=False, title="byob viewer",
                      check_unused_sessions_milliseconds=1000, unused_session_lifetime_milliseconds=2000)
    loop = server.io_loop

    def stop(*_: object) -> None:
        loop.asyncio_loop.call_soon_threadsafe(loop.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.start()
    url = f"http://{o.address}:{port}/"
    what = f"replaying {feed.reader.run} from {store}" if feed.reader else f"live from bus {feed.bus}"
    print(f"byob viewer: {url} ({what})", flush=True)
    if ready:
        ready(url)
    try:
        loop.start()
    finally:
        feed.close()
        server.stop(wait=False)
    print("byob viewer: stopped", flush=True)
    return 0

