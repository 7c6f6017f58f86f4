"""The tunnel connection carried by a WebSocket (``--server ws://...``, ``--ws-listen``).

The WebSocket only carries the same byte stream as a direct connection, in
binary messages: what a tunnel connection writes becomes one message, and
the payloads of the messages received are its bytes, in order (docs/spec.md
§1.1).  Layers, from the socket up::

    TCP (or TLS to a reverse proxy: wss://)
    └─ WsCarrier: the WebSocket, websockets' sans-I/O ClientProtocol/ServerProtocol
       └─ WsTransport: the carried byte stream, as an asyncio transport
          └─ TLS of the tunnel (asyncio's SSLProtocol), unless --no-tls
             └─ SessionProtocol (ServerSession / ClientSession), as over TCP

websockets does the framing, and the masking of what the client sends in C
(``websockets.speedups``).  Ping and pong are answered by it; the tunnel's
own heartbeats (PING frames) keep both ends honest as over TCP.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from asyncio import sslproto
from typing import Any, Callable

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from .._version import __version__

__all__ = ["WsCarrier", "WsTransport", "open_client", "accept_server", "DEFAULT_PATH"]

log = logging.getLogger("fasttun")

DEFAULT_PATH = "/.fasttun"
# Information of the socket below that the layers above must not see: the
# outer TLS (wss:// to a proxy) is not the tunnel's TLS.
_HIDDEN = frozenset({"ssl_object", "sslcontext", "peercert", "cipher", "compression"})


class WsTransport(asyncio.Transport):
    """The byte stream inside a ``WsCarrier``, for the layer above it."""

    def __init__(self, carrier: "WsCarrier") -> None:
        super().__init__()
        self._carrier = carrier
        self._protocol: Any = None

    def write(self, data: Any) -> None:
        if data:
            self._carrier.send(data)

    def writelines(self, list_of_data: Any) -> None:
        data = b"".join(list_of_data)
        if data:
            self._carrier.send(data)

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:  # pragma: no cover - can_write_eof() says no
        raise NotImplementedError("a WebSocket carrier has no half-close")

    def get_write_buffer_size(self) -> int:
        t = self._carrier.transport
        return t.get_write_buffer_size() if t is not None else 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        t = self._carrier.transport
        return t.get_write_buffer_limits() if t is not None else (0, 0)  # type: ignore[attr-defined]

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        t = self._carrier.transport
        if t is not None:
            t.set_write_buffer_limits(high, low)

    def pause_reading(self) -> None:
        t = self._carrier.transport
        if t is not None and not t.is_closing():
            t.pause_reading()

    def resume_reading(self) -> None:
        t = self._carrier.transport
        if t is not None and not t.is_closing():
            t.resume_reading()

    def is_reading(self) -> bool:
        t = self._carrier.transport
        return bool(t is not None and t.is_reading())

    def is_closing(self) -> bool:
        return self._carrier.closing

    def close(self) -> None:
        self._carrier.close()

    def abort(self) -> None:
        self._carrier.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name in _HIDDEN:
            return default
        if name == "websocket":
            return self._carrier
        t = self._carrier.transport
        return t.get_extra_info(name, default) if t is not None else default

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[no-any-return]


class WsCarrier(asyncio.Protocol):
    """One WebSocket connection that carries one tunnel connection.

    Args:
        ws: websockets' sans-I/O protocol (a ``ClientProtocol`` whose
            handshake request this sends, or a ``ServerProtocol``).
        on_open: called with the ``WsTransport`` once the handshake is done;
            it returns the protocol the carried bytes go to.
        check_request: server side: the response refusing a handshake
            request (a wrong path), or None to accept it.
        request: client side: the handshake request to send.
    """

    def __init__(self, ws: ClientProtocol | ServerProtocol, on_open: Callable[[WsTransport], Any], *,
                 check_request: Callable[[Request], Response | None] | None = None,
                 request: Request | None = None) -> None:
        self.ws = ws
        self.on_open = on_open
        self.check_request = check_request
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.inner: Any = None  # the protocol the carried bytes go to
        self.stream = WsTransport(self)
        self.closing = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._feed: Callable[[Any], None] | None = None

    # -- the socket below ---------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.request is not None:
            assert isinstance(self.ws, ClientProtocol)
            self.ws.send_request(self.request)
            self._flush()

    def data_received(self, data: bytes) -> None:
        self.receive(data)

    def receive(self, data: bytes) -> None:
        """Bytes from the socket (also the bytes an HTTP front read first)."""
        ws = self.ws
        ws.receive_data(data)
        for event in ws.events_received():
            if event.__class__ is not Request and event.__class__ is not Response:
                opcode = event.opcode
                if opcode is Opcode.BINARY or opcode is Opcode.CONT:
                    if self._feed is not None and event.data:
                        self._feed(event.data)
                elif opcode is Opcode.TEXT:
                    ws.fail(1003, "a fasttun carrier sends binary messages only")
            elif isinstance(event, Request):
                self._handshake_request(event)
            else:
                self._handshake_response(event)
        self._flush()
        if ws.state is State.CLOSED and self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _handshake_request(self, request: Request) -> None:
        ws = self.ws
        assert isinstance(ws, ServerProtocol)
        refusal = self.check_request(request) if self.check_request is not None else None
        response = refusal if refusal is not None else ws.accept(request)
        response.headers["Server"] = f"fasttun/{__version__}"
        ws.send_response(response)
        if response.status_code == 101 and ws.state is State.OPEN:
            self._open()

    def _handshake_response(self, response: Response) -> None:
        ws = self.ws
        if ws.state is State.OPEN:
            self._open()
            return
        exc = ws.handshake_exc
        if response.status_code != 101:
            why = f"the server answered {response.status_code} {response.reason_phrase}".rstrip()
        else:
            why = f"the WebSocket handshake failed: {exc}"
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.close()

    def _open(self) -> None:
        self.inner = inner = self.on_open(self.stream)
        self.stream.set_protocol(inner)
        if isinstance(inner, asyncio.BufferedProtocol):
            self._feed = lambda data: _feed_buffered(inner, data)
        else:
            self._feed = inner.data_received
        inner.connection_made(self.stream)
        if not self.opened.done():
            self.opened.set_result(None)

    def send(self, data: Any) -> None:
        """Carry *data* in one binary message."""
        ws = self.ws
        if ws.state is not State.OPEN or self.transport is None:
            return
        ws.send_binary(data)
        for chunk in ws.data_to_send():
            self.transport.write(chunk)

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for chunk in self.ws.data_to_send():
            if chunk:
                transport.write(chunk)
            elif not transport.is_closing():
                if transport.can_write_eof():
                    transport.write_eof()
                else:
                    transport.close()

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if not self.opened.done() and self.request is not None:  # (a client waits for it)
            self.opened.set_exception(ConnectionError("the connection closed during the WebSocket handshake"))
        if self.inner is not None:
            inner, self.inner = self.inner, None
            inner.connection_lost(exc)

    def close(self) -> None:
        """Close the WebSocket (a close frame), then the socket."""
        if self.closing:
            return
        self.closing = True
        if self.ws.state is State.OPEN:
            self.ws.send_close(1000)
            self._flush()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()  # type: ignore[attr-defined]


def _feed_buffered(proto: asyncio.BufferedProtocol, data: bytes) -> None:
    """Copy *data* into a BufferedProtocol's buffers."""
    view = memoryview(data)
    while view:
        buf = proto.get_buffer(len(view))
        n = min(len(buf), len(view))
        if not n:
            raise RuntimeError("get_buffer() returned an empty buffer")
        buf[:n] = view[:n]
        proto.buffer_updated(n)
        view = view[n:]


def _layered(loop: asyncio.AbstractEventLoop, app_protocol: Any, ssl_context: ssl.SSLContext | None, *,
             server_side: bool, server_hostname: str | None, handshake_timeout: float | None,
             waiter: asyncio.Future | None) -> Any:
    """The protocol the carried bytes go to: *app_protocol*, or TLS around it."""
    if ssl_context is None:
        return app_protocol
    return sslproto.SSLProtocol(loop, app_protocol, ssl_context, waiter, server_side=server_side,
                                server_hostname=server_hostname, ssl_handshake_timeout=handshake_timeout)


async def open_client(url: str, app_factory: Callable[[], Any], *, tls_context: ssl.SSLContext | None,
                      server_hostname: str | None, outer_context: ssl.SSLContext | None = None,
                      sock: Any = None, timeout: float = 10.0) -> tuple[asyncio.BaseTransport, Any]:
    """Dial *url* (``ws://`` or ``wss://``) and carry a tunnel connection in it.

    *tls_context*: the tunnel's own TLS inside the WebSocket (None:
    ``--no-tls``).  *outer_context*: for ``wss://``, the TLS to the
    WebSocket server (a reverse proxy).  *sock*: an already connected socket
    (through an HTTP proxy).  Returns (the transport the app protocol was
    given, the app protocol), once the tunnel's TLS handshake, if any, is
    done.

    Raises:
        OSError: the server cannot be reached.
        ConnectionError: the WebSocket handshake was refused.
        ssl.SSLError: TLS (outer or inner) failed.
    """
    loop = asyncio.get_running_loop()
    uri = parse_uri(url)
    ws = ClientProtocol(uri, max_size=None)
    request = ws.connect()
    request.headers["User-Agent"] = f"fasttun/{__version__}"
    app = app_factory()
    waiter: asyncio.Future[None] | None = loop.create_future() if tls_context is not None else None
    layered: list = []

    def on_open(stream: WsTransport) -> Any:
        proto = _layered(loop, app, tls_context, server_side=False, server_hostname=server_hostname,
                         handshake_timeout=timeout, waiter=waiter)
        layered.append(proto)
        return proto

    carrier = WsCarrier(ws, on_open, request=request)
    if sock is not None:
        await loop.create_connection(lambda: carrier, sock=sock, ssl=outer_context,
                                     server_hostname=uri.host if outer_context is not None else None)
    else:
        await loop.create_connection(lambda: carrier, uri.host, uri.port, ssl=outer_context,
                                     server_hostname=uri.host if outer_context is not None else None)
    try:
        await carrier.opened
        if waiter is not None:
            await waiter
    except BaseException:
        carrier.abort()
        raise
    proto = layered[0]
    transport = proto._app_transport if tls_context is not None else carrier.stream  # noqa: SLF001
    return transport, app


def accept_server(app_factory: Callable[[], Any], *, path: str, tls_context: ssl.SSLContext | None,
                  handshake_timeout: float) -> WsCarrier:
    """A ``WsCarrier`` for a server's side: it accepts the handshake on *path*
    (404 elsewhere) and gives the carried bytes to a new ``app_factory()``,
    inside the tunnel's TLS when *tls_context* is given."""
    loop = asyncio.get_running_loop()
    ws = ServerProtocol(max_size=None)

    def check(request: Request) -> Response | None:
        if request.path.split("?", 1)[0] != path:
            response = ws.reject(404, "No fasttun carrier here.\n")
            return response
        return None

    def on_open(stream: WsTransport) -> Any:
        return _layered(loop, app_factory(), tls_context, server_side=True, server_hostname=None,
                        handshake_timeout=handshake_timeout, waiter=None)

    return WsCarrier(ws, on_open, check_request=check)

