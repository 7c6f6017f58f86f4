"""The multiplexer state machine: one ``Session`` per tunnel connection.

This file is the specification of the mux: it runs as plain Python
(``FASTTUN_NO_EXTENSIONS=1``), and ``mux_c.pyx`` is its compiled twin, written
by hand after it (frames parsed in place, headers and payloads written
through pointers).  The twin tests and fuzzers hold the two to the same
events, replies and errors.

Rules and theory of operation
-----------------------------
A session carries many *streams* over one byte stream (docs/spec.md §1).
The server opens a stream (OPEN) for every public connection it accepts;
server-opened stream ids are odd, client-opened ones even (§4.3), and ids
only grow.  Each stream has two halves; a DATA frame with FIN closes the
sender's half (§4.1).  A stream is forgotten when both halves are closed or
when either side sends RESET (§4.4).

Stream states, per half::

    open ──FIN──> closed        (send half: send_fin(); receive half: FIN in)
    any  ──RESET─> gone         (either way; both halves)

Flow control (§4.2): each side starts with ``INITIAL_WINDOW`` bytes of credit
per stream and direction.  The sender may only send as much DATA as it has
credit; the receiver gives credit back with WINDOW_UPDATE once the adapter
tells it, through ``consumed()``, that the bytes left its buffers.  DATA
beyond the credit is a protocol error, so a stalled reader holds at most one
window of memory per stream.

The session as a whole has a window too (stream id 0): all streams together
may have at most ``session_window`` bytes in flight, so many streams at once
cannot queue more than that between the two ends.  Session credit returns as
soon as the adapter hands the bytes to the socket's buffer (``released()``
or ``consumed()``), so a stalled stream, whose bytes sit in its socket's
buffer within its own window, never starves the others.  Bytes never handed
over (the stream was reset or closed first) are credited when the stream is
forgotten.

Window growth (§4.2.1): a sender marks the DATA frame that uses up its window
with BLOCKED.  When the receiver has delivered every byte it received on
that stream (its reader keeps up, so the window is what limits the stream),
it doubles the stream's window with its next WINDOW_UPDATE, up to
``max_window`` per stream.  The window thus grows to the bandwidth-delay
product of the path while a stalled reader (which delivers nothing) never
grows it.

Receive budget (§4.2.2): the receive windows of all streams of a session add
up to at most ``receive_budget`` bytes, which bounds what the streams' socket
buffers can hold.  Growth stops at the budget, and while the sum is above it
(many streams opened at once, each with the initial window) each stream's
window is shrunk, by returning less credit, towards its fair share
(``receive_budget / streams``, at least ``MIN_WINDOW``).

Liveness (§4.5): ``handle_timer(now)`` sends a PING every ``ping_interval``
seconds and reports ``EV_TIMEOUT`` once nothing has arrived for
``ping_timeout`` seconds.  Any frame counts as a sign of life.

The session does no I/O.  The adapter:

* feeds received bytes with ``get_buffer()``/``buffer_updated()`` (or
  ``receive_data()``), then handles ``events_received()``;
* writes every view of ``data_to_send()`` after any call that sends;
* calls ``handle_timer(loop.time())`` at ``get_timer()``.
"""

from __future__ import annotations

import struct

from ..exceptions import ProtocolError
from .buffers_py import BufferPool
from .consts import (
    DEFAULT_MAX_FRAME,
    EV_ACCEPT,
    EV_CONTROL,
    EV_DATA,
    EV_FIN,
    EV_GO_AWAY,
    EV_OPEN,
    EV_RESET,
    EV_TIMEOUT,
    EV_WINDOW,
    FLAG_ACK,
    FLAG_BLOCKED,
    FLAG_FIN,
    FRAME_CONTROL,
    FRAME_DATA,
    FRAME_GO_AWAY,
    FRAME_OPEN,
    FRAME_PING,
    FRAME_RESET,
    FRAME_WINDOW_UPDATE,
    GO_AWAY_NAMES,
    HEADER_SIZE,
    INITIAL_WINDOW,
    MAX_STREAM_WINDOW,
    MAX_WINDOW,
    MIN_WINDOW,
    PREAMBLE,
    RECEIVE_BUDGET,
    RESET_LIMIT,
    SESSION_WINDOW,
)
from .frames_py import FrameDecoder, pack_header

__all__ = ["Session", "Stream"]

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
OUT_BUFFER_SIZE = 262144
# reserve() shortens a frame to the room left in the current buffer, down to this.
MIN_RESERVE = 65536


class Stream:
    """State of one stream inside a ``Session`` (no I/O)."""

    __slots__ = ("stream_id", "send_window", "recv_window", "window", "credit", "unconsumed", "unreleased",
                 "peer_blocked", "local_fin", "remote_fin")

    def __init__(self, stream_id: int, window: int) -> None:
        self.stream_id = stream_id
        self.send_window = window  # bytes we may still send
        self.recv_window = window  # bytes the peer may still send
        self.window = window  # our receive window: grows, never shrinks
        self.credit = 0  # consumed bytes not yet returned by WINDOW_UPDATE
        self.unconsumed = 0  # received bytes not yet consumed (stream credit pending)
        self.unreleased = 0  # received bytes not yet released (session credit pending)
        self.peer_blocked = False  # the peer used up its window (BLOCKED)
        self.local_fin = False  # we sent FIN
        self.remote_fin = False  # the peer sent FIN


class Session:
    """One end of a multiplexed tunnel connection.

    Args:
        client: True on the side that dialled (the ``fasttun expose`` side).
        window: per-stream receive window; must equal the peer's (§4.2).
        max_frame: largest payload accepted from the peer.
        max_streams: most streams open at once; more are refused with RESET.
        ping_interval: seconds between PINGs.
        ping_timeout: seconds of silence after which ``EV_TIMEOUT`` fires.
        now: the current time, in the clock later given to ``handle_timer``.
        pool: buffer pool for outgoing frames (shared by sessions of a loop).
        buffer_size: size of the receive buffer and of each outgoing buffer.
        max_window: largest receive window one stream can grow to.
        receive_budget: most bytes the receive windows of all streams add up to.
        session_window: window of all streams together, each direction.
    """

    def __init__(self, client: bool, window: int = INITIAL_WINDOW, max_frame: int = DEFAULT_MAX_FRAME,
                 max_streams: int = 65536, ping_interval: float = 5.0, ping_timeout: float = 15.0,
                 now: float = 0.0, pool: BufferPool | None = None, buffer_size: int = OUT_BUFFER_SIZE,
                 max_window: int = MAX_STREAM_WINDOW, receive_budget: int = RECEIVE_BUDGET,
                 session_window: int = SESSION_WINDOW) -> None:
        self.client = client
        self.session_window = session_window  # must equal the peer's (§4.2)
        self._send_credit = session_window  # bytes we may still send, all streams
        self._recv_credit = session_window  # bytes the peer may still send, all streams
        self._session_credit = 0  # delivered bytes not yet returned on stream 0
        self.window = window
        self.max_window = max_window
        self.receive_budget = receive_budget
        self._windows = 0  # sum of the receive windows of the open streams
        self.max_frame = max_frame
        self.send_max_frame = DEFAULT_MAX_FRAME
        self.max_streams = max_streams
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._streams: dict[int, Stream] = {}
        self._next_id = 2 if client else 1
        self._peer_max_id = 0
        self._events: list = []
        self._decoder = FrameDecoder(max_frame, None, True, buffer_size)
        if pool is None or pool.size < HEADER_SIZE + DEFAULT_MAX_FRAME:
            pool = BufferPool(max(buffer_size, 2 * (HEADER_SIZE + DEFAULT_MAX_FRAME)), 8)
        self._pool = pool
        self._out: bytearray | None = None  # the buffer frames are written into
        self._out_pos = 0  # end of the bytes written into _out
        self._out_sent = 0  # end of the bytes of _out handed out by data_to_send()
        self._sealed: list = []  # (buffer, start, end): full buffers' bytes not handed out yet
        self._last_frames = 0
        self._last_alive = now
        self._next_ping = now + ping_interval
        self._ping_seq = 0
        self.timed_out = False
        self.go_away_sent = False
        self.go_away_received = False
        # Statistics.
        self.bytes_sent = 0
        self.bytes_received = 0
        self.streams_opened = 0
        self._write(PREAMBLE)

    # ------------------------------------------------------------------
    # Receiving
    # ------------------------------------------------------------------
    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Return the view to read received bytes into; then call ``buffer_updated``."""
        return self._decoder.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        """Process *nbytes* read into the last ``get_buffer()`` view.

        Then handle ``events_received()`` and write ``data_to_send()`` (replies
        such as PING answers may be waiting).

        Raises:
            ProtocolError: the peer broke the protocol; send ``go_away()`` with
                ``exc.code``, write, and close the connection.
        """
        for frame in self._decoder.buffer_updated(nbytes):
            self._handle_frame(frame[0], frame[1], frame[2], frame[3])

    def receive_data(self, data: bytes) -> None:
        """Process received *data* (a copying ``get_buffer``/``buffer_updated``,
        a receive buffer's worth at a time)."""
        view = memoryview(data)
        while view:
            target = self._decoder.get_buffer()
            n = min(len(target), len(view))
            target[:n] = view[:n]
            del target
            self.buffer_updated(n)
            view = view[n:]

    def events_received(self) -> list:
        """Return and forget the events of the frames received so far.

        Each event is ``(kind, stream_id, a, b)`` with ``kind`` one of the
        ``EV_*`` constants.  An ``EV_DATA`` payload is a memoryview of the
        receive buffer, or ``bytes`` when it is at most ``COPY_MAX`` bytes: write it
        out (or copy it), then call ``consumed(stream_id, len)`` when it has
        left your buffers, so that the peer gets its credit back.
        """
        events = self._events
        self._events = []
        return events

    def _handle_frame(self, ftype: int, flags: int, stream_id: int, payload: memoryview) -> None:
        if ftype == FRAME_DATA:
            self._handle_data(flags, stream_id, payload)
        elif ftype == FRAME_WINDOW_UPDATE:
            self._handle_window_update(flags, stream_id, payload)
        elif ftype == FRAME_OPEN:
            self._handle_open(stream_id, payload)
        elif ftype == FRAME_RESET:
            self._handle_reset(stream_id, payload)
        elif ftype == FRAME_PING:
            self._handle_ping(flags, stream_id, payload)
        elif ftype == FRAME_GO_AWAY:
            self._handle_go_away(stream_id, payload)
        else:  # FRAME_CONTROL; the decoder refused unknown types
            if stream_id != 0:
                raise ProtocolError(f"CONTROL frame on stream {stream_id}")
            self._events.append((EV_CONTROL, 0, bytes(payload), None))

    def _was_opened(self, stream_id: int) -> bool:
        if (stream_id & 1) == (self._next_id & 1):
            return stream_id < self._next_id
        return stream_id <= self._peer_max_id

    def _live_stream(self, stream_id: int, what: str) -> Stream | None:
        st = self._streams.get(stream_id)
        if st is None and not (stream_id and self._was_opened(stream_id)):
            raise ProtocolError(f"{what} for stream {stream_id}, which was never opened")
        return st  # None: closed already; late frames are ignored (§4.4)

    def _handle_data(self, flags: int, stream_id: int, payload: memoryview) -> None:
        st = self._live_stream(stream_id, "DATA")
        n = len(payload)
        if n > self._recv_credit:
            raise ProtocolError(f"{n} bytes of DATA exceed the session window of {self._recv_credit}")
        self._recv_credit -= n
        if st is None:  # late data of a closed stream: credit it at once
            self._credit_session(n)
            return
        if st.remote_fin:
            raise ProtocolError(f"DATA on stream {stream_id} after its FIN")
        if n > st.recv_window:
            raise ProtocolError(f"stream {stream_id}: {n} bytes of DATA exceed the window of {st.recv_window}")
        if n:
            st.recv_window -= n
            st.unconsumed += n
            st.unreleased += n
            self.bytes_received += n
            self._events.append((EV_DATA, stream_id, payload, None))
        if flags & FLAG_BLOCKED:
            st.peer_blocked = True
        if flags & FLAG_FIN:
            st.remote_fin = True
            self._events.append((EV_FIN, stream_id, None, None))
            if st.local_fin:
                self._forget(stream_id)

    def _handle_window_update(self, flags: int, stream_id: int, payload: memoryview) -> None:
        if len(payload) != 4:
            raise ProtocolError(f"WINDOW_UPDATE with a payload of {len(payload)} bytes")
        if stream_id == 0:
            old = self._send_credit
            credit = old + _U32.unpack_from(payload)[0]
            if credit > MAX_WINDOW:
                raise ProtocolError(f"session window update overflows the window ({credit})")
            self._send_credit = credit
            if old <= 0 < credit:
                self._events.append((EV_WINDOW, 0, credit, None))
            return
        st = self._live_stream(stream_id, "WINDOW_UPDATE")
        if st is None:
            return
        if flags & FLAG_ACK and (stream_id & 1) == (self._next_id & 1):
            # The peer reached the service behind our stream (§4.3.1).
            self._events.append((EV_ACCEPT, stream_id, None, None))
        delta = _U32.unpack_from(payload)[0]
        old = st.send_window
        window = old + delta
        if window > MAX_WINDOW:
            raise ProtocolError(f"stream {stream_id}: window update overflows the window ({window})")
        st.send_window = window
        if old <= 0 < window and not st.local_fin:
            self._events.append((EV_WINDOW, stream_id, window, None))

    def _handle_open(self, stream_id: int, payload: memoryview) -> None:
        if stream_id == 0 or (stream_id & 1) == (self._next_id & 1):
            raise ProtocolError(f"OPEN with stream id {stream_id} of the wrong parity")
        if stream_id <= self._peer_max_id:
            raise ProtocolError(f"OPEN reuses stream id {stream_id}")
        if len(payload) < 4:
            raise ProtocolError("OPEN without a tunnel id")
        self._peer_max_id = stream_id
        if len(self._streams) >= self.max_streams:
            self._send_frame(FRAME_RESET, 0, stream_id, _U32.pack(RESET_LIMIT))
            return
        self._streams[stream_id] = Stream(stream_id, self.window)
        self._windows += self.window
        self.streams_opened += 1
        tunnel_id = _U32.unpack_from(payload)[0]
        self._events.append((EV_OPEN, stream_id, tunnel_id, bytes(payload[4:])))

    def _handle_reset(self, stream_id: int, payload: memoryview) -> None:
        if len(payload) != 4:
            raise ProtocolError(f"RESET with a payload of {len(payload)} bytes")
        st = self._live_stream(stream_id, "RESET")
        if st is None:
            return
        self._forget(stream_id)
        self._events.append((EV_RESET, stream_id, _U32.unpack_from(payload)[0], None))

    def _forget(self, stream_id: int) -> None:
        st = self._streams.pop(stream_id)
        self._windows -= st.window
        if st.unreleased:  # received, never handed over: the session gets it back
            self._credit_session(st.unreleased)

    def _credit_session(self, nbytes: int) -> None:
        credit = self._session_credit + nbytes
        if credit >= (self.session_window >> 2):
            self._recv_credit += credit
            self._session_credit = 0
            self._send_frame(FRAME_WINDOW_UPDATE, 0, 0, _U32.pack(credit))
        else:
            self._session_credit = credit

    def _handle_ping(self, flags: int, stream_id: int, payload: memoryview) -> None:
        if stream_id != 0 or len(payload) != 8:
            raise ProtocolError("malformed PING")
        if not flags & FLAG_ACK:
            self._send_frame(FRAME_PING, FLAG_ACK, 0, payload)

    def _handle_go_away(self, stream_id: int, payload: memoryview) -> None:
        if stream_id != 0 or len(payload) < 4:
            raise ProtocolError("malformed GO_AWAY")
        code = _U32.unpack_from(payload)[0]
        message = bytes(payload[4:]).decode("utf-8", "replace")
        self.go_away_received = True
        self._events.append((EV_GO_AWAY, 0, code, message or GO_AWAY_NAMES.get(code, f"code {code}")))

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------
    def _write(self, data: bytes | memoryview) -> None:
        n = len(data)
        out = self._out
        if out is None or len(out) - self._out_pos < n:
            self._seal()
            out = self._out = self._pool.acquire()
        pos = self._out_pos
        out[pos : pos + n] = data
        self._out_pos = pos + n

    def _send_frame(self, ftype: int, flags: int, stream_id: int, payload: bytes | memoryview) -> None:
        n = len(payload)
        if n > self.send_max_frame:
            raise ValueError(f"a frame of {n} bytes exceeds the largest the peer takes ({self.send_max_frame})")
        out = self._out
        if out is None or len(out) - self._out_pos < HEADER_SIZE + n:
            self._seal()
            out = self._out = self._pool.acquire()
        pos = self._out_pos
        pack_header(out, pos, ftype, flags, stream_id, n)
        pos += HEADER_SIZE
        if n:
            out[pos : pos + n] = payload
        self._out_pos = pos + n

    def _seal(self) -> None:
        # The current buffer is full: its bytes not handed out yet wait in
        # _sealed; a buffer handed out entirely goes back to the pool (which
        # reuses it only once no view of it is alive).
        out = self._out
        if out is not None:
            if self._out_pos > self._out_sent:
                self._sealed.append((out, self._out_sent, self._out_pos))
            else:
                self._pool.release(out)
            self._out = None
            self._out_pos = 0
            self._out_sent = 0

    def data_to_send(self) -> list:
        """Return the bytes to write to the tunnel connection, as views.

        Write each view, in order, and drop them.  The buffers behind them are
        reused only once nothing exports them any more.  Later frames go on
        into the same buffer, after the bytes handed out: a flush per loop
        iteration does not take a buffer of its own.
        """
        views = []
        sealed = self._sealed
        if sealed:
            pool = self._pool
            for buf, start, end in sealed:
                views.append(memoryview(buf)[start:end])
                pool.release(buf)  # the view exports it: not reused while it lives
            sealed.clear()
        out = self._out
        if out is not None and self._out_pos > self._out_sent:
            views.append(memoryview(out)[self._out_sent : self._out_pos])
            self._out_sent = self._out_pos
        return views

    def send_window(self, stream_id: int) -> int:
        """Bytes that may be sent on the stream now (0 when closed or unknown).

        When it is 0 while the stream is open, wait for ``EV_WINDOW`` on the
        stream, or on stream 0 when ``session_blocked()`` says the session
        window is what is used up.
        """
        st = self._streams.get(stream_id)
        if st is None or st.local_fin:
            return 0
        window = st.send_window
        return window if window < self._send_credit else self._send_credit

    def session_blocked(self) -> bool:
        """True when the session window (all streams) has no credit left."""
        return self._send_credit <= 0

    def reserve(self, stream_id: int) -> memoryview | None:
        """Return a view to read at most one frame of the stream's data into.

        Zero-copy sending: read into the view, then call ``commit(stream_id, n)``
        before anything else is sent.  Returns None when the stream cannot send
        (closed, reset, or no credit left: wait for ``EV_WINDOW``).
        """
        st = self._streams.get(stream_id)
        if st is None or st.local_fin:
            return None
        n = st.send_window
        if n > self._send_credit:
            n = self._send_credit
        if n <= 0:
            return None
        if n > self.send_max_frame:
            n = self.send_max_frame
        out = self._out
        room = len(out) - self._out_pos - HEADER_SIZE if out is not None else -1
        if room < n:
            if room >= MIN_RESERVE:  # a smaller frame rather than a new buffer
                n = room
            else:
                self._seal()
                out = self._out = self._pool.acquire()
        start = self._out_pos + HEADER_SIZE
        return memoryview(out)[start : start + n]

    def commit(self, stream_id: int, nbytes: int) -> None:
        """Send the *nbytes* read into the view of the last ``reserve()``."""
        st = self._streams[stream_id]
        pos = self._out_pos
        if self._out is None or not 0 <= nbytes <= len(self._out) - pos - HEADER_SIZE:
            raise ValueError(f"commit of {nbytes} bytes: more than the last reserve() gave")
        window = st.send_window - nbytes
        pack_header(self._out, pos, FRAME_DATA, FLAG_BLOCKED if window <= 0 else 0, stream_id, nbytes)
        self._out_pos = pos + HEADER_SIZE + nbytes
        st.send_window = window
        self._send_credit -= nbytes
        self.bytes_sent += nbytes

    def send_data(self, stream_id: int, data: bytes | memoryview) -> int:
        """Send as much of *data* as the stream's window allows; return that count."""
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            target = self.reserve(stream_id)
            if target is None:
                break
            n = min(len(target), len(view) - sent)
            target[:n] = view[sent : sent + n]
            del target
            self.commit(stream_id, n)
            sent += n
        return sent

    def accept_stream(self, stream_id: int) -> None:
        """Tell the peer that its stream reached our service (§4.3.1).

        Sent by the side that received OPEN once the connection to its local
        service is up; the opener counts the stream as pending until then.
        """
        if stream_id in self._streams:
            self._send_frame(FRAME_WINDOW_UPDATE, FLAG_ACK, stream_id, _U32.pack(0))

    def send_fin(self, stream_id: int) -> None:
        """Close the sending half of the stream (the local side reached EOF)."""
        st = self._streams.get(stream_id)
        if st is None or st.local_fin:
            return
        st.local_fin = True
        self._send_frame(FRAME_DATA, FLAG_FIN, stream_id, b"")
        if st.remote_fin:
            self._forget(stream_id)

    def send_reset(self, stream_id: int, code: int) -> None:
        """Abort the stream both ways with reset *code* (``RESET_*``)."""
        if stream_id in self._streams:
            self._forget(stream_id)
            self._send_frame(FRAME_RESET, 0, stream_id, _U32.pack(code))

    def consumed(self, stream_id: int, nbytes: int) -> None:
        """Tell the session that *nbytes* of received data left our buffers.

        Credit goes back to the peer in batches of half a window, with the
        window's growth when the peer was blocked by it (§4.2.1).
        """
        st = self._streams.get(stream_id)
        if st is None:  # forgotten: its bytes were credited then
            return
        if nbytes > st.unconsumed:
            nbytes = st.unconsumed
        unconsumed = st.unconsumed - nbytes
        st.unconsumed = unconsumed
        if st.unreleased > unconsumed:
            self._credit_session(st.unreleased - unconsumed)
            st.unreleased = unconsumed
        if st.remote_fin:
            return
        credit = st.credit + nbytes
        if self._windows > self.receive_budget and st.window > MIN_WINDOW:
            # Over budget: keep part of the credit, shrinking the window
            # towards this stream's fair share (§4.2.2).
            fair = self.receive_budget // len(self._streams)
            if fair < MIN_WINDOW:
                fair = MIN_WINDOW
            shrink = st.window - fair
            if shrink > credit:
                shrink = credit
            if shrink > self._windows - self.receive_budget:
                shrink = self._windows - self.receive_budget
            if shrink > 0:
                st.window -= shrink
                self._windows -= shrink
                credit -= shrink
        if credit >= (st.window >> 1) or (st.peer_blocked and unconsumed <= 0 < credit):
            # (A blocked peer waits for this credit: once every received byte
            # is delivered it goes back at once, with the growth.)
            if st.peer_blocked and unconsumed <= 0:
                st.peer_blocked = False
                grow = st.window
                if grow > self.max_window - st.window:
                    grow = self.max_window - st.window
                if grow > self.receive_budget - self._windows:
                    grow = self.receive_budget - self._windows
                if grow > 0:
                    st.window += grow
                    self._windows += grow
                    credit += grow
            st.recv_window += credit
            st.credit = 0
            self._send_frame(FRAME_WINDOW_UPDATE, 0, stream_id, _U32.pack(credit))
        else:
            st.credit = credit

    def released(self, stream_id: int, nbytes: int) -> None:
        """Tell the session that *nbytes* of received data went to the socket's
        buffer but have not left it (the socket is above its high-water mark).

        The session window gets them back now; the stream window only with
        ``consumed()``, once they leave.
        """
        st = self._streams.get(stream_id)
        if st is None:
            return
        if nbytes > st.unreleased:
            nbytes = st.unreleased
        if nbytes > 0:
            st.unreleased -= nbytes
            self._credit_session(nbytes)

    def open_stream(self, tunnel_id: int, info: bytes = b"") -> int:
        """Open a stream for *tunnel_id* and return its id.

        Returns 0 when ``max_streams`` streams are already open (refuse the
        connection that wanted it).
        """
        if 4 + len(info) > self.send_max_frame:
            raise ValueError(f"OPEN info of {len(info)} bytes exceeds the largest frame the peer takes")
        if len(self._streams) >= self.max_streams:
            return 0
        stream_id = self._next_id
        self._next_id += 2
        self._streams[stream_id] = Stream(stream_id, self.window)
        self._windows += self.window
        self.streams_opened += 1
        self._send_frame(FRAME_OPEN, 0, stream_id, _U32.pack(tunnel_id) + info)
        return stream_id

    def send_control(self, payload: bytes) -> None:
        """Send a CONTROL message (§4.7)."""
        self._send_frame(FRAME_CONTROL, 0, 0, payload)

    def send_go_away(self, code: int, message: str = "") -> None:
        """Tell the peer that this session ends, and why (§4.6)."""
        if not self.go_away_sent:
            self.go_away_sent = True
            self._send_frame(FRAME_GO_AWAY, 0, 0, _U32.pack(code) + message.encode()[:1024])

    # ------------------------------------------------------------------
    # Time
    # ------------------------------------------------------------------
    def set_keepalive(self, interval: float, timeout: float, now: float) -> None:
        """Adopt the heartbeat *interval* and *timeout* the server announced.

        Then re-arm the timer at ``get_timer()``.
        """
        self.ping_interval = interval
        self.ping_timeout = timeout
        self._next_ping = now + interval

    def get_timer(self) -> float:
        """Return when ``handle_timer`` must be called next."""
        deadline = self._last_alive + self.ping_timeout
        return self._next_ping if self._next_ping < deadline else deadline

    def handle_timer(self, now: float) -> None:
        """Send a PING when due, and report ``EV_TIMEOUT`` on silence.

        Then write ``data_to_send()`` and handle ``events_received()``.
        """
        frames = self._decoder.frames_received
        if frames != self._last_frames:
            self._last_frames = frames
            self._last_alive = now
        elif now - self._last_alive >= self.ping_timeout and not self.timed_out:
            self.timed_out = True
            self._events.append((EV_TIMEOUT, 0, now - self._last_alive, None))
        if now >= self._next_ping:
            self._ping_seq += 1
            self._send_frame(FRAME_PING, 0, 0, _U64.pack(self._ping_seq))
            self._next_ping = now + self.ping_interval

    # ------------------------------------------------------------------
    # Introspection
    # ------------------------------------------------------------------
    @property
    def stream_count(self) -> int:
        """Number of streams open."""
        return len(self._streams)

    def stream_ids(self) -> list:
        """Ids of the open streams."""
        return list(self._streams)
