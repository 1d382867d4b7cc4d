"""A sweep file: the base brain, the search space, the objective, the sampler.

```toml
name = "hidden-size"          # the sweep id (default: the file's stem)
preset = "default"            # base brain: a preset ...
# base = "brain.toml"         # ... and/or a brain file (relative to this file)
trials = 16
sampler = "tpe"               # tpe | random | grid
seed = 0                      # of the sampler
validation = 0.2              # fraction of the training part held out to score trials
pruning = true                # median pruning on per-epoch validation accuracy
second_objective = "none"     # or "train_seconds" (minimised beside accuracy)
workers = 0                   # trials at once on the embedded cluster; 0: one per core

[set]                         # fixed changes to the base brain
"job.epochs" = 3

[space."network.n_hidden"]
type = "int"                  # int | float | choice
low = 50
high = 400
step = 50

[space."learning.A_post"]
type = "float"
low = 1e-3
high = 1e-1
log = true
```

Every space key must be a configuration key of a matching type, and every value the
space can produce must be valid for it: a bad sweep file fails here, before a cluster
starts, with the file, the key and what is allowed.
"""

from __future__ import annotations

import difflib
import itertools
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.base.config import SECTION_TYPES, Config, ConfigError, field_types
from pipeline.base.configfile import parse_set, resolve, toml_value

SAMPLERS = ("tpe", "random", "grid")
SECOND_OBJECTIVES = ("none", "train_seconds")
TOP_KEYS = {"name", "preset", "base", "trials", "sampler", "seed", "validation", "pruning",
            "second_objective", "workers", "set", "space"}
ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class Param:
    """One dimension of the search space."""

    key: str  # "network.n_hidden"
    kind: str  # int | float | choice
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna trial proposes for this dimension."""
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)
        return trial.suggest_categorical(self.key, list(self.choices))

    def grid(self) -> list[Any]:
        if self.kind == "choice":
            return list(self.choices)
        if self.step is None:
            raise ValueError(f"space.{self.key}: the grid sampler needs a step for a {self.kind} range")
        n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        vals = [self.low + i * self.step for i in range(n)]
        return [int(round(v)) for v in vals] if self.kind == "int" else [round(v, 12) for v in vals]

    def extremes(self) -> list[Any]:
        """Values to validate against the configuration's ranges."""
        if self.kind == "choice":
            return list(self.choices)
        lo, hi = self.low, self.high
        return [int(lo), int(hi)] if self.kind == "int" else [float(lo), float(hi)]


@dataclass(frozen=True)
class SweepSpec:
    name: str
    base: dict[str, Any]  # the base brain's configuration (Config.to_dict())
    space: tuple[Param, ...]
    trials: int = 16
    sampler: str = "tpe"
    seed: int = 0
    validation: float = 0.2
    pruning: bool = True
    second_objective: str = "none"
    workers: int = 0
    source: str = ""  # the file it came from
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def directions(self) -> list[str]:
        return ["maximize"] + (["minimize"] if self.second_objective != "none" else [])

    def config_for(self, params: dict[str, Any]) -> Config:
        """The brain of one trial: the base with the trial's values."""
        sets = [f"{k}={toml_value(v)}" for k, v in params.items()]
        return resolve(sets=sets, base=self.base)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "base": self.base, "trials": self.trials, "sampler": self.sampler,
                "seed": self.seed, "validation": self.validation, "pruning": self.pruning,
                "second_objective": self.second_objective, "workers": self.workers,
                "space": [p.__dict__ | {"choices": list(p.choices)} for p in self.space]}


def _err(where: str, key: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {key}", message)


def _number(v: Any, where: str, key: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _err(where, key, f"{v!r} is not a number")
    return float(v)


def _param(key: str, d: Any, where: str) -> Param:
    section, _, name = key.partition(".")
    if section not in SECTION_TYPES or name not in field_types(SECTION_TYPES[section]):
        known = [f"{s}.{k}" for s, c in SECTION_TYPES.items() for k in field_types(c)]
        close = difflib.get_close_matches(key, known, n=1)
        raise _err(where, f"space.{key}", "not a configuration key" + (f"; did you mean {close[0]}?" if close else
                                                                       "; `byob config show` lists them"))
    if not isinstance(d, dict):
        raise _err(where, f"space.{key}", "must be a table with type = int | float | choice")
    unknown = set(d) - {"type", "low", "high", "step", "log", "choices"}
    if unknown:
        raise _err(where, f"space.{key}", f"unknown fields {sorted(unknown)}; allowed: type, low, high, step, "
                                          "log, choices")
    kind = d.get("type")
    ftype = field_types(SECTION_TYPES[section])[name]
    if kind == "choice":
        choices = d.get("choices")
        if not isinstance(choices, list) or not choices:
            raise _err(where, f"space.{key}.choices", "a choice needs a non-empty list, e.g. choices = [\"lif\", \"adex\"]")
        return Param(key, "choice", choices=tuple(choices))
    if kind not in ("int", "float"):
        raise _err(where, f"space.{key}.type", f"{kind!r} is not one of int, float, choice")
    if kind == "int" and ftype not in (int, int | None):
        raise _err(where, f"space.{key}.type", f"{key} is not an integer key; use type = \"float\" or \"choice\"")
    if kind == "float" and ftype not in (float, float | None):
        raise _err(where, f"space.{key}.type", f"{key} is not a number key; use type = \"{'int' if ftype is int else 'choice'}\"")
    if "low" not in d or "high" not in d:
        raise _err(where, f"space.{key}", "a range needs low and high")
    lo, hi = _number(d["low"], where, f"space.{key}.low"), _number(d["high"], where, f"space.{key}.high")
    if not lo < hi:
        raise _err(where, f"space.{key}", f"low ({lo:g}) must be below high ({hi:g})")
    log = d.get("log", False)
    if not isinstance(log, bool):
        raise _err(where, f"space.{key}.log", f"{log!r} is not true or false")
    if log and lo <= 0:
        raise _err(where, f"space.{key}.low", "a log range needs low > 0")
    step = d.get("step")
    if step is not None:
        step = _number(step, where, f"space.{key}.step")
        if step <= 0 or (log and kind == "float"):
            raise _err(where, f"space.{key}.step", "must be > 0, and a float log range takes no step")
    if kind == "int" and (lo != int(lo) or hi != int(hi) or (step is not None and step != int(step))):
        raise _err(where, f"space.{key}", "an int range needs integer low, high and step")
    return Param(key, kind, lo, hi, step, log)


def load_spec(path: str | Path, trials: int | None = None, sets: list[str] | tuple[str, ...] = ()) -> SweepSpec:
    """Read and validate a sweep file; ``trials`` and ``sets`` are the command-line overrides."""
    p = Path(path)
    where = str(p)
    if not p.is_file():
        raise ConfigError(where, "no such sweep file (write one with `byob sweep new FILE`)")
    try:
        d = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(where, f"malformed TOML ({e})") from e
    unknown = set(d) - TOP_KEYS
    if unknown:
        k = sorted(unknown)[0]
        close = difflib.get_close_matches(k, sorted(TOP_KEYS), n=1)
        raise _err(where, k, "unknown key" + (f"; did you mean {close[0]}?" if close else
                                              f"; known: {', '.join(sorted(TOP_KEYS))}"))
    name = str(d.get("name", p.stem)).lower()
    if not name or not set(name) <= ID_CHARS or len(name) > 64:
        raise _err(where, "name", f"{name!r}: use 1-64 of a-z, 0-9, - and _")
    base_file = d.get("base")
    if base_file is not None:
        base_file = (p.parent / base_file) if not os.path.isabs(base_file) else Path(base_file)
    fixed = d.get("set", {})
    if not isinstance(fixed, dict):
        raise _err(where, "set", "must be a table of \"section.key\" = value")
    set_items = [f"{k}={toml_value(v)}" for k, v in fixed.items()] + list(sets)
    for item in set_items:
        parse_set(item)  # names the key on error
    try:
        base = resolve(base_file, d.get("preset"), set_items)
    except ConfigError as e:
        raise ConfigError(where, f"base brain: {e}") from e
    space_d = d.get("space", {})
    if not isinstance(space_d, dict) or not space_d:
        raise _err(where, "space", "needs at least one [space.\"section.key\"] table")
    space = tuple(_param(k, v, where) for k, v in space_d.items())

    def val(key: str, kind: type, default: Any, ok: Any, allowed: str) -> Any:
        v = d.get(key, default)
        if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
            raise _err(where, key, f"{v!r} is not an integer")
        if kind is float:
            v = _number(v, where, key)
        if kind is bool and not isinstance(v, bool):
            raise _err(where, key, f"{v!r} is not true or false")
        if kind is str and not isinstance(v, str):
            raise _err(where, key, f"{v!r} is not text")
        if not ok(v):
            raise _err(where, key, f"{v!r}: {allowed}")
        return v

    n = trials if trials is not None else val("trials", int, 16, lambda v: v >= 1, "must be >= 1")
    if n < 1:
        raise ConfigError("--trials", f"{n}: must be >= 1")
    spec = SweepSpec(
        name=name, base=base.to_dict(), space=space, trials=n,
        sampler=val("sampler", str, "tpe", lambda v: v in SAMPLERS, f"one of {', '.join(SAMPLERS)}"),
        seed=val("seed", int, 0, lambda v: v >= 0, "must be >= 0"),
        validation=val("validation", float, 0.2, lambda v: 0 < v < 0.9, "must lie in (0, 0.9)"),
        pruning=val("pruning", bool, True, lambda v: True, ""),
        second_objective=val("second_objective", str, "none", lambda v: v in SECOND_OBJECTIVES,
                             f"one of {', '.join(SECOND_OBJECTIVES)}"),
        workers=val("workers", int, 0, lambda v: 0 <= v <= 256, "must be 0..256 (0: one per core)"),
        source=str(p.resolve()))
    if spec.pruning and spec.second_objective != "none":
        raise _err(where, "pruning", "Optuna prunes single-objective studies only; set pruning = false "
                                     "or second_objective = \"none\"")
    if spec.sampler == "grid":
        try:
            size = math.prod(len(p.grid()) for p in space)
        except ValueError as e:
            raise ConfigError(where, str(e)) from e
        if size > 100_000:
            raise _err(where, "space", f"the grid has {size} points; narrow it or use tpe/random")
    for prm in space:  # every value the space can produce is a valid configuration
        for v in itertools.islice(prm.extremes(), 0, 64):
            try:
                spec.config_for({prm.key: v})
            except ConfigError as e:
                raise _err(where, f"space.{prm.key}", f"the value {v!r} is not valid: {e}") from e
    return spec


def starter_sweep(preset: str = "default") -> str:
    return f'''# A byob sweep: Optuna searches these keys of the base brain; trials run on Dask.
# `byob sweep FILE` runs it, `byob sweep FILE --resume` continues it, `byob sweep show NAME`
# reports it. Keys are those of `byob config show`.
preset = "{preset}"          # the base brain (a preset); add base = "brain.toml" for a file
trials = 16
sampler = "tpe"              # tpe | random | grid (grid needs a step on every range)
seed = 0                     # of the sampler
validation = 0.2             # fraction of the training digits held out to score trials
pruning = true               # stop trials whose per-epoch validation accuracy lags the median
second_objective = "none"    # or "train_seconds" (minimised beside accuracy; no pruning then)
workers = 0                  # trials at once on the embedded LocalCluster (0: one per core)

[set]                        # fixed changes to the base brain for every trial
"job.epochs" = 3

[space."network.n_hidden"]
type = "int"
low = 100
high = 300
step = 50

[space."learning.A_post"]
type = "float"
low = 0.005
high = 0.05
log = true

[space."network.w_inh"]
type = "float"
low = 50.0
high = 200.0
'''
