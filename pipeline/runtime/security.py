"""ZeroMQ CURVE encryption and authentication for pipelines that span hosts.

Off for the loopback default (nothing listens beyond 127.0.0.1). On by default as soon
as any endpoint is a tcp address off this host, and on demand with ``BYOB_CURVE=1``.
When on, every socket that binds is a CURVE server and authenticates each connecting
peer by its public key against ``<keys>/authorized/``; every socket that connects
presents the client key pair. A peer without an authorized key is refused, and the
refusal is logged as a warning naming the key.

``byob keys [--dir keys]`` makes the key pairs: ``server.key(_secret)`` for binders,
``client.key(_secret)`` for connectors, and ``authorized/client.key``. Copy the folder
to each host (``BYOB_KEYS`` points elsewhere); to admit another client, put its public
``.key`` file in ``authorized/``.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

DEFAULT_KEYS = Path("keys")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
_authenticators: dict[int, ThreadAuthenticator] = {}


class KeysMissing(RuntimeError):
    """Missing or unreadable keys while CURVE is on."""


def keys_dir() -> Path:
    return Path(os.environ.get("BYOB_KEYS", str(DEFAULT_KEYS)))


def is_remote(endpoint: str) -> bool:
    if not endpoint.startswith("tcp://"):
        return False  # ipc / inproc stay on this host
    host = urlparse(endpoint).hostname or ""
    return host not in LOCAL_HOSTS


def curve_on(endpoints: list[str]) -> bool:
    flag = os.environ.get("BYOB_CURVE")
    if flag is not None:
        return flag == "1"
    return any(is_remote(e) for e in endpoints)


def make_keys(directory: Path) -> dict[str, str]:
    """Create the server and client key pairs and authorize the client; refuses to
    overwrite existing keys."""
    directory = Path(directory)
    if (directory / "server.key_secret").exists():
        raise FileExistsError(f"{directory} already holds keys; remove it or choose another --dir")
    (directory / "authorized").mkdir(parents=True, exist_ok=True)
    out = {}
    for name in ("server", "client"):
        public, secret = zmq.auth.create_certificates(str(directory), name)
        os.chmod(secret, 0o600)
        out[name] = public
    shutil.copy(directory / "client.key", directory / "authorized" / "client.key")
    return out


def _load(name: str) -> tuple[bytes, bytes | None]:
    d = keys_dir()
    path = d / f"{name}.key_secret"
    if not path.exists():
        path = d / f"{name}.key"
    try:
        return zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as e:
        raise KeysMissing(f"CURVE is on but {path} cannot be read ({e}); create keys with `byob keys "
                        f"--dir {d}` and copy them to every host (or set BYOB_KEYS)") from e


class _DenialsAsWarnings(logging.LoggerAdapter):
    """pyzmq logs a refused key at debug level; a refusal deserves a warning."""

    def debug(self, msg, *args, **kw):  # type: ignore[override]
        text = str(msg) % args if args else str(msg)
        if text.startswith("DENIED"):
            self.logger.warning("refused a connection: %s (not in %s/authorized)", text, keys_dir())
        else:
            self.logger.debug(text)


def secure(sock: zmq.Socket, binds: bool, log: logging.Logger | None = None) -> None:
    """Make ``sock`` a CURVE server (binds) or client (connects) before bind/connect."""
    server_public, server_secret = _load("server")
    if binds:
        ctx = sock.context
        if id(ctx) not in _authenticators:
            auth = ThreadAuthenticator(ctx, log=_DenialsAsWarnings(log or logging.getLogger("byob.auth"), {}))
            auth.start()
            authorized = keys_dir() / "authorized"
            if not authorized.is_dir():
                raise KeysMissing(f"CURVE is on but {authorized} is missing; `byob keys` creates it")
            auth.configure_curve(domain="*", location=str(authorized))
            _authenticators[id(ctx)] = auth
        if server_secret is None:
            raise KeysMissing(f"{keys_dir()}/server.key_secret is needed on a host that binds")
        sock.curve_secretkey = server_secret
        sock.curve_publickey = server_public
        sock.curve_server = True
    else:
        client_public, client_secret = _load("client")
        if client_secret is None:
            raise KeysMissing(f"{keys_dir()}/client.key_secret is needed to connect")
        sock.curve_secretkey = client_secret
        sock.curve_publickey = client_public
        sock.curve_serverkey = server_public


def stop_authenticator(ctx: zmq.Context) -> None:
    auth = _authenticators.pop(id(ctx), None)
    if auth is not None:
        auth.stop()
