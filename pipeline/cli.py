"""``byob``: the command line of Build Your Own Brain.

Every subcommand prints human-readable progress on stderr and results on stdout;
with ``--json`` the last line of stdout is one JSON object. Bad input exits with
code 2 and a message that says how to fix it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from pipeline.runtime import jaxcache
from pipeline.commands import compare as compare_commands
from pipeline.commands import export as export_commands
from pipeline.commands import train as train_commands
from pipeline.commands import inspect as inspect_commands
from pipeline.commands import pipeline as pipeline_commands
from pipeline.commands import runs as runs_commands
from pipeline.commands import config as config_commands
from pipeline.commands import sweep as sweep_commands
from pipeline.commands.brain import UsageError


log = logging.getLogger("byob")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="byob", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Build Your Own Brain: a spiking network that learns the digits with STDP.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train_commands.register(sub)
    inspect_commands.register(sub)
    pipeline_commands.register(sub)
    runs_commands.register(sub)
    config_commands.register(sub)
    sweep_commands.register(sub)
    compare_commands.register(sub)
    export_commands.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("jax", "absl", "brainpy", "brainstate", "distributed", "bokeh", "tornado"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    parser = build_parser()
    argv = sweep_commands.normalise_argv(list(sys.argv[1:] if argv is None else argv))
    a = parser.parse_args(argv)  # argparse itself exits 2 on bad options
    if a.command != "bench":  # the speed benchmark compiles cold (benchmarks/speed.py)
        jaxcache.enable()  # compiled programs are kept between runs (pipeline/runtime/jaxcache.py)
    try:
        return int(a.fn(a))
    except UsageError as e:
        print(f"byob {a.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"byob {a.command}: interrupted; nothing was saved", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
