"""A persistent cache of compiled XLA programs, shared by every byob process on a machine.

Every start of a node, and every ``byob train``, compiled the same programs again: the
network node's warm-up spent about 6 s on it. With the cache, a later start loads them
from disk and only traces (``benchmarks/results/compile_cache.json``).

Where: ``$BYOB_JAX_CACHE``, else ``$XDG_CACHE_HOME/byob/jax``, else ``~/.cache/byob/jax``;
``BYOB_JAX_CACHE=off`` turns it off. Entries are keyed by the program, its compile
options, the backend and the jax version, so an entry is never used for anything else.
JAX writes an entry in place: one left unreadable (a process killed while writing it, or,
rarely, two processes finishing the same program at the same moment, as identical network
workers starting together can) is compiled again, with a warning, every time it is needed;
delete the folder to clear it. The folder is a cache: deleting it loses nothing but start-up time.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)
ENV = "BYOB_JAX_CACHE"
# Cache every program, the small eager ones too: they are many, and together they are about
# a third of what the cache saves a node's warm-up.
MIN_COMPILE_S = 0.0


def cache_dir() -> Path | None:
    """The cache's folder, or None when ``BYOB_JAX_CACHE=off``."""
    where = os.environ.get(ENV, "")
    if where.lower() in ("off", "0", "no", "false"):
        return None
    if where:
        return Path(where).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "byob" / "jax"


def enable() -> str | None:
    """Point JAX's persistent compilation cache at ``cache_dir()``; call it before the first
    compilation. It sets JAX's environment variables (so it needs no jax import, and the
    processes this one starts inherit it) and, where jax is already imported, its config.
    Returns the folder, or None if the cache is off or its folder cannot be made (then
    everything is compiled as before, with a warning)."""
    path = cache_dir()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        log.warning("no compile cache (%s): %s; set %s to a writable folder, or to off", path, e, ENV)
        return None
    settings = {"jax_compilation_cache_dir": str(path),
                "jax_persistent_cache_min_compile_time_secs": MIN_COMPILE_S}
    for name, value in settings.items():
        os.environ[name.upper()] = str(value)
    if "jax" in sys.modules:
        for name, value in settings.items():
            sys.modules["jax"].config.update(name, value)
    return str(path)
