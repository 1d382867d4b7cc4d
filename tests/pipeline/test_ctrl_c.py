"""Ctrl-C on ``make run`` after a clean shutdown exits 0: no "make: *** Error 1" or
"Interrupt". The pipeline is a Procfile of stand-in processes run by the real launcher
and supervisor under a real make, on a pseudo-terminal that turns Ctrl-C into SIGINT."""

from __future__ import annotations

import os
import pty
import shutil
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A node that stops cleanly on SIGTERM (what honcho sends when it stops the pipeline).
NODE = ("exec python -c \"import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
        "signal.signal(signal.SIGINT, lambda *a: sys.exit(0)); print('{name} up', flush=True); time.sleep(120)\"")


def run_under_make(tmp_path: Path, node: str) -> tuple[int, str]:
    (tmp_path / "Procfile").write_text("".join(f"{n}: {node.format(name=n)}\n" for n in ("controller", "encoder")))
    launch = (f"import sys; from pathlib import Path; from pipeline.runtime.launcher import run_pipeline; "
              f"code, _ = run_pipeline({{}}, False, procfile=Path('{tmp_path}/Procfile')); sys.exit(code)")
    (tmp_path / "Makefile").write_text(f"run:\n\t{sys.executable} -c \"{launch}\"\n")
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session of its own with the pty as its terminal, like a shell's job
        os.chdir(tmp_path)
        os.environ["PYTHONPATH"] = str(ROOT)
        os.execvp("make", ["make", "-s", "run"])
    out, sent, end = b"", False, time.monotonic() + 60
    try:
        while time.monotonic() < end:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child is gone
                break
            if not chunk:
                break
            out += chunk
            if not sent and out.count(b" up") >= 2:
                time.sleep(0.5)
                os.write(fd, b"\x03")  # Ctrl-C: SIGINT to the terminal's foreground process group
                sent = True
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert sent, out.decode(errors="replace")
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_ctrl_c_on_make_run_after_a_clean_shutdown_exits_0(tmp_path):
    code, out = run_under_make(tmp_path, NODE)
    assert code == 0, out
    assert "SIGINT received" in out and "Error" not in out and "Interrupt" not in out, out
    assert "controller.1 stopped (rc=0)" in out and "encoder.1 stopped (rc=0)" in out, out


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_a_process_that_fails_on_the_way_down_still_makes_make_fail(tmp_path):
    code, out = run_under_make(tmp_path, NODE.replace("sys.exit(0)", "sys.exit(3)"))
    assert code != 0 and "Error" in out, out
