"""The controller process against schema-valid nonsense: nodes (here DEALER sockets that
say hello as encoder, network and learner, so a job starts) send heartbeats whose status
has any shape and control messages of every command with arguments of any type, for the
running job too. The controller drops what it cannot use and keeps answering."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.base.messages import Control, Heartbeat, decode
from pipeline.runtime.wiring import open_socket
from tests.pipeline.test_end_to_end import ROOT, env_with_ports

json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False)
                           | st.text(max_size=20), lambda c: st.lists(c, max_size=3)
                           | st.dictionaries(st.text(max_size=8), c, max_size=3), max_leaves=8)
args = st.dictionaries(st.sampled_from(["error", "model", "test_accuracy", "eval_started", "staleness", "role",
                                        "published", "accuracy", "samples_per_second", "tested", "x"]),
                       json_values, max_size=5)


def test_the_controller_survives_schema_valid_nonsense(tmp_path, monkeypatch):
    env = {**env_with_ports(), "BYOB_RECORD": "0"}
    monkeypatch.setenv("BYOB_BASE_PORT", env["BYOB_BASE_PORT"])
    ctl = subprocess.Popen([sys.executable, "-m", "pipeline.app.controller", "--job",
                            json.dumps({"epochs": 1, "samples": 8, "model_dir": str(tmp_path), "stall_s": 3600})],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ctx = zmq.Context()
    try:
        nodes = {r: open_socket(ctx, "control", r, identity=f"{r}.1") for r in ("encoder", "network", "learner")}
        for r, s in nodes.items():
            s.send_multipart(Control(run="", seq=1, sender=f"{r}.1", command="hello", args={"role": r}).to_wire())
        run = None
        deadline = time.time() + 60
        while run is None and time.time() < deadline:
            if nodes["network"].poll(100):
                m = decode(nodes["network"].recv_multipart())
                run = m.args.get("run") if isinstance(m, Control) and m.command == "train" else None
        assert run, "the controller never started the job"

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(who=st.sampled_from(sorted(nodes)), command=st.sampled_from(sorted(Control.COMMANDS)), a=args,
               status=json_values, ours=st.booleans())
        def send(who, command, a, status, ours):
            s = nodes[who]
            s.send_multipart(Heartbeat(run=run, seq=1, sender=f"{who}.1", node=f"{who}.1", time=time.time(),
                                       status=status if isinstance(status, dict) else {"x": status}).to_wire())
            s.send_multipart(Control(run=run if ours else "other", seq=2, sender=f"{who}.1", command=command,
                                     args=a).to_wire())

        send()
        assert ctl.poll() is None, ctl.communicate()[1][-3000:]
        from pipeline.runtime.client import request

        reply = request("status", timeout_s=10.0)
        assert ctl.poll() is None and "nodes" in reply, reply
    finally:
        ctl.kill()
        out, err = ctl.communicate(timeout=30)
        ctx.destroy(linger=0)
    assert "Traceback" not in err, err[-3000:]
