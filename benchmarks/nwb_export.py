"""Peak memory and time of ``byob export RUN --nwb`` for long runs.

Run: ``python -m benchmarks.nwb_export [--epochs 1 2 4] [--samples N] [--out FILE]``

A run is recorded the way the pipeline records one (``simulated_run``): the network core
(BrainPy) presents the training digits epoch after epoch with its initial weights (no
learning: the export only cares how much there is), and the recorder core writes what the
network node publishes, with the pipeline's defaults (every presentation's input, hidden
and output spikes, membrane traces of 4 hidden neurons and every output neuron every 10th
presentation, a weight snapshot every 100, a prediction each, the test digits' predictions
at the end). Each run is then exported by ``byob export`` in a process of its own, whose
peak resident memory (``ru_maxrss``) and wall time are measured, beside the peak of a
process that only imports the exporter. Runs of several lengths give the growth per epoch;
the figure for a 14-epoch run is measured where it was recorded, else extrapolated
linearly from the longest runs (and said so).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TRACE_EVERY, TRACE_NEURONS, SNAPSHOT_EVERY, BATCH = 10, 4, 100, 64


def simulated_run(store: Path, run: str = "run_sim", epochs: int = 1, samples: int | None = None,
                  dt: float = 0.5, seed: int = 0, test_samples: int | None = None,
                  model_dir: Path | None = None) -> dict[str, Any]:
    """Record a run of ``epochs`` x ``samples`` training presentations into ``store``; with
    ``model_dir``, the network is also saved there as the run's model."""
    from nodes.encoder.core import encode
    from nodes.network.core import NetworkCore
    from nodes.network.params import init_params
    from nodes.recorder.core import RunWriter, open_store_for_writing
    from pipeline.base.config import Config, NetworkConfig
    from pipeline.base.data import load_split
    from pipeline.base.messages import Prediction, RunInfo, SpikeBatch, Traces, WeightUpdate
    from pipeline.base.schedule import EVAL_EPOCH, predict
    from nodes.network.present import infer

    cfg = Config(network=NetworkConfig(dt=dt))
    net = cfg.network
    split = load_split(0)
    n = min(samples or len(split.y_train), len(split.y_train))
    params = init_params(net, seed)
    core = NetworkCore.for_config(net)
    w = RunWriter(open_store_for_writing(str(store)), run)
    seq = {"controller": 0, "network.1": 0, "learner.1": 0}
    clock = [time.time() - 3600.0]  # a run that started an hour ago

    def put(msg_cls, sender: str, **kw: Any) -> None:
        seq[sender] += 1
        clock[0] += 0.001
        w.append(msg_cls(run=run, seq=seq[sender], sender=sender, **kw), clock[0])
        if w.due():
            w.flush()

    put(RunInfo, "controller", event="start", time=clock[0], job={"epochs": epochs, "samples": n, "split_seed": 0,
                                                                   "seed": seed}, config=cfg.to_dict())
    k = 0
    events = 0
    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch]).permutation(len(split.y_train))[:n]
        for a in range(0, n, BATCH):
            ids = order[a:a + BATCH]
            pad = np.concatenate([ids, np.repeat(ids[-1:], BATCH - len(ids))])
            spikes = encode(split.X_train[pad], net, seed, epoch, pad)
            res = core.simulate(params, spikes, core.reset_noise(seed, epoch, pad), None, n_trace=TRACE_NEURONS)
            res = res.to_numpy()
            counts = res.output.sum(axis=1).astype(np.int32)
            for j, sid in enumerate(ids):
                if k % SNAPSHOT_EVERY == 0:
                    put(WeightUpdate, "learner.1", version=k, samples_seen=k, w_ih=params.w_ih, theta=params.theta,
                        w_ho=params.w_ho)
                common = dict(sample_ids=np.array([sid]), labels=np.array([split.y_train[sid]]), epoch=epoch,
                              weight_version=k, dt=net.dt)
                for pop, raster in (("input", res.input), ("hidden", res.hidden), ("output", res.output)):
                    events += int(raster[j].sum())
                    seq["network.1"] += 1
                    clock[0] += 0.001
                    w.append(SpikeBatch.from_raster(raster[j:j + 1], run=run, seq=seq["network.1"],
                                                    sender="network.1", population=pop, **common), clock[0])
                if k % TRACE_EVERY == 0:
                    for pop, v in (("hidden", res.v_hidden), ("output", res.v_output)):
                        put(Traces, "network.1", population=pop, dt=net.dt, sample_ids=np.array([sid]),
                            neurons=np.arange(v.shape[-1], dtype=np.int32), values=v[j:j + 1].astype(np.float32))
                put(Prediction, "network.1", sample_ids=np.array([sid]), labels=np.array([split.y_train[sid]]),
                    predicted=predict(counts[j:j + 1], seed, np.array([sid])), counts=counts[j:j + 1],
                    weight_version=k, phase="train")
                k += 1
    put(WeightUpdate, "learner.1", version=k, samples_seen=k, w_ih=params.w_ih, theta=params.theta, w_ho=params.w_ho)
    m = min(test_samples or len(split.y_test), len(split.y_test))
    counts, preds = infer(params, cfg.testing(), split.X_test[:m], seed)
    put(Prediction, "network.1", sample_ids=np.arange(m), labels=split.y_test[:m], predicted=preds, counts=counts,
        weight_version=k, phase="test")
    model = ""
    if model_dir is not None:
        from store.models import Model, save_model

        model = str(save_model(Model(params=params, config=cfg, seed=seed, epochs_done=epochs, samples_seen=k),
                               model_dir))
    put(RunInfo, "controller", event="end", time=clock[0], model=model, summary={"ok": True,
                                                                    "test_accuracy": float(np.mean(preds == split.y_test[:m]))})
    w.flush()
    return {"presentations": k, "spike_events": events, "epochs": epochs, "samples_per_epoch": n, "model": model}


def _measure(cmd: list[str], cwd: Path) -> dict[str, Any]:
    """Peak RSS (MiB) and wall time of ``cmd`` run alone in a child process."""
    wrapper = ("import resource, subprocess, sys, time, json; t = time.perf_counter(); "
               "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "print(json.dumps({'rc': r.returncode, 'seconds': time.perf_counter() - t, "
               "'peak_mib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 'err': r.stderr[-1500:]}))")
    r = subprocess.run([sys.executable, "-c", wrapper, *cmd], cwd=cwd, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if out["rc"]:
        raise RuntimeError(out["err"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--samples", type=int, default=None, help="training samples per epoch (default: all 1257)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "nwb_export.json"))
    a = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        base = _measure([sys.executable, "-c", "import store.nwb, pipeline.commands.export, pipeline.base.data"], d)
        for e in a.epochs:
            store = d / f"runs_{e}.zarr"
            t = time.perf_counter()
            rec = simulated_run(store, epochs=e, samples=a.samples)
            rec["record_seconds"] = round(time.perf_counter() - t, 1)
            rec["store_bytes"] = sum(f.stat().st_size for f in store.rglob("*") if f.is_file())
            m = _measure([sys.executable, "-m", "pipeline.cli", "export", "run_sim", "--nwb", str(d / "r.nwb"),
                          "--store", str(store)], d)
            rec.update({"export_seconds": round(m["seconds"], 1), "export_peak_rss_mib": round(m["peak_mib"], 1),
                        "nwb_bytes": (d / "r.nwb").stat().st_size})
            print(json.dumps(rec), file=sys.stderr)
            rows.append(rec)
            (d / "r.nwb").unlink()
    by = sorted(rows, key=lambda r: r["epochs"])
    measured14 = next((r for r in by if r["epochs"] == 14 and (a.samples or 1257) >= 1257), None)
    fit = None
    if len(by) >= 2:
        x = np.array([r["epochs"] for r in by], float)
        for key in ("export_peak_rss_mib", "export_seconds"):
            slope, icpt = np.polyfit(x, [r[key] for r in by], 1)
            fit = fit or {}
            fit[key] = {"per_epoch": round(float(slope), 2), "at_0": round(float(icpt), 1),
                        "at_14_epochs": round(float(icpt + 14 * slope), 1)}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    result = {"benchmark": "nwb_export", "date": date.today().isoformat(), "commit": commit,
              "command": "python -m benchmarks.nwb_export " + " ".join(argv if argv is not None else sys.argv[1:]),
              "import_only_peak_rss_mib": round(base["peak_mib"], 1), "runs": rows, "linear_fit": fit,
              "fourteen_epochs": ({"measured": True, **{k: measured14[k] for k in ("export_peak_rss_mib", "export_seconds")}}
                                  if measured14 else {"measured": False, "extrapolated": fit}),
              "machine": f"{os.cpu_count()} cores (shared), {resource.getpagesize()} B pages"}
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
