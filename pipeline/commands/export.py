"""``byob export``: a recorded run to NWB, a trained model to NIR.

    byob export RUN --nwb FILE.nwb [--store DIR] [--zarr] [--model-dir DIR]
    byob export MODEL --nir FILE.nir [--refractory-inhibition MV]

A damaged or missing run or model exits with code 2 and a message; nothing is written
in place of an existing file unless the export completed (temporary file, then rename).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def _usage(msg: str) -> Exception:
    from pipeline.cli import UsageError  # the CLI's own error: exit 2 with this message

    return UsageError(msg)


def _nwb(a: argparse.Namespace) -> dict[str, Any]:
    from tqdm import tqdm

    from store.nwb import ExportError, export_nwb
    from store.runs import StoreError, open_run

    if Path(a.source).is_file() and a.source.endswith(".npz"):
        raise _usage(f"{a.source} is a model file; --nwb exports a recorded run (see `byob runs`), "
                     "--nir exports a model")
    if a.nwb.endswith(os.sep) or Path(a.nwb).is_dir() and not a.zarr:
        raise _usage(f"--nwb {a.nwb} is a folder; give a file name such as run.nwb")
    try:
        run = open_run(a.store, a.source)
    except StoreError as e:
        raise _usage(f"{e}") from e
    bar = tqdm(desc="export", unit="item", file=sys.stderr, leave=False, total=None)
    try:
        return export_nwb(run, a.nwb, zarr=a.zarr, model_dir=a.model_dir, progress=bar.update,
                          on_total=lambda n: setattr(bar, "total", n) or bar.refresh())
    except (StoreError, ExportError) as e:
        raise _usage(f"{e}; nothing was written to {a.nwb}") from e
    finally:
        bar.close()


def _nir(a: argparse.Namespace) -> dict[str, Any]:
    from store.models import ModelFileError, load_model
    from store.nir_graph import NirExportError, write_nir

    try:
        model = load_model(a.source)
    except ModelFileError as e:
        raise _usage(f"{e}; --nir exports a model file (see `byob models`)") from e
    try:
        warnings = write_nir(model, a.nir, a.refractory_inhibition)
    except NirExportError as e:
        raise _usage(str(e)) from e
    for w in warnings:
        print(f"byob export: warning: {w}", file=sys.stderr)
    return {"model": str(model.path), "file": a.nir, "format": "nir", "not_expressed": warnings,
            "bytes": Path(a.nir).stat().st_size}


def cmd_export(a: argparse.Namespace) -> int:
    if bool(a.nwb) == bool(a.nir):
        raise _usage("give one of --nwb FILE (a recorded run) or --nir FILE (a model)")
    if a.zarr and not a.nwb:
        raise _usage("--zarr applies to --nwb")
    if a.refractory_inhibition and not a.nir:
        raise _usage("--refractory-inhibition applies to --nir")
    r = _nwb(a) if a.nwb else _nir(a)
    if a.json:
        print(json.dumps(r, sort_keys=True))
    else:
        print(f"wrote {r['file']} ({r['bytes']} bytes)")
    return 0


def register(sub: Any) -> None:
    """Add ``export`` to the CLI's subparsers."""
    fmt = argparse.ArgumentDefaultsHelpFormatter
    x = sub.add_parser("export", formatter_class=fmt, help="a recorded run to NWB, a model to NIR",
                       description="Export a recorded run to Neurodata Without Borders (units with every "
                                   "spike on one timeline, trials, stimulus images, membrane traces, weight "
                                   "snapshots, the configuration) or a trained model to a NIR graph "
                                   "(Neuromorphic Intermediate Representation; what NIR cannot express is "
                                   "printed as warnings and kept in the graph's metadata).")
    x.add_argument("source", metavar="RUN|MODEL", help="a run id of --store (or 'latest') for --nwb; "
                   "a model file (stdp_model_*.npz) for --nir")
    g = x.add_mutually_exclusive_group()
    g.add_argument("--nwb", default=None, metavar="FILE.nwb", help="write the run as NWB here")
    g.add_argument("--nir", default=None, metavar="FILE.nir", help="write the model as a NIR graph here")
    x.add_argument("--store", default=os.environ.get("BYOB_STORE", "runs.zarr"),
                   help="run store for RUN (env BYOB_STORE)")
    x.add_argument("--zarr", action="store_true", help="NWB in Zarr (hdmf-zarr's NWBZarrIO) instead of HDF5")
    x.add_argument("--model-dir", default="models", help="where to look for the run's model file (per-neuron "
                   "parameters of the units table) when it is not at the path the run names")
    x.add_argument("--refractory-inhibition", type=float, default=0.0, metavar="MV",
                   help="--nir: approximate the refractory period (which NIR's CubaLIF lacks) by MV of "
                        "self-inhibition per spike; 0 exports the model as it is")
    x.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    x.set_defaults(fn=cmd_export)
