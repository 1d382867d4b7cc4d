"""Compiling and loading the native presentation kernel (``native_kernel.cc``).

On first use the kernel is compiled with the C++ compiler (``$CXX``, else ``g++``) against
the XLA FFI headers that jaxlib ships (``jax.ffi.include_dir()``), into a cache folder:
``$BYOB_NATIVE_CACHE``, else ``$XDG_CACHE_HOME/byob/native``, else ``~/.cache/byob/native``
(beside ``pipeline/runtime/jaxcache.py``'s compiled programs). The file name is a hash of the source,
the flags, the compiler's version, the jax version and the CPU's feature flags, so a changed
kernel, compiler or machine builds anew and an old library is never loaded by mistake.
The library is written under a temporary name and renamed into place, so two processes
building at once both end up with a whole file.

``load()`` registers the kernel with XLA as the FFI target ``byob_present`` and says whether
it could. Where there is no compiler or the build fails, it logs one line and returns False;
the network then runs on BrainPy (``nodes/network/core.py``). Nothing here runs at import.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("native_kernel.cc")
TARGET = "byob_present"
ENV_CACHE = "BYOB_NATIVE_CACHE"
# -ffp-contract=off: the kernel fuses a * b + c into one FMA exactly where XLA's CPU backend
# does (``madd`` in the kernel) and nowhere else, so its float32 arithmetic is the BrainPy
# path's. -march=native: the file's hash includes the CPU's flags.
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fopenmp-simd", "-std=c++17", "-shared",
         "-fPIC", "-pthread")


class NativeUnavailable(RuntimeError):
    """The kernel cannot be built or loaded here; the message says why."""


def cache_dir() -> Path:
    where = os.environ.get(ENV_CACHE, "")
    if where:
        return Path(where).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "byob" / "native"


def compiler() -> str:
    return os.environ.get("CXX") or "g++"


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return os.uname().machine


def _compiler_version(cxx: str) -> str:
    if shutil.which(cxx) is None:
        raise NativeUnavailable(f"no C++ compiler {cxx!r} (set CXX to one)")
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise NativeUnavailable(f"C++ compiler {cxx!r} does not run: {e}") from e
    if out.returncode:
        raise NativeUnavailable(f"C++ compiler {cxx!r} does not run: {out.stderr.strip()[:200]}")
    return out.stdout.splitlines()[0] if out.stdout else ""


def library_path(cxx: str) -> Path:
    import jax

    key = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join(FLAGS).encode(), _compiler_version(cxx).encode(),
                 jax.__version__.encode(), _cpu_flags().encode()):
        key.update(part)
        key.update(b"\0")
    return cache_dir() / f"byob_present-{key.hexdigest()[:16]}.so"


def build() -> Path:
    """The compiled library, built if it is not in the cache yet."""
    import jax

    cxx = compiler()
    path = library_path(cxx)
    if path.exists():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NativeUnavailable(f"cache folder {path.parent} cannot be made ({e}); set {ENV_CACHE}") from e
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    cmd = [cxx, *FLAGS, f"-I{jax.ffi.include_dir()}", str(SOURCE), "-o", tmp]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if out.returncode:
            first = next((ln for ln in out.stderr.splitlines() if "error" in ln), out.stderr.strip()[:200])
            raise NativeUnavailable(f"building the kernel failed: {first}")
        os.replace(tmp, path)
    except (OSError, subprocess.SubprocessError) as e:
        raise NativeUnavailable(f"building the kernel failed: {e}") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


_state: dict[str, object] = {}


def load() -> bool:
    """Build if needed, load and register the kernel, once per process. False (with one
    logged line, the first time) where it cannot: the caller then uses BrainPy."""
    if "ok" in _state:
        return bool(_state["ok"])
    try:
        import jax

        lib = ctypes.cdll.LoadLibrary(str(build()))
        jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(lib.ByobPresent), platform="cpu")
        _state["lib"] = lib
        _state["ok"] = True
    except (NativeUnavailable, OSError, AttributeError) as e:
        log.warning("network.backend native is unavailable (%s); running on brainpy", e)
        _state["ok"] = False
        _state["why"] = str(e)
    return bool(_state["ok"])


def reason() -> str:
    """Why ``load()`` failed ('' if it did not)."""
    return str(_state.get("why", ""))
