"""Rejected messages are logged rate-limited per sender and reason, and every one is counted."""

import logging

import zmq

from pipeline.base.messages import Metrics
from pipeline.runtime.rejects import RejectLog


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_the_first_few_in_full_then_a_summary_every_10_s_with_the_counts(caplog):
    clock = Clock()
    rl = RejectLog(logging.getLogger("t"), first=3, every_s=10.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="t"):
        for k in range(1000):
            clock.t = k * 0.01  # 1000 rejections in 10 s
            rl.reject("tcp://a", "bad-header", f"message {k}")
        rl.reject("tcp://b", "too-large", "x")
        clock.t = 10.5
        rl.flush()
        clock.t = 25.0
        for _ in range(5):
            rl.reject("tcp://a", "bad-header", "again")
        rl.flush(force=True)
    lines = [r.getMessage() for r in caplog.records]
    full = [ln for ln in lines if ln.startswith("rejected a message")]
    summaries = [ln for ln in lines if ln.startswith("rejected ") and "more messages" in ln]
    assert len(full) == 4  # 3 of (a, bad-header), 1 of (b, too-large)
    assert "summarised every 10 s" in full[2]
    assert len(summaries) == 2 and len(lines) == 6
    assert "997 more" in summaries[0] and "tcp://a bad-header: 997 (total 1000)" in summaries[0]
    assert "tcp://a bad-header: 5 (total 1005)" in summaries[1]
    assert rl.total[("tcp://a", "bad-header")] == 1005 and rl.total[("tcp://b", "too-large")] == 1


def test_a_node_under_a_flood_of_bad_messages_counts_them_all_and_logs_a_few(caplog, monkeypatch):
    """A node's pull socket flooded with garbage: each one counted by reason, a good
    message after them still received, a handful of log lines."""
    from pipeline.runtime.node import NodeShell

    ctx = zmq.Context.instance()
    shell = NodeShell.__new__(NodeShell)  # only the receive path: no controller, no heartbeat
    shell.name, shell.control = "test.1", None
    shell.log = logging.getLogger("test.1")
    from collections import Counter
    shell.dropped = Counter()
    shell.rejects = RejectLog(shell.log)
    pull = ctx.socket(zmq.PULL)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push = ctx.socket(zmq.PUSH)
    push.connect(f"tcp://127.0.0.1:{port}")
    n = 3000
    try:
        with caplog.at_level(logging.WARNING, logger="test.1"):
            for k in range(n):
                push.send_multipart([b"\x93garbage" + bytes([k % 256])])
            push.send_multipart(Metrics(run="r", seq=1, sender="x", values={"a": 1.0}).to_wire())
            got = [shell.receive(pull) for _ in range(n + 1)]
        assert got[:n] == [None] * n and isinstance(got[n], Metrics)
        assert sum(shell.dropped.values()) == n
        assert len(caplog.records) <= 4  # the first 3, maybe one summary
    finally:
        push.close(0)
        pull.close(0)
