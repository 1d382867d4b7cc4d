"""Every socket bounds what it reads: a frame larger than the largest legal message
disconnects its sender instead of being buffered, and the link keeps working."""

from __future__ import annotations

import resource
import subprocess
import sys

import numpy as np
import zmq

from pipeline.base.messages import MAX_MESSAGE_BYTES, SpikeBatch, decode
from pipeline.runtime.wiring import free_base_port, open_socket


SENDER = """
import sys, zmq
ctx = zmq.Context(); s = ctx.socket(zmq.PUSH); s.connect(sys.argv[1])
s.send(b"\\0" * int(sys.argv[2]), copy=False, track=True).wait(30)
s.close(linger=5000); ctx.term()
"""


def test_an_oversized_frame_disconnects_its_sender_and_is_never_buffered(monkeypatch):
    monkeypatch.setenv("BYOB_BASE_PORT", str(free_base_port()))
    ctx = zmq.Context()
    try:
        pull = open_socket(ctx, "plasticity", "learner")  # the binder
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Another process sends one 80 MiB frame and waits until libzmq has written it out.
        subprocess.run([sys.executable, "-c", SENDER, pull.getsockopt(zmq.LAST_ENDPOINT).decode(),
                        str(MAX_MESSAGE_BYTES + (16 << 20))], check=True, timeout=60)
        good = open_socket(ctx, "plasticity", "network")
        msg = SpikeBatch.from_raster(np.zeros((1, 4, 5), bool), run="r", seq=1, population="input", dt=0.5,
                                     sample_ids=[1])
        good.send_multipart(msg.to_wire())
        assert pull.poll(10_000), "the good message never came"
        frames = pull.recv_multipart()
        assert decode(frames).seq == 1 and sum(len(f) for f in frames) < 1 << 20
        assert not pull.poll(500)  # the oversized frame was dropped with its connection
        grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
        assert grown_kib < 32 << 10, f"the receiver grew by {grown_kib} KiB"  # never held the 80 MiB
    finally:
        ctx.destroy(linger=0)
