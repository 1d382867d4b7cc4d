"""``byob config``: show the effective configuration, write starter brain files, check
them, list the presets and generate docs/configuration.md."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.commands.brain import UsageError, add_brain_options, brain_config

DOCS_PATH = Path("docs/configuration.md")


def cmd_show(a: argparse.Namespace) -> int:
    from pipeline.base.configfile import rows

    config = brain_config(a)
    table = rows(config)
    if a.json:
        print(json.dumps({"config": config.to_dict(), "keys": table}, sort_keys=True))
        return 0
    width = max(len(r["key"]) for r in table)
    for r in table:
        value = "none" if r["value"] is None else r["value"]
        mark = "*" if r["value"] != r["default"] else " "
        unit = f" {r['unit']}" if r["unit"] else ""
        print(f"{mark} {r['key']:<{width}} = {value!s:<12}{unit:<9} {r['help']} ({r['allowed']})")
    print("(* differs from the default)")
    return 0


def cmd_new(a: argparse.Namespace) -> int:
    from pipeline.base.config import ConfigError
    from pipeline.base.configfile import starter_file

    path = Path(a.file)
    if path.exists() and not a.force:
        raise UsageError(f"{path} exists; choose another name or add --force to overwrite it")
    try:
        text = starter_file(a.preset or "default")
    except ConfigError as e:
        raise UsageError(str(e)) from e
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path} ({a.preset or 'default'} preset); check it with `byob config check {path}`, "
          f"train it with `byob train --config {path}`")
    return 0


def cmd_check(a: argparse.Namespace) -> int:
    from pipeline.base.config import ConfigError
    from pipeline.base.configfile import differences, resolve

    try:
        config = resolve(a.file)
        if config.data.source != "digits":
            from pipeline.base.data import DataError, load_data
            try:
                load_data(config)
            except DataError as e:
                raise UsageError(f"{a.file}: data.source: {e}") from e
    except ConfigError as e:
        raise UsageError(str(e)) from e
    diff = differences(config)
    if a.json:
        print(json.dumps({"ok": True, "file": a.file, "differences": diff}, sort_keys=True))
        return 0
    print(f"{a.file}: valid; {len(diff)} key(s) differ from the defaults")
    for k, (old, new) in diff.items():
        print(f"  {k}: {old} -> {new}")
    return 0


def cmd_presets(a: argparse.Namespace) -> int:
    from pipeline.base.configfile import preset_names, preset_summary

    names = preset_names()
    if a.json:
        print(json.dumps({n: preset_summary(n) for n in names}, sort_keys=True))
        return 0
    for n in names:
        print(f"{n:<14} {preset_summary(n)}")
    return 0


def cmd_docs(a: argparse.Namespace) -> int:
    from pipeline.base.configfile import markdown_reference

    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown_reference(), encoding="utf-8")
    print(f"wrote {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    c = sub.add_parser("config", formatter_class=fmt, help="brains as files: show, new, check, presets",
                       description="A brain is a TOML file of [network], [learning], [data] and [job] "
                                   "keys; every command that builds a brain takes --config FILE, "
                                   "--preset NAME and --set SECTION.KEY=VALUE.")
    csub = c.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    s = csub.add_parser("show", formatter_class=fmt, help="the effective configuration with units and ranges")
    add_brain_options(s)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(fn=cmd_show)
    n = csub.add_parser("new", formatter_class=fmt, help="write a commented starter brain file")
    n.add_argument("file", metavar="FILE")
    n.add_argument("--preset", default=None, metavar="NAME", help="start from this preset (default: default)")
    n.add_argument("--force", action="store_true", help="overwrite an existing file")
    n.set_defaults(fn=cmd_new)
    k = csub.add_parser("check", formatter_class=fmt, help="validate a brain file (and its data file)")
    k.add_argument("file", metavar="FILE")
    k.add_argument("--json", action="store_true", help="print one JSON object")
    k.set_defaults(fn=cmd_check)
    p = csub.add_parser("presets", formatter_class=fmt, help="the presets shipped with byob")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(fn=cmd_presets)
    d = csub.add_parser("docs", formatter_class=fmt, help="write the configuration reference (markdown)")
    d.add_argument("--out", default=str(DOCS_PATH), help="where to write it")
    d.set_defaults(fn=cmd_docs)
