"""Brains as files: TOML brain files, presets, ``--set KEY=VALUE``, and the documents
generated from the configuration's own declarations (``pipeline/base/config.py``).

Precedence, lowest first: defaults < preset < file < ``--set`` < explicit flags. A file
may name its preset itself (``preset = "seed"`` at the top); ``--preset`` overrides it.
Every error is a ``ConfigError`` that names the file, the key, the value and what is
allowed, raised before anything compiles.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

from pipeline.base.config import SECTION_TYPES, SECTIONS, Config, ConfigError, allowed, coerce, field_types


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("pipeline.base.presets").iterdir()
                  if p.name.endswith(".toml"))


def preset_text(name: str) -> str:
    if name not in preset_names():
        close = difflib.get_close_matches(name, preset_names(), n=1)
        raise ConfigError("preset", f"no preset {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")
                          + f"; presets: {', '.join(preset_names())} (`byob config presets`)")
    return resources.files("pipeline.base.presets").joinpath(f"{name}.toml").read_text()


def preset_summary(name: str) -> str:
    first = preset_text(name).splitlines()[0] if preset_text(name) else ""
    return first.lstrip("# ").strip()


def _parse_toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(where, f"malformed TOML ({e})") from e


def read_file(path: str | Path) -> dict[str, Any]:
    """A brain file as nested dicts (not yet validated)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(str(p), "no such brain file (write one with `byob config new FILE`)")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(str(p), f"cannot be read as a UTF-8 text file ({e})") from e
    return _parse_toml(text, str(p))


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: dict(v) if isinstance(v, Mapping) else v for k, v in base.items()}
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


def parse_set(item: str) -> tuple[str, str, Any]:
    """``network.n_hidden=400`` -> ("network", "n_hidden", 400), typed by the field."""
    if "=" not in item:
        raise ConfigError(item, "--set takes SECTION.KEY=VALUE, e.g. --set network.n_hidden=400")
    key, raw = (s.strip() for s in item.split("=", 1))
    section, _, name = key.partition(".")
    if section not in SECTION_TYPES:
        close = difflib.get_close_matches(section, SECTIONS, n=1)
        raise ConfigError(key, f"unknown section {section!r}" + (f"; did you mean {close[0]}?" if close
                                                                 else f"; sections are {', '.join(SECTIONS)}"))
    cls = SECTION_TYPES[section]
    types = field_types(cls)
    if name not in types:
        close = difflib.get_close_matches(name, list(types), n=1)
        raise ConfigError(key, "unknown key" + (f"; did you mean {section}.{close[0]}?" if close else ""))
    kind = types[name]
    try:  # a TOML value (numbers, true/false, [1, 3], "text")
        value: Any = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: a string (choices, paths) or none
    if isinstance(value, str) and value.lower() == "none":
        value = None
    if kind is str and not isinstance(value, str):
        value = raw
    return section, name, coerce(kind, value, key)


def resolve(config_file: str | Path | None = None, preset: str | None = None,
            sets: Iterable[str] = (), flags: Mapping[str, Any] | None = None,
            base: Mapping[str, Any] | None = None) -> Config:
    """The effective configuration: defaults < preset < file < ``--set`` < ``flags``
    (``{"job.epochs": 3}``, the explicit command-line flags that were given). ``base``
    replaces the defaults (a continued model's own configuration)."""
    layers: dict[str, Any] = merge({}, base or {})
    where = "configuration"
    file_data: dict[str, Any] = {}
    if config_file is not None:
        where = str(config_file)
        file_data = read_file(config_file)
    preset = preset or file_data.pop("preset", None)
    file_data.pop("preset", None)
    if preset is not None:
        if not isinstance(preset, str):
            raise ConfigError(f"{where}: preset", f"{preset!r} is not a preset name")
        layers = merge(layers, _parse_toml(preset_text(preset), f"preset {preset}"))
    layers = merge(layers, file_data)
    try:
        for item in sets:
            section, name, value = parse_set(item)
            layers = merge(layers, {section: {name: value}})
        for key, value in (flags or {}).items():
            if value is not None:
                section, name = key.split(".", 1)
                layers = merge(layers, {section: {name: value}})
        return Config.from_dict(layers)
    except ConfigError as e:
        if where != "configuration" and not str(e).startswith(where):
            raise ConfigError(f"{where}: {e.key}", str(e).split(": ", 1)[1]) from e
        raise


def differences(config: Config, base: Config | None = None) -> dict[str, tuple[Any, Any]]:
    """``{"network.n_hidden": (200, 400)}``: the keys where ``config`` differs from ``base``."""
    base = base or Config()
    a, b = base.to_dict(), config.to_dict()
    return {f"{s}.{k}": (a[s][k], b[s][k]) for s in SECTIONS for k in b[s] if a[s].get(k) != b[s][k]}


def toml_value(v: Any) -> str:
    if v is None:
        return '"none"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def rows(config: Config) -> list[dict[str, Any]]:
    """One row per key: section, key, value, default, unit, allowed, description, arch."""
    out = []
    default = Config()
    for s in SECTIONS:
        cls = SECTION_TYPES[s]
        types = field_types(cls)
        for f in dataclasses.fields(cls):
            v = getattr(getattr(config, s), f.name)
            d = getattr(getattr(default, s), f.name)
            out.append({"key": f"{s}.{f.name}", "value": list(v) if isinstance(v, tuple) else v,
                        "default": list(d) if isinstance(d, tuple) else d, "type": type_name(types[f.name]),
                        "unit": f.metadata.get("unit", ""), "allowed": allowed(f),
                        "help": f.metadata.get("help", ""), "arch": bool(f.metadata.get("arch"))})
    return out


def type_name(kind: Any) -> str:
    args = typing.get_args(kind)
    if type(None) in args:
        return type_name(next(a for a in args if a is not type(None))) + " or none"
    if typing.get_origin(kind) is tuple:
        return "[" + ", ".join(type_name(a) for a in args) + "]"
    return {int: "integer", float: "number", bool: "true/false", str: "text"}.get(kind, str(kind))


def starter_file(preset: str = "default") -> str:
    """A commented brain file holding every key of ``preset``, each with its description."""
    config = resolve(preset=preset)
    lines = [f"# A Build Your Own Brain brain file, from the {preset!r} preset: "
             f"{preset_summary(preset)}",
             "# Edit any value; `byob config check FILE` validates it, `byob train --config FILE` trains it.",
             "# Keys left out take the defaults; `byob config show --config FILE` prints the result.", ""]
    current = ""
    for r in rows(config):
        section, key = r["key"].split(".", 1)
        if section != current:
            current = section
            lines += ([""] if lines[-1] else []) + [f"[{section}]"]
        unit = f" [{r['unit']}]" if r["unit"] else ""
        arch = "; architecture: fixed when a model is continued" if r["arch"] else ""
        lines.append(f"# {r['help']}{unit} ({r['type']}, {r['allowed']}{arch})")
        value = r["value"]
        lines.append(f"{key} = {toml_value(value)}" if value is not None else f"# {key} = \"none\"")
    return "\n".join(lines) + "\n"


def markdown_reference() -> str:
    """docs/configuration.md: every key with its default, unit, range and description."""
    out = ["# Configuration reference", "",
           "Generated by `byob config docs` from the declarations in `pipeline/base/config.py`; a test "
           "checks that it is current.", "",
           "A brain file is TOML with up to four tables. Precedence, lowest first: defaults < "
           "`--preset` (or `preset = \"NAME\"` in the file) < the file < `--set SECTION.KEY=VALUE` < "
           "explicit flags such as `--epochs`. Keys marked *arch* define the architecture: a "
           "continued model refuses a change to them.", "",
           "Presets: " + ", ".join(f"`{n}` ({preset_summary(n)})" for n in preset_names()), ""]
    current = ""
    for r in rows(Config()):
        section = r["key"].split(".", 1)[0]
        if section != current:
            current = section
            doc = (SECTION_TYPES[section].__doc__ or "").strip().splitlines()[0]
            out += ["", f"## [{section}]", "", doc, "", "| key | default | unit | allowed | description |",
                    "|---|---|---|---|---|"]
        default = toml_value(r["default"]) if r["default"] is not None else "none"
        arch = " *arch*" if r["arch"] else ""
        out.append(f"| `{r['key'].split('.', 1)[1]}` | `{default}` | {r['unit']} | {r['allowed']} "
                   f"({r['type']}) | {r['help']}{arch} |")
    return "\n".join(out) + "\n"


def architecture_conflicts(model_config: Config, asked: Config) -> list[str]:
    """Keys of the architecture on which a continued model and the asked configuration differ."""
    conflicts = []
    for s in ("network",):
        cls = SECTION_TYPES[s]
        for f in dataclasses.fields(cls):
            if f.metadata.get("arch"):
                a, b = getattr(getattr(model_config, s), f.name), getattr(getattr(asked, s), f.name)
                if a != b:
                    conflicts.append(f"{s}.{f.name}: the model has {toml_value(a)}, the configuration asks "
                                     f"for {toml_value(b)}")
    return conflicts
