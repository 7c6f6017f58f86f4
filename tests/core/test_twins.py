"""Differential test: the compiled Session and its Python twin behave identically."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
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


# Whole conversations: the same calls on a compiled pair and on a pure pair
# must put the same bytes on the wire both ways and report the same events.
# (test_fuzz_mux records with the twin only; this covers the sending side of
# the compiled session: framing, credit returns, window growth, pings, limits.)
conv_op = st.one_of(
    st.tuples(st.just("open"), st.integers(0, 3), st.binary(max_size=20)),
    st.tuples(st.just("data"), st.integers(0, 7), st.booleans(), st.integers(0, 300000)),
    st.tuples(st.just("read"), st.integers(0, 7), st.booleans(), st.integers(0, 300000)),  # reserve/commit
    st.tuples(st.just("fin"), st.integers(0, 7), st.booleans()),
    st.tuples(st.just("reset"), st.integers(0, 7), st.booleans(), st.integers(0, 4)),
    st.tuples(st.just("accept"), st.integers(0, 7)),
    st.tuples(st.just("ping"), st.booleans(), st.floats(0, 20)),
    st.tuples(st.just("control"), st.binary(max_size=60)),
    st.tuples(st.just("goaway"), st.booleans(), st.integers(0, 9), st.text(max_size=10)),
    st.tuples(st.just("flow"), st.booleans(), st.integers(0, 2)),  # 0: consume all, 1: release half, 2: hold
)


def converse(Session, ops):
    server = Session(False, max_streams=6, window=65536, max_window=1 << 20, receive_budget=1 << 21,
                     session_window=1 << 20)
    client = Session(True, max_streams=6, window=65536, max_window=1 << 20, receive_budget=1 << 21,
                     session_window=1 << 20)
    wire = {False: [], True: []}  # sent by the server?, bytes
    seen: list = []
    held = {False: [], True: []}  # (sid, n) delivered and not yet consumed, per receiver
    streams: list = []
    payload = bytes(range(256)) * 1200
    now = 0.0
    policy = {False: 0, True: 0}

    def move(from_server):
        src, dst = (server, client) if from_server else (client, server)
        for view in src.data_to_send():
            chunk = bytes(view)
            wire[from_server].append(chunk)
            dst.receive_data(chunk)
        for kind, sid, a, b in dst.events_received():
            if isinstance(a, memoryview):
                a = bytes(a)
            seen.append((not from_server, kind, sid, a if kind != C.EV_DATA else len(a), b))
            if kind == C.EV_DATA:
                mode = policy[not from_server]
                if mode == 0:
                    dst.consumed(sid, len(a))
                elif mode == 1:
                    dst.released(sid, len(a) // 2)
                    held[not from_server].append((sid, len(a)))
                else:
                    held[not from_server].append((sid, len(a)))

    try:
        for o in ops:
            kind = o[0]
            if kind == "open":
                sid = server.open_stream(o[1], o[2])
                if sid:
                    streams.append(sid)
            elif kind in ("data", "read", "fin", "reset") and streams:
                sid = streams[o[1] % len(streams)]
                side = server if o[2] else client
                if kind == "data":
                    seen.append(("sent", side.send_data(sid, payload[: o[3]])))
                elif kind == "read":
                    view = side.reserve(sid)
                    n = 0 if view is None else min(len(view), o[3])
                    if view is not None:
                        view[:n] = payload[:n]
                        del view
                        side.commit(sid, n)
                    seen.append(("read", n, side.send_window(sid), side.session_blocked()))
                elif kind == "fin":
                    side.send_fin(sid)
                else:
                    side.send_reset(sid, o[3])
            elif kind == "accept" and streams:
                client.accept_stream(streams[o[1] % len(streams)])
            elif kind == "ping":
                now += o[2]
                side = server if o[1] else client
                side.handle_timer(now)
                seen.append(("timer", side.get_timer(), side.timed_out))
            elif kind == "control":
                server.send_control(o[1])
            elif kind == "goaway":
                (server if o[1] else client).send_go_away(o[2], o[3])
            elif kind == "flow":
                policy[o[1]] = o[2]
                if o[2] == 0:  # catch up: what was held is consumed now
                    receiver = client if o[1] else server
                    for sid, n in held[o[1]]:
                        receiver.consumed(sid, n)
                    held[o[1]].clear()
            for _ in range(2):
                move(True)
                move(False)
    except ProtocolError as exc:
        seen.append(("error", str(exc)))
    stats = [(s.bytes_sent, s.bytes_received, s.streams_opened, s.stream_count, sorted(s.stream_ids()),
              s._send_credit, s._recv_credit, s._windows) for s in (server, client)]
    return b"".join(wire[True]), b"".join(wire[False]), seen, stats


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(conv_op, min_size=1, max_size=40))
def test_conversations_same_bytes_and_events(ops):
    ops = [("open", 0, b"a"), ("open", 1, b"b")] + ops
    assert converse(SessionC, ops) == converse(SessionPy, ops)
