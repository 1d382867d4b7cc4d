"""Test accuracy of an exported NIR graph run in Norse, beside byob's own for the same model.

Run: ``python -m benchmarks.nir_accuracy MODEL [MODEL ...] [--inhibition 0 30 45] [--out FILE]``
(needs the nir-sim extra).

Each model is exported with ``to_nir`` (as it is, and with each ``--inhibition`` mV of
refractory self-inhibition), read back with ``nir.read`` and run by Norse
(``store.nir_sim``) on the whole test split with the evaluation's own spike trains; byob's
accuracy is ``byob evaluate``'s (retries, reset jitter, refractoriness and adaptation
included).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def measure(model_path: str, inhibitions: list[float]) -> dict:
    import nir

    from nodes.encoder.core import encode
    from pipeline.base.data import load_split
    from pipeline.app.jobs import accuracy
    from pipeline.base.schedule import EVAL_EPOCH, predict
    from store.models import load_model
    from store.nir_graph import write_nir
    from store.nir_sim import output_counts

    m = load_model(model_path)
    s = load_split(0)
    tc = m.config.testing().network
    spikes = encode(s.X_test, tc, m.seed, EVAL_EPOCH, np.arange(len(s.y_test)))
    byob_acc, _, _ = accuracy(m.params, m.config, s.X_test, s.y_test, m.seed)
    out = {"model": Path(model_path).name, "dt_ms": m.config.network.dt, "epochs_done": m.epochs_done,
           "samples_seen": m.samples_seen, "test_digits": int(len(s.y_test)), "byob_accuracy": round(byob_acc, 4),
           "norse": []}
    with tempfile.TemporaryDirectory() as d:
        for r in inhibitions:
            path = Path(d) / "g.nir"
            write_nir(m, path, refractory_inhibition=r)
            t = time.perf_counter()
            counts = output_counts(nir.read(str(path)), spikes, tc.dt / 1000.0)
            acc = float(np.mean(predict(counts, m.seed) == s.y_test))
            out["norse"].append({"refractory_inhibition_mV": r, "accuracy": round(acc, 4),
                                 "output_spikes_per_digit": round(float(counts.sum(1).mean()), 2),
                                 "seconds": round(time.perf_counter() - t, 1)})
            print(json.dumps(out["norse"][-1]), file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--inhibition", type=float, nargs="+", default=[0.0, 30.0, 45.0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "nir_accuracy.json"))
    a = ap.parse_args(argv)
    rows = [measure(m, a.inhibition) for m in a.models]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    result = {"benchmark": "nir_accuracy", "date": date.today().isoformat(), "commit": commit,
              "command": "python -m benchmarks.nir_accuracy " + " ".join(argv if argv is not None else sys.argv[1:]),
              "results": rows}
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
