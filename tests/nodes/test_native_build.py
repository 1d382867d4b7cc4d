"""Building the native kernel: a missing compiler or a failed build falls back to BrainPy
with one logged line, and nothing else fails."""

import os

import numpy as np
import pytest

from nodes.encoder.core import encode
from nodes.network import native_build
from nodes.network.core import NetworkCore
from nodes.network.params import init_params


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A process state in which the kernel was never loaded, and an empty cache."""
    monkeypatch.setattr(native_build, "_state", {})
    monkeypatch.setenv(native_build.ENV_CACHE, str(tmp_path / "native"))
    return tmp_path


def present(cfg, digits):
    core = NetworkCore(cfg)
    ids = np.arange(2)
    res = core.simulate(init_params(cfg, 0), encode(digits.X_test[ids], cfg, 0, 0, ids),
                        core.reset_noise(0, 0, ids))
    return core, res


def test_missing_compiler_falls_back_to_brainpy(fresh, monkeypatch, caplog, small_cfg, digits):
    monkeypatch.setenv("CXX", str(fresh / "no-such-compiler"))
    with caplog.at_level("WARNING"):
        core, res = present(small_cfg.network.replace(backend="native"), digits)
    assert not core.native()
    assert res.hidden.shape == (2, small_cfg.network.n_steps, small_cfg.network.n_hidden)
    notices = [r for r in caplog.records if "backend native is unavailable" in r.getMessage()]
    assert len(notices) == 1 and "\n" not in notices[0].getMessage()
    assert "no-such-compiler" in notices[0].getMessage()
    assert not list((fresh / "native").glob("*.so"))


def test_failed_build_falls_back_and_leaves_no_file(fresh, monkeypatch, caplog, small_cfg, digits):
    fake = fresh / "broken-c++"
    fake.write_text('#!/bin/sh\nif [ "$1" = --version ]; then echo "broken 1.0"; exit 0; fi\n'
                    'echo "kernel.cc:1: error: nothing compiles here" >&2; exit 1\n')
    os.chmod(fake, 0o755)
    monkeypatch.setenv("CXX", str(fake))
    with caplog.at_level("WARNING"):
        core, _ = present(small_cfg.network.replace(backend="native"), digits)
    assert not core.native()
    assert "nothing compiles here" in caplog.text
    assert not list((fresh / "native").iterdir())  # no library, no temporary file


def test_build_is_cached_by_source_and_flags(fresh, monkeypatch):
    if not native_build.compiler() or native_build.shutil.which(native_build.compiler()) is None:
        pytest.skip("no C++ compiler")
    path = native_build.build()
    assert path.parent == fresh / "native" and path.exists()
    mtime = path.stat().st_mtime_ns
    assert native_build.build() == path and path.stat().st_mtime_ns == mtime  # not rebuilt
    monkeypatch.setattr(native_build, "FLAGS", native_build.FLAGS + ("-DBYOB_TEST_FLAG",))
    assert native_build.library_path(native_build.compiler()) != path
