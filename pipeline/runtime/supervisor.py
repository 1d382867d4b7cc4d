"""honcho's process manager with restarts: the supervisor behind ``byob run``.

honcho stops every process as soon as one exits. Here a pipeline node that dies (a
non-zero exit: an exception, SIGKILL, the OOM killer) is started again with the same
command and environment, up to ``max_restarts`` times each; after that the supervisor
says so and stops everything as honcho would. A clean exit (code 0) is never restarted,
and the controller and the viewer are never restarted: the controller's exit ends the
pipeline. The running job of a lost node fails (the controller aborts it on the
surviving nodes); the restarted node says hello again and takes the next job.

Ctrl-C or SIGTERM stops everything as honcho does, but the exit code says how the
processes ended rather than which signal asked them to: 0 when every one stopped
cleanly (code 0), else the first non-zero code (or honcho's 130 / 143 if none had one).
"""

from __future__ import annotations

import datetime
import multiprocessing
import queue
import signal
from typing import Any

from honcho.manager import KILL_WAIT, SIGNALS, Manager


class Supervisor(Manager):
    def __init__(self, printer: Any, restartable: set[str], max_restarts: int = 3) -> None:
        super().__init__(printer)
        self.restartable, self.max_restarts = restartable, max_restarts
        self.restarts: dict[str, int] = {}
        self.signalled: int | None = None  # honcho's code for the signal that stopped us

    def _restart(self, name: str) -> None:
        p = self._processes[name]
        p.pop("pid", None)
        p.pop("returncode", None)
        p["process"] = multiprocessing.Process(name=name, target=p["obj"].run, args=(self.events, True))
        p["process"].start()

    def loop(self) -> None:
        """honcho's loop, with the restart decision where it would stop everything."""
        def _terminate(signum: int, frame: Any) -> None:
            self._system_print("%s received\n" % SIGNALS[signum]["name"])
            self.signalled = SIGNALS[signum]["rc"]
            self.terminate()

        signal.signal(signal.SIGTERM, _terminate)
        signal.signal(signal.SIGINT, _terminate)
        self._start()
        exit, exit_start = False, None
        while True:
            try:
                msg = self.events.get(timeout=0.1)
            except queue.Empty:
                if exit:
                    break
            else:
                if msg.type == "line":
                    self._printer.write(msg)
                elif msg.type == "start":
                    self._processes[msg.name]["pid"] = msg.data["pid"]
                    self._system_print("%s started (pid=%s)\n" % (msg.name, msg.data["pid"]))
                elif msg.type == "stop":
                    rc = msg.data["returncode"]
                    base = msg.name.rsplit(".", 1)[0]
                    if rc != 0 and not self._terminating and base in self.restartable:
                        n = self.restarts.get(msg.name, 0)
                        if n < self.max_restarts:
                            self.restarts[msg.name] = n + 1
                            self._system_print("%s died (rc=%s); restarting it (%d of %d)\n"
                                               % (msg.name, rc, n + 1, self.max_restarts))
                            self._restart(msg.name)
                            continue
                        self._system_print("%s died (rc=%s) after %d restarts; giving up and stopping "
                                           "the pipeline\n" % (msg.name, rc, n))
                    self._processes[msg.name]["returncode"] = rc
                    self._system_print("%s stopped (rc=%s)\n" % (msg.name, rc))
                    if self.returncode is None or (self.signalled is not None and self.returncode == 0):
                        self.returncode = rc  # stopped by a signal: the first non-zero code
            if self._all_started() and self._all_stopped():
                exit = True
            if exit_start is None and self._all_started() and self._any_stopped():
                exit_start = datetime.datetime.now()
                self.terminate()
            if exit_start is not None and datetime.datetime.now() - exit_start > datetime.timedelta(seconds=KILL_WAIT):
                self.kill()
        if self.signalled is not None and self.returncode is None:
            self.returncode = self.signalled
