"""Differential test: the compiled Session and its Python twin behave identically."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fasttun._core import consts as C
from fasttun._core.frames_py import encode_frame
from fasttun._core.mux import SessionC, SessionPy
from fasttun.exceptions import ProtocolError

pytestmark = pytest.mark.skipif(SessionC is None, reason="compiled core not built")


def run(Session, frames):
    s = Session(True)
    out = []
    try:
        s.receive_data(C.PREAMBLE)
        for f in frames:
            s.receive_data(f)
            out.append([(k, sid, bytes(a) if isinstance(a, memoryview) else a, b) for k, sid, a, b in
                        s.events_received()])
    except ProtocolError as exc:
        out.append(("error", str(exc)))
    out.append(b"".join(bytes(v) for v in s.data_to_send()))
    return out


payload = st.one_of(st.binary(max_size=40), st.sampled_from([b"\0\0\0\1", b"\0\0\0\0\0\0\0\1", b"\0\0\0\5ab"]))
frame = st.builds(encode_frame, st.integers(0, 6), st.sampled_from([0, 1, 2, 3, 4, 5]), st.integers(0, 9), payload)


@settings(max_examples=300, deadline=None)
@given(st.lists(frame, max_size=25))
def test_random_frame_streams_same_events(frames):
    assert run(SessionC, frames) == run(SessionPy, frames)


@settings(max_examples=100, deadline=None)
@given(st.lists(frame, max_size=60), st.integers(0, 60), st.binary(min_size=12, max_size=12))
def test_one_receive_larger_than_the_buffer_same_events(frames, where, bad):
    """One receive_data call spanning several receive buffers (small ones
    here), with a malformed header somewhere: both handle the same frames
    before the error and queue the same replies."""
    wire = b"".join(frames[:where]) + bad + b"".join(frames[where:])

    def feed(Session):
        s = Session(True, max_frame=64, buffer_size=256)
        try:
            s.receive_data(C.PREAMBLE + wire)
            events = [(k, sid, bytes(a) if isinstance(a, memoryview) else a, b) for k, sid, a, b in
                      s.events_received()]
        except ProtocolError as exc:
            events = [("error", str(exc))]
        return events, b"".join(bytes(v) for v in s.data_to_send())

    assert feed(SessionC) == feed(SessionPy)
