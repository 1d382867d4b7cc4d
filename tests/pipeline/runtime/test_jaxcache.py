"""The persistent compile cache: where it lives, that a second process loads what the first
compiled, and that a damaged or unusable cache costs only compile time."""

import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.runtime import jaxcache

ROOT = Path(__file__).resolve().parents[3]
PROGRAM = r"""
import json
from pipeline.runtime import jaxcache
where = jaxcache.enable()
import jax, jax.numpy as jnp
hits = []
jax.monitoring.register_event_listener(
    lambda name, *a, **kw: hits.append(name) if name == "/jax/compilation_cache/cache_hits" else None)
f = jax.jit(lambda x: jnp.tanh(x) * 3.0 + jnp.cumsum(x))
print(json.dumps({"where": where, "value": float(f(jnp.arange(7.0)).sum()), "hits": len(hits)}))
"""


def run(cache: str) -> tuple[dict, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BYOB_JAX_CACHE": cache, "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BYOB_JAX_CACHE", "off")
    assert jaxcache.cache_dir() is None
    monkeypatch.setenv("BYOB_JAX_CACHE", str(tmp_path / "c"))
    assert jaxcache.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("BYOB_JAX_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert jaxcache.cache_dir() == tmp_path / "xdg" / "byob" / "jax"


def test_a_second_process_loads_what_the_first_compiled(tmp_path):
    cache = tmp_path / "cache"
    first, _ = run(str(cache))
    assert first["where"] == str(cache) and first["hits"] == 0 and any(cache.iterdir())
    second, _ = run(str(cache))
    assert second["hits"] >= 1 and second["value"] == first["value"]


def test_a_damaged_entry_is_compiled_again_with_a_warning(tmp_path):
    cache = tmp_path / "cache"
    first, _ = run(str(cache))
    for f in cache.iterdir():  # as if every writer had been killed halfway
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    again, err = run(str(cache))
    assert again["value"] == first["value"] and again["hits"] == 0
    assert "persistent compilation cache" in err


def test_an_unusable_folder_or_off_means_no_cache_and_nothing_else(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out, err = run(str(blocker / "cache"))
    assert out["where"] is None and out["hits"] == 0 and "no compile cache" in err
    out, _ = run("off")
    assert out["where"] is None and out["value"] == run(str(tmp_path / "c"))[0]["value"]
