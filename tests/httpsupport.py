"""HTTP test helpers: a local HTTP/1.1 service (h11) with async handlers, a
raw visitor, and a server + client pair with an HTTP port."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from typing import AsyncIterator, Awaitable, Callable

import h11

import fasttun
from tests.support import TOKEN, free_range

DOMAIN = "tunnel.test"


class Request:
    """What a handler gets: the h11 request, its headers as a dict (lower-case
    names; repeated fields joined by ", "), and its body as an async iterator."""

    def __init__(self, event: h11.Request, body: AsyncIterator[bytes], peer: tuple) -> None:
        self.event = event
        self.method = event.method.decode()
        self.target = event.target.decode()
        self.raw_headers = [(k.decode(), v.decode("latin-1")) for k, v in event.headers.raw_items()]
        self.headers: dict[str, str] = {}
        for k, v in self.raw_headers:
            k = k.lower()
            self.headers[k] = f"{self.headers[k]}, {v}" if k in self.headers else v
        self.body = body
        self.peer = peer

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.body])


# A handler returns (status, headers, body): body is bytes or an async iterator of bytes.
Handler = Callable[[Request], Awaitable[tuple]]


class H11Service:
    """A keep-alive HTTP/1.1 service on 127.0.0.1 built on h11 (the same parser
    the front uses, but as a full connection state machine)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        self.connections = 0
        self.requests: list[Request] = []
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in self._tasks:
            task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve_one(reader, writer)
        except asyncio.CancelledError:
            writer.close()
        finally:
            self._tasks.discard(task)

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        peer = writer.get_extra_info("peername")

        async def next_event():  # type: ignore[no-untyped-def]
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(1 << 18)
                    conn.receive_data(data)
                    continue
                return event

        try:
            while True:
                event = await next_event()
                if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                    break
                assert isinstance(event, h11.Request), event

                async def body() -> AsyncIterator[bytes]:
                    while True:
                        ev = await next_event()
                        if isinstance(ev, h11.Data):
                            yield bytes(ev.data)
                        elif isinstance(ev, h11.EndOfMessage):
                            return
                        else:  # pragma: no cover
                            raise AssertionError(ev)

                req = Request(event, body(), peer)
                self.requests.append(req)
                status, headers, payload = await self.handler(req)
                if conn.their_state is h11.SEND_BODY:  # the handler did not read the body
                    async for _ in req.body:
                        pass
                if isinstance(payload, bytes):
                    headers = list(headers) + [("Content-Length", str(len(payload)))]
                    writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
                    if payload:
                        writer.write(conn.send(h11.Data(data=payload)))
                else:
                    writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
                    async for chunk in payload:
                        writer.write(conn.send(h11.Data(data=chunk)))
                        await writer.drain()
                writer.write(conn.send(h11.EndOfMessage()))
                await writer.drain()
                if conn.our_state is h11.MUST_CLOSE:
                    break
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def echo_handler(req: Request) -> tuple:
    """Answers with what it received: request line, headers, a SHA-256 of the body."""
    h, n = hashlib.sha256(), 0
    async for chunk in req.body:
        h.update(chunk)
        n += len(chunk)
    lines = [f"{req.method} {req.target}"] + [f"{k}: {v}" for k, v in req.raw_headers]
    lines.append(f"body: {n} {h.hexdigest()}")
    return 200, [("Content-Type", "text/plain")], ("\n".join(lines) + "\n").encode()


def parse_echo(text: str) -> tuple[str, list[tuple[str, str]], str]:
    """(request line, headers, "count sha256") of an ``echo_handler`` answer."""
    lines = text.rstrip("\n").split("\n")
    headers = [tuple(x.split(": ", 1)) for x in lines[1:-1]]
    return lines[0], headers, lines[-1].split(": ", 1)[1]  # type: ignore[return-value]


@contextlib.asynccontextmanager
async def http_server(**kw):  # type: ignore[no-untyped-def]
    """A fasttun server with an HTTP port on 127.0.0.1 (domain ``tunnel.test``)."""
    kw.setdefault("listen_host", "127.0.0.1")
    kw.setdefault("listen_port", 0)
    kw.setdefault("public_host", "127.0.0.1")
    kw.setdefault("ports", free_range())
    kw.setdefault("token", TOKEN)
    kw.setdefault("http_port", 0)
    kw.setdefault("domain", DOMAIN)
    async with fasttun.Server(**kw) as server:
        yield server


class Visitor:
    """A raw HTTP/1.1 visitor on one connection.  Answers are read with a fresh
    h11 client state per answer, so that raw (pipelined) requests work too."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._left = b""  # bytes read past the last answer

    @classmethod
    async def open(cls, port: int, **kw) -> "Visitor":  # type: ignore[no-untyped-def]
        r, w = await asyncio.open_connection("127.0.0.1", port, **kw)
        return cls(r, w)

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def request(self, method: str, target: str, host: str, *, headers: tuple = (), body: bytes = b"") -> tuple:
        """One request; returns (status, headers dict, body)."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"] + [f"{k}: {v}" for k, v in headers]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await self.writer.drain()
        return await self.response(method)

    async def response(self, method: str = "GET") -> tuple:
        """Read one answer (status, headers dict, body); 1xx answers are skipped."""
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        conn.send(h11.EndOfMessage())
        if self._left:
            conn.receive_data(self._left)
            self._left = b""
        status, headers, body = 0, {}, bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await self.reader.read(1 << 18))
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                self._left = conn.trailing_data[0]
                return status, headers, bytes(body)
            elif event is h11.PAUSED:  # pragma: no cover
                raise AssertionError("h11 paused")

    def close(self) -> None:
        self.writer.close()


async def raw_exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send *data* on a new connection and read until the front closes it."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(data)
    try:
        async with asyncio.timeout(timeout):
            return await r.read()
    finally:
        w.close()


def status_of(answer: bytes) -> int:
    """The status code of a raw answer (0 if there is none)."""
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") else 0


def issue_cert(directory, *names: str) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    """A certificate for *names* from a fresh test CA (trustme): (cert, key, CA file) paths in *directory*."""
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert(*names)
    cert, key, ca_file = directory / "cert.pem", directory / "key.pem", directory / "ca.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    return str(cert), str(key), str(ca_file)
