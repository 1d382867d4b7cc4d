"""Brains as files: precedence, every field type through --set, the generated documents,
presets, and refusals with exit code 2 that name the key."""

from __future__ import annotations

import dataclasses
import io
import json
import math
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.cli import main
from pipeline.base.config import SECTION_TYPES, Config, ConfigError, NetworkConfig, field_types
from pipeline.base.configfile import (differences, markdown_reference, parse_set, preset_names, resolve, rows,
                                 starter_file, toml_value)

ROOT = Path(__file__).resolve().parents[3]


def byob(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_precedence_defaults_preset_file_set_flags(tmp_path):
    f = tmp_path / "brain.toml"
    f.write_text('preset = "seed"\n[network]\nn_hidden = 150\ntau = 25.0\n[job]\nepochs = 7\n')
    assert resolve().network.n_hidden == 200
    assert resolve(preset="seed").network.n_hidden == 100  # preset over defaults
    c = resolve(f)
    assert (c.network.n_hidden, c.network.connection_prob, c.network.tau) == (150, 0.5, 25.0)  # file over preset
    c = resolve(f, sets=["network.n_hidden=120"])
    assert c.network.n_hidden == 120 and c.network.tau == 25.0  # --set over file
    c = resolve(f, sets=["job.epochs=3"], flags={"job.epochs": 2, "job.seed": None})
    assert c.job.epochs == 2 and c.job.seed == 0  # flags over --set; absent flags change nothing
    assert resolve(f, preset="default").network.connection_prob == 1.0  # --preset over the file's own


def _other_valid(f: dataclasses.Field, kind, value):
    """A valid value different from the default, by the field's type and range."""
    m = f.metadata
    if m.get("choices"):
        return m["choices"][-1] if value != m["choices"][-1] else m["choices"][0]
    if kind is bool:
        return not value
    if kind is str:
        return "other"
    if isinstance(value, tuple):
        return tuple(v + 1 for v in value)
    if value is None:
        return 3
    lo = m.get("ge") if m.get("ge") is not None else m.get("gt")
    hi = m.get("le") if m.get("le") is not None else m.get("lt")
    if isinstance(value, int):
        return value + 1 if hi is None or value + 1 <= hi else value - 1
    new = value * 1.5 if value else 0.5
    if hi is not None and new >= hi:
        new = (value + (lo if lo is not None else value - 1)) / 2
    return new


@pytest.mark.parametrize("row", rows(Config()), ids=lambda r: r["key"])
def test_every_key_round_trips_through_set(row):
    section, name = row["key"].split(".")
    cls = SECTION_TYPES[section]
    f = next(x for x in dataclasses.fields(cls) if x.name == name)
    kind = field_types(cls)[name]
    default = getattr(getattr(Config(), section), name)
    assert parse_set(f"{row['key']}={toml_value(default)}")[2] == default
    new = _other_valid(f, kind, default)
    if row["key"] in ("network.n_input", "network.image_shape", "data.source", "network.dt"):
        return  # validated together with other keys (pixels, data file, tau_ref): tested below
    parsed = parse_set(f"{row['key']}={toml_value(new)}")[2]
    try:
        c = resolve(sets=[f"{row['key']}={toml_value(new)}"])
    except ConfigError as e:  # only rules between keys may refuse a single changed value
        assert "must" in str(e) or "below" in str(e) or "above" in str(e)
        return
    assert getattr(getattr(c, section), name) == parsed
    as_list = (lambda v: list(v) if isinstance(v, tuple) else v)
    assert differences(c) == {row["key"]: (as_list(default), as_list(parsed))}


def test_bare_words_none_and_lists_through_set():
    assert parse_set("network.neuron_model=adex")[2] == "adex"
    assert parse_set("job.samples=none")[2] is None
    assert parse_set("network.delay_ih=[0.5, 2]")[2] == (0.5, 2.0)
    assert parse_set("network.receptive_fields=true")[2] is True
    assert parse_set("data.source=some/file.npz")[2] == "some/file.npz"
    with pytest.raises(ConfigError, match="not an integer"):
        parse_set("network.n_hidden=2.5")
    with pytest.raises(ConfigError, match="did you mean network.n_hidden"):
        parse_set("network.n_hiden=3")


@pytest.mark.parametrize("item, message", [
    ("network.tau=0", "network.tau: 0.0 is out of range; must be > 0"),
    ("network.connection_prob=1.5", "<= 1"),
    ("network.n_hidden=0", ">= 1"),
    ("network.dt=5.0", "must be below network.tau_ref"),
    ("network.delay_ih=[3, 1]", "min is above max"),
    ("network.neuron_model=hh", "one of 'lif', 'izhikevich', 'adex'"),
    ("learning.A_post=-1", ">= 0"),
    ("job.mode=fast", "one of 'lockstep', 'async'"),
    ("network.tau=nan", "not a finite number"),
])
def test_invalid_values_exit_2_naming_key_and_range(item, message):
    code, out, err = byob("config", "show", "--set", item)
    assert code == 2 and message in err and "Traceback" not in err, err


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    for text, message in (("[network\n", "malformed TOML"), ("[network]\nn_hiden = 3\n", "did you mean"),
                          ("[netwrk]\n", "did you mean [network]"), ("[network]\ntau = \"x\"\n", "not a number")):
        bad.write_text(text)
        code, _, err = byob("config", "check", str(bad))
        assert code == 2 and str(bad) in err and message in err, err
    code, _, err = byob("config", "check", str(tmp_path / "missing.toml"))
    assert code == 2 and "no such brain file" in err


SECTION_KEYS = st.sampled_from([r["key"] for r in rows(Config())
                                if r["key"] not in ("data.source",)])
BAD = st.one_of(st.text(alphabet="abcxyz!@", min_size=1, max_size=6), st.floats(allow_nan=True),
                st.integers(min_value=-10**9, max_value=10**12), st.booleans(),
                st.lists(st.integers(-5, 5), max_size=3))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=SECTION_KEYS, value=BAD)
def test_random_values_are_accepted_or_refused_with_exit_2(key, value):
    """Whatever a user types, the command either takes it (and the config validates) or
    exits 2 with a message naming the key; never a traceback."""
    code, out, err = byob("config", "show", "--json", "--set", f"{key}={toml_value(value)}")
    assert "Traceback" not in err
    if code == 0:
        config = Config.from_dict(json.loads(out.strip().splitlines()[-1])["config"])
        assert isinstance(config, Config)
    else:
        assert code == 2 and key.split(".")[0] in err, err


def test_generated_documents_cover_every_key(tmp_path):
    doc, starter = markdown_reference(), starter_file("default")
    for r in rows(Config()):
        name = r["key"].split(".", 1)[1]
        assert f"`{name}`" in doc, r["key"]
        assert f"{name} = " in starter, r["key"]
        assert r["help"] in doc and r["help"] in starter
    # the starter file is a valid brain file that gives the preset back
    f = tmp_path / "starter.toml"
    for p in preset_names():
        f.write_text(starter_file(p))
        assert resolve(f) == resolve(preset=p), p


def test_configuration_document_is_current():
    path = ROOT / "docs" / "configuration.md"
    assert path.read_text() == markdown_reference(), "run `byob config docs` to regenerate docs/configuration.md"


def test_config_commands(tmp_path):
    code, out, _ = byob("config", "presets")
    assert code == 0 and "seed" in out and "default" in out
    f = tmp_path / "mine.toml"
    assert byob("config", "new", str(f), "--preset", "seed")[0] == 0
    assert byob("config", "new", str(f))[0] == 2  # exists: refused, not overwritten
    code, out, _ = byob("config", "check", str(f), "--json")
    d = json.loads(out)
    assert code == 0 and d["differences"]["network.n_hidden"] == [200, 100]
    code, out, _ = byob("config", "show", "--config", str(f), "--json")
    assert json.loads(out)["config"]["network"]["connection_prob"] == 0.5


def test_old_model_configs_load_with_section_defaults():
    old = {"network": NetworkConfig().to_dict(), "learning": Config().learning.to_dict()}
    del old["network"]["image_shape"]
    assert Config.from_dict(old) == Config()
    assert not math.isnan(Config().network.max_rate)


@pytest.mark.parametrize("preset", preset_names())
def test_presets_train_above_chance(preset, tmp_path):
    """Each shipped preset builds and learns: a short run clearly beats chance (10%)."""
    from pipeline.app.jobs import run_train
    from pipeline.runtime.brain import TrainJob

    config = resolve(preset=preset, sets=["job.epochs=1", "job.samples=300"])
    job = TrainJob(epochs=1, samples=300, seed=0, split_seed=0, model_dir=tmp_path, save=False, config=config)
    _, summary = run_train(job)
    assert summary["test_accuracy"] > 0.2, (preset, summary)  # twice chance after 300 digits


def test_continuing_refuses_architecture_changes_and_records_learning_changes(tmp_path):
    from store.models import load_model

    code, out, err = byob("train", "--epochs", "1", "--samples", "20", "--set", "network.n_hidden=30",
                          "--model-dir", str(tmp_path), "--json")
    assert code == 0, err
    first = json.loads(out.strip().splitlines()[-1])["model"]
    code, _, err = byob("train", "--model", first, "--set", "network.connection_prob=0.5", "--epochs", "1")
    assert code == 2 and "network.connection_prob" in err and "keeps its architecture" in err, err
    code, _, err = byob("train", "--model", first, "--set", "network.n_hidden=40")
    assert code == 2 and "network.n_hidden: the model has 30" in err
    code, out, err = byob("train", "--model", first, "--set", "learning.A_post=0.01", "--epochs", "1",
                          "--samples", "20", "--model-dir", str(tmp_path), "--json")
    assert code == 0, err
    m = load_model(json.loads(out.strip().splitlines()[-1])["model"])
    assert m.config.learning.A_post == 0.01 and m.config.network.n_hidden == 30  # its own brain, one change
    assert m.history[-1]["config_changes"] == {"learning.A_post": [0.025, 0.01]}
    assert "config_changes" not in m.history[0]


@pytest.mark.parametrize("changes,key", [
    ({"dt": 0.01, "t_present": 700.0, "tau_ref": 1.0}, "network.t_present"),  # 280,000 test steps: uint16 would wrap
    ({"n_hidden": 65_536}, "network.n_hidden"),  # a neuron index beyond uint16
    ({"n_hidden": 60_000, "n_input": 784, "image_shape": (28, 28)}, "network.n_hidden"),  # 180 MiB of weights
])
def test_brains_the_store_or_the_wire_cannot_hold_are_refused_at_configuration(changes, key):
    from pipeline.base.config import ConfigError, NetworkConfig

    with pytest.raises(ConfigError) as e:
        NetworkConfig(**changes)
    assert e.value.key == key
