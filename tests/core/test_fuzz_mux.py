"""Fuzzing the mux with *mutated valid* frame sequences, for both implementations.

A valid byte stream is recorded from two Sessions talking to each other
(random opens, data, half-closes, resets, accepts, pings, CONTROL messages,
credit returns); then bytes are flipped, inserted, deleted, duplicated or cut
off, and the result is fed, in random pieces, to a fresh Session of each
implementation.  Each must produce the same events and replies, fail only
with ProtocolError, and keep what it holds bounded by what it was given.
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fasttun._core import consts as C
from fasttun._core.mux import SessionC, SessionPy
from fasttun.exceptions import ProtocolError

from ..fuzzing import mutate, mutation

IMPLS = [SessionPy] + ([SessionC] if SessionC is not None else [])

op = st.one_of(
    st.tuples(st.just("open"), st.integers(0, 3), st.binary(max_size=20)),
    # (kind, stream index, sent by the server?, ...)
    st.tuples(st.just("data"), st.integers(0, 7), st.booleans(), st.integers(0, 70000)),
    st.tuples(st.just("fin"), st.integers(0, 7), st.booleans()),
    st.tuples(st.just("reset"), st.integers(0, 7), st.booleans(), st.integers(0, 4)),
    st.tuples(st.just("accept"), st.integers(0, 7)),
    st.tuples(st.just("ping"), st.booleans()),
    st.tuples(st.just("control"), st.binary(max_size=60)),
)


def _drain(src, dst, wire: list | None) -> None:
    """Move src's output into dst, consuming every delivered byte (credit flows back)."""
    for view in src.data_to_send():
        chunk = bytes(view)
        if wire is not None:
            wire.append(chunk)
        dst.receive_data(chunk)
    for kind, sid, a, _ in dst.events_received():
        if kind == C.EV_DATA:
            dst.consumed(sid, len(a))


def record(ops) -> tuple[bytes, bytes, int]:
    """Run *ops* on a server/client pair; return the bytes each direction
    carried and how many streams the server opened."""
    server, client = SessionPy(False), SessionPy(True)
    s2c: list = []
    c2s: list = []
    streams: list[int] = []
    now = 0.0
    payload = bytes(range(256)) * 300
    for o in ops:
        kind = o[0]
        if kind == "open":
            sid = server.open_stream(o[1], o[2])
            if sid:
                streams.append(sid)
        elif kind == "accept" and streams:
            client.accept_stream(streams[o[1] % len(streams)])
        elif kind in ("data", "fin", "reset") and streams:
            sid = streams[o[1] % len(streams)]
            side = server if o[2] else client
            if kind == "data":
                side.send_data(sid, payload[: o[3]])
            elif kind == "fin":
                side.send_fin(sid)
            else:
                side.send_reset(sid, o[3])
        elif kind == "ping":
            now += 10.0
            (server if o[1] else client).handle_timer(now)
        elif kind == "control":
            server.send_control(o[1])
        for _ in range(3):  # let credit and replies flow both ways
            _drain(server, client, s2c)
            _drain(client, server, c2s)
    return b"".join(s2c), b"".join(c2s), len(streams)


def feed(Session, client: bool, chunks: list, opens: int = 0) -> tuple[list, int]:
    """Feed *chunks* to a fresh session; return (events and error, bytes of replies).

    The receiver's windows are larger than the recorder's, so that a valid
    recording never exceeds them however the receiver's credit returns are
    timed; a server receiver first opens the *opens* streams the recording
    server opened (the client's frames refer to them).
    """
    s = Session(client, max_streams=64, window=C.MAX_STREAM_WINDOW, session_window=1 << 30)
    for i in range(opens):
        s.open_stream(i)
    out: list = []
    replies = 0
    try:
        for chunk in chunks:
            s.receive_data(chunk)
            for kind, sid, a, b in s.events_received():
                if kind == C.EV_DATA:
                    a = bytes(a)
                    s.consumed(sid, len(a))
                out.append((kind, sid, a, b))
            assert s.stream_count <= 64
    except ProtocolError as exc:
        out.append(("error", str(exc)))
    replies = sum(len(v) for v in s.data_to_send())
    return out, replies


def split(data: bytes, cuts) -> list:
    points = sorted(set(c % (len(data) + 1) for c in cuts))
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ops=st.lists(op, min_size=8, max_size=40), mutations=st.lists(mutation, max_size=4),
       to_client=st.booleans(), cuts=st.lists(st.integers(0, 1 << 20), max_size=5))
def test_mutated_valid_sequences(ops, mutations, to_client, cuts):
    s2c, c2s, opens = record([("open", 0, b"a"), ("open", 1, b"b")] + ops)
    wire, opens = (s2c, 0) if to_client else (c2s, opens)
    if not mutations:  # the recorded stream itself is valid
        for Session in IMPLS:
            events, _ = feed(Session, to_client, split(wire, cuts), opens)
            assert not any(e[0] == "error" for e in events), events[-1]
    bad = mutate(wire, mutations)
    results = [feed(Session, to_client, split(bad, cuts), opens) for Session in IMPLS]
    for events, replies in results:
        # Bounded: what a session queues to send grows with what it was given
        # (PING answers echo, credit returns are 16 bytes per frame received).
        assert replies <= C.PREAMBLE_SIZE + 2 * len(bad) + 64 * (opens + 1)
    events = results[0][0]
    event("protocol error" if events and events[-1][0] == "error" else "accepted")
    event(f"events before the end: {min(len(events), 40) // 5 * 5}+")
    if len(results) == 2:
        assert results[0] == results[1]


def test_recorded_sequences_are_rich():
    """The recorder produces every frame type it should (so the fuzz above means something)."""
    from fasttun._core.frames_py import FrameDecoder

    ops = [("open", 1, b"x"), ("accept", 0), ("data", 0, True, 300000), ("data", 0, False, 5),
           ("fin", 0, True), ("open", 2, b""), ("reset", 1, False, 0), ("ping", True), ("control", b"{}")]
    s2c, c2s, _ = record(ops)
    seen = set()
    for wire in (s2c, c2s):
        dec = FrameDecoder(C.DEFAULT_MAX_FRAME, None, True, 1 << 20)
        seen |= {f[0] for f in dec.receive_data(wire)}
    assert seen == {C.FRAME_OPEN, C.FRAME_DATA, C.FRAME_WINDOW_UPDATE, C.FRAME_RESET, C.FRAME_PING,
                    C.FRAME_CONTROL}

