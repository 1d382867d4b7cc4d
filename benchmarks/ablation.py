"""Per-mechanism ablation (issue 17): the default brain, and the default with each of its
learning mechanisms switched off, trained with `byob train`'s job on split seeds 0-4 and
tested on each split's test digits. The mean per variant shows what each mechanism buys.

Variants are ``name:section.key=value[,section.key=value...]`` (values in JSON); the
default list switches off the mechanisms of issue 17 one at a time. Runs are in-process
(one process for all; wall times here include sharing compiled programs across seeds, so
they are not the cold-start times of benchmarks/accuracy.py).

Run: ``python -m benchmarks.ablation [--variants ...] [--out benchmarks/results/ablation.json]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from pipeline.config import Config, LearningConfig, NetworkConfig

DEFAULT_VARIANTS = (
    "default:",
    "no_on_off:network.on_off=false",
    "no_anti_hebb:learning.anti_hebb=0",
    "l1_norm:network.norm=\"l1\"",
)


def variant_config(spec: str, base: Config | None = None) -> tuple[str, Config]:
    """``name:section.key=value,...`` -> (name, the base configuration with those changes)."""
    name, _, changes = spec.partition(":")
    base = base or Config()
    net, learn = base.network.to_dict(), base.learning.to_dict()
    for item in filter(None, changes.split(",")):
        key, _, value = item.partition("=")
        section, _, field = key.partition(".")
        {"network": net, "learning": learn}[section][field] = json.loads(value)
    return name, base.replace(network=NetworkConfig.from_dict(net), learning=LearningConfig.from_dict(learn))


def main() -> None:
    from pipeline.data import load_split
    from pipeline.jobs import TrainJob, run_train

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS))
    p.add_argument("--epochs", type=int, default=None, help="default: byob train's")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    results = {}
    for spec in a.variants:
        name, cfg = variant_config(spec)
        accs = []
        for k in a.seeds:
            t = time.perf_counter()
            job = TrainJob(split_seed=k, save=False, config=cfg, **({"epochs": a.epochs} if a.epochs else {}))
            _, s = run_train(job, split=load_split(k))
            accs.append(s["test_accuracy"])
            print(name, k, round(s["test_accuracy"], 4), round(time.perf_counter() - t, 1), file=sys.stderr)
        results[name] = {"spec": spec, "per_split_seed": accs, "mean": statistics.mean(accs),
                         "min": min(accs)}
    out = {"benchmark": "ablation", "command": "python -m benchmarks.ablation", "seeds": a.seeds,
           "variants": results}
    text = json.dumps(out, indent=2)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
