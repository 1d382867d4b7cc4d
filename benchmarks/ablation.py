"""Per-mechanism ablation (issue 17): the default brain, and the default with each
mechanism of issue 17 switched the other way (the default leaves them all off, so here
each is switched on alone), trained with `byob train`'s job on split seeds 0-4 and tested
on each split's test digits and on its robustness set (benchmarks/robustness.py). The mean
per variant shows what each mechanism buys or costs.

Variants are ``name:section.key=value[,section.key=value...]`` (values in JSON; ``job.epochs``
sets the epochs). Runs are in-process
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

from pipeline.base.config import Config, LearningConfig, NetworkConfig

DEFAULT_VARIANTS = (
    "default:",
    "on_off:network.on_off=true,network.off_rate=0.3",
    "anti_hebb:learning.anti_hebb=0.4",
    "l2_norm:network.norm=\"l2\"",
    "signed_readout:network.teacher_inh=30,network.out_inh=30,learning.w_ho_min=-1",
    "hidden400:network.n_hidden=400,learning.target_spikes=0.025,learning.anneal=0.89,job.epochs=20",
    "augment:network.augment_shift=0.5,network.augment_noise=1.0",
)


def variant_config(spec: str, base: Config | None = None) -> tuple[str, Config, int | None]:
    """``name:section.key=value,...`` -> (name, the base configuration with those changes,
    the epochs when ``job.epochs`` is given)."""
    name, _, changes = spec.partition(":")
    base = base or Config()
    net, learn, job = base.network.to_dict(), base.learning.to_dict(), {}
    for item in filter(None, changes.split(",")):
        key, _, value = item.partition("=")
        section, _, field = key.partition(".")
        {"network": net, "learning": learn, "job": job}[section][field] = json.loads(value)
    cfg = base.replace(network=NetworkConfig.from_dict(net), learning=LearningConfig.from_dict(learn))
    return name, cfg, job.get("epochs")


def main() -> None:
    from benchmarks.robustness import robust_set
    from pipeline.base.data import load_split
    from pipeline.app.jobs import accuracy, run_train
    from pipeline.runtime.brain import TrainJob

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS))
    p.add_argument("--epochs", type=int, default=None, help="default: byob train's")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    results = {}
    for spec in a.variants:
        name, cfg, epochs = variant_config(spec)
        epochs = a.epochs or epochs
        accs, robust, secs = [], [], []
        for k in a.seeds:
            t = time.perf_counter()
            split = load_split(k)
            job = TrainJob(split_seed=k, save=False, config=cfg, **({"epochs": epochs} if epochs else {}))
            m, s = run_train(job, split=split)
            accs.append(s["test_accuracy"])
            secs.append(round(time.perf_counter() - t, 1))
            robust.append(accuracy(m.params, m.config, robust_set(split.X_test, k), split.y_test, m.seed)[0])
            print(name, k, round(accs[-1], 4), round(robust[-1], 4), secs[-1], file=sys.stderr)
        results[name] = {"spec": spec, "per_split_seed": accs, "mean": statistics.mean(accs),
                         "min": min(accs), "robust_per_split_seed": robust, "robust_mean": statistics.mean(robust),
                         "seconds": secs}
    out = {"benchmark": "ablation", "command": "python -m benchmarks.ablation", "seeds": a.seeds,
           "variants": results}
    text = json.dumps(out, indent=2)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
