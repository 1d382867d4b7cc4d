"""``byob compare``, ``byob models --diff`` and ``byob runs --diff`` on real models and a
real trial run recorded in a store."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.base.configfile import resolve
from pipeline.app.jobs import run_train
from pipeline.runtime.brain import TrainJob


def byob(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def brains(tmp_path_factory):
    from pipeline.app.sweep.record import open_catalog, record_trial
    from pipeline.app.sweep.spec import load_spec
    from pipeline.app.sweep.trial import run_trial

    d = tmp_path_factory.mktemp("compare")
    small = ["job.epochs=1", "job.samples=150", "network.t_present=100.0"]
    models = []
    for extra in ([], ["network.n_hidden=60", "learning.A_post=0.02"]):
        config = resolve(sets=small + extra)
        _, s = run_train(TrainJob(epochs=1, samples=150, model_dir=d / "models", config=config))
        models.append(s["model"])
    sweep = d / "s.toml"
    sweep.write_text('name = "cmp"\n[set]\n"job.epochs" = 1\n"job.samples" = 100\n"network.t_present" = 100.0\n'
                     '[space."network.w_inh"]\ntype = "float"\nlow = 50.0\nhigh = 150.0\n')
    spec = load_spec(sweep)
    params = {"network.w_inh": 80.0}
    r = run_trial({"config": spec.config_for(params).to_dict(), "number": 0, "validation": 0.2,
                   "pruning": False})
    record_trial(open_catalog(d / "runs.zarr"), spec, 0, params, r, d / "models" / "sweeps")
    return d, models


def test_compare_models_and_a_run(brains):
    d, models = brains
    code, out, err = byob("compare", *models, "cmp-t0000", "--store", str(d / "runs.zarr"), "--figure",
                          str(d / "cmp.png"), "--json")
    assert code == 0, err
    r = json.loads(out)
    a, b, t = r["brains"]
    assert {"network.n_hidden", "learning.A_post", "network.w_inh", "network.t_present"} <= set(r["keys"])
    assert a["settings"]["network.n_hidden"] == 200 and b["settings"]["network.n_hidden"] == 60
    assert t["settings"]["network.w_inh"] == 80.0 and t["kind"] == "trial"
    for e in (a, b):
        assert 0 <= e["test_accuracy"] <= 1 and len(e["recall"]) == 10 and e["spikes_per_digit"] > 0
        assert e["model_bytes"] > 0 and e["train_seconds"] > 0 and e["curve"]
    assert t["curve"] and t["curve_label"] == "validation accuracy per epoch" and t["model_bytes"] > 0
    assert Path(r["figure"]).stat().st_size > 0
    code, out, _ = byob("compare", *models)  # the table
    assert code == 0 and "recall of class 9" in out and "hidden spikes per digit" in out


def test_compare_refuses_what_it_cannot_read(brains, tmp_path):
    d, models = brains
    bad = tmp_path / "stdp_model_20240101_000000.npz"
    bad.write_bytes(b"junk")
    code, _, err = byob("compare", models[0], str(bad))
    assert code == 2 and "not an .npz archive" in err and "Traceback" not in err
    code, _, err = byob("compare", models[0], "no-such-run", "--store", str(d / "runs.zarr"))
    assert code == 2 and "no run 'no-such-run'" in err
    assert byob("compare", models[0])[0] == 2


def test_models_and_runs_show_differences_from_the_default(brains):
    d, _ = brains
    code, out, _ = byob("models", "--model-dir", str(d / "models"), "--diff", "--json")
    rows = json.loads(out)["models"]
    assert code == 0 and rows[1]["differs_from_default"]["network.n_hidden"] == [200, 60]
    code, out, _ = byob("runs", "--store", str(d / "runs.zarr"), "--diff")
    assert code == 0 and "network.w_inh=80.0" in out
