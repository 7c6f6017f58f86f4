"""Differential test: the compiled dispatch of a session's events
(``_stream_c.dispatch``) and its twin (``_stream.dispatch``) make the same
calls, in the same order, for the same events.

The dispatch is sans-I/O: it only calls the methods of the session
protocol and of its streams.  Here those are recorders, so each run gives
the list of calls made; the two must be equal for every event list
hypothesis makes (DATA runs of one stream coalesced, payloads of a stream
that is gone credited back, session credit waking every blocked stream, a
malformed CONTROL or a heartbeat timeout stopping the dispatch).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fasttun._core import consts as C
from fasttun._core._select import compiled
from fasttun.aio import _stream

_stream_c = compiled("fasttun.aio._stream_c")

pytestmark = pytest.mark.skipif(_stream_c is None, reason="compiled adapters not built")

KNOWN = (1, 3, 5)  # streams the protocol has; 7 is one that is gone


class Recorder:
    """A stream end that writes down what it is told."""

    def __init__(self, log: list, stream_id: int) -> None:
        self.log, self.stream_id = log, stream_id

    def __hash__(self) -> int:  # a set of them iterates in the same order in every run
        return self.stream_id

    def deliver_many(self, payloads: list) -> None:
        self.log.append(("deliver", self.stream_id, [bytes(p) for p in payloads]))

    def deliver_fin(self) -> None:
        self.log.append(("fin", self.stream_id))

    def deliver_reset(self, code: int = -1) -> None:
        self.log.append(("reset", self.stream_id, code))

    def settle(self) -> None:
        self.log.append(("settle", self.stream_id))

    def window_opened(self) -> None:
        self.log.append(("window", self.stream_id))


class Session:
    def __init__(self, log: list) -> None:
        self.log = log

    def consumed(self, stream_id: int, n: int) -> None:
        self.log.append(("consumed", stream_id, n))


class Proto:
    """The parts of a SessionProtocol that dispatch uses."""

    def __init__(self, log: list, blocked: tuple) -> None:
        self.log = log
        self.peer = "127.0.0.1:1"
        self.session = Session(log)
        self.streams = {sid: Recorder(log, sid) for sid in KNOWN}
        self.session_blocked = {self.streams[sid] for sid in blocked}

    def on_open(self, stream_id: int, tunnel_id: int, info: bytes) -> None:
        self.log.append(("open", stream_id, tunnel_id, info))

    def control_received(self, payload: bytes) -> bool:
        self.log.append(("control", payload))
        return payload != b"bad"

    def on_go_away(self, code: int, message: str) -> None:
        self.log.append(("go_away", code, message))

    def fail(self, code: int, reason: str) -> None:
        self.log.append(("fail", code, reason))


def run(dispatch, events: list, blocked: tuple) -> list:
    log: list = []
    proto = Proto(log, blocked)
    result = dispatch(proto, events)
    # who is still waiting for session credit, by stream id
    return [*log, ("returned", bool(result)), ("blocked", sorted(s.stream_id for s in proto.session_blocked))]


stream_ids = st.sampled_from((*KNOWN, 7))
event = st.one_of(
    st.tuples(st.just(C.EV_DATA), stream_ids, st.binary(max_size=8), st.none()),
    st.tuples(st.just(C.EV_DATA), stream_ids, st.binary(max_size=8).map(memoryview), st.none()),
    st.tuples(st.just(C.EV_WINDOW), st.sampled_from((0, *KNOWN, 7)), st.integers(0, 1 << 20), st.none()),
    st.tuples(st.just(C.EV_FIN), stream_ids, st.none(), st.none()),
    st.tuples(st.just(C.EV_RESET), stream_ids, st.integers(0, 9), st.none()),
    st.tuples(st.just(C.EV_ACCEPT), stream_ids, st.none(), st.none()),
    st.tuples(st.just(C.EV_OPEN), st.integers(2, 20), st.integers(1, 5), st.binary(max_size=4)),
    st.tuples(st.just(C.EV_CONTROL), st.just(0), st.sampled_from((b"{}", b"bad")), st.none()),
    st.tuples(st.just(C.EV_GO_AWAY), st.just(0), st.integers(0, 8), st.just("bye")),
    st.tuples(st.just(C.EV_TIMEOUT), st.just(0), st.floats(0, 100), st.none()),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(event, max_size=30), st.lists(st.sampled_from(KNOWN), unique=True).map(tuple))
def test_compiled_dispatch_makes_the_same_calls(events, blocked):
    assert run(_stream_c.dispatch, events, blocked) == run(_stream.dispatch, events, blocked)


def test_data_runs_are_coalesced_and_a_gone_stream_is_credited():
    events = [(C.EV_DATA, 1, b"ab", None), (C.EV_DATA, 1, b"c", None), (C.EV_DATA, 7, b"xyz", None),
              (C.EV_DATA, 7, b"w", None), (C.EV_FIN, 1, None, None), (C.EV_DATA, 3, b"q", None)]
    want = [("deliver", 1, [b"ab", b"c"]), ("consumed", 7, 4), ("fin", 1), ("deliver", 3, [b"q"]),
            ("returned", True), ("blocked", [])]
    for dispatch in (_stream.dispatch, _stream_c.dispatch):
        assert run(dispatch, events, ()) == want


def test_session_credit_wakes_the_blocked_and_a_bad_control_stops():
    events = [(C.EV_WINDOW, 0, 65536, None), (C.EV_CONTROL, 0, b"bad", None), (C.EV_FIN, 3, None, None)]
    for dispatch in (_stream.dispatch, _stream_c.dispatch):
        got = run(dispatch, events, (1, 5))
        assert sorted(got[:2]) == [("window", 1), ("window", 5)]
        assert got[2:] == [("control", b"bad"), ("returned", False), ("blocked", [])]
