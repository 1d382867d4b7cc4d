"""The layout of a run store (zarr v3), shared by the recorder that writes it and the
readers that open it.

A store is a zarr group marked ``{"byob_store": STORE_VERSION}``; each run is a subgroup
named by its run id. Every record kind is a *table*: a subgroup of column arrays that
all have the same number of rows. Spike events are flat columns (sample, step, neuron)
with a per-sample index of offsets, so one sample's raster is one slice (as Brian2's
SpikeMonitor and NWB keep spikes). A run's ``log`` table lists every message in the
order it arrived, pointing at the rows it added, so the stream can be replayed exactly.

The run's ``committed`` attribute (rows per table) is written only after the rows it
counts: a reader, or a recorder killed mid-write, never sees half-written rows. zarr's
local store writes every file atomically (temp file + rename).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from zarr.codecs import BloscCodec

STORE_VERSION = 1
SWEEPS_GROUP = "sweeps"  # sweeps' studies (Optuna journals) beside the runs; not a run
KIND_CODES = {"spikes": 0, "prediction": 1, "weights": 2, "traces": 3, "metrics": 4, "run": 5}
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}
PHASES = ("train", "test")
POPULATION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
COMPRESSOR = BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle")


@dataclass(frozen=True)
class Column:
    dtype: str
    shape: tuple[int, ...] = ()  # trailing shape of one row
    chunk_rows: int = 4096


def log_columns() -> dict[str, Column]:
    """One row per message: its kind, sender, sequence number, arrival time and the rows
    [start, stop) it added to table ``table`` (an index into the run's ``tables``)."""
    return {"kind": Column("uint8"), "sender": Column("uint16"), "seq": Column("int64"),
            "time": Column("float64"), "table": Column("uint16"), "start": Column("int64"),
            "stop": Column("int64")}


def sample_columns() -> dict[str, Column]:
    """One row per sample of a population's spike batches."""
    return {"sample_id": Column("int64"), "label": Column("int64"), "epoch": Column("int64"),
            "attempt": Column("int32"), "weight_version": Column("int64"), "start": Column("int64"),
            "stop": Column("int64")}


def event_columns() -> dict[str, Column]:
    return {"sample": Column("int64", chunk_rows=1 << 16), "step": Column("uint16", chunk_rows=1 << 16),
            "neuron": Column("uint16", chunk_rows=1 << 16)}


def prediction_columns(n_out: int) -> dict[str, Column]:
    return {"sample_id": Column("int64"), "label": Column("int64"), "predicted": Column("int64"),
            "counts": Column("int32", (n_out,)), "weight_version": Column("int64"), "phase": Column("uint8")}


def weight_columns(n_in: int, n_hidden: int, n_out: int) -> dict[str, Column]:
    return {"version": Column("int64", chunk_rows=64), "samples_seen": Column("int64", chunk_rows=64),
            "w_ih": Column("float32", (n_in, n_hidden), 1), "theta": Column("float32", (n_hidden,), 64),
            "w_ho": Column("float32", (n_hidden, n_out), 16)}


def trace_columns(n_steps: int, k: int) -> dict[str, Column]:
    return {"sample_id": Column("int64", chunk_rows=256), "values": Column("float32", (n_steps, k), 64)}


def metric_columns(names: list[str]) -> dict[str, Column]:
    return {"time": Column("float64"), **{n: Column("float64") for n in names}}


def empty(col: Column) -> np.ndarray:
    return np.zeros((0, *col.shape), col.dtype)
