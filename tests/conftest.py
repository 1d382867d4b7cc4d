import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest

from pipeline.config import Config, NetworkConfig


@pytest.fixture(scope="session")
def small_cfg() -> Config:
    """The default network at a coarse dt: same dynamics, fewer steps, fast tests."""
    return Config(network=NetworkConfig(dt=1.0))


@pytest.fixture(scope="session")
def digits():
    from pipeline.data import load_split

    return load_split(0)
