"""The learner's process shell on real sockets: presentations that arrive without a job
(an aborted job's leftovers) are dropped and counted, and the node goes back to sleeping
in its poll instead of spinning on them."""

from __future__ import annotations

import time

import numpy as np
import zmq

from pipeline.base.messages import PRESENTATION, SpikeBatch
from pipeline.runtime.wiring import open_socket
from pipeline.runtime.wiring import free_base_port


def test_leftover_presentations_without_a_job_are_dropped_not_spun_on(monkeypatch):
    monkeypatch.setenv("BYOB_BASE_PORT", str(free_base_port()))
    from nodes.learner.__main__ import LearnerNode

    node = LearnerNode()
    ctx = zmq.Context()
    try:
        push = open_socket(ctx, "plasticity", "network")
        for k in range(3):
            push.send_multipart(SpikeBatch.from_raster(np.zeros((1, 4, 5), bool), run="gone", seq=k,
                                                       population=PRESENTATION, dt=0.5, sample_ids=[k]).to_wire())
        deadline = time.time() + 10
        while node.dropped["no-job"] < 3 and time.time() < deadline:
            node.step()
        assert node.dropped["no-job"] == 3
        t = time.perf_counter()
        node.step()  # nothing left: the poll waits its full timeout
        assert time.perf_counter() - t > 0.05
    finally:
        ctx.destroy(linger=0)
        node.ctx.destroy(linger=0)
