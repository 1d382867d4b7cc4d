"""Running an exported NIR graph in Norse (PyTorch), the check that another simulator can
use what ``byob export --nir`` writes. Needs the optional extra ``nir-sim`` (torch, norse,
nirtorch): ``pip install -e '.[nir-sim]'``.

Norse maps every node of the graph (``norse.torch``'s NIR import: Linear, CubaLIF with
per-neuron parameters) except ``Delay``, which it has no module for: ``DelayLine`` below is
that one missing piece, a ring buffer of whole steps. nirtorch's graph executor runs the
graph one step at a time, a recurrent edge seeing the previous step's output (as byob's
inhibition does).
"""

from __future__ import annotations

import nir
import numpy as np


def _torch():
    try:
        import torch
        from norse.torch.utils.import_nir import _import_norse_module
        import nirtorch
    except ImportError as e:
        raise ImportError(f"running a NIR graph needs torch, norse and nirtorch: pip install -e '.[nir-sim]' ({e})") from e
    return torch, nirtorch, _import_norse_module


def norse_module(graph: nir.NIRGraph, dt: float):
    """The graph as a stateful torch module stepping by ``dt`` seconds: call it with one
    step's input (batch, n_input) and the previous state, get (output spikes, state)."""
    torch, nirtorch, import_norse = _torch()

    class DelayLine(torch.nn.Module):
        """y[t] = x[t - d_i] per channel i, d_i = round(delay_i / dt) whole steps."""

        def __init__(self, delay: np.ndarray) -> None:
            super().__init__()
            self.register_buffer("steps", torch.as_tensor(np.round(np.asarray(delay) / dt).astype(np.int64)))
            self.depth = int(self.steps.max().item()) + 1 if self.steps.numel() else 1

        def forward(self, x, state=None):
            if state is None:
                state = (torch.zeros((self.depth, *x.shape), dtype=x.dtype), torch.zeros((), dtype=torch.long))
            buf, head = state
            buf = buf.clone()
            buf[head % self.depth] = x
            idx = (head - self.steps) % self.depth  # per channel: the slot written d_i steps ago
            y = buf[idx, :, torch.arange(x.shape[-1])].T
            return y, (buf, head + 1)

    def node_map(node: nir.NIRNode):
        if isinstance(node, nir.Delay):
            return DelayLine(node.delay)
        return import_norse(node, dt=dt)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # nirtorch.load: Norse's own route
        return nirtorch.load(graph, node_map)


def output_counts(graph: nir.NIRGraph, spikes: np.ndarray, dt: float) -> np.ndarray:
    """Output spike counts (batch, n_output) of ``spikes`` (bool (batch, steps, n_input)),
    every sample from a reset network."""
    torch, _, _ = _torch()
    module = norse_module(graph, dt)
    x = torch.as_tensor(np.ascontiguousarray(spikes), dtype=torch.float32)
    state = None
    counts = None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # thousands of small steps: threads only add overhead (and fight JAX's)
    try:
        with torch.no_grad():
            for t in range(x.shape[1]):
                z, state = module(x[:, t], state)
                counts = z if counts is None else counts + z
    finally:
        torch.set_num_threads(threads)
    return np.zeros((len(spikes), 0), np.int32) if counts is None else counts.numpy().astype(np.int32)
