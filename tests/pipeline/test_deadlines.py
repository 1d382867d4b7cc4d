"""No wait without a deadline: with real processes and sockets, each injected fault
(``tests/pipeline/faulty.py``) ends the job within 10 s of striking, with the reason in
the job's JSON result and the controller's exit code, instead of hanging. The tests
synchronise on the faulty node's ``FAULT INJECTED`` line and on the controller's result
line, never on a fixed sleep. Each fault strikes inside a running job by construction
(at the third message or the 48th presentation of a 3-epoch job: the node that injects
it is taking part in the job)."""

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


@pytest.mark.parametrize("fault,mode,reasons", [
    # whichever deadline strikes first: the network's full queue to the learner, or the
    # controller seeing every node stand still
    ("learner-stuck", "lockstep", ("learner took no presentation for", "no progress for")),
    ("learner-stuck", "async", ("no weight update for", "learner took no presentation for", "no progress for")),
    ("learner-drift", "lockstep", ("replica differs from the network's weights at version 112",)),
    ("learner-nan", "async", ("invalid weight update (bad-value",)),
    ("learner-shape", "async", ("invalid weight update (bad-shape",)),
    ("learner-version", "async", ("invalid weight update (bad-version",)),
    ("network-drop", "lockstep", ("presentation 32 never arrived",)),
    ("network-drop", "async", ("presentation 8 never arrived", "no weight update for")),
])
def test_an_injected_fault_ends_the_job_with_its_reason_within_10_s(tmp_path, fault, mode, reasons):
    res, took, _ = run_with_fault(tmp_path, fault, mode)
    assert any(r in res["error"] for r in reasons), res["error"]
    assert took < 10.0, f"the job ended {took:.1f} s after the fault"
    assert not res["ok"] and res["run"]
