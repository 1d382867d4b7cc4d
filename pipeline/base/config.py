"""Configuration of a brain: its network, its learning rules, its data and its job.

One source of truth. Every key is a field of a frozen dataclass declared with
``knob(default, help, unit=..., ge=..., ...)``: the type comes from the annotation, the
allowed range and the one-line description from the metadata. Validation, ``--set``
parsing, ``byob config show``, the commented starter files and docs/configuration.md
are all generated from these declarations (``pipeline/base/configfile.py``).

Units: time in ms, voltage in mV, rates in Hz. What goes into a model file and onto the
wire is plain JSON (``to_dict``/``from_dict``), never a pickle.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, TypeVar

T = TypeVar("T")

DEFAULT_EPOCHS = 14  # of `byob train` and `byob run`
DEFAULT_MODEL_DIR = Path("models")
SECTIONS = ("network", "learning", "data", "job")


class ConfigError(ValueError):
    """An invalid configuration value; the message names the key, the value and what is allowed."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def knob(default: Any, help: str, *, unit: str = "", ge: float | None = None, gt: float | None = None,
         le: float | None = None, lt: float | None = None, choices: tuple[str, ...] | None = None,
         arch: bool = False) -> Any:
    """A configuration field. ``arch``: part of the architecture, so a continued model
    cannot change it (its arrays have that shape or meaning)."""
    meta = {"help": help, "unit": unit, "ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices,
            "arch": arch}
    return field(default=default, metadata=meta)


def allowed(f: dataclasses.Field) -> str:
    """The allowed values of a field, in words (``> 0``, ``0 <= x <= 1``, ``one of ...``)."""
    m = f.metadata
    if m.get("choices"):
        return "one of " + ", ".join(repr(c) for c in m["choices"])
    lo = f">= {m['ge']:g}" if m.get("ge") is not None else (f"> {m['gt']:g}" if m.get("gt") is not None else "")
    hi = f"<= {m['le']:g}" if m.get("le") is not None else (f"< {m['lt']:g}" if m.get("lt") is not None else "")
    return " and ".join(s for s in (lo, hi) if s) or "any"


def field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def coerce(kind: Any, value: Any, key: str) -> Any:
    """``value`` as a ``kind`` (the field's annotation), or ConfigError. Ints are accepted
    for floats, lists of two for pairs; ``None`` only where the field is optional."""
    args = typing.get_args(kind)
    if type(None) in args:
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            return None
        kind = next(a for a in args if a is not type(None))
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(key, f"{value!r} is not a boolean (true or false)")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(key, f"{value!r} is not an integer")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(key, f"{value!r} is not a finite number")
            return float(value)
        raise ConfigError(key, f"{value!r} is not a number")
    if kind is str:
        if isinstance(value, str):
            return value
        raise ConfigError(key, f"{value!r} is not a string")
    if typing.get_origin(kind) is tuple:
        inner = typing.get_args(kind)
        if not isinstance(value, (list, tuple)) or len(value) != len(inner):
            raise ConfigError(key, f"{value!r} is not a list of {len(inner)} values, e.g. [1.0, 3.0]")
        return tuple(coerce(t, v, f"{key}[{i}]") for i, (t, v) in enumerate(zip(inner, value)))
    raise TypeError(f"{key}: unsupported field type {kind}")


def _check_range(f: dataclasses.Field, value: Any, key: str) -> None:
    m = f.metadata
    if value is None:
        return
    if m.get("choices") and value not in m["choices"]:
        raise ConfigError(key, f"{value!r} is not allowed; {allowed(f)}")
    items = value if isinstance(value, tuple) else (value,)
    for v in items:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        bad = ((m.get("ge") is not None and v < m["ge"]) or (m.get("gt") is not None and v <= m["gt"])
               or (m.get("le") is not None and v > m["le"]) or (m.get("lt") is not None and v >= m["lt"]))
        if bad:
            raise ConfigError(key, f"{value!r} is out of range; must be {allowed(f)}"
                                   + (f" ({m['unit']})" if m.get("unit") else ""))


class Section:
    """Shared behaviour of the four sections: validation on construction, dicts, replace."""

    SECTION = ""

    def __post_init__(self) -> None:
        types = field_types(type(self))
        for f in fields(self):  # type: ignore[arg-type]
            key = f"{self.SECTION}.{f.name}"
            value = coerce(types[f.name], getattr(self, f.name), key)
            object.__setattr__(self, f.name, value)
            _check_range(f, value, key)
        self.check()

    def check(self) -> None:
        """Rules between fields (a section's own ``check`` raises ConfigError)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        name = cls.SECTION  # type: ignore[attr-defined]
        if not isinstance(data, Mapping):
            raise ConfigError(name, f"expected a table of keys, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        for k in data:
            if k not in known:
                close = difflib.get_close_matches(str(k), known, n=1)
                hint = f"; did you mean {name}.{close[0]}?" if close else f"; known keys: {', '.join(known)}"
                raise ConfigError(f"{name}.{k}", f"unknown key{hint}")
        return cls(**dict(data))

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


# Bounds that keep every legal brain storable and sendable: the run store keeps spike steps
# and neuron indices as uint16, and the learned weights travel in one message of at most
# 64 MiB (pipeline/base/messages.py: MAX_MESSAGE_BYTES).
MAX_STEPS = 65_535
MAX_POPULATION = 65_535
MAX_WEIGHT_BYTES = 48 << 20
MAX_BATCH = 256  # pipeline presentations per message or per async round trip


@dataclass(frozen=True)
class NetworkConfig(Section):
    """Architecture and dynamics of the spiking network (SEED.md's parameters)."""

    SECTION = "network"
    n_input: int = knob(64, "input channels (pixels); follows the data", ge=1, le=MAX_POPULATION // 2, arch=True)
    n_hidden: int = knob(200, "hidden LIF neurons", ge=1, le=MAX_POPULATION, arch=True)
    n_output: int = knob(10, "output neurons, one per class; follows the data", ge=2, le=MAX_POPULATION, arch=True)
    image_shape: tuple[int, int] = knob((8, 8), "height and width of an input image; follows the data",
                                        ge=1, arch=True)
    dt: float = knob(0.5, "simulation time step", unit="ms", gt=0, le=10, arch=True)
    t_present: float = knob(200.0, "presentation time of one training digit", unit="ms", gt=0)
    # The homeostatic thresholds hold the hidden layer near 10 spikes per training
    # presentation; a longer look gives the frozen network's counts more evidence.
    test_factor: float = knob(4.0, "test digits are shown test_factor x t_present", ge=0.05, le=100)
    max_rate: float = knob(150.0, "Poisson rate of a pixel at vmax", unit="Hz", gt=0, le=2000)
    V_rest: float = knob(-65.0, "resting potential", unit="mV", ge=-200, le=0)
    V_reset: float = knob(-65.0, "potential after a spike", unit="mV", ge=-200, le=0)
    V_th: float = knob(-50.0, "base spike threshold", unit="mV", ge=-200, le=50)
    tau: float = knob(20.0, "membrane time constant", unit="ms", gt=0, le=10000)
    tau_ref: float = knob(5.0, "refractory period (must exceed dt)", unit="ms", gt=0, le=1000)
    tau_adapt: float = knob(100.0, "adaptation time constant", unit="ms", gt=0, le=100000)
    adapt_jump: float = knob(1.0, "adaptation current added per spike", unit="mV", ge=0, le=1000)
    heterogeneity: float = knob(0.1, "relative spread of tau, V_th and tau_ref across neurons", ge=0, le=1)
    excitability: float = knob(0.1, "relative spread of the input gain per neuron", ge=0, le=1)
    reset_jitter: float = knob(1.0, "spread of V around V_rest at each sample reset", unit="mV", ge=0, le=50)
    tau_syn: float = knob(5.0, "synaptic current time constant", unit="ms", gt=0, le=1000)
    w_scale: float = knob(10.0, "current added by a weight-1 input spike", unit="mV", gt=0, le=10000)
    delay_ih: tuple[float, float] = knob((1.0, 3.0), "range of the per-input axonal delays [min, max]",
                                         unit="ms", ge=0, le=100, arch=True)
    delay_ho: float = knob(1.0, "hidden->output delay", unit="ms", ge=0, le=100, arch=True)
    connection_prob: float = knob(1.0, "probability that an input->hidden synapse exists", ge=0, le=1,
                                  arch=True)
    receptive_fields: bool = knob(False, "start from centre-surround and edge receptive fields", arch=True)
    w_norm: float = knob(6.4, "sum of each hidden neuron's input weights (normalisation)", gt=0, le=10000)
    w_max: float = knob(1.0, "largest input->hidden weight", gt=0, le=100)
    w_inh: float = knob(100.0, "hidden lateral inhibition per spike (all-to-all)", unit="mV", ge=0, le=100000)
    tau_inh: float = knob(5.0, "lateral inhibition time constant", unit="ms", gt=0, le=1000)
    w_out_scale: float = knob(200.0, "current of a weight-1 hidden->output spike", unit="mV", gt=0, le=100000)
    out_inh: float = knob(150.0, "peak Mexican-hat inhibition between output neurons", unit="mV", ge=0,
                          le=100000)
    out_sigma: float = knob(1.5, "width of the Mexican hat on the ring of classes", unit="classes", gt=0, le=100)
    teacher: float = knob(30.0, "teacher current into the true class while training", unit="mV", ge=0,
                          le=10000)
    min_hidden_spikes: int = knob(5, "fewer hidden spikes than this: present again with higher rates",
                                  ge=0, le=10000)
    retry_rate_step: float = knob(64.0, "rate added per retry", unit="Hz", ge=0, le=2000)
    max_retries: int = knob(3, "retries of a silent presentation", ge=0, le=20)
    neuron_model: str = knob("lif", "neuron model of both layers", choices=("lif", "izhikevich", "adex"),
                             arch=True)
    # ON/OFF input (issue 17): with non-negative weights a neuron cannot penalise ink where
    # its prototype has none; an OFF channel per pixel (16 - x) lets it, and every digit then
    # brings the same total drive. n_input stays the pixel count; n_channels is what the
    # input->hidden arrays are sized by.
    on_off: bool = knob(False, "ON/OFF input: each pixel drives an ON input at x and an OFF input at 16 - x",
                        arch=True)
    off_rate: float = knob(1.0, "gain of the OFF inputs relative to the ON inputs (on_off only; rates stop at "
                           "max_rate)", ge=0, le=4)
    norm: str = knob("l1", "weight normalisation of each hidden neuron's inputs: l1 holds the sum at w_norm, "
                     "l2 the Euclidean norm at w_norm / sqrt(n_channels) (that of a uniform column "
                     "summing to w_norm)", choices=("l1", "l2"))
    off_kind: str = knob("complement", "OFF input of a pixel (on_off only): complement is 16 - x; surround is "
                         "how far x lies below the mean of its 3x3 neighbourhood (zero on blank background)",
                         choices=("complement", "surround"))
    teacher_inh: float = knob(0.0, "inhibitory teacher current into the other classes' output neurons while "
                              "training (with learning.w_ho_min < 0 the teacher rule becomes a signed delta "
                              "rule: wrong classes learn to stay silent)", unit="mV", ge=0, le=10000)
    # Augmentation (issue 17's robustness set: shifted, noisy digits): training digits only,
    # drawn per sample from its coordinates, so the pipeline's encoder sees the same.
    augment_shift: float = knob(0.0, "probability that a training digit is shown moved one pixel up, down, "
                                "left or right", ge=0, le=1)
    augment_noise: float = knob(0.0, "Gaussian pixel noise added to training digits (clipped to 0..16)",
                                unit="pixel value", ge=0, le=16)
    backend: str = knob("native", "simulation backend: brainpy (the reference) or native (a fused C++ kernel "
                        "of the same model, built with the C++ compiler on first use; brainpy where none "
                        "is found, and for neuron_model izhikevich or adex)", choices=("brainpy", "native"))

    def check(self) -> None:
        if self.dt >= self.tau_ref:
            raise ConfigError("network.dt", f"{self.dt} must be below network.tau_ref ({self.tau_ref} ms): "
                                            "a refractory period shorter than a step cannot be simulated")
        if self.t_present < self.dt:
            raise ConfigError("network.t_present", f"{self.t_present} is shorter than one step (dt {self.dt})")
        if self.delay_ih[0] > self.delay_ih[1]:
            raise ConfigError("network.delay_ih", f"{list(self.delay_ih)}: min is above max")
        if self.V_th <= self.V_reset or self.V_th <= self.V_rest:
            raise ConfigError("network.V_th", f"{self.V_th} must lie above V_rest and V_reset")
        steps = max(self.n_steps, int(round(self.t_present * self.test_factor / self.dt)))
        if steps > MAX_STEPS:
            raise ConfigError("network.t_present", f"{self.t_present} ms x test_factor {self.test_factor} at dt "
                              f"{self.dt} ms is {steps} steps; at most {MAX_STEPS} fit the run store's step column: "
                              "shorten t_present or test_factor, or take a larger dt")
        if self.n_channels * self.n_hidden * 4 > MAX_WEIGHT_BYTES:
            raise ConfigError("network.n_hidden", f"{self.n_hidden} hidden neurons x {self.n_channels} input "
                              f"channels is {self.n_channels * self.n_hidden * 4 / 2**20:.0f} MiB of weights; at most "
                              f"{MAX_WEIGHT_BYTES >> 20} MiB travel in one message: use fewer neurons or inputs")
        if self.image_shape[0] * self.image_shape[1] != self.n_input:
            raise ConfigError("network.image_shape", f"{list(self.image_shape)} holds "
                              f"{self.image_shape[0] * self.image_shape[1]} pixels, but n_input is "
                              f"{self.n_input}")

    @property
    def n_steps(self) -> int:
        return int(round(self.t_present / self.dt))

    @property
    def n_channels(self) -> int:
        """Input channels the hidden layer sees: the pixels, twice with ``on_off``."""
        return self.n_input * (2 if self.on_off else 1)

    def testing(self) -> "NetworkConfig":
        """The configuration test (evaluation) presentations run with."""
        return self.replace(t_present=self.t_present * self.test_factor, test_factor=1.0)


@dataclass(frozen=True)
class LearningConfig(Section):
    """Local plasticity: trace STDP input->hidden, homeostasis, teacher STDP hidden->output."""

    SECTION = "learning"
    tau_pre: float = knob(20.0, "presynaptic trace time constant", unit="ms", gt=0, le=10000)
    tau_post: float = knob(20.0, "postsynaptic trace time constant", unit="ms", gt=0, le=10000)
    A_pre: float = knob(2.5e-4, "depression per pre spike, times the post trace", ge=0, le=1)
    A_post: float = knob(2.5e-2, "potentiation per post spike, times (pre trace - x_offset)", ge=0, le=1)
    x_offset: float = knob(0.4, "target pre trace: quieter inputs depress on a post spike", ge=0, le=10)
    theta_plus: float = knob(0.05, "homeostatic threshold rise per hidden spike", unit="mV", ge=0, le=100)
    # theta relaxes by theta_plus * target_spikes per hidden neuron per sample; with 200
    # hidden neurons 0.05 holds the layer near 10 spikes per digit.
    target_spikes: float = knob(0.05, "spikes per hidden neuron per digit that homeostasis aims at",
                                ge=0, le=1000)
    theta_min: float = knob(-10.0, "lowest homeostatic threshold offset", unit="mV", ge=-1000, le=0)
    out_rate: float = knob(5e-3, "learning rate of the two-phase teacher rule hidden->output", ge=0, le=1)
    anneal: float = knob(0.85, "learning rates scale by anneal ** (epochs done)", gt=0, le=1)
    anneal_min: float = knob(0.0, "floor of the annealing factor", ge=0, le=1)
    # Krotov & Hopfield 2019 in spiking form: the hidden neuron ranked second in the sample
    # (most spikes after the winner, ties to the earlier first spike) is pushed away from the
    # input it nearly won: its potentiation term is applied with the opposite sign.
    anti_hebb: float = knob(0.0, "runner-up anti-Hebbian strength: the second-ranked hidden neuron gets "
                            "-anti_hebb x A_post x (pre trace - x_offset) at each of its spikes, on top "
                            "of its STDP (0: off)", ge=0, le=10)
    # A signed readout: the offline diagnostic on hidden spike counts (a softmax delta rule)
    # gains 1.5 points over non-negative weights; below zero a synapse inhibits its class.
    w_ho_min: float = knob(0.0, "lowest hidden->output weight: below 0 the teacher rule can make a hidden "
                           "neuron's spikes count against a class (inhibitory synapses)", ge=-1, le=0)


@dataclass(frozen=True)
class DataConfig(Section):
    """Which digits the brain sees."""

    SECTION = "data"
    source: str = knob("digits", "'digits' (sklearn's 8x8 digits) or a path to an .npz with X and y")
    vmax: float | None = knob(None, "pixel value that maps to max_rate (default: 16 for digits, else "
                                    "the data's maximum)", gt=0)
    test_size: float = knob(0.3, "fraction held out for testing when the data has no X_test", gt=0, lt=1)


@dataclass(frozen=True)
class JobConfig(Section):
    """How long and how a brain is trained."""

    SECTION = "job"
    epochs: int = knob(DEFAULT_EPOCHS, "passes over the training split", ge=1, le=10000)
    samples: int | None = knob(None, "cap on samples per epoch (none: all)", ge=1)
    seed: int = knob(0, "seed of weights, spikes and sample order", ge=0)
    split_seed: int = knob(0, "seed of the train/test split", ge=0)
    mode: str = knob("lockstep", "pipeline mode: lockstep reproduces `byob train`, async never waits",
                     choices=("lockstep", "async"))
    snapshot_every: int = knob(100, "pipeline weight snapshots every this many samples", ge=1)
    batch: int = knob(16, "pipeline training presentations per message (lock-step results do not depend on it)",
                      ge=1, le=MAX_BATCH)
    async_lag: int = knob(4, "async pipeline: presentations per round trip to the learner; the synapses lag by "
                             "this to twice this many", ge=1, le=MAX_BATCH)


@dataclass(frozen=True)
class Config:
    network: NetworkConfig = field(default_factory=NetworkConfig)
    learning: LearningConfig = field(default_factory=LearningConfig)
    data: DataConfig = field(default_factory=DataConfig)
    job: JobConfig = field(default_factory=JobConfig)

    def to_dict(self) -> dict[str, Any]:
        return {s: getattr(self, s).to_dict() for s in SECTIONS}

    def testing(self) -> "Config":
        """The configuration evaluations run with (``NetworkConfig.testing``)."""
        return dataclasses.replace(self, network=self.network.testing())

    def replace(self, **sections: Any) -> "Config":
        return dataclasses.replace(self, **sections)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Config":
        """Missing sections take their defaults (older model files hold network and learning)."""
        if not isinstance(data, Mapping):
            raise ConfigError("config", f"expected a table, got {type(data).__name__}")
        for k in data:
            if k not in SECTIONS:
                close = difflib.get_close_matches(str(k), SECTIONS, n=1)
                raise ConfigError(str(k), "unknown section" + (f"; did you mean [{close[0]}]?" if close
                                                               else f"; sections are {', '.join(SECTIONS)}"))
        kinds = {"network": NetworkConfig, "learning": LearningConfig, "data": DataConfig, "job": JobConfig}
        return cls(**{s: kinds[s].from_dict(data.get(s, {})) for s in SECTIONS})


SECTION_TYPES: dict[str, type] = {"network": NetworkConfig, "learning": LearningConfig,
                                  "data": DataConfig, "job": JobConfig}
