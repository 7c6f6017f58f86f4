"""Inputs shared by the micro-benchmarks."""

from __future__ import annotations

import pytest

from fasttun._core import consts as C
from fasttun._core.buffers import BufferPoolC, BufferPoolPy
from fasttun._core.frames import FrameDecoderC, FrameDecoderPy, encode_frame
from fasttun._core.mux import SessionC, SessionPy

IMPLS = {
    "c": (SessionC, FrameDecoderC, BufferPoolC),
    "py": (SessionPy, FrameDecoderPy, BufferPoolPy),
}


def impl_params():
    return [pytest.param(k, id=k) for k in IMPLS]


def classes(impl: str):
    session, decoder, pool = IMPLS[impl]
    if session is None:
        pytest.skip("compiled core not built")
    return session, decoder, pool


def data_frames(size: int, stream_id: int = 1) -> bytes:
    """*size* payload bytes as DATA frames of at most 64 KiB."""
    out = []
    left = size
    while left > 0:
        n = min(left, C.DEFAULT_MAX_FRAME)
        out.append(encode_frame(C.FRAME_DATA, 0, stream_id, b"x" * n))
        left -= n
    return b"".join(out)
