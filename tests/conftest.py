import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The processes tests start (nodes, byob commands) share one compile cache for the session,
# in a folder of its own: a test run neither reads nor fills the user's cache.
if "BYOB_JAX_CACHE" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["BYOB_JAX_CACHE"] = tempfile.mkdtemp(prefix="byob-test-jax-cache-")
    atexit.register(shutil.rmtree, os.environ["BYOB_JAX_CACHE"], True)

import pytest

from pipeline.base.config import Config, NetworkConfig


@pytest.fixture(scope="session")
def small_cfg() -> Config:
    """The default network at a coarse dt: same dynamics, fewer steps, fast tests."""
    return Config(network=NetworkConfig(dt=1.0))


@pytest.fixture(scope="session")
def digits():
    from pipeline.base.data import load_split

    return load_split(0)
