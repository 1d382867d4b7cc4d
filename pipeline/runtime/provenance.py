"""Where a result came from: what a run or a model records so that one that does not
reproduce can be checked (package versions, the commit when run from a checkout and
whether it was dirty, Python, platform, host, the backend that ran and the native
kernel's build hash). Computed once per process."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("build-your-own-brain", "brainpy", "jax", "jaxlib", "numpy", "zarr", "pyzmq", "msgpack")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def checkout() -> dict[str, Any] | None:
    """The checkout's commit and whether it has uncommitted changes (None outside one)."""
    if not (ROOT / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if commit.returncode:
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


@lru_cache(maxsize=1)
def _static() -> dict[str, Any]:
    return {"packages": {p: _version(p) for p in PACKAGES}, "git": checkout(), "python": sys.version.split()[0],
            "platform": platform.platform(), "machine": platform.machine(), "host": socket.gethostname()}


def provenance(backend: str) -> dict[str, Any]:
    """This process's provenance for a brain configured with ``backend``: the backend that
    actually runs (native falls back to brainpy where the kernel cannot be built) and,
    for native, the kernel library's build hash."""
    out = dict(_static())
    ran, kernel = backend, None
    if backend == "native":
        from nodes.network import native_build

        if native_build.load():
            try:
                kernel = native_build.library_path(native_build.compiler()).stem
            except native_build.NativeUnavailable:
                kernel = None
        else:
            ran = "brainpy"
    out.update(backend=ran, kernel=kernel)
    return out


def describe(p: dict[str, Any] | None) -> list[str]:
    """Lines for a person: what ``provenance`` recorded."""
    if not p:
        return ["provenance: not recorded (made before it was)"]
    git = p.get("git")
    pk = ", ".join(f"{k} {v}" for k, v in (p.get("packages") or {}).items() if v)
    return [f"backend: {p.get('backend')}" + (f" (kernel {p['kernel']})" if p.get("kernel") else ""),
            f"packages: {pk}",
            f"python {p.get('python')} on {p.get('platform')}, host {p.get('host')}",
            "commit: " + (f"{git['commit']}{' (with uncommitted changes)' if git.get('dirty') else ''}" if git
                          else "not run from a checkout")]
