"""Talking to a running pipeline's controller: ``byob status``, ``submit``, ``stop``.

A REQ socket with a receive timeout: a controller that is not running gives a clear
error instead of a hang.
"""

from __future__ import annotations

from typing import Any

import zmq

from pipeline.base.messages import Control, MessageError, decode
from pipeline.runtime.wiring import LINKS, open_socket


class ControllerUnreachable(RuntimeError):
    pass


def request(command: str, timeout_s: float = 3.0, link: str = "api", **args: Any) -> dict[str, Any]:
    """Send a control command to the controller (``api``) or to ``byob replay`` (``replay``)."""
    ctx = zmq.Context()
    try:
        sock = open_socket(ctx, link, "client")
        sock.setsockopt(zmq.LINGER, 0)
        sock.send_multipart(Control(run="", seq=0, sender="client", command=command, args=args).to_wire())
        if not sock.poll(int(timeout_s * 1000)):
            who, start = (("controller", "`honcho start` or `byob run`") if link == "api"
                          else ("replay", "`byob replay RUN`"))
            raise ControllerUnreachable(
                f"no {who} answered at {LINKS[link].endpoint()} within {timeout_s:.0f} s; "
                f"start it with {start}, or set BYOB_{link.upper()}_ENDPOINT / "
                "BYOB_BASE_PORT to where it runs")
        try:
            msg = decode(sock.recv_multipart())
        except MessageError as e:
            raise ControllerUnreachable(f"the controller sent a bad reply: {e}") from e
        return dict(msg.args) if isinstance(msg, Control) else {"ok": False, "error": "bad reply"}
    finally:
        ctx.destroy(linger=0)
