"""``SessionProtocol``: the asyncio adapter of one tunnel connection.

It feeds the sans-I/O ``Session`` (``get_buffer``/``buffer_updated`` go
straight to the session's frame decoder), dispatches the session's events to
the ``StreamProtocol`` of each stream (``_stream.dispatch``), writes ``data_to_send()`` once per
loop iteration (coalescing the frames of every stream), and runs the
session's timer.  The server and the client subclass it for the CONTROL
messages (docs/spec.md §4.7) and for what OPEN means on their side.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Protocol

from .._core import Session
from .._core.consts import (
    DEFAULT_MAX_FRAME,
    GO_AWAY_HEARTBEAT_TIMEOUT,
    GO_AWAY_INTERNAL_ERROR,
    GO_AWAY_NAMES,
    RESET_PROTOCOL_ERROR,
)
from ..exceptions import ProtocolError
from .relay import dispatch_for, stream_protocol_for

__all__ = ["SessionProtocol", "StreamEnd", "Traffic", "dumps", "loads", "format_size", "format_address"]

log = logging.getLogger("fasttun")

try:
    import orjson

    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

    loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is optional
    import json

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    loads = json.loads

# Pause the streams feeding the tunnel connection above this many buffered bytes.
TUNNEL_HIGH_WATER = 1 << 20
# Seconds a closing tunnel connection may take to say goodbye before it is aborted.
CLOSE_GRACE = 2.0


class Traffic:
    """What one tunnel carried, counted by its streams on this side.

    ``received``: bytes read from this side's sockets into the tunnel (on the
    server: from visitors; on the client: from the local service).
    ``delivered``: bytes the tunnel wrote to this side's sockets.  ``open``
    and ``total``: connections now, and ever.
    """

    __slots__ = ("received", "delivered", "open", "total")

    def __init__(self) -> None:
        self.received = 0
        self.delivered = 0
        self.open = 0
        self.total = 0


class StreamEnd(Protocol):
    """What a session's stream is bound to on this side: the protocol of a
    public connection, or of a connection to a local service
    (``relay.StreamProtocol``, or a front's, such as the HTTP visitor's).
    ``SessionProtocol`` hands it the stream's events."""

    stream_id: int
    pending_in: Any  # server: the tunnel counting this stream as pending
    traffic: Traffic | None  # the tunnel's counters, once the stream is open

    def deliver_many(self, payloads: list) -> None:
        """DATA payloads of the stream (memoryviews valid during the call)."""

    def deliver_fin(self) -> None:
        """The peer closed its half of the stream."""

    def deliver_reset(self, code: int = -1) -> None:
        """The stream was reset (*code*, docs/spec.md §8), or the session lost (-1)."""

    def settle(self) -> None:
        """Server: the stream is no longer pending (accepted, or gone)."""

    def window_opened(self) -> None:
        """Send credit is back (on the stream, or on the session)."""

    def owner_resumed(self) -> None:
        """The tunnel connection drained its write buffer."""


class SessionProtocol(asyncio.BufferedProtocol):
    """Adapter between one tunnel connection and its ``Session``."""

    def __init__(self, *, client: bool, ping_interval: float, ping_timeout: float,
                 max_streams: int = 65536, max_frame: int = DEFAULT_MAX_FRAME, buffer_size: int = 262144) -> None:
        self.loop = asyncio.get_running_loop()
        self.session = Session(client, max_frame=max_frame, max_streams=max_streams,
                               ping_interval=ping_interval, ping_timeout=ping_timeout, now=self.loop.time(),
                               buffer_size=buffer_size)
        # The streams' protocol class and the event dispatch, both of the
        # session's kind: compiled for the compiled session (relay.py).
        self.stream_protocol: Any = stream_protocol_for(self.session)
        self._dispatch: Callable[[SessionProtocol, list], bool] = dispatch_for(self.session)
        self.streams: dict[int, StreamEnd] = {}
        self.paused_streams: set[StreamEnd] = set()  # waiting for the tunnel to drain
        self.session_blocked: set[StreamEnd] = set()  # waiting for session credit
        self.transport: asyncio.Transport | None = None
        self.write_paused = False
        self.closed = asyncio.get_running_loop().create_future()
        self.peer = "?"
        self.close_reason = ""
        self.started = time.monotonic()
        # The flush scheduled for this turn, or None: a caller on a hot path
        # (the HTTP visitor) looks before calling schedule_flush().
        self.flush_handle: asyncio.Handle | None = None
        self._before_flush: list[Callable[[], None]] = []  # see before_flush()
        self._timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None

    # -- asyncio protocol -----------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(high=TUNNEL_HIGH_WATER)  # type: ignore[attr-defined]
        self.peer = format_address(transport.get_extra_info("peername")) or self.peer
        self._arm_timer()
        self.flush()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.session.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        try:
            self.session.buffer_updated(nbytes)
        except ProtocolError as exc:
            self.fail(exc.code, str(exc))
            return
        self.dispatch()
        self.flush()

    def eof_received(self) -> bool:
        if not self.close_reason:
            self.close_reason = "the peer closed the connection"
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.close_reason:
            self.close_reason = f"connection lost ({exc})" if exc else "connection closed"
        if self._timer is not None:
            self._timer.cancel()
        if self._close_timer is not None:  # it would keep this session (and its buffers) alive
            self._close_timer.cancel()
            self._close_timer = None
        if self.flush_handle is not None:
            self.flush_handle.cancel()
            self.flush_handle = None
        streams = list(self.streams.values())
        self.streams.clear()
        for st in streams:
            st.deliver_reset()
        self.paused_streams.clear()
        self.session_blocked.clear()
        self.session_closed()
        if not self.closed.done():
            self.closed.set_result(self.close_reason)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        paused, self.paused_streams = self.paused_streams, set()
        for st in paused:
            st.owner_resumed()

    # -- session events -------------------------------------------------------
    def dispatch(self) -> None:
        """Hand the session's events to the streams and to the handlers
        below (``_stream.dispatch``, compiled for a compiled session)."""
        self._dispatch(self, self.session.events_received())

    def control_received(self, payload: bytes) -> bool:
        """A CONTROL payload arrived: parse it for ``on_control``.  False when
        it is malformed (the session fails)."""
        try:
            msg = loads(payload)
            if not isinstance(msg, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            self.fail(ProtocolError.code, f"malformed CONTROL message: {exc}")
            return False
        self.on_control(msg)
        return True

    def on_open(self, stream_id: int, tunnel_id: int, info: bytes) -> None:
        """The peer opened a stream (client side overrides)."""
        self.session.send_reset(stream_id, RESET_PROTOCOL_ERROR)

    def on_control(self, msg: dict) -> None:
        """A CONTROL message arrived (subclasses override)."""

    def on_go_away(self, code: int, message: str) -> None:
        """The peer ends the session."""
        self.close_reason = f"peer went away: {message}"
        self.close()

    def session_closed(self) -> None:
        """The connection is gone (subclasses release what they hold)."""

    def accept_public(self, st: Any) -> bool:
        """A public connection arrived on a port (server side overrides)."""
        return False

    # -- writing --------------------------------------------------------------
    def schedule_flush(self) -> None:
        if self.flush_handle is None:
            self.flush_handle = self.loop.call_soon(self.flush)

    def before_flush(self, callback: Callable[[], None]) -> None:
        """Call *callback* at the start of the next flush, once: what it sends
        (a front's messages, such as the HTTP front's request records) goes
        out in the same write as the frames already waiting.  The flush is
        scheduled, if it is not already coming."""
        if callback not in self._before_flush:
            self._before_flush.append(callback)
        self.schedule_flush()

    def flush(self) -> None:
        if self._before_flush:
            callbacks, self._before_flush = self._before_flush, []
            for callback in callbacks:
                callback()  # (a flush it schedules is this one)
        handle = self.flush_handle
        if handle is not None:  # this flush is the one it was for (or it is running it)
            self.flush_handle = None
            handle.cancel()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        for view in self.session.data_to_send():
            transport.write(view)

    def send_control(self, msg: dict) -> None:
        self.session.send_control(dumps(msg))
        self.flush()

    def fail(self, code: int, reason: str) -> None:
        """End the session: log *reason*, send GO_AWAY, close."""
        if self.close_reason and self.transport is not None and self.transport.is_closing():
            return
        self.close_reason = reason
        log.warning("session %s closed: %s", self.peer, reason)
        self.close(code, reason)

    def close(self, code: int | None = None, reason: str = "") -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if code is not None:
            self.session.send_go_away(code, reason or GO_AWAY_NAMES.get(code, ""))
        self.flush()
        transport = self.transport
        if code == GO_AWAY_HEARTBEAT_TIMEOUT:
            transport.abort()  # the peer is silent: a TLS goodbye would wait for it forever
            return
        transport.close()
        # close() flushes and, over TLS, waits for the peer's close_notify; a
        # peer that never answers must not keep the session (and its ports).
        self._close_timer = self.loop.call_later(CLOSE_GRACE, self._abort_if_open, transport)

    def _abort_if_open(self, transport: asyncio.Transport) -> None:
        if not self.closed.done():
            transport.abort()

    # -- time -------------------------------------------------------------------
    def rearm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._arm_timer()

    def _arm_timer(self) -> None:
        self._timer = self.loop.call_at(self.session.get_timer(), self._on_timer)

    def _on_timer(self) -> None:
        try:
            self.session.handle_timer(self.loop.time())
            self.dispatch()
            self.flush()
        except Exception as exc:  # pragma: no cover - a bug; keep the loop alive
            log.exception("timer failed")
            self.fail(GO_AWAY_INTERNAL_ERROR, f"internal error: {exc}")
            return
        if self.transport is not None and not self.transport.is_closing():
            self._arm_timer()


def format_address(addr: object) -> str:
    """A socket address as ``host:port`` (``[v6]:port``); "" when unknown."""
    if not isinstance(addr, tuple) or len(addr) < 2:
        return ""
    host = str(addr[0])
    return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"


def format_size(n: int) -> str:
    """Bytes for a human: 512 B, 1.5 KiB, 3.2 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover
