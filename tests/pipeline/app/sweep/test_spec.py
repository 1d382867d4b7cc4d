"""Sweep files: what they may say, and clear refusals of what they may not."""

from __future__ import annotations

import pytest

from pipeline.base.config import ConfigError
from pipeline.app.sweep.spec import load_spec, starter_sweep

GOOD = '''
name = "s1"
preset = "seed"
trials = 5
sampler = "grid"
[set]
"job.epochs" = 2
[space."network.n_hidden"]
type = "int"
low = 50
high = 150
step = 50
[space."network.neuron_model"]
type = "choice"
choices = ["lif", "adex"]
'''


def write(tmp_path, text):
    p = tmp_path / "sweep.toml"
    p.write_text(text)
    return p


def test_a_good_file_and_its_overrides(tmp_path):
    spec = load_spec(write(tmp_path, GOOD), trials=3, sets=["network.tau=25.0"])
    assert spec.name == "s1" and spec.trials == 3 and spec.sampler == "grid"
    assert spec.base["network"]["n_hidden"] == 100 and spec.base["network"]["tau"] == 25.0  # preset + --set
    assert spec.base["job"]["epochs"] == 2
    assert [p.grid() for p in spec.space] == [[50, 100, 150], ["lif", "adex"]]
    c = spec.config_for({"network.n_hidden": 150, "network.neuron_model": "adex"})
    assert c.network.n_hidden == 150 and c.network.neuron_model == "adex" and c.network.connection_prob == 0.5


def test_the_starter_file_is_valid(tmp_path):
    spec = load_spec(write(tmp_path, starter_sweep("default")))
    assert spec.trials == 16 and len(spec.space) == 3 and spec.pruning


@pytest.mark.parametrize("change, message", [
    (("trials = 5", "trials = 0"), "trials: 0: must be >= 1"),
    (("sampler = \"grid\"", "sampler = \"cma\""), "one of tpe, random, grid"),
    (("\"network.n_hidden\"]", "\"network.n_hiden\"]"), "did you mean network.n_hidden"),
    (("low = 50", "low = 0"), "the value 0 is not valid"),
    (("type = \"int\"", "type = \"float\""), "not a number key"),
    (("step = 50", "step = -1"), "must be > 0"),
    (("choices = [\"lif\", \"adex\"]", "choices = [\"lif\", \"hh\"]"), "the value 'hh' is not valid"),
    (("name = \"s1\"", "name = \"bad name!\""), "use 1-64 of a-z"),
    (("trials = 5", "trials = 5\npruning = true\nsecond_objective = \"train_seconds\""), "prunes single-objective"),
    (("trials = 5", "trails = 5"), "did you mean trials"),
    (("\"job.epochs\" = 2", "\"job.epochs\" = 0"), "job.epochs"),
    (("[set]", "[set\n"), "malformed TOML"),
])
def test_bad_files_are_refused_naming_the_key(tmp_path, change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(ConfigError, match=message):
        load_spec(write(tmp_path, GOOD.replace(old, new, 1)))


def test_grid_needs_steps(tmp_path):
    text = GOOD.replace("step = 50\n", "")
    text = text.replace('type = "int"', 'type = "int"', 1)
    spec = load_spec(write(tmp_path, text.replace('sampler = "grid"', 'sampler = "tpe"')))
    assert spec.space[0].step is None
    f = write(tmp_path, GOOD.replace('type = "int"\nlow = 50\nhigh = 150\nstep = 50',
                                     'type = "float"\nlow = 0.1\nhigh = 0.9').replace("n_hidden", "connection_prob"))
    with pytest.raises(ConfigError, match="grid sampler needs a step"):
        load_spec(f)
