# cython: annotation_typing=False, nonecheck=True
"""A visitor connection of the HTTP front: the per-request path.

This module is written once in Python (the twin, ``visitor_py``) and
compiled as ``visitor_c`` with the augmenting declarations of
``visitor_c.pxd`` (typed attributes, the module's constants as C ints, C
calls between the methods of the hot path and into the compiled head
scanner, body counter and session), as ``aiohttp``'s
``_websocket/reader_py.py`` is.  ``front`` uses the compiled one unless
``FASTTUN_NO_EXTENSIONS`` is set, and with it the compiled core: the
compiled visitor's session is a ``mux_c.Session``.  It must stay plain
Python: no asyncio base class here (``front.VisitorProtocol`` adds
``asyncio.BufferedProtocol``), no annotations that Cython would read as types
(``annotation_typing`` is off).  ``nonecheck`` is on: a typed attribute
that is None raises AttributeError rather than crashing the server.

Each visitor connection is a ``VisitorCore`` (``front.VisitorProtocol``): it
reads request heads, routes each by its ``Host`` (and the TLS SNI) to the
tunnel holding that name, and carries the connection over one stream of that
tunnel's session, as a TCP tunnel carries a public connection (docs/spec.md
§9 says what the server adds).  ``FrontCore`` is the part of ``HttpFront``
that every exchange calls: the logs and metrics of a completed request.

Rules and theory of operation
-----------------------------
A visitor connection is bound to one tunnel, chosen by its first request;
the stream is opened then (an unroutable request costs no stream).  A later
request on the same connection for a name of another tunnel gets 421
(Misdirected Request), after the answers to the requests before it, and the
connection closes: browsers then ask again on a new connection.

Request direction (visitor -> stream), ``rstate``:

* ``R_HEAD``: bytes are read into a shared scratch buffer and gathered in
  ``inbuf`` until a head is whole.  The head is parsed with h11
  (``_heads.read_request``), checked (name, basic auth, rate limit), and the
  head the local service receives (``forward_head``: ``X-Forwarded-*``,
  ``Forwarded``, the tunnel's header options) is sent on the stream.
* ``R_BODY``: the body's framing goes to the compiled ``BodyCounter``.  With
  nothing gathered, bytes are read straight into the session's frame buffer
  (``Session.reserve``/``commit``, no copy), at most the rest of a
  Content-Length body; bytes after a chunked body's end start the next head.
* ``R_UPGRADE``: a request asked to switch protocols; reading stops until its
  answer.  A 101 makes both directions ``R_RAW``/``S_RAW``: plain bytes, as
  a TCP tunnel; any other answer goes back to ``R_HEAD``.
* ``R_DONE``: nothing more is read (``Connection: close``, a refusal waiting
  for earlier answers, the visitor's EOF).

Response direction (stream -> visitor), ``sstate``: ``S_HEAD`` gathers the
local service's response head (held back until whole, so that a missing or
malformed head can still become a 502/504 page), ``S_BODY`` passes the body
through as views of the receive buffer while the counter finds its end,
``S_RAW`` passes everything (after 101, or a body that ends at close).
Each completed exchange is logged (access log, and a ``request`` CONTROL
message to the client for its console).

Bounded work per visitor: a head is at most ``MAX_HEAD`` bytes (431), at
most ``MAX_PIPELINE`` requests wait for answers (reading pauses), a head
must arrive within ``--http-timeout`` of the connection going idle (408, or
a silent close when nothing was sent), and the local service must start its
answer within it (504).  A sweep every second (or a quarter of the timeout)
enforces the timeouts, so a request costs no timer of its own.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import TYPE_CHECKING, Any

from .._core.consts import RESET_CANCEL, RESET_REFUSED
from .._core.httpbody import BODY_LENGTH, BODY_UNTIL_CLOSE, BodyCounter, MalformedBody
from .._core.httphead import scan_response_in
from ..aio.protocol import dumps, format_address
from ..aio.relay import LEND_MIN, WRITE_HIGH_WATER, abort_with_rst, write_payloads
from ._pages import page
from .console import request_line
from .heads import (
    HeadError,
    RequestHead,
    find_head_end,
    forward,
    forward_drop,
    head_end_from,
    read_request,
    read_response,
    response_framing,
)

if TYPE_CHECKING:
    import asyncio

    from ..aio.protocol import Traffic
    from ..aio.server import ClientSession, Tunnel

__all__ = ["VisitorCore", "FrontCore", "Exchange", "LineBatch", "HttpRoute", "new_exchange", "record_messages",
           "line_messages", "LOG_OFF", "LOG_RECORDS", "LOG_LINES", "LINES_DELAY", "MAX_HEAD",
           "MAX_PIPELINE", "SCRATCH_SIZE", "RECORDS_MESSAGE_MAX", "LINGER", "DURATION_BUCKETS"]

log = logging.getLogger("fasttun")

MAX_HEAD = 32768  # largest request or response head
MAX_PIPELINE = 32  # requests forwarded and not yet answered, per visitor connection
SCRATCH_SIZE = 65536  # the shared read buffer of the copy path
# After one of fasttun's pages, the connection is half-closed and what the
# visitor still sends is read and dropped for up to this long before the
# close: closing a socket with unread input sends a RST, which can destroy
# the page before the visitor reads it (nginx's lingering close).
LINGER = 2.0
# Upper bounds (s) of the buckets of the request-duration histogram (/metrics).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
N_BUCKETS = len(DURATION_BUCKETS)

# What a tunnel's client is sent of each exchange (a bind's `log`, docs/spec.md §9.2).
LOG_OFF = 0
LOG_RECORDS = 1  # `requests` messages: a record per request
LOG_LINES = 2  # `request_lines` messages: the console's line per request
# Lines are sent at most this long (s) after their request ends, all the
# lines of that time together: a message per 0.05 s, not one per turn of
# the loop (docs/spec.md §9.2), or sooner once they fill a message
# (LINES_MESSAGE_TEXT).  The console writes them every 0.1 s.
LINES_DELAY = 0.05

R_HEAD, R_BODY, R_UPGRADE, R_RAW, R_DONE, R_HOLD = range(6)  # R_HOLD: the connect hook decides
# The front's clock (uvloop's loop.time() moves in whole milliseconds, too
# coarse for the duration of a request).
_now = time.monotonic
S_HEAD, S_BODY, S_RAW, S_DONE = range(4)


class HttpRoute:
    """An HTTP tunnel as the front knows it: its name and options."""

    __slots__ = ("tunnel", "name", "auth", "host_header", "set_headers", "limiter", "log", "urls", "drop")

    def __init__(self, tunnel: Tunnel, name: Any, *, auth: bytes | None, host_header: bytes | None,
                 set_headers: tuple, limiter: Any, log_requests: int, urls: list[str]) -> None:
        self.tunnel: Tunnel | None = tunnel  # None once unbound
        self.name = name
        self.auth = auth  # the expected Authorization value (Basic ...), or None
        self.host_header = host_header
        self.set_headers = set_headers  # ((name, value), ...) as bytes; an empty value removes
        self.limiter = limiter
        self.log = log_requests  # LOG_*: what the client is sent of each exchange
        self.urls = urls
        self.drop = forward_drop(set_headers=set_headers, drop_authorization=auth is not None)


class LineBatch:
    """The console lines gathered for one client (``VisitorCore._log``):
    ``items`` is ``[tunnel id, line, tunnel id, line, ...]``, ``size`` the
    characters of the lines."""

    __slots__ = ("items", "size")

    def __init__(self) -> None:
        self.items: list = []
        self.size = 0


class Exchange:
    """One request and its answer, for the logs (made by ``new_exchange``)."""

    __slots__ = ("method", "path", "host", "route", "started", "sent_at", "bytes_in", "bytes_out", "status",
                 "keep_alive", "upgrade", "answered")


def new_exchange(req: RequestHead, route: HttpRoute | None, now: float) -> Exchange:
    ex = Exchange.__new__(Exchange)
    ex.method = req.method
    ex.path = req.target
    ex.host = req.host
    ex.route = route
    ex.started = now
    ex.sent_at = now
    ex.bytes_in = req.size
    ex.bytes_out = 0
    ex.status = 0
    ex.keep_alive = req.keep_alive
    ex.upgrade = req.upgrade
    ex.answered = False  # the response head came
    return ex


class VisitorCore:
    """One visitor connection on the HTTP or HTTPS port (see the module docstring)."""

    def __init__(self, front: Any, scheme: str) -> None:
        self.front = front
        self.scheme = scheme
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.peer_ip = ""
        self.local = ""
        self.sni: str | None = None
        # The stream, once the first request is routed.
        self.owner: ClientSession | None = None
        self.session: Any = None
        self.stream_id = 0
        self.route: HttpRoute | None = None
        self.pending_in: Tunnel | None = None
        self.traffic: Traffic | None = None  # the tunnel's counters, once the stream is open
        # Request direction.
        self.rstate = R_HEAD
        self.inbuf = bytearray()
        self._searched = 0  # inbuf was searched for a head end up to here
        self.unsent = b""  # bytes for the stream waiting for credit
        self.body = BodyCounter()
        self._view: memoryview | None = None  # the reserve() view of the last get_buffer
        self._reading = True
        self._eof_in = False
        self.idle_since = _now()  # waiting for a head since
        self.refusal: bytes | None = None  # a page to send once earlier answers are out
        self._tail: list = [None, b""]  # forward_head's cache: the fields we add after the visitor's
        # Response direction.
        self.sstate = S_HEAD
        self.exchanges: list[Exchange] = []  # (a list: the compiled twin pops and indexes it in C)
        self.rhead: bytearray | None = None
        self.rbody = BodyCounter()
        self._out: list = []  # answer bytes (views and copies) to write, in order
        self._write_paused = False
        self._withheld = 0
        self._closed = False
        self._fin_out = False  # we sent FIN on the stream
        self._linger_until = 0.0  # lingering close (see LINGER) until then
        self._hook_passed = False  # the connect hook allowed this connection

    # -- asyncio: the visitor's socket -------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)  # type: ignore[attr-defined]
        peer = transport.get_extra_info("peername")
        self.peer = format_address(peer)
        self.peer_ip = str(peer[0]) if peer else ""
        self.local = format_address(transport.get_extra_info("sockname"))
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.sni = getattr(ssl_object, "fasttun_sni", None)
        self.front.visitors.add(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        if (self.rstate == R_BODY or self.rstate == R_RAW) and not self.inbuf and not self.unsent:
            view = self.session.reserve(self.stream_id)
            if view is not None:
                body = self.body
                if self.rstate == R_BODY and body.mode == BODY_LENGTH and body.remaining < len(view):
                    view = view[: body.remaining]
                self._view = view
                return view
        self._view = None
        return self.front.scratch

    def buffer_updated(self, nbytes: int) -> None:
        view = self._view
        if view is None:
            if self._linger_until:
                return  # after a page: dropped
            if not self.inbuf and self.rstate == R_HEAD and not self.unsent:
                # Usually one read is one whole head: no gathering.
                data = bytes(self.front.scratch[:nbytes])
                if find_head_end(data) == nbytes <= MAX_HEAD:
                    if self.handle_head(data) and self.rstate == R_HEAD:
                        self._update_reading()
                        return
                    self.process()
                    return
                self.inbuf += data
            else:
                self.inbuf += self.front.scratch[:nbytes]
            self.process()
            return
        # Zero-copy: the bytes are in the stream's frame buffer already.
        self._view = None
        k = nbytes
        if self.rstate == R_BODY:
            try:
                k = self.body.feed(view[:nbytes])
            except MalformedBody as exc:
                del view
                self.refuse(400, f"malformed request body: {exc}", now=True)
                return
        rest = bytes(view[k:nbytes]) if k < nbytes else b""
        del view
        if k:
            self.session.commit(self.stream_id, k)
            self.traffic.received += k  # type: ignore[union-attr]
            if self.rstate == R_BODY:
                self.exchanges[-1].bytes_in += k
            owner = self.owner
            # (one call a turn, not one a read)
            if owner.flush_handle is None:  # type: ignore[union-attr]
                owner.schedule_flush()  # type: ignore[union-attr]
        if self.rstate == R_BODY and self.body.done:
            self._request_sent(_now())
        if rest:
            self.inbuf += rest
            self.process()
        else:
            self._update_reading()

    def eof_received(self) -> bool:
        self._eof_in = True
        if self._linger_until:
            return False  # the visitor is done too: close
        if self.rstate == R_RAW:
            self._flush_raw()
            if not self.unsent and self.stream_id:
                self._send_fin()
            return True
        if self.rstate == R_HEAD and self.inbuf:
            self.inbuf = bytearray()  # a partial head: nothing to answer
        if self.rstate in (R_HEAD, R_UPGRADE) or self.rstate == R_BODY:
            self.rstate = R_DONE
        if self.exchanges or self.refusal is not None:
            return True  # answers are still to come
        self.close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.front.visitors.discard(self)
        self.settle()
        traffic = self.traffic
        if traffic is not None:
            self.traffic = None
            traffic.open -= 1
        for ex in self.exchanges:  # unanswered: the visitor left (nginx's 499)
            self._log(ex, ex.status or 499)
        self.exchanges.clear()
        owner = self.owner
        if owner is not None:
            owner.paused_streams.discard(self)  # type: ignore[arg-type]
            owner.session_blocked.discard(self)  # type: ignore[arg-type]
            if owner.streams.get(self.stream_id) is self:
                del owner.streams[self.stream_id]
                self.session.send_reset(self.stream_id, RESET_CANCEL)
                owner.schedule_flush()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._withheld and self.owner is not None:
            n, self._withheld = self._withheld, 0
            self.session.consumed(self.stream_id, n)
            self.owner.schedule_flush()

    # -- the request direction -----------------------------------------------------
    def process(self) -> None:
        """Handle what ``inbuf`` holds, as far as the state and credit allow."""
        while not self._closed:
            if self.unsent and not self._send(b""):
                break
            state = self.rstate
            inbuf = self.inbuf
            if state == R_HEAD:
                if not inbuf:
                    break
                end = find_head_end(inbuf, self._searched)
                if end < 0 or end > MAX_HEAD:
                    if end > MAX_HEAD or len(inbuf) > MAX_HEAD:
                        self.refuse(431, "The request's header fields are too large.")
                        break
                    self._searched = len(inbuf)
                    break
                head = bytes(inbuf[:end])
                del inbuf[:end]
                self._searched = 0
                if not self.handle_head(head):
                    break
            elif state == R_BODY:
                if not inbuf:
                    break
                try:
                    k = self.body.feed(inbuf)
                except MalformedBody as exc:
                    self.refuse(400, f"malformed request body: {exc}", now=True)
                    break
                data = bytes(inbuf[:k])
                del inbuf[:k]
                self.exchanges[-1].bytes_in += k
                sent = self._send(data)
                if self.body.done:
                    self._request_sent(_now())
                if not sent:
                    break
            elif state == R_RAW:
                self._flush_raw()
                break
            else:  # R_UPGRADE waits for its answer; R_DONE reads nothing more
                if state == R_DONE:
                    inbuf.clear()
                break
        self._update_reading()

    def _flush_raw(self) -> None:
        if self.inbuf:
            data = bytes(self.inbuf)
            self.inbuf.clear()
            self._send(data)

    def _send(self, data: bytes) -> bool:
        """Send *data* (after anything unsent) on the stream; False when some
        must wait for credit (it is kept, and sent by ``window_opened``)."""
        if self.unsent:
            data = self.unsent + data
        if not data:
            self.unsent = b""
            return True
        sent = self.session.send_data(self.stream_id, data)
        owner = self.owner
        # (one call a turn, not one a request)
        if owner.flush_handle is None:  # type: ignore[union-attr]
            owner.schedule_flush()  # type: ignore[union-attr]
        traffic = self.traffic
        if traffic is not None:
            traffic.received += sent
        if sent < len(data):
            self.unsent = data[sent:]
            return False
        self.unsent = b""
        return True

    def handle_head(self, head: bytes) -> bool:
        """Route and forward one request head; False when it was refused."""
        front = self.front
        now = _now()
        try:
            req = read_request(head)
        except HeadError as exc:
            self.refuse(exc.status, _public_reason(exc))
            return False
        method_head = req.method == b"HEAD"
        if (req.upgrade and front.carrier is not None and not self.stream_id and not self.exchanges
                and req.target.split(b"?", 1)[0] == front.ws_path):
            self._become_carrier(head)
            return False
        if self.sni is not None and req.host != self.sni:
            self.refuse(421, f"This connection is for {self.sni}; ask for {req.host} on a new connection.",
                        req=req)
            return False
        route = self.route
        if route is None or route.tunnel is None or route.name.holder is not route or req.host != route.name.host:
            # (Else the name table would give this connection's route again:
            # a bound route holds its name, and only a bound one.)
            name = front.names.lookup(req.host, now) if req.host else None
            if name is None:
                front.server.refused["http_unknown_host"] += 1
                what = f"No tunnel is registered for {req.host}." if req.host else "The request names no host."
                self.refuse(404 if req.host else 400, what, req=req, head_only=method_head)
                return False
            route = name.holder
            if route is None or route.tunnel is None:
                front.server.refused["http_offline"] += 1
                self.refuse(502, f"The tunnel for {req.host} is offline: its client is not connected.", req=req,
                            head_only=method_head)
                return False
            if self.route is not None and route is not self.route:
                self.refuse(421, f"This connection is bound to another name; ask for {req.host} on a new "
                            "connection.", req=req, route=self.route)
                return False
        if route.auth is not None:
            got = req.authorization or b""
            if not hmac.compare_digest(got, route.auth):
                front.server.refused["http_basic_auth"] += 1
                self.refuse(401, "This tunnel needs a user name and password.", req=req, route=route,
                            headers=(("WWW-Authenticate", 'Basic realm="fasttun", charset="UTF-8"'),),
                            head_only=method_head)
                return False
        if route.limiter is not None:
            wait = route.limiter.check(self.peer_ip, now)
            if wait:
                front.server.refused["http_rate_limit"] += 1
                retry = max(1, int(wait + 0.999))
                self.refuse(429, f"Too many requests from your address; try again in {retry} s.", req=req,
                            route=route, headers=(("Retry-After", str(retry)),), head_only=method_head)
                return False
        if not self.stream_id:
            tunnel = route.tunnel
            owner = tunnel.owner
            if front.server.hooks.on_connect is not None and not self._hook_passed:
                self.rstate = R_HOLD  # the head waits for the hook's answer (reading stops)
                self.front.loop.create_task(self._connect_hook(head, route, req.host))
                return False
            info = f"{self.peer} {self.local} {self.scheme}".encode()
            if not owner.open_public_stream(self, tunnel, info):
                self.refuse(503, "The tunnel is busy; try again shortly.", req=req, route=route,
                            head_only=method_head)
                return False
            self.owner = owner
            self.session = owner.session
            self.route = route
            self.traffic = tunnel.traffic
        out = forward(req, self.peer_ip, self.scheme, route.host_header, route.set_headers, route.drop, self._tail)
        ex = new_exchange(req, route, now)
        self.exchanges.append(ex)
        self.body.start(req.body_mode, req.body_length)
        self.rstate = R_BODY
        self._send(out)
        if self.body.done:
            self._request_sent(now)  # (no body: sent with its head, one clock read for both)
        return True

    def _become_carrier(self, head: bytes) -> None:
        """A tunnel client upgrades on --ws-path: this connection is its WebSocket carrier from now on."""
        transport = self.transport
        assert transport is not None and self.front.carrier is not None
        self._closed = True  # this protocol is done with the connection
        self.front.visitors.discard(self)
        rest = bytes(self.inbuf)
        self.inbuf = bytearray()
        carrier = self.front.carrier()
        transport.set_protocol(carrier)
        carrier.connection_made(transport)
        if not self._reading:
            transport.resume_reading()
        carrier.receive(head + rest)

    async def _connect_hook(self, head: bytes, route: HttpRoute, host: str) -> None:
        tunnel = route.tunnel
        reason = None
        if tunnel is not None:
            reason = await self.front.server.hooks.call("connect", {
                "event": "connect", "client": tunnel.owner.client_id, "tunnel": tunnel.tunnel_id, "kind": "http",
                "public": tunnel.public, "visitor": self.peer, "host": host})
        if self._closed or self.rstate != R_HOLD:
            return
        self.rstate = R_HEAD
        if reason is not None:
            self.front.server.refused["hook_connect"] += 1
            log.info("visitor %s for %s refused by the connect hook: %s", self.peer, host, reason)
            self.refuse(403, f"Refused: {reason}")
            return
        self._hook_passed = True
        if self.handle_head(head):
            self.process()

    def _request_sent(self, now: float) -> None:
        """The request's body is all sent (at *now*): what comes next from the visitor."""
        ex = self.exchanges[-1]
        ex.sent_at = now
        if ex.upgrade:
            self.rstate = R_UPGRADE
        elif not ex.keep_alive:
            self.rstate = R_DONE
        else:
            self.rstate = R_HEAD

    def refuse(self, status: int, message: str, *, req: RequestHead | None = None, route: HttpRoute | None = None,
               headers: tuple = (), head_only: bool = False, now: bool = False) -> None:
        """Answer with fasttun's own page and close, after the answers to the
        requests before this one (at once with *now*: the stream is broken)."""
        body = page(status, message, headers=headers, head_only=head_only)
        self.rstate = R_DONE
        self.inbuf.clear()
        if req is not None:
            ex = new_exchange(req, route, _now())
            ex.status = status
            ex.bytes_out = len(body)
            self._log(ex, status)
        if now and self.stream_id:
            self._abort_stream()
        if now or not self.exchanges:
            if self.exchanges and self.sstate != S_HEAD:
                self.abort()  # part of an answer went out: a page would corrupt it
                return
            for ex in self.exchanges:
                self._log(ex, status)
            self.exchanges.clear()
            self._write_page(body)
        else:
            self.refusal = body
        self._update_reading()

    def _write_page(self, body: bytes) -> None:
        self._out.append(body)
        self.close(linger=True)

    # -- flow control of the request direction ----------------------------------
    def _update_reading(self) -> None:
        if self._closed or self.transport is None:
            return
        if self._linger_until:
            if not self._reading:
                self._reading = True
                self.transport.resume_reading()
            return
        state = self.rstate
        want = (not self._eof_in and not self.unsent and len(self.exchanges) < MAX_PIPELINE
                and len(self.inbuf) <= MAX_HEAD and state != R_DONE and state != R_UPGRADE and state != R_HOLD)
        owner = self.owner
        if want and state != R_HEAD and owner is not None:
            if owner.write_paused:
                owner.paused_streams.add(self)  # type: ignore[arg-type]
                want = False
            elif self.session.send_window(self.stream_id) <= 0:
                if self.session.session_blocked():
                    owner.session_blocked.add(self)  # type: ignore[arg-type]
                want = False
        if self.unsent and owner is not None and self.session.session_blocked():
            owner.session_blocked.add(self)  # type: ignore[arg-type]
        if want != self._reading:
            self._reading = want
            if want:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    def window_opened(self) -> None:
        """Send credit is back: send what waited, read on."""
        if self._closed:
            return
        if self.unsent and not self._send(b""):
            self._update_reading()
            return
        if self.rstate == R_RAW and self._eof_in and not self._fin_out:
            self._send_fin()
        if self.inbuf:
            self.process()
        else:
            self._update_reading()

    def owner_resumed(self) -> None:
        self._update_reading()

    def settle(self) -> None:
        tunnel = self.pending_in
        if tunnel is not None:
            self.pending_in = None
            tunnel.pending -= 1

    # -- the response direction ---------------------------------------------------
    def deliver_many(self, payloads: list) -> None:
        if (len(payloads) == 1 and self.sstate == S_HEAD and self.rhead is None and self.exchanges
                and self.owner is not None and not self._closed and self._answer_whole(payloads[0])):
            return
        n = 0
        for p in payloads:
            n += len(p)
            if self._closed or self.sstate == S_DONE:
                continue
            if self.sstate == S_RAW:
                self._out.append(p)
                continue
            pos = 0
            end = len(p)
            while pos < end and self.sstate != S_DONE:
                if self.sstate == S_BODY:
                    piece = p[pos:] if pos else p
                    try:
                        k = self.rbody.feed(piece)
                    except MalformedBody as exc:
                        log.warning("%s: malformed response body from the local service: %s", self._where(), exc)
                        self.flush_out()
                        self.abort()
                        break
                    self._out.append(piece[:k] if k < len(piece) else piece)
                    self.exchanges[0].bytes_out += k
                    pos += k
                    if self.rbody.done:
                        self._response_done()
                elif self.sstate == S_HEAD:
                    pos = self._response_head(p, pos)
                else:  # S_RAW
                    self._out.append(p[pos:])
                    pos = end
        self.flush_out()
        if self.owner is None:
            return
        if self._closed:
            self.session.consumed(self.stream_id, n)
            return
        traffic = self.traffic
        if traffic is not None:
            traffic.delivered += n
        self._credit(n)
        self._after_responses()

    def _credit(self, n: int) -> None:
        """*n* received bytes went to the visitor's socket: credit them back
        (the stream's share only once they leave it, see StreamProtocol)."""
        if self._write_paused:
            self._withheld += n
            self.session.released(self.stream_id, n)
        else:
            self.session.consumed(self.stream_id, n)

    def _answer_whole(self, p: Any) -> bool:
        """The usual case, in one go: *p* is exactly one whole answer, a plain
        head (the compiled fast path reads it) and a Content-Length body.  It is
        passed on as it is; False when *p* is anything else (nothing done)."""
        end = head_end_from(p, 0)
        if end <= 0 or end > MAX_HEAD:
            return False
        fields = scan_response_in(p, end)  # (in place: no copy of the head)
        if fields is None:
            return False
        status, _, keep_alive, length, chunked = fields
        n = len(p)
        ex = self.exchanges[0]
        if (n - end != length or chunked or not keep_alive or not ex.keep_alive or status < 200 or status == 204
                or status == 304 or ex.method == b"HEAD" or ex.upgrade):
            return False
        self.exchanges.pop(0)
        ex.answered = True
        ex.status = status
        ex.bytes_out = n
        now = self._log(ex, status)
        self._out.append(p)
        self.flush_out()
        traffic = self.traffic
        if traffic is not None:
            traffic.delivered += n
        self._credit(n)
        self._after_responses(now)  # (the answer's end is when the visitor's wait began)
        return True

    def flush_out(self) -> None:
        """Write the answer bytes gathered in ``_out``."""
        out = self._out
        if not out:
            return
        self._out = []
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        size = 0
        for piece in out:
            size += len(piece)
        if size < LEND_MIN:  # (write_payloads' first case, the usual answer, without its call)
            transport.write(b"".join(out))
        else:
            write_payloads(transport, out, size, self.session is None or self.session.stream_count > 1)

    def _response_head(self, p: Any, pos: int) -> int:
        """Gather a response head from *p* at *pos*; return where the head ended
        in *p* (or its end, when the head is not whole yet)."""
        if not self.exchanges:
            # Bytes nobody asked for (a local service that talks first, or
            # answers twice): they cannot be answered to anyone; drop them.
            log.info("%s: the local service sent bytes no request asked for; closing", self._where())
            self._abort_stream()
            self.close()
            return len(p)
        rhead = self.rhead
        if rhead is None:
            # Usually the whole head is in this payload: no gathering.
            end = head_end_from(p, pos)
            if 0 <= end - pos <= MAX_HEAD:
                head = bytes(p[pos:end])
                consumed = end
            else:
                rhead = self.rhead = bytearray()
        if rhead is not None:
            start = len(rhead)
            rhead += p[pos:]
            end = find_head_end(rhead, start)
            if end < 0:
                if len(rhead) > MAX_HEAD:
                    self._bad_gateway("The local service's answer has an oversized head.")
                return len(p)
            head = bytes(rhead[:end])
            consumed = len(p) - (len(rhead) - end)
            self.rhead = None
        ex = self.exchanges[0]
        try:
            resp = read_response(head)
            mode, length = response_framing(ex.method, resp)
        except HeadError as exc:
            log.warning("%s: %s", self._where(), exc.reason)
            self._bad_gateway("The local service did not answer with HTTP.")
            return len(p)
        ex.answered = True
        ex.status = resp.status
        ex.bytes_out += len(head)
        self._out.append(head)
        status = resp.status
        if status == 101:
            if not ex.upgrade:
                self._bad_gateway("The local service switched protocols unasked.")
                return len(p)
            self.sstate = S_RAW
            self._response_done(upgraded=True)
            return consumed
        if status < 200:  # interim (100 Continue, 103 Early Hints): the answer follows
            return consumed
        if not resp.keep_alive:
            ex.keep_alive = False
        self.rbody.start(mode, length)
        if mode == BODY_UNTIL_CLOSE:
            ex.keep_alive = False
        if self.rbody.done:
            self._response_done()
        else:
            self.sstate = S_BODY
        return consumed

    def _response_done(self, upgraded: bool = False) -> None:
        ex = self.exchanges.pop(0)
        self._log(ex, ex.status)
        if upgraded:
            self.rstate = R_RAW
            self.exchanges.clear()
            return
        self.sstate = S_HEAD
        if not ex.keep_alive:
            self.sstate = S_DONE
            self.rstate = R_DONE
            self.exchanges.clear()
            self.close()
            return
        if self.rstate == R_UPGRADE and not self.exchanges:
            self.rstate = R_HEAD  # the upgrade was declined: HTTP goes on

    def _after_responses(self, now: float = -1.0) -> None:
        """The answers written so far are out; *now*, when the caller has read the clock."""
        if self._closed:
            return
        if not self.exchanges:
            self.idle_since = now if now >= 0 else _now()
            if self.refusal is not None:
                body, self.refusal = self.refusal, None
                self._write_page(body)
                return
            if self._eof_in and self.rstate == R_DONE:
                self.close()
                return
        if self.inbuf and self.rstate != R_DONE:
            self.process()
        else:
            self._update_reading()

    def deliver_fin(self) -> None:
        """The local service closed its side: end of the answer (body until close)."""
        if self._closed:
            return
        if self.sstate == S_RAW and self.rstate == R_RAW:
            transport = self.transport
            if transport is not None and transport.can_write_eof():
                transport.write_eof()
            if self._eof_in:
                self.close()
            return
        if self.sstate == S_BODY and self.rbody.mode == BODY_UNTIL_CLOSE:
            self._response_done()
            return
        if self.exchanges and not self.exchanges[0].answered:
            self._bad_gateway("The local service closed the connection without answering.")
            return
        self.close()

    def deliver_reset(self, code: int = -1) -> None:
        """The stream was reset: the local service refused or went away, or
        the tunnel's client was lost."""
        self.settle()
        owner = self.owner
        if owner is not None:
            owner.streams.pop(self.stream_id, None)
        self._fin_out = True  # the stream is gone: nothing more to send on it
        if self._closed:
            return
        if self.exchanges and not self.exchanges[0].answered and self.sstate == S_HEAD:
            if code == RESET_REFUSED:
                self._bad_gateway("The tunnel's client could not reach its local service.", stream_gone=True)
            elif code == -1:
                self._bad_gateway("The tunnel's client went offline.", stream_gone=True)
            else:
                self._bad_gateway("The local service closed the connection without answering.", stream_gone=True)
        elif not self.exchanges and self.sstate == S_HEAD and self.rstate != R_RAW:
            self.close()  # idle: a plain close, not an error
        else:
            self.abort()

    def _bad_gateway(self, message: str, stream_gone: bool = False) -> None:
        if not stream_gone:
            self._abort_stream()
        self.refuse(502, message, now=True)

    # -- timeouts -------------------------------------------------------------------
    def check_timeouts(self, now: float, timeout: float) -> None:
        """Called by the front's sweep."""
        if self._closed:
            return
        if self._linger_until:
            if now >= self._linger_until and self.transport is not None:
                self.transport.close()
            return
        if self.exchanges:
            ex = self.exchanges[0]
            if not ex.answered and self.sstate == S_HEAD and now - ex.sent_at >= timeout \
                    and self.rstate != R_BODY:
                log.info("%s: no answer from the local service within %g s", self._where(), timeout)
                self._abort_stream()
                self.refuse(504, "The local service did not answer in time.", now=True)
        elif self.rstate == R_HEAD and now - self.idle_since >= timeout:
            if self.inbuf:
                self.refuse(408, "The request took too long to arrive.")
            else:
                self.close()  # an idle keep-alive connection

    # -- closing and logs -----------------------------------------------------------
    def _send_fin(self) -> None:
        if not self._fin_out and self.stream_id and self.owner is not None:
            self._fin_out = True
            self.session.send_fin(self.stream_id)
            self.owner.schedule_flush()

    def _abort_stream(self) -> None:
        owner = self.owner
        if owner is not None and owner.streams.get(self.stream_id) is self:
            del owner.streams[self.stream_id]
            self.session.send_reset(self.stream_id, RESET_CANCEL)
            owner.schedule_flush()
        self._fin_out = True

    def close(self, linger: bool = False) -> None:
        """Close the visitor's connection once its buffered bytes are out;
        with *linger*, half-close it and drop what still comes (``LINGER``)."""
        self.sstate = S_DONE
        self.rstate = R_DONE
        self.flush_out()
        transport = self.transport
        if transport is None or transport.is_closing() or self._linger_until:
            return
        if linger and not self._eof_in and transport.can_write_eof():
            transport.write_eof()
            self.inbuf = bytearray()
            self._linger_until = _now() + LINGER
            self._update_reading()
            return
        transport.close()

    def abort(self) -> None:
        """Cut the visitor's connection (RST): an answer cannot be finished."""
        self.sstate = S_DONE
        self.rstate = R_DONE
        self._out = []
        self._abort_stream()
        if self.transport is not None:
            abort_with_rst(self.transport)

    def _where(self) -> str:
        route = self.route
        return f"http tunnel {route.name.host}" if route is not None else f"visitor {self.peer}"

    def _log(self, ex: Exchange, status: int) -> float:
        """An exchange ended: the front's metrics, its access log, and a record
        for the tunnel's client (sent by ``FrontCore._send_records``).  Returns
        the clock's time it read, the exchange's end."""
        front = self.front
        now = _now()
        duration = now - ex.started
        i = 0  # bisect_left(DURATION_BUCKETS, duration), in a loop the compiled twin runs as C
        while i < N_BUCKETS and DURATION_BUCKETS[i] < duration:
            i += 1
        front.durations[i] += 1
        front.duration_sum += duration
        route = ex.route
        tunnel = route.tunnel if route is not None else None
        if tunnel is not None and 100 <= status < 600:
            tunnel.statuses[status // 100] += 1
        if front.access_log is not None:
            front.access_log.write({
                "time": time.time(), "client": self.peer, "host": ex.host, "method": ex.method.decode("latin-1"),
                "path": ex.path.decode("latin-1"), "status": status, "bytes_in": ex.bytes_in,
                "bytes_out": ex.bytes_out, "duration": round(duration, 6),
                "tunnel": route.name.host if route is not None else None, "scheme": self.scheme,
            })
        if tunnel is not None and route.log:
            owner = tunnel.owner
            if route.log == LOG_LINES:  # the console's line, made here (docs/spec.md §9.2)
                line = request_line(ex.method.decode("latin-1"), ex.path.decode("latin-1"), status, ex.bytes_out,
                                    duration)
                lines = front._lines.get(owner)
                if lines is not None and lines.size + len(line) > LINES_MESSAGE_TEXT:
                    # The lines waiting fill a message: it goes now, so that a
                    # busy tunnel's lines cost a message at a time, not all of
                    # them at once when the timer comes.
                    del front._lines[owner]
                    _send_batches({owner: lines.items}, line_messages)
                    lines = None
                if lines is None:
                    lines = front._lines[owner] = LineBatch()
                    if front._lines_timer is None:  # (the console prints every 0.1 s anyway)
                        front._lines_timer = front.loop.call_later(LINES_DELAY, front._send_lines)
                lines.items.append(tunnel.tunnel_id)
                lines.items.append(line)
                lines.size += len(line)
            else:
                pending = front._records
                batch = pending.get(owner)
                if batch is None:
                    batch = pending[owner] = []
                    # With the frames the client's session writes next (usually in
                    # this very turn, after the dispatch that brought this answer).
                    owner.before_flush(front._send_records)
                batch.append((tunnel.tunnel_id, ex.method.decode("latin-1"), ex.path.decode("latin-1"), status,
                              ex.bytes_out, duration, self.peer_ip))
        return now


def _public_reason(exc: HeadError) -> str:
    if exc.status == 405:
        return "This method is not supported here."
    if exc.status == 501:
        return "This transfer coding is not supported."
    if exc.status == 505:
        return "This HTTP version is not supported; use HTTP/1.1."
    return "The request is malformed."


class FrontCore:
    """What every exchange of ``HttpFront`` updates (``VisitorCore._log``):
    its metrics, access log and request records.

    ``HttpFront`` sets ``loop``, ``access_log``, ``durations`` (counts per
    ``DURATION_BUCKETS`` bound, +Inf last, in an ``array("q")``),
    ``duration_sum`` and ``scratch`` (the buffer visitors read heads into),
    starts ``_records`` and ``_lines`` (client -> ``LineBatch``) as ``{}``
    and ``_lines_timer`` as None, and cancels ``_lines_timer`` when it closes.
    """

    def _send_records(self) -> None:
        """One ``requests`` message per client for the requests its HTTP
        tunnels answered since the last (docs/spec.md §9.2); run by the
        clients' sessions before they flush (``before_flush``)."""
        if self._records:
            records, self._records = self._records, {}
            _send_batches(records, record_messages)

    def _send_lines(self) -> None:
        """The ``request_lines`` messages of the lines gathered in the last
        ``LINES_DELAY`` (docs/spec.md §9.2): run by ``_lines_timer``."""
        self._lines_timer = None
        if self._lines:
            pending, self._lines = self._lines, {}
            _send_batches({owner: lines.items for owner, lines in pending.items()}, line_messages)


def _send_batches(batches: dict, messages: Any) -> None:
    """Each client's batch as its *messages* (CONTROL payloads), unless its connection is going."""
    for owner, batch in batches.items():
        if owner.transport is not None and not owner.transport.is_closing():
            for payload in messages(batch):
                owner.session.send_control(payload)
            owner.schedule_flush()


# A `requests` message stays well under the largest frame (256 KiB) whatever
# the paths: the records gathered before a flush are split over several.
RECORDS_MESSAGE_MAX = 65536


# A `request_lines` message: this many characters of lines at most, so that
# even a path of characters JSON escapes (6 bytes for one) keeps it under
# RECORDS_MESSAGE_MAX.
LINES_MESSAGE_TEXT = RECORDS_MESSAGE_MAX // 6


def line_messages(batch: list) -> list[bytes]:
    """The CONTROL payloads (``request_lines`` messages) that carry *batch*
    (``[tunnel id, line, tunnel id, line, ...]``), in order: each line of a
    tunnel's run joined in one string."""
    out = []
    runs: list = []
    texts: list = []
    run_id = None
    size = 0
    for i in range(0, len(batch), 2):
        tunnel_id = batch[i]
        line = batch[i + 1]
        if size + len(line) > LINES_MESSAGE_TEXT and size:
            runs.append([run_id, "".join(texts)])
            out.append(dumps({"op": "request_lines", "lines": runs}))
            runs, texts, run_id, size = [], [], None, 0
        if tunnel_id != run_id:
            if texts:
                runs.append([run_id, "".join(texts)])
            texts = []
            run_id = tunnel_id
        texts.append(line)
        size += len(line)
    if texts:
        runs.append([run_id, "".join(texts)])
        out.append(dumps({"op": "request_lines", "lines": runs}))
    return out


def record_messages(batch: list) -> list[bytes]:
    """The CONTROL payloads (``requests`` messages) that carry *batch*, in order."""
    out = []
    i, step = 0, len(batch)
    while i < len(batch):
        chunk = batch[i:i + step]
        payload = dumps({"op": "requests", "records": chunk})
        if len(payload) > RECORDS_MESSAGE_MAX and step > 1:
            step = max(1, min(step // 2, step * RECORDS_MESSAGE_MAX // len(payload)))
            continue
        out.append(payload)  # (one record alone: a path under MAX_HEAD, it fits a frame)
        i += len(chunk)
        step *= 2  # (a small chunk after a large record need not stay small)
    return out


