"""Bokeh client sessions that take every update of a viewer page without drawing it.

Run: ``python -m benchmarks.viewer_clients URL [--sessions 4]``

Each session is ``bokeh.client.pull_session`` against the viewer's Panel server, in a
thread of its own running the session's IOLoop: the server makes, serialises and sends
each session everything it would send a browser (its websocket is read, so the server
never skips frames for it), and nothing is rendered. Prints one JSON line a second:
sessions connected and document changes applied so far. Stops on SIGTERM / SIGINT.
Used by ``benchmarks.viewer_cost`` as the stand-in for browsers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import threading
import time


class Client:
    def __init__(self, url: str) -> None:
        self.url, self.changes, self.connected, self.error = url, 0, False, ""
        self.session = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from bokeh.client import pull_session
        import panel.models  # noqa: F401 - the page's Panel models must be known to decode it

        asyncio.set_event_loop(asyncio.new_event_loop())
        try:
            self.session = pull_session(url=self.url)
            self.session.document.on_change(self._changed)
            self.connected = True
            self.session._connection.loop_until_closed()  # the session API dropped its wrapper
        except Exception as e:  # noqa: BLE001 - reported, not raised: the others go on
            self.error = f"{type(e).__name__}: {e}"
        self.connected = False

    def _changed(self, _event) -> None:
        self.changes += 1

    def close(self) -> None:
        s = self.session
        if s is not None:
            s._connection.io_loop.add_callback(s.close)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("--sessions", type=int, default=4)
    a = ap.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    import panel.models  # noqa: F401 - imported once here, before the threads
    clients = [Client(a.url) for _ in range(a.sessions)]
    for c in clients:
        c.thread.start()
    while not stop.wait(1.0):
        print(json.dumps({"t": time.time(), "connected": sum(c.connected for c in clients),
                          "changes": sum(c.changes for c in clients),
                          "errors": [c.error for c in clients if c.error]}), flush=True)
    for c in clients:
        c.close()
    for c in clients:
        c.thread.join(5)


if __name__ == "__main__":
    main()
