"""The scheduling rules live apart from the simulation: the nodes that only deal out
samples, tally predictions or record start without JAX and BrainPy, and the learner
without BrainPy."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.base.schedule import INFER_BATCH, epoch_order, eval_batches

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("module, allowed", [
    ("nodes.encoder.__main__", ""), ("nodes.recorder.__main__", ""), ("pipeline.app.controller", ""),
    ("nodes.learner.__main__", "jax,jaxlib")])  # the learner computes with JAX, without BrainPy
def test_a_node_loads_only_the_libraries_it_computes_with(module, allowed):
    code = (f"import sys, {module}; heavy = [m for m in ('jax', 'jaxlib', 'brainpy') if m in sys.modules]; "
            "print(','.join(heavy))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == allowed, f"{module} imports {r.stdout.strip()}"


def test_batches_cover_every_sample_once_in_one_shape_and_epochs_are_permutations():
    n = 2 * INFER_BATCH + 5
    seen = np.concatenate([ids for ids, pad in eval_batches(n)])
    assert np.array_equal(seen, np.arange(n))
    assert {len(pad) for _, pad in eval_batches(n)} == {INFER_BATCH}
    order = epoch_order(0, 3, 100, 40)
    assert len(set(order.tolist())) == 40 and not np.array_equal(order, epoch_order(0, 4, 100, 40))
