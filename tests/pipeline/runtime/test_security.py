"""CURVE on the pipeline's links: a node holding the right key is served, one with a
wrong key (or none) is refused and the refusal is logged; loopback stays plain."""

from __future__ import annotations

import shutil

import zmq
import zmq.auth

from pipeline.runtime import security
from pipeline.runtime.wiring import LINKS
from tests.pipeline.test_end_to_end import Proc, byob_cli, env_with_ports, last_json, start_node


def test_defaults_listen_on_loopback_only_and_curve_follows_the_endpoints(monkeypatch):
    monkeypatch.delenv("BYOB_CURVE", raising=False)
    for name in LINKS:
        monkeypatch.delenv(f"BYOB_{name.upper()}_ENDPOINT", raising=False)
    assert all(l.endpoint().startswith("tcp://127.0.0.1:") for l in LINKS.values())
    assert not security.curve_on([l.endpoint() for l in LINKS.values()])
    assert security.curve_on(["tcp://127.0.0.1:5750", "tcp://10.1.2.3:5751"])
    assert not security.curve_on(["ipc:///tmp/x", "tcp://localhost:1"])
    monkeypatch.setenv("BYOB_CURVE", "0")
    assert not security.curve_on(["tcp://10.1.2.3:5751"])  # explicitly off


def test_wrong_key_is_refused_and_logged_right_key_is_served(tmp_path):
    env = env_with_ports()
    good, wrong = tmp_path / "keys", tmp_path / "wrong"
    r = byob_cli("keys", "--dir", str(good), "--json", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert byob_cli("keys", "--dir", str(good), env=env, cwd=tmp_path).returncode == 2  # never overwrites
    # The same server key, but a client key pair of its own that was never authorized.
    shutil.copytree(good, wrong)
    for f in ("client.key", "client.key_secret"):
        (wrong / f).unlink()
    zmq.auth.create_certificates(str(wrong), "client")
    curve = {**env, "BYOB_CURVE": "1"}
    ctl = start_node("pipeline.app.controller", "controller", {**curve, "BYOB_KEYS": str(good)}, tmp_path,
                     "--job", "none")
    try:
        assert "(CURVE)" in ctl.wait_for("listening", timeout=60)
        ok = byob_cli("status", "--json", env={**curve, "BYOB_KEYS": str(good)}, cwd=tmp_path)
        assert ok.returncode == 0, ok.stderr
        assert "nodes" in last_json(ok.stdout)
        bad = byob_cli("status", env={**curve, "BYOB_KEYS": str(wrong)}, cwd=tmp_path)
        assert bad.returncode == 2 and "no controller answered" in bad.stderr
        ctl.wait_for("refused a connection", timeout=10)
        plain = byob_cli("status", env={**env, "BYOB_CURVE": "0"}, cwd=tmp_path)  # no encryption at all
        assert plain.returncode == 2
        missing = byob_cli("status", env={**curve, "BYOB_KEYS": str(tmp_path / "none")}, cwd=tmp_path)
        assert missing.returncode == 2 and "byob keys" in missing.stderr
    finally:
        ctl.p.terminate()
        ctl.p.wait(timeout=10)
    assert ctl.p.returncode == 0


assert Proc  # the helper the node starter returns
