"""The asyncio half of the web APIs: an HTTP/1.1 listener (h11) for an ``App``.

It faces hostile input like the tunnel port does: a request head is at most
``MAX_HEAD`` bytes and a body at most ``_app.MAX_BODY``; a request must
arrive whole within ``timeout`` seconds and a keep-alive connection idles at
most as long; at most ``MAX_CONNECTIONS`` connections at once.  Whatever a
peer sends, the answer is an HTTP error or a closed connection, and the
tunnels never notice.
"""

from __future__ import annotations

import asyncio
import logging

import h11

from ._app import MAX_BODY, App, Request, Response, json_response

__all__ = ["WebServer"]

log = logging.getLogger("fasttun")

MAX_HEAD = 16384
MAX_CONNECTIONS = 256
_SERVER = b"fasttun"


class _HttpProtocol(asyncio.Protocol):
    def __init__(self, web: "WebServer") -> None:
        self.web = web
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.transport: asyncio.Transport | None = None
        self.request: Request | None = None
        self.body = bytearray()
        self.busy = False  # a handler runs; later requests wait in h11's buffer
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if len(self.web.connections) >= MAX_CONNECTIONS:
            transport.close()
            return
        self.web.connections.add(self)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.web.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.web.loop.call_later(self.web.timeout, self._expired)

    def _expired(self) -> None:
        if self.transport is not None and not self.busy:
            self.transport.close()  # a slow request, or an idle keep-alive connection

    def data_received(self, data: bytes) -> None:
        try:
            self.conn.receive_data(data)
        except h11.RemoteProtocolError:  # pragma: no cover - h11 raises from next_event
            pass
        self._process()

    def eof_received(self) -> bool | None:
        try:
            self.conn.receive_data(b"")
        except h11.RemoteProtocolError:
            pass
        self._process()
        return True if self.busy else None

    def _process(self) -> None:
        while not self.busy and self.transport is not None and not self.transport.is_closing():
            if self.conn.their_state is h11.IDLE:
                # h11 bounds only a head that is still incomplete; bound a whole one too.
                pending = self.conn.trailing_data[0]
                end = pending.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
                if end > MAX_HEAD or (end < 0 and len(pending) > MAX_HEAD):
                    self._fail(431, f"the request head is larger than {MAX_HEAD} bytes")
                    return
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                self._fail(exc.error_status_hint, f"malformed request: {exc}")
                return
            if event is h11.NEED_DATA:
                if self.conn.they_are_waiting_for_100_continue:
                    self.transport.write(self.conn.send(h11.InformationalResponse(status_code=100, headers=[])))
                return
            if event is h11.PAUSED:
                if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
                    self.conn.start_next_cycle()
                    self._arm()
                    continue
                return
            if isinstance(event, h11.Request):
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
                self.request = Request(event.method.decode("ascii", "replace"),
                                       event.target.decode("latin-1"), headers)
                self.body = bytearray()
                length = headers.get("content-length")
                if length is not None and length.isdigit() and int(length) > MAX_BODY:
                    self._fail(413, f"the body is larger than {MAX_BODY} bytes")
                    return
            elif isinstance(event, h11.Data):
                self.body += event.data
                if len(self.body) > MAX_BODY:
                    self._fail(413, f"the body is larger than {MAX_BODY} bytes")
                    return
            elif isinstance(event, h11.EndOfMessage):
                req, self.request = self.request, None
                assert req is not None
                req.body = bytes(self.body)
                self.body = bytearray()
                self.busy = True
                task = self.web.loop.create_task(self.web.app.handle(req))
                task.add_done_callback(lambda t, r=req: self._answer(r, t))
                return
            elif isinstance(event, h11.ConnectionClosed):
                self.transport.close()
                return

    def _answer(self, req: Request, task: asyncio.Task[Response]) -> None:
        self.busy = False
        try:
            resp = task.result()
        except Exception:  # a bug in a handler: answer, log, keep serving
            log.exception("admin: %s %s failed", req.method, req.target[:200])
            resp = json_response({"error": "internal error"}, 500)
        if self.transport is None or self.transport.is_closing():
            return
        self._send(resp, head_only=req.method == "HEAD")
        self._arm()
        self._process()

    def _send(self, resp: Response, head_only: bool = False) -> None:
        headers = [(b"Content-Type", resp.content_type.encode()), (b"Content-Length", str(len(resp.body)).encode()),
                   (b"Server", _SERVER), (b"Cache-Control", b"no-store"),
                   (b"X-Content-Type-Options", b"nosniff")]
        headers += [(k.encode(), v.encode("latin-1")) for k, v in resp.headers]
        try:
            out = self.conn.send(h11.Response(status_code=resp.status, headers=headers))
            if not head_only and resp.body:
                out += self.conn.send(h11.Data(data=resp.body))
            out += self.conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:  # pragma: no cover - a bug
            log.warning("admin: cannot answer: %s", exc)
            assert self.transport is not None
            self.transport.close()
            return
        assert self.transport is not None
        self.transport.write(out)
        if self.conn.our_state is h11.MUST_CLOSE:
            self.transport.close()

    def _fail(self, status: int, message: str) -> None:
        assert self.transport is not None
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = json_response({"error": message}, status).body
            try:
                self.transport.write(self.conn.send(h11.Response(
                    status_code=status, headers=[(b"Content-Type", b"application/json"),
                                                 (b"Content-Length", str(len(body)).encode()),
                                                 (b"Connection", b"close")])) + body)
            except h11.LocalProtocolError:
                pass
        self.transport.close()


class WebServer:
    """Serves *app* on (host, port) until ``close``.

    Args:
        timeout: seconds a request may take to arrive, and a connection may idle.
    """

    def __init__(self, app: App, timeout: float = 10.0) -> None:
        self.app = app
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        self.connections: set[_HttpProtocol] = set()
        self._server: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int, what: str) -> None:
        """Listen; raises ``OSError`` naming *what* (the flag) when it cannot."""
        try:
            self._server = await self.loop.create_server(lambda: _HttpProtocol(self), host or None, port,
                                                         reuse_address=True)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror or str(exc), f"{host or '*'}:{port} ({what})") from None

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        name = self._server.sockets[0].getsockname()
        return name[0], name[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for c in list(self.connections):
            if c.transport is not None:
                c.transport.abort()


