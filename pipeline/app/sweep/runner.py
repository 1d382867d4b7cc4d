"""The sweep driver: an Optuna study in the run store, its trials as Dask tasks.

The study lives in ``<store>/sweeps/<name>/study.journal`` (Optuna's journal file,
safe to reopen after a crash), so ``--resume`` continues it. The driver asks Optuna
for parameters, submits each trial as one task to a Dask cluster (an embedded
``LocalCluster`` with one single-threaded worker per core, or ``--scheduler ADDRESS``),
and as trials finish tells Optuna, records each as a run of the store's catalog
(``<name>-tNNNN``: its parameters, per-epoch metrics and model) and prints a row of the
progress table. A worker that dies mid-trial has its task rerun by Dask (the trial is
a pure function of its inputs); a trial that still fails is marked failed, and a trial
left running by a killed driver is marked failed and asked again on resume. A trial
number is recorded once, under its own run id.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline.app.sweep.spec import SweepSpec
from store import layout

log = logging.getLogger("byob.sweep")
SWEEPS = layout.SWEEPS_GROUP  # the store's sweep folder (a zarr group the run catalog skips)


def sweep_dir(store: str | Path, name: str) -> Path:
    return Path(store) / SWEEPS / name


def trial_run_id(name: str, number: int) -> str:
    return f"{name}-t{number:04d}"


def journal(store: str | Path, name: str):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    d = sweep_dir(store, name)
    d.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return JournalStorage(JournalFileBackend(str(d / "study.journal")))


def make_sampler(spec: SweepSpec):
    import optuna

    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=spec.seed)
    if spec.sampler == "grid":
        return optuna.samplers.GridSampler({p.key: p.grid() for p in spec.space}, seed=spec.seed)
    return optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=min(8, max(2, spec.trials // 3)))


def worker_env() -> dict[str, str]:
    """Each worker's XLA and BLAS use one thread: one trial per core."""
    one = "1"
    return {"XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                          "intra_op_parallelism_threads=1").strip(),
            "OMP_NUM_THREADS": one, "OPENBLAS_NUM_THREADS": one, "MKL_NUM_THREADS": one,
            "BYOB_NATIVE_THREADS": one,  # the native kernel's threads, one per trial too
            "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
            "BYOB_JAX_CACHE": os.environ.get("BYOB_JAX_CACHE", "")}


def start_client(scheduler: str | None, workers: int):
    """A Dask client: on ``scheduler`` if given, else on an embedded LocalCluster."""
    from dask import config as dask_config
    from distributed import Client, LocalCluster

    for name in ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.core",
                 "distributed.worker", "distributed.http.proxy"):  # distributed sets INFO on import
        logging.getLogger(name).setLevel(logging.WARNING)

    dask_config.set({"distributed.scheduler.allowed-failures": 2,  # a trial's task survives two dead workers
                     "distributed.worker.daemon": False})
    if scheduler:
        return Client(scheduler, timeout="20s"), None
    n = workers or os.cpu_count() or 1
    env = {k: v for k, v in worker_env().items() if v}
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.WARNING, env=env)
    return Client(cluster), cluster


@dataclass
class Progress:
    """The live table: one row per finished trial, a bar with the ETA below."""

    spec: SweepSpec
    out: Any = sys.stderr
    started: float = field(default_factory=time.monotonic)
    done_now: int = 0
    bar: Any = None

    def header(self, done: int) -> None:
        from tqdm import tqdm

        keys = "  ".join(p.key.split(".", 1)[1][:14].rjust(14) for p in self.spec.space)
        print(f"{'trial':>5}  {'state':<8} {keys}  {'val acc':>7}  {'best':>12}  {'time':>6}", file=self.out)
        self.bar = tqdm(total=self.spec.trials, initial=done, desc=f"sweep {self.spec.name}", unit="trial",
                        file=self.out, leave=False)

    def row(self, number: int, state: str, params: dict[str, Any], value: float | None,
            best: tuple[int, float] | None, seconds: float) -> None:
        vals = "  ".join(fmt(params.get(p.key)).rjust(14) for p in self.spec.space)
        v = f"{value:.2%}" if value is not None and not math.isnan(value) else "-"
        b = f"{best[1]:.2%} (#{best[0]})" if best else "-"
        line = f"{number:>5}  {state:<8} {vals}  {v:>7}  {b:>12}  {seconds:>5.0f}s"
        if self.bar is not None:
            self.bar.write(line, file=self.out)
            self.done_now += 1
            self.bar.update(1)
        else:
            print(line, file=self.out)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def fmt(v: Any) -> str:
    """A parameter or score as the progress table and ``byob sweep show`` print it."""
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.4g}"
    return str(v)


class SweepRunner:
    def __init__(self, spec: SweepSpec, store: str | Path, model_dir: str | Path = "models",
                 scheduler: str | None = None, resume: bool = False,
                 progress: Progress | None = None) -> None:
        self.spec, self.store, self.scheduler = spec, Path(store), scheduler
        self.model_dir = Path(model_dir) / SWEEPS / spec.name
        self.progress = progress
        self.resume = resume

    # -- the study ---------------------------------------------------------------------
    def open_study(self):
        import optuna

        from pipeline.app.sweep.record import open_catalog, write_spec

        root = open_catalog(self.store)
        storage = journal(self.store, self.spec.name)
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        if self.spec.name in names and not self.resume:
            raise FileExistsError(f"sweep {self.spec.name!r} already exists in {self.store}; add --resume to "
                                  "continue it, or give the sweep another name")
        if self.spec.name not in names and self.resume:
            raise FileNotFoundError(f"no sweep {self.spec.name!r} in {self.store} to resume; leave out --resume")
        study = optuna.create_study(study_name=self.spec.name, storage=storage, load_if_exists=True,
                                    directions=self.spec.directions, sampler=make_sampler(self.spec))
        write_spec(root, self.spec)
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,
                                                           optuna.trial.TrialState.WAITING)):
            if t.state == optuna.trial.TrialState.RUNNING:  # its driver died: fail it, ask it again
                study.tell(t.number, state=optuna.trial.TrialState.FAIL)
                study.enqueue_trial(t.params, skip_if_exists=False)
                from pipeline.app.sweep.record import record_failed
                record_failed(root, self.spec, t.number, t.params, "the sweep stopped during this trial; "
                                                                   "its parameters were asked again")
        return study

    @staticmethod
    def counted(study) -> int:
        import optuna

        S = optuna.trial.TrialState
        return len(study.get_trials(deepcopy=False, states=(S.COMPLETE, S.PRUNED)))

    def finished_for_pruner(self, study) -> list:
        import optuna

        S = optuna.trial.TrialState
        return [t for t in study.get_trials(deepcopy=True, states=(S.COMPLETE, S.PRUNED))] \
            if self.spec.pruning else []

    # -- running -------------------------------------------------------------------------
    def run(self, on_trial: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        import optuna
        from distributed import as_completed

        from pipeline.app.sweep.record import open_catalog, record_trial
        from pipeline.app.sweep.trial import run_trial

        study = self.open_study()
        root = open_catalog(self.store)
        done = self.counted(study)
        t_start = time.perf_counter()
        client, cluster = start_client(self.scheduler, self.spec.workers)
        try:
            slots = max(1, len(client.scheduler_info().get("workers", {})) or self.spec.workers or 1)
            if self.progress:
                self.progress.header(done)
            in_flight: dict[Any, tuple[Any, float]] = {}
            queue = as_completed()
            asked = done
            overhead = 0.0

            def submit() -> None:
                nonlocal asked, overhead
                t = time.perf_counter()
                trial = study.ask()
                params = {p.key: p.suggest(trial) for p in self.spec.space}
                config = self.spec.config_for(params)
                task = {"config": config.to_dict(), "number": trial.number, "validation": self.spec.validation,
                        "pruning": self.spec.pruning, "finished": self.finished_for_pruner(study)}
                fut = client.submit(run_trial, task, key=f"{self.spec.name}-trial-{trial.number}-{time.time_ns()}",
                                    pure=False)
                in_flight[fut] = (trial, time.monotonic())
                queue.add(fut)
                asked += 1
                overhead += time.perf_counter() - t

            while asked < self.spec.trials and len(in_flight) < slots:
                submit()
            for fut in queue:
                trial, t_sub = in_flight.pop(fut)
                t = time.perf_counter()
                params = dict(trial.params)
                try:
                    r = fut.result()
                except Exception as e:  # the task failed on every worker it was given
                    log.warning("trial %d failed: %s: %s", trial.number, type(e).__name__, e)
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    from pipeline.app.sweep.record import record_failed
                    record_failed(root, self.spec, trial.number, params, f"{type(e).__name__}: {e}")
                    row = {"number": trial.number, "state": "failed", "params": params, "value": None,
                           "seconds": time.monotonic() - t_sub}
                else:
                    for c in r["curve"]:
                        trial.report(c["validation_accuracy"], c["epoch"])
                    model_path = record_trial(root, self.spec, trial.number, params, r, self.model_dir)
                    if r["state"] == "pruned":
                        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    else:
                        values = [r["value"]] + ([r["train_seconds"]] if len(self.spec.directions) > 1 else [])
                        study.tell(trial, values)
                    row = {"number": trial.number, "state": r["state"], "params": params, "value": r["value"],
                           "seconds": r["seconds"], "model": model_path}
                overhead += time.perf_counter() - t
                if self.progress:
                    self.progress.row(row["number"], row["state"], params, row["value"], best_of(study),
                                      row["seconds"])
                if on_trial:
                    on_trial(row)
                if asked < self.spec.trials and self.counted(study) + len(in_flight) < self.spec.trials:
                    submit()
        finally:
            if self.progress:
                self.progress.close()
            client.close()
            if cluster is not None:
                cluster.close()
        wall = time.perf_counter() - t_start
        from pipeline.app.sweep.report import finish

        summary = finish(self.store, self.spec, study, self.model_dir)
        summary.update({"wall_seconds": round(wall, 3), "driver_overhead_seconds": round(overhead, 3)})
        return summary


def best_of(study) -> tuple[int, float] | None:
    import optuna

    S = optuna.trial.TrialState
    done = [t for t in study.get_trials(deepcopy=False, states=(S.COMPLETE,)) if t.values]
    if not done:
        return None
    b = max(done, key=lambda t: t.values[0])
    return b.number, b.values[0]


def remove_sweep(store: str | Path, name: str) -> None:
    shutil.rmtree(sweep_dir(store, name), ignore_errors=True)
