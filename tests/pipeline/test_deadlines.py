"""No wait without a deadline: with real processes and sockets, each injected fault
(``tests/pipeline/faulty.py``) ends the job within 10 s of striking, with the reason in
the job's JSON result and the controller's exit code, instead of hanging. The tests
synchronise on the faulty node's ``FAULT INJECTED`` line and on the controller's result
line, never on a fixed sleep; each job is long enough (3 epochs) to still be running
when its fault strikes, which the assertions check."""

from __future__ import annotations

import json
import sys
import time

import pytest

from tests.pipeline.faulty import INJECTED
from tests.pipeline.test_end_to_end import Proc, env_with_ports, start_node

STALL_S = 4.0


def run_with_fault(tmp_path, fault: str, mode: str) -> tuple[dict, float, Proc]:
    env = {**env_with_ports(), "BYOB_RECORD": "0"}
    job = {"epochs": 3, "mode": mode, "model_dir": str(tmp_path), "stall_s": STALL_S}
    ctl = start_node("pipeline.app.controller", "controller", env, tmp_path, "--exit-when-done", "--job",
                     json.dumps(job))
    faulty_role = fault.split("-")[0]
    nodes = {n: start_node(f"nodes.{n}", n, env, tmp_path) for n in ("encoder", "network", "learner")
             if n != faulty_role}
    nodes[faulty_role] = Proc([sys.executable, "-m", "tests.pipeline.faulty", fault],
                              {**env, "HONCHO_PROCESS_NAME": faulty_role}, tmp_path)
    try:
        nodes[faulty_role].wait_for(INJECTED, timeout=240)
        struck = time.monotonic()
        line = ctl.wait_for('"ok": false', timeout=30)
        took = time.monotonic() - struck
        ctl.p.wait(timeout=30)
        assert ctl.p.returncode == 1
        return json.loads(line[line.index("{"):]), took, nodes["network"]
    finally:
        for n in (ctl, *nodes.values()):
            if n.p.poll() is None:
                n.p.kill()


@pytest.mark.parametrize("fault,mode,reason", [
    ("learner-stuck", "lockstep", "no progress"),
    ("learner-nan", "async", "invalid weight update (bad-value"),
    ("learner-shape", "async", "invalid weight update (bad-shape"),
    ("learner-version", "async", "invalid weight update (bad-version"),
    ("network-drop", "lockstep", "never arrived"),
])
def test_an_injected_fault_ends_the_job_with_its_reason_within_10_s(tmp_path, fault, mode, reason):
    res, took, _ = run_with_fault(tmp_path, fault, mode)
    assert reason in res["error"], res["error"]
    assert took < 10.0, f"the job ended {took:.1f} s after the fault"
    assert res["model"] is None  # the fault hit a live job: nothing was saved
