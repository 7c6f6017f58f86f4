"""The mux state machine, two sessions joined in memory (no sockets)."""

from __future__ import annotations

import struct

import pytest

from fasttun._core import consts as C
from fasttun._core.frames_py import encode_frame
from fasttun.exceptions import ProtocolError, VersionError

from ..conftest import IMPLS, session_class


@pytest.fixture(params=IMPLS)
def Session(request):
    return session_class(request.param)


def pump(src, dst):
    """Move everything src wants to send into dst; return dst's events."""
    for view in src.data_to_send():
        dst.receive_data(bytes(view))
    return dst.events_received()


@pytest.fixture
def pair(Session):
    client, server = Session(True), Session(False)
    assert pump(client, server) == []
    assert pump(server, client) == []
    return client, server


def test_open_data_fin(pair):
    client, server = pair
    sid = server.open_stream(5, b"1.2.3.4:5")
    assert sid == 1
    assert pump(server, client) == [(C.EV_OPEN, 1, 5, b"1.2.3.4:5")]
    assert server.send_data(sid, b"hello") == 5
    server.send_fin(sid)
    events = pump(server, client)
    assert [(e[0], e[1]) for e in events] == [(C.EV_DATA, 1), (C.EV_FIN, 1)]
    assert bytes(events[0][2]) == b"hello"
    assert client.stream_count == 1  # our half is still open
    client.send_data(sid, b"world")
    client.send_fin(sid)
    assert client.stream_count == 0
    events = pump(client, server)
    assert bytes(events[0][2]) == b"world" and events[1][0] == C.EV_FIN
    assert server.stream_count == 0


def test_accept_stream(pair):
    """§4.3.1: the client acknowledges a stream once its local service is reached."""
    client, server = pair
    sid = server.open_stream(1)
    pump(server, client)
    client.accept_stream(sid)
    assert pump(client, server) == [(C.EV_ACCEPT, sid, None, None)]
    assert server.send_window(sid) == C.INITIAL_WINDOW  # an increment of 0
    # ACK on a stream the receiver did not open is ignored (no event, no error)
    server.accept_stream(sid)
    assert pump(server, client) == []
    # accepting a stream that is gone sends nothing
    server.send_reset(sid, C.RESET_CANCEL)
    pump(server, client)
    client.accept_stream(sid)
    assert client.data_to_send() == []


def test_window_limits_and_update(pair):
    client, server = pair
    sid = server.open_stream(1)
    pump(server, client)
    data = b"x" * (C.INITIAL_WINDOW + 1000)
    assert server.send_data(sid, data) == C.INITIAL_WINDOW
    assert server.send_window(sid) == 0
    assert server.reserve(sid) is None
    events = pump(server, client)
    assert sum(len(e[2]) for e in events) == C.INITIAL_WINDOW
    client.consumed(sid, C.INITIAL_WINDOW // 2 - 1)
    assert pump(client, server) == []  # below the batch threshold
    client.consumed(sid, 1)
    assert pump(client, server) == [(C.EV_WINDOW, sid, C.INITIAL_WINDOW // 2, None)]
    assert server.send_window(sid) == C.INITIAL_WINDOW // 2


def test_data_beyond_window_is_protocol_error(pair):
    client, server = pair
    sid = server.open_stream(1)
    pump(server, client)
    frame = encode_frame(C.FRAME_DATA, 0, sid, b"y" * 65536)
    with pytest.raises(ProtocolError, match="exceed the window"):
        for _ in range(5):
            client.receive_data(frame)


def test_reset_and_late_frames_ignored(pair):
    client, server = pair
    sid = server.open_stream(1)
    pump(server, client)
    client.send_reset(sid, C.RESET_REFUSED)
    server.send_data(sid, b"late")  # crosses the reset
    assert pump(client, server) == [(C.EV_RESET, sid, C.RESET_REFUSED, None)]
    assert pump(server, client) == []  # late DATA for a closed stream: ignored
    assert server.stream_count == client.stream_count == 0


def test_data_for_never_opened_stream(pair):
    client, _ = pair
    with pytest.raises(ProtocolError, match="never opened"):
        client.receive_data(encode_frame(C.FRAME_DATA, 0, 99, b"x"))


def test_open_parity_and_reuse(pair):
    client, server = pair
    with pytest.raises(ProtocolError, match="parity"):
        server.receive_data(encode_frame(C.FRAME_OPEN, 0, 3, struct.pack(">I", 1)))
    client.receive_data(encode_frame(C.FRAME_OPEN, 0, 5, struct.pack(">I", 1)))
    with pytest.raises(ProtocolError, match="reuses"):
        client.receive_data(encode_frame(C.FRAME_OPEN, 0, 3, struct.pack(">I", 1)))


def test_stream_limit_resets(Session):
    client, server = Session(True, max_streams=2), Session(False)
    pump(client, server)
    pump(server, client)
    for _ in range(3):
        server.open_stream(1)
    events = pump(server, client)
    assert [e[0] for e in events] == [C.EV_OPEN, C.EV_OPEN]
    assert pump(client, server) == [(C.EV_RESET, 5, C.RESET_LIMIT, None)]


def test_ping_and_timeout(Session):
    client, server = Session(True, ping_interval=1, ping_timeout=3), Session(False, ping_interval=1, ping_timeout=3)
    pump(client, server)
    pump(server, client)
    assert client.get_timer() == 1
    client.handle_timer(1.0)
    assert pump(client, server) == []  # a PING, answered by the session itself
    assert pump(server, client) == []  # the ACK
    client.handle_timer(2.0)  # frames arrived since the last check: alive at t=2
    client.handle_timer(4.9)
    assert client.events_received() == []
    client.handle_timer(5.1)
    assert client.events_received()[0][0] == C.EV_TIMEOUT


def test_go_away(pair):
    client, server = pair
    server.send_go_away(C.GO_AWAY_SHUTDOWN, "bye now")
    assert pump(server, client) == [(C.EV_GO_AWAY, 0, C.GO_AWAY_SHUTDOWN, "bye now")]


def test_control(pair):
    client, server = pair
    client.send_control(b'{"op":"x"}')
    assert pump(client, server) == [(C.EV_CONTROL, 0, b'{"op":"x"}', None)]
    with pytest.raises(ProtocolError):
        client.receive_data(encode_frame(C.FRAME_CONTROL, 0, 1, b"{}"))


def test_a_frame_larger_than_the_peer_takes_is_refused_before_it_is_written(pair):
    """(The compiled session writes frames through pointers: an oversized one
    must be refused, never written past its buffer.)"""
    client, server = pair
    big = b"{" + b" " * C.DEFAULT_MAX_FRAME + b"}"
    with pytest.raises(ValueError):
        client.send_control(big)
    opened = server.stream_count
    with pytest.raises(ValueError):
        server.open_stream(1, b"i" * C.DEFAULT_MAX_FRAME)
    assert server.stream_count == opened  # nothing half done
    client.send_control(b"{" + b" " * (C.DEFAULT_MAX_FRAME - 2) + b"}")  # the largest that fits
    events = pump(client, server)
    assert [(k, len(a)) for k, _, a, _ in events] == [(C.EV_CONTROL, C.DEFAULT_MAX_FRAME)]
    sid = server.open_stream(1, b"i" * (C.DEFAULT_MAX_FRAME - 4))
    assert sid and [k for k, *_ in pump(server, client)] == [C.EV_OPEN]


def test_a_commit_beyond_the_reserved_view_is_refused(pair):
    client, server = pair
    sid = server.open_stream(1)
    pump(server, client)
    view = server.reserve(sid)
    room = len(view)
    del view
    for bad in (-1, 1 << 30):
        with pytest.raises(ValueError):
            server.commit(sid, bad)
    server.commit(sid, 5)  # the session is unharmed
    assert [(k, len(a)) for k, _, a, _ in pump(server, client)] == [(C.EV_DATA, 5)]
    assert room > 5


def test_bad_preamble(Session):
    s = Session(False)
    with pytest.raises(ProtocolError, match="not a fasttun peer"):
        s.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    s = Session(False)
    with pytest.raises(VersionError, match="version 9"):
        s.receive_data(C.MAGIC + b"\x09")


def test_window_overflow(pair):
    client, server = pair
    sid = server.open_stream(1)
    pump(server, client)
    with pytest.raises(ProtocolError, match="overflows"):
        server.receive_data(encode_frame(C.FRAME_WINDOW_UPDATE, 0, sid, struct.pack(">I", 0xFFFFFFFF)))


def test_many_streams_interleaved(pair):
    client, server = pair
    sids = [server.open_stream(1) for _ in range(50)]
    for i, sid in enumerate(sids):
        server.send_data(sid, bytes([i]) * (1000 + i))
    received: dict[int, bytearray] = {}
    for kind, sid, a, _ in pump(server, client):
        if kind == C.EV_DATA:
            received.setdefault(sid, bytearray()).extend(a)
    assert all(bytes(received[sid]) == bytes([i]) * (1000 + i) for i, sid in enumerate(sids))


def test_window_grows_when_sender_blocked_and_reader_keeps_up(pair):
    client, server = pair
    sid = server.open_stream(1)
    pump(server, client)
    window = C.INITIAL_WINDOW
    for _ in range(3):
        assert server.send_data(sid, b"x" * (window + 1)) == window  # uses it all: BLOCKED
        for kind, s, a, _ in pump(server, client):
            if kind == C.EV_DATA:
                client.consumed(s, len(a))
        pump(client, server)
        window *= 2
        assert server.send_window(sid) == window  # credit back, doubled


def test_window_does_not_grow_for_a_slow_reader(pair):
    client, server = pair
    sid = server.open_stream(1)
    pump(server, client)
    assert server.send_data(sid, b"x" * (C.INITIAL_WINDOW + 1)) == C.INITIAL_WINDOW
    pump(server, client)
    client.consumed(sid, C.INITIAL_WINDOW // 2)  # half delivered, half still held
    pump(client, server)
    assert server.send_window(sid) == C.INITIAL_WINDOW // 2  # no growth


def test_window_growth_is_capped(Session):
    client = Session(True, max_window=C.INITIAL_WINDOW * 2, receive_budget=1 << 30)
    server = Session(False)
    pump(client, server), pump(server, client)
    sid = server.open_stream(1)
    pump(server, client)
    for _ in range(4):
        sent = server.send_data(sid, b"x" * (8 << 20))
        for kind, s, a, _ in pump(server, client):
            if kind == C.EV_DATA:
                client.consumed(s, len(a))
        pump(client, server)
    assert sent == C.INITIAL_WINDOW * 2 and server.send_window(sid) == C.INITIAL_WINDOW * 2


def test_session_window_bounds_all_streams(Session):
    client, server = Session(True, session_window=1 << 20), Session(False, session_window=1 << 20)
    pump(client, server), pump(server, client)
    sids = [server.open_stream(1) for _ in range(8)]
    pump(server, client)
    sent = sum(server.send_data(sid, b"x" * C.INITIAL_WINDOW) for sid in sids)
    assert sent == 1 << 20 and server.session_blocked()
    assert server.send_window(sids[-1]) == 0 and server.reserve(sids[-1]) is None
    events = pump(server, client)
    # a stalled stream only *released* its bytes (they sit in its socket's buffer)
    for kind, sid, a, _ in events:
        if kind == C.EV_DATA:
            client.released(sid, len(a))
    assert pump(client, server) == [(C.EV_WINDOW, 0, 1 << 18, None)]  # credit comes in quarters
    assert not server.session_blocked() and server._send_credit == 1 << 20
    assert server.send_window(sids[0]) == 0  # its own window is still used up


def test_session_credit_for_reset_stream(Session):
    client, server = Session(True, session_window=1 << 20), Session(False, session_window=1 << 20)
    pump(client, server), pump(server, client)
    sids = [server.open_stream(1) for _ in range(4)]
    pump(server, client)
    for sid in sids:
        server.send_data(sid, b"x" * C.INITIAL_WINDOW)
    pump(server, client)  # nothing consumed
    for sid in sids:
        client.send_reset(sid, C.RESET_CANCEL)  # undelivered bytes go back to the session
    assert server.session_blocked()
    events = pump(client, server)
    assert (C.EV_WINDOW, 0, 1 << 18, None) in events and server._send_credit == 1 << 20


def test_windows_shrink_to_fair_share_over_budget(Session):
    budget = 1 << 20
    client = Session(True, receive_budget=budget)
    server = Session(False)
    pump(client, server), pump(server, client)
    sids = [server.open_stream(1) for _ in range(16)]  # 16 x 256 KiB = 4 MiB of windows
    pump(server, client)
    for _ in range(3):
        for sid in sids:
            server.send_data(sid, b"x" * C.INITIAL_WINDOW)
        for kind, sid, a, _ in pump(server, client):
            if kind == C.EV_DATA:
                client.consumed(sid, len(a))
        pump(client, server)
    assert client._windows <= budget
    assert all(server.send_window(sid) <= budget // 16 for sid in sids)
