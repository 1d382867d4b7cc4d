"""The options every command that builds or runs a brain shares: ``--config FILE``,
``--preset NAME``, repeatable ``--set SECTION.KEY=VALUE`` and ``--data FILE.npz``, turned
into the effective configuration (``pipeline/base/configfile.py``) before anything compiles."""

from __future__ import annotations

import argparse
from typing import Any, Mapping

from pipeline.base.config import Config, ConfigError


class UsageError(Exception):
    """Bad input from the user: exit code 2 with this message."""


def add_brain_options(p: argparse.ArgumentParser, data: bool = True) -> None:
    g = p.add_argument_group("brain", "the brain's configuration, lowest precedence first: defaults < "
                             "--preset < --config < --set < the flags above")
    g.add_argument("--preset", default=None, metavar="NAME", help="start from a shipped preset "
                   "(`byob config presets` lists them)")
    g.add_argument("--config", default=None, metavar="FILE", help="TOML brain file with [network], "
                   "[learning], [data] and [job] tables (`byob config new FILE` writes a starter)")
    g.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one key, e.g. --set network.n_hidden=400 (repeatable)")
    if data:
        g.add_argument("--data", default=None, metavar="FILE.npz", help="your own images: an .npz with "
                       "X (n x d or n x h x w), integer labels y, optional X_test/y_test and vmax "
                       "(same as --set data.source=FILE)")


def brain_config(a: argparse.Namespace, flags: Mapping[str, Any] | None = None,
                 base: Config | None = None) -> Config:
    """The effective configuration of a command's arguments; ConfigError becomes a UsageError."""
    from pipeline.base.configfile import resolve

    flags = dict(flags or {})
    if getattr(a, "data", None):
        flags["data.source"] = a.data
    try:
        return resolve(a.config, a.preset, a.sets, flags, base=base.to_dict() if base else None)
    except ConfigError as e:
        raise UsageError(f"{e} (`byob config show` lists every key with its range)") from e
