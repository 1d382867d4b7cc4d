"""The node shell in real processes: a node does not outlive its launcher killed with
SIGKILL, whether it is the node's parent or honcho, which runs each command under a
runner process of its own. (A node started by hand, without HONCHO_PROCESS_NAME, is not
watched: it may be meant to outlive its shell.)"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.runtime.wiring import free_base_port

ROOT = Path(__file__).resolve().parents[3]

LAUNCHER = """
import subprocess, sys
subprocess.Popen([sys.executable, "-m", "nodes.encoder"]).wait()
"""


def _gone(pid: int) -> bool:
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("launcher", ["parent", "honcho"])
def test_a_node_whose_launcher_is_killed_shuts_down(tmp_path, launcher):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BYOB_BASE_PORT": str(free_base_port()),
           "HONCHO_PROCESS_NAME": "encoder.1", "PYTHONUNBUFFERED": "1"}
    if launcher == "honcho":
        (tmp_path / "Procfile").write_text(f"encoder: exec {sys.executable} -m nodes.encoder\n")
        cmd = [sys.executable, "-m", "honcho", "start", "-f", str(tmp_path / "Procfile"), "-d", str(ROOT)]
        env.pop("HONCHO_PROCESS_NAME")
    else:
        cmd = [sys.executable, "-c", LAUNCHER]
    log = tmp_path / "out.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    node = None
    try:
        t0 = time.time()
        while not (m := re.search(r"started \(pid (\d+)\)", log.read_text())) and time.time() - t0 < 90:
            time.sleep(0.2)
        assert m, log.read_text()
        node = int(m.group(1))
        assert not _gone(node)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        t0 = time.time()
        while not _gone(node) and time.time() - t0 < 10:
            time.sleep(0.1)
        assert _gone(node), "the orphaned node is still running"
    finally:
        if node and not _gone(node):
            os.kill(node, signal.SIGKILL)
