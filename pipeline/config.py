"""Configuration of the network, the learning rules and a training job.

Frozen dataclasses with ``to_dict``/``from_dict`` (zarr-python style): what goes into a
model file and onto the wire is plain JSON, never a pickle. Units: time in ms, voltage
in mV, rates in Hz.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, TypeVar

T = TypeVar("T")

DEFAULT_EPOCHS = 14  # of `byob train` and `byob run`
DEFAULT_MODEL_DIR = Path("models")


def _from_dict(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known keys are {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        kind = known[name].type
        if kind in ("tuple[float, float]", "tuple[int, int]"):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture and dynamics of the spiking network (SEED.md's parameters)."""

    n_input: int = 64
    n_hidden: int = 200
    n_output: int = 10
    dt: float = 0.5
    t_present: float = 200.0
    # Test digits are shown test_factor x t_present: the homeostatic thresholds hold the
    # hidden layer near 10 spikes per training presentation, and a longer look gives the
    # frozen network's counts more evidence (benchmarks/results/accuracy.json).
    test_factor: float = 4.0
    max_rate: float = 150.0  # Hz at pixel value 16
    # LIF membrane (SEED.md defaults)
    V_rest: float = -65.0
    V_reset: float = -65.0
    V_th: float = -50.0
    tau: float = 20.0
    tau_ref: float = 5.0
    tau_adapt: float = 100.0
    adapt_jump: float = 1.0  # mV of adaptation current per spike
    heterogeneity: float = 0.1  # relative spread of tau, V_th, tau_ref
    excitability: float = 0.1  # relative spread of the input gain per neuron
    reset_jitter: float = 1.0  # mV spread of V around V_rest at each sample reset
    # synapses
    tau_syn: float = 5.0
    w_scale: float = 10.0  # mV added to the synaptic current by a weight-1 spike
    delay_ih: tuple[float, float] = (1.0, 3.0)  # input->hidden delay range per input (ms)
    delay_ho: float = 1.0  # hidden->output delay (ms)
    connection_prob: float = 1.0  # input->hidden sparsity
    receptive_fields: bool = False  # structured init (center-surround, edges)
    w_norm: float = 6.4  # sum of each hidden neuron's input weights
    w_max: float = 1.0
    # hidden lateral inhibition (all-to-all, exponential synapse)
    w_inh: float = 100.0
    tau_inh: float = 5.0
    # output layer: teacher drive and Mexican-hat WTA
    w_out_scale: float = 200.0
    out_inh: float = 150.0
    out_sigma: float = 1.5
    teacher: float = 30.0  # mV of teacher current into the true class during training
    min_hidden_spikes: int = 5  # fewer: present again with boosted rates
    retry_rate_step: float = 64.0  # Hz added per retry
    max_retries: int = 3
    neuron_model: str = "lif"  # "lif" (AdaptiveLIF), "izhikevich" or "adex" (nodes/network/models.py)

    def __post_init__(self) -> None:
        choices = ("lif", "izhikevich", "adex")
        if self.neuron_model not in choices:
            raise ValueError(f"network config: neuron_model {self.neuron_model!r} is not one of "
                             f"{', '.join(choices)}")

    @property
    def n_steps(self) -> int:
        return int(round(self.t_present / self.dt))

    def testing(self) -> "NetworkConfig":
        """The configuration test (evaluation) presentations run with."""
        return self.replace(t_present=self.t_present * self.test_factor, test_factor=1.0)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "NetworkConfig":
        return _from_dict(cls, data, "network config")

    def replace(self, **changes: Any) -> "NetworkConfig":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class LearningConfig:
    """Local plasticity: trace STDP input->hidden, homeostasis, teacher STDP hidden->output."""

    tau_pre: float = 20.0
    tau_post: float = 20.0
    A_pre: float = 2.5e-4  # depression per pre spike, times the post trace
    A_post: float = 2.5e-2  # potentiation per post spike, times (pre trace - offset)
    x_offset: float = 0.4  # target pre trace: inputs quieter than this depress on a post spike
    theta_plus: float = 0.05  # mV of homeostatic threshold per hidden spike
    # per hidden neuron per sample; theta relaxes by theta_plus*this. With 200 hidden neurons
    # 0.05 holds the layer near 10 spikes per digit (benchmarks/results/tuning.jsonl).
    target_spikes: float = 0.05
    theta_min: float = -10.0
    out_rate: float = 5e-3  # two-phase teacher rule hidden->output
    anneal: float = 0.85  # learning rates scale by anneal ** (epochs done, fractional)
    anneal_min: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LearningConfig":
        return _from_dict(cls, data, "learning config")


@dataclass(frozen=True)
class Config:
    network: NetworkConfig = field(default_factory=NetworkConfig)
    learning: LearningConfig = field(default_factory=LearningConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.network.to_dict(), "learning": self.learning.to_dict()}

    def testing(self) -> "Config":
        """The configuration evaluations run with (``NetworkConfig.testing``)."""
        return Config(self.network.testing(), self.learning)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Config":
        if not isinstance(data, Mapping) or set(data) - {"network", "learning"}:
            raise ValueError("config: expected keys 'network' and 'learning'")
        return cls(
            network=NetworkConfig.from_dict(data.get("network", {})),
            learning=LearningConfig.from_dict(data.get("learning", {})),
        )
