"""``byob view`` / ``python -m viewer`` without a browser: options, clear errors, clean exits."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from viewer.serve import default_port

ROOT = Path(__file__).resolve().parents[2]


def run(*args, env=None, timeout=30):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_help_lists_the_options_with_their_defaults():
    r = run("pipeline.cli", "view", "--help")
    assert r.returncode == 0
    for opt in ("--port", "--bus", "--store", "--run", "--rate", "--address", "--allow-origin"):
        assert opt in r.stdout
    assert "127.0.0.1" in r.stdout and "5760" in r.stdout


def test_default_port_follows_the_port_block(monkeypatch):
    monkeypatch.delenv("BYOB_VIEWER_PORT", raising=False)
    monkeypatch.setenv("BYOB_BASE_PORT", "41000")
    assert default_port() == 41010
    monkeypatch.setenv("BYOB_VIEWER_PORT", "41234")
    assert default_port() == 41234


def test_a_busy_port_or_a_missing_store_is_a_usage_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = run("pipeline.cli", "view", "--port", str(s.getsockname()[1]))
    assert r.returncode == 2 and "is in use" in r.stderr and "--port" in r.stderr
    r = run("pipeline.cli", "view", "--port", "0", "--store", str(tmp_path / "none.zarr"), "--run", "latest")
    assert r.returncode == 2 and "no run store" in r.stderr
    r = run("pipeline.cli", "view", "--rate", "-1")
    assert r.returncode == 2 and "--rate" in r.stderr


def test_the_procfile_viewer_turned_off_idles_and_exits_0_on_sigterm():
    p = subprocess.Popen([sys.executable, "-m", "viewer", "--optional"], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "BYOB_VIEWER": "0"})
    try:
        assert "turned off" in p.stdout.readline()
        time.sleep(0.2)
        assert p.poll() is None  # it must not exit by itself: honcho would stop the pipeline
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
    assert "viewer: exec python -m viewer --optional" in (ROOT / "Procfile").read_text()


def test_the_header_says_what_is_watched_and_escapes_what_it_shows():
    from viewer.app import header_html
    from viewer.state import LiveState

    st = LiveState(where="tcp://127.0.0.1:5757")
    head = header_html(st.status())
    assert "LIVE" in head and "Waiting for a pipeline on tcp://127.0.0.1:5757" in head
    assert 'data-phase="waiting"' in head
    st.switch("replay", "runs.zarr")
    st.run, st._last_seen = "<run>", 1e12
    head = header_html(st.status(now=1e12))
    assert "REPLAY" in head and "&lt;run&gt;" in head and "<run>" not in head
    st.error = "the subscriber failed: KeysMissing"
    assert 'data-phase="error"' in header_html(st.status()) and "KeysMissing" in header_html(st.status())
