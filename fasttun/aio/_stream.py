# cython: annotation_typing=False, nonecheck=True
"""The per-event path of the TCP adapters: a stream's copy loop, and the
dispatch of a session's events to its streams.

This module is written once in Python (the twin) and compiled as
``_stream_c`` with the augmenting declarations of ``_stream_c.pxd`` (typed
attributes, C calls into the compiled ``mux_c.Session``), as
``http/visitor_py.py`` is.  ``relay.StreamProtocol`` is ``StreamCore`` made
an asyncio protocol, and ``protocol.SessionProtocol`` runs ``dispatch``
after each read.  A session protocol takes the compiled pair when its
session is the compiled one (``relay.stream_protocol_for``) and the twins
otherwise: the compiled stream calls the session's methods as C calls.  It
must stay plain Python: no asyncio base class here, no annotations that
Cython would read as types (``annotation_typing`` is off).

``StreamCore`` is the copy loop between one TCP connection and one mux
stream: the protocol of a public connection (server side) or of a
connection to the local service (client side).  Bytes read from the socket
land directly in the session's outgoing frame buffer
(``Session.reserve``/``commit``: no copy in Python); bytes of the stream's
DATA frames are written to the socket as memoryview slices of the receive
buffer.

Backpressure, both ways (docs/spec.md §4.2):

* reading stops while the stream has no send credit, or while the tunnel
  connection's write buffer is above its high-water mark;
* credit goes back to the peer only for bytes the socket's transport took
  below its own high-water mark; above it, they are withheld until
  ``resume_writing``.  A stalled reader thus holds at most one window plus
  one transport buffer.
"""

from __future__ import annotations

import socket
import struct
from typing import TYPE_CHECKING, Any

from .._core.consts import (
    EV_ACCEPT,
    EV_CONTROL,
    EV_DATA,
    EV_FIN,
    EV_GO_AWAY,
    EV_OPEN,
    EV_RESET,
    EV_TIMEOUT,
    EV_WINDOW,
    GO_AWAY_HEARTBEAT_TIMEOUT,
    RESET_CANCEL,
)

if TYPE_CHECKING:
    import asyncio

    from .protocol import SessionProtocol, Traffic
    from .server import Tunnel

__all__ = ["StreamCore", "dispatch", "abort_with_rst", "write_payloads", "LEND_MIN", "SCRATCH_SIZE",
           "WRITE_HIGH_WATER"]

_LINGER_RST = struct.pack("ii", 1, 0)
# Local transports pause us above this; credit is withheld meanwhile.
WRITE_HIGH_WATER = 262144
# Bytes read without credit, held per stream until credit returns.
SCRATCH_SIZE = 1024
# Payloads smaller than this are copied rather than lent: a lent memoryview
# pins the whole receive buffer (512 KiB) until the socket sends it.
LEND_MIN = 4096


def abort_with_rst(transport: asyncio.BaseTransport) -> None:
    """Close *transport* at once, with a TCP RST rather than a FIN."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        except OSError:
            pass
    transport.abort()  # type: ignore[attr-defined]


def write_payloads(transport: asyncio.WriteTransport, payloads: list[Any], size: int, shared: bool) -> None:
    """Write *payloads* (views of receive buffers, *size* bytes in all) in one call.

    They are lent to the transport, not copied, except when small, or when
    the socket has a backlog and *shared* (the receive buffers also hold
    other streams' bytes): a socket with a backlog keeps what it is given for
    a while, and a lent view pins its whole buffer.  (A session's only
    stream has the receive buffers to itself: what it pins is its own
    backlog, plus one partly used buffer.)
    """
    if size < LEND_MIN or (shared and transport.get_write_buffer_size()):
        transport.write(b"".join(payloads))
    elif len(payloads) == 1:
        transport.write(payloads[0])  # lent, not copied
    else:
        transport.writelines(payloads)  # one writev on uvloop


# -- the session's events -------------------------------------------------------------
def dispatch(proto: SessionProtocol, events: list[Any]) -> bool:
    """Hand *events* (``Session.events_received()``) to the streams of
    *proto* (a ``SessionProtocol``) and to its handlers.  Returns False when
    the session failed on the way (it is closing: stop)."""
    streams = proto.streams
    # Consecutive DATA payloads of one stream go out in one writelines()
    # call (one writev on uvloop) instead of one send per frame.
    run_id = 0
    run: list[Any] = []
    for ev in events:
        kind = ev[0]
        stream_id = ev[1]
        if kind == EV_DATA:
            if stream_id != run_id:
                if run:
                    _deliver_run(proto, streams, run_id, run)
                    run = []
                run_id = stream_id
            run.append(ev[2])
            continue
        if run:
            _deliver_run(proto, streams, run_id, run)
            run = []
            run_id = 0
        if kind == EV_WINDOW:
            if stream_id == 0:  # session credit is back: wake every waiting stream
                blocked = proto.session_blocked
                proto.session_blocked = set()
                for waiting in blocked:
                    waiting.window_opened()
                continue
            st = streams.get(stream_id)
            if st is not None:
                st.window_opened()
        elif kind == EV_FIN:
            st = streams.get(stream_id)
            if st is not None:
                st.deliver_fin()
        elif kind == EV_RESET:
            st = streams.get(stream_id)
            if st is not None:
                st.deliver_reset(ev[2])
        elif kind == EV_ACCEPT:
            st = streams.get(stream_id)
            if st is not None:
                st.settle()
        elif kind == EV_OPEN:
            proto.on_open(stream_id, ev[2], ev[3])
        elif kind == EV_CONTROL:
            if not proto.control_received(ev[2]):
                return False
        elif kind == EV_GO_AWAY:
            proto.on_go_away(ev[2], ev[3])
        elif kind == EV_TIMEOUT:
            proto.fail(GO_AWAY_HEARTBEAT_TIMEOUT, f"no heartbeat from {proto.peer} for {ev[2]:.1f} s")
            return False
    if run:
        _deliver_run(proto, streams, run_id, run)
    return True


def _deliver_run(proto: SessionProtocol, streams: dict[int, Any], stream_id: int, payloads: list[Any]) -> None:
    st = streams.get(stream_id)
    if st is not None:
        st.deliver_many(payloads)
    else:  # its socket is gone; the reset is on its way
        n = 0
        for p in payloads:
            n += len(p)
        proto.session.consumed(stream_id, n)


class StreamCore:
    """One TCP connection bound to one stream of a ``SessionProtocol``."""

    def __init__(self, owner: SessionProtocol, stream_id: int = 0, tunnel_id: int = 0) -> None:
        self.owner = owner
        self.session = owner.session
        self.stream_id = stream_id
        self.tunnel_id = tunnel_id
        self.transport: Any = None  # asyncio.Transport, once connected
        self._reading = True
        self._write_paused = False
        self._withheld = 0  # received bytes not yet credited back
        self._pending: list[bytes] | None = None  # data before connection_made (client side), or read without credit
        self._eof_in = False  # the socket said EOF
        self._eof_out = False  # we wrote EOF to the socket
        self._closed = False
        self._scratch: memoryview | None = None
        self._into_scratch = False
        self.pending_in: Tunnel | None = None  # server: the tunnel counting this stream as pending
        self.prefix: bytes | None = None  # client: written to the local service first (a PROXY header)
        self.traffic: Traffic | None = None  # the tunnel's counters (counted as open while set)
        self.held = False  # server: a hook decides whether it gets a stream; nothing is sent meanwhile
        self._fin_waiting = False  # EOF came while bytes (or the stream) waited: FIN once they are sent

    # -- asyncio side -------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if self._closed:  # client side: the stream was reset while we dialled
            self.traffic = None
            abort_with_rst(transport)
            return
        # (asyncio and uvloop set TCP_NODELAY on TCP transports themselves.)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)  # type: ignore[attr-defined]
        owner = self.owner
        if not self.stream_id:  # server: a public connection opens a stream
            if not owner.accept_public(self):
                self._closed = True
                abort_with_rst(transport)
                return
        else:  # client: the local service is reached; tell the server (§4.3.1)
            traffic = self.traffic
            if traffic is not None:
                traffic.open += 1
                traffic.total += 1
            if self.prefix:
                transport.write(self.prefix)  # type: ignore[attr-defined]
            owner.streams[self.stream_id] = self
            self.session.accept_stream(self.stream_id)
            owner.schedule_flush()
        pending = self._pending
        self._pending = None
        if pending:
            for chunk in pending:
                self.deliver_many([chunk])
            owner.schedule_flush()  # the credit for them
        if self._eof_out:
            self._eof_out = False
            self.deliver_fin()
        # When reading must stop at once (a hook decides, the tunnel's buffer
        # is full, no credit): not now, uvloop starts reading after
        # connection_made returns, which would undo a pause_reading() made
        # here.  Otherwise there is nothing to check (reading is on).
        if not self._closed and (self.held or owner.write_paused or self.session.send_window(self.stream_id) <= 0):
            owner.loop.call_soon(self._check_window)

    def get_buffer(self, sizehint: int) -> memoryview:
        view = self.session.reserve(self.stream_id)
        if view is None:
            # No credit (or the stream is gone): read into a scratch buffer,
            # stop reading, and keep what arrived for when credit returns.
            if self._scratch is None:
                # Small: it only has to notice that credit ran out; what it
                # reads is held until credit returns.
                self._scratch = memoryview(bytearray(SCRATCH_SIZE))
            self._into_scratch = True
            return self._scratch
        self._into_scratch = False
        return view

    def buffer_updated(self, nbytes: int) -> None:
        session = self.session
        traffic = self.traffic
        if self._into_scratch:
            self._into_scratch = False
            self._hold(bytes(self._scratch[:nbytes]))  # type: ignore[index]
            if traffic is not None:
                traffic.received += nbytes
            return
        session.commit(self.stream_id, nbytes)
        if traffic is not None:
            traffic.received += nbytes
        owner = self.owner
        if owner.flush_handle is None:  # (schedule_flush checks too: this saves its call per read)
            owner.schedule_flush()
        if session.send_window(self.stream_id) <= 0:
            self._wait_credit()
        elif owner.write_paused:
            self._pause()
            owner.paused_streams.add(self)

    def _hold(self, data: bytes) -> None:
        # Rare path: bytes read while no credit was left.
        if self._pending is None:
            self._pending = []
        self._pending.append(data)
        self._wait_credit()

    def _wait_credit(self) -> None:
        # Stop reading until EV_WINDOW: on this stream, or on stream 0 when
        # the session window is what ran out.
        self._pause()
        if self.session.session_blocked():
            self.owner.session_blocked.add(self)

    def eof_received(self) -> bool:
        self._eof_in = True
        if self._pending or self.held:  # held bytes go first; FIN follows them
            self._fin_waiting = True
            return True
        self.session.send_fin(self.stream_id)
        self.owner.schedule_flush()
        if self._eof_out:
            self._close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.settle()
        traffic = self.traffic
        if traffic is not None:
            self.traffic = None
            traffic.open -= 1
        owner = self.owner
        if owner.streams.get(self.stream_id) is self:
            del owner.streams[self.stream_id]
            if not (self._eof_in and self._eof_out):
                self.session.send_reset(self.stream_id, RESET_CANCEL)
                owner.schedule_flush()
        owner.paused_streams.discard(self)
        owner.session_blocked.discard(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._withheld:
            n = self._withheld
            self._withheld = 0
            self.session.consumed(self.stream_id, n)
            self.owner.schedule_flush()

    # -- session side ---------------------------------------------------------
    def deliver_many(self, payloads: list[Any]) -> None:
        """Write DATA payloads of the stream to the socket, in one call."""
        transport = self.transport
        if transport is None:  # client side, still dialling: keep copies
            if self._pending is None:
                self._pending = []
            for p in payloads:
                self._pending.append(bytes(p))
            return
        if self._closed:
            return
        n = 0
        for p in payloads:
            n += len(p)
        session = self.session
        write_payloads(transport, payloads, n, session.stream_count > 1)
        traffic = self.traffic
        if traffic is not None:
            traffic.delivered += n
        if self._write_paused:  # set by write() itself above the high-water mark
            self._withheld += n
            session.released(self.stream_id, n)
        else:
            session.consumed(self.stream_id, n)

    def deliver_fin(self) -> None:
        """The peer closed its half: send EOF on the socket after the data."""
        transport = self.transport
        if transport is None:
            self._eof_out = True
            return
        if self._closed:
            return
        self._eof_out = True
        if transport.can_write_eof():
            transport.write_eof()
        if self._eof_in:
            self._close()

    def settle(self) -> None:
        """Server: the stream is no longer pending (accepted, or gone)."""
        tunnel = self.pending_in
        if tunnel is not None:
            self.pending_in = None
            tunnel.pending -= 1

    def deliver_reset(self, code: int = -1) -> None:
        """The peer aborted the stream: abort the socket."""
        self.settle()
        self.owner.streams.pop(self.stream_id, None)
        self._closed = True
        if self.transport is not None:
            abort_with_rst(self.transport)

    def window_opened(self) -> None:
        """Send credit is back: send held bytes, resume reading."""
        pending = self._pending
        if pending and self.transport is not None:
            data = b"".join(pending)
            sent = self.session.send_data(self.stream_id, data)
            self._pending = [data[sent:]] if sent < len(data) else None
            self.owner.schedule_flush()
            if self._pending is not None:
                self._wait_credit()
                return
        if self._fin_waiting and self.transport is not None and not self._closed and self.stream_id:
            self._fin_waiting = False
            self.eof_received()
            return
        self._check_window()

    def owner_resumed(self) -> None:
        """The tunnel connection drained: resume reading if credit allows."""
        self._check_window()

    def _check_window(self) -> None:
        if self.held:
            self._pause()
            return
        if self._closed or self.transport is None or self._pending:
            return
        owner = self.owner
        if self.session.send_window(self.stream_id) > 0 and not owner.write_paused:
            self._resume()
        elif owner.write_paused:
            self._pause()
            owner.paused_streams.add(self)
        else:
            self._wait_credit()

    def _pause(self) -> None:
        if self._reading and self.transport is not None and not self._closed:
            self._reading = False
            self.transport.pause_reading()

    def _resume(self) -> None:
        if not self._reading and self.transport is not None and not self._closed and not self._eof_in:
            self._reading = True
            self.transport.resume_reading()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self.owner.streams.pop(self.stream_id, None)
            if self.transport is not None:
                self.transport.close()
