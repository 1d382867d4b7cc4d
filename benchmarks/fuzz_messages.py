"""A coverage-guided (libFuzzer, via atheris) fuzzer for ``pipeline.base.messages.decode``; not part
of the test suite (tests/pipeline/test_messages_fuzz.py is the hypothesis counterpart).

Run (atheris is not a project dependency)::

    .venv/bin/pip install atheris
    mkdir -p /tmp/byob-fuzz
    JAX_PLATFORMS=cpu .venv/bin/python -m benchmarks.fuzz_messages /tmp/byob-fuzz \\
        -max_total_time=60 -rss_limit_mb=2048 -timeout=10

An input is a multipart message: a frame count byte, then per frame a 4-byte little-endian
length and the bytes. The corpus directory is seeded with a valid message of every kind
(empty directory only), so the mutations start from real headers and buffers. A crash is
any exception other than ``MessageError`` with a known reason, a message that does not
survive ``decode(msg.to_wire())`` unchanged, a spike batch that does not render, or
(libFuzzer's own limits) a slow input or one that needs too much memory; libFuzzer
writes it to ``crash-*`` / ``timeout-*`` / ``oom-*`` in the working directory.
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys

import atheris

with atheris.instrument_imports(include=["pipeline.base.messages"]):
    from pipeline.base.messages import Message, MessageError, SpikeBatch, decode

REASONS = {"empty", "too-large", "bad-header", "wrong-version", "unknown-kind", "bad-arrays", "bad-field",
           "bad-shape", "bad-offsets", "out-of-range", "bad-value", "bad-command", "bad-dtype"}


def pack(frames: list[bytes]) -> bytes:
    return bytes([len(frames)]) + b"".join(struct.pack("<I", len(f)) + f for f in frames)


def unpack(data: bytes) -> list[bytes]:
    if not data:
        return []
    frames, at = [], 1
    for _ in range(min(data[0], 8)):
        if at + 4 > len(data):
            break
        (n,) = struct.unpack_from("<I", data, at)
        frames.append(data[at + 4:at + 4 + n])
        at += 4 + n
    return frames


def one_input(data: bytes) -> None:
    frames = unpack(data)
    try:
        msg = decode(frames)
    except MessageError as e:
        if e.reason not in REASONS:
            raise AssertionError(f"unknown reason {e.reason!r}") from e
        return
    assert isinstance(msg, Message)
    again = decode(msg.to_wire())
    assert again.digest() == msg.digest(), "decode(to_wire()) changed the message"
    if isinstance(msg, SpikeBatch) and len(msg.sample_ids) * msg.n_steps * msg.n_neurons < 1 << 22:
        msg.to_raster()


def seed(corpus: str) -> None:
    from tests.pipeline.test_messages_fuzz import samples

    for msg in samples():
        data = pack(msg.to_wire())
        with open(os.path.join(corpus, "seed-" + hashlib.sha1(data).hexdigest()[:12]), "wb") as f:
            f.write(data)


def main() -> None:
    dirs = [a for a in sys.argv[1:] if not a.startswith("-") and os.path.isdir(a)]
    if dirs and not os.listdir(dirs[0]):
        seed(dirs[0])
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
