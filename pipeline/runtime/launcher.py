"""``byob run``: start the Procfile's processes with honcho's own manager, run one job.

The processes are exactly the Procfile's lines (the network line scaled to
``--workers`` processes, as ``honcho start -c network=W`` does); the job reaches the
controller through the environment. The supervisor (honcho's manager plus restarts,
``pipeline.runtime.supervisor``) restarts a node that dies, up to ``BYOB_RESTARTS`` (3) times;
when the controller exits (``--exit-when-done`` after the job) everything stops and
``byob run`` returns its code.

Under ``make run`` a Ctrl-C at the terminal would reach make too, which then reports
"Interrupt" or "Error 1" whatever the pipeline did; so ``byob run`` takes the terminal's
Ctrl-C for itself (a process group of its own in the foreground, given back at the
end), and make sees only its exit code: 0 after a clean shutdown.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from honcho.environ import parse_procfile
from honcho.manager import Manager

from pipeline.runtime.supervisor import Supervisor
from honcho.printer import Printer

ROOT = Path(__file__).resolve().parents[2]


def procfile_processes(path: Path = ROOT / "Procfile") -> dict[str, str]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no Procfile; run byob from the project checkout")
    return dict(parse_procfile(path.read_text()).processes)


def run_pipeline(job: dict[str, Any], exit_when_done: bool, procfile: Path = ROOT / "Procfile",
                 env: dict[str, str] | None = None) -> tuple[int, dict[str, Any] | None]:
    """Run the Procfile's processes for ``job``; returns honcho's exit code and the result."""
    with tempfile.TemporaryDirectory(prefix="byob-run-") as tmp:
        result_file = Path(tmp) / "result.json"
        bin_dir = str(Path(sys.executable).parent)
        penv = {**os.environ, **(env or {}),
                "BYOB_JOB": json.dumps(job), "BYOB_RESULT_FILE": str(result_file),
                "BYOB_EXIT_WHEN_DONE": "1" if exit_when_done else "0", "BYOB_SUPERVISED": "1",
                "PYTHONUNBUFFERED": "1", "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
                "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        printer = _StopOrder(output=sys.stderr)
        restarts = int(penv.get("BYOB_RESTARTS", "3"))
        manager = Supervisor(printer, restartable={"encoder", "network", "learner", "recorder", "validator"},
                             max_restarts=restarts)
        # BYOB_WORKERS: the network workers the controller waits for; BYOB_LOCAL_WORKERS of
        # them start here (the rest run on other hosts, pointed at this host's endpoints).
        workers = int(penv.get("BYOB_LOCAL_WORKERS", penv.get("BYOB_WORKERS", "1")))
        for name, cmd in procfile_processes(procfile).items():
            if name == "recorder" and penv.get("BYOB_RECORD") == "0":
                continue
            for k in range(1, (workers if name == "network" else 1) + 1):  # as `honcho start -c network=W`
                manager.add_process(f"{name}.{k}", cmd, env={**penv, "HONCHO_PROCESS_NAME": f"{name}.{k}"},
                                    cwd=os.getcwd())
        give_back = take_terminal()
        try:
            manager.loop()
        finally:
            give_back()
        result = json.loads(result_file.read_text()) if result_file.exists() else None
        if result is None:
            result = _failure(manager, printer.stopped)
        return int(manager.returncode or 0), result


def take_terminal() -> Callable[[], None]:
    """Put this process in a process group of its own in the terminal's foreground, so a
    Ctrl-C there reaches it (and honcho's manager in it) but not a parent such as make;
    returns what gives the terminal back. Nothing to do without a terminal, or when this
    process already leads the foreground group (started by an interactive shell)."""
    try:
        fd = sys.stdin.fileno()
        if not os.isatty(fd) or os.tcgetpgrp(fd) != os.getpgrp() or os.getpgrp() == os.getpid():
            return lambda: None
    except (OSError, ValueError, AttributeError):
        return lambda: None
    old = os.getpgrp()

    def foreground(pgrp: int) -> None:
        hold = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background group may not otherwise
        try:
            os.tcsetpgrp(fd, pgrp)
        except OSError:
            pass
        finally:
            signal.signal(signal.SIGTTOU, hold)
    try:
        os.setpgid(0, 0)
    except OSError:
        return lambda: None
    foreground(os.getpgrp())
    return lambda: foreground(old)


class _StopOrder(Printer):
    """honcho's printer, also noting the order in which processes stopped."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.stopped: list[str] = []

    def write(self, message: Any) -> None:
        if message.type == "line" and message.name == "system" and " stopped (rc=" in str(message.data):
            self.stopped.append(str(message.data).split(" stopped")[0].strip())
        super().write(message)


def _failure(manager: Manager, order: list[str]) -> dict[str, Any]:
    """What to report when honcho stopped the pipeline before the controller reported:
    the first process to stop, and how."""
    name = order[0] if order else "?"
    code = manager._processes.get(name, {}).get("returncode", manager.returncode)
    how = "was killed" if code == -9 else f"exited with code {code}"
    return {"ok": False, "error": f"node {name} {how}; honcho stopped the others", "run": None,
            "mode": None, "model": None, "test_accuracy": None, "samples_per_second": None,
            "dropped": {}}
