"""Test helpers: local services (echo, sink, source, stalled), tunnel setup."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
import struct
import threading

import fasttun

TOKEN = "test-token"


def pattern(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


class Services:
    """Local TCP services on 127.0.0.1, each on an OS-chosen port."""

    def __init__(self) -> None:
        self.servers: list[asyncio.AbstractServer] = []
        self.stalled: list[asyncio.StreamWriter] = []
        self.closed_events: list[asyncio.Event] = []

    async def start(self, handler) -> int:
        srv = await asyncio.start_server(handler, "127.0.0.1", 0)
        self.servers.append(srv)
        return srv.sockets[0].getsockname()[1]

    async def echo(self) -> int:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(1 << 16):
                    w.write(data)
                    await w.drain()
                w.write_eof()
                await w.drain()
            except ConnectionError:
                pass
            w.close()

        return await self.start(handle)

    async def sink(self) -> int:
        """Reads to EOF, answers ``count sha256hex``."""

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            h, n = hashlib.sha256(), 0
            while data := await r.read(1 << 18):
                h.update(data)
                n += len(data)
            w.write(f"{n} {h.hexdigest()}".encode())
            await w.drain()
            w.close()

        return await self.start(handle)

    async def source(self) -> int:
        """Reads an 8-byte count N, sends pattern(N), closes."""

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            (n,) = struct.unpack(">Q", await r.readexactly(8))
            data = pattern(n)
            for i in range(0, n, 1 << 20):
                w.write(data[i : i + (1 << 20)])
                await w.drain()
            w.close()

        return await self.start(handle)

    async def stall(self) -> int:
        """Accepts and never reads."""

        stop = asyncio.Event()
        self.closed_events.append(stop)

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.stalled.append(w)
            await stop.wait()
            w.close()

        return await self.start(handle)

    def close(self) -> None:
        for ev in self.closed_events:
            ev.set()
        for s in self.servers:
            s.close()


def thread_service(handle) -> tuple[int, socket.socket]:
    """A blocking TCP service on 127.0.0.1 (for tests that run processes):
    *handle(conn)* runs in a thread of its own for each connection.  Returns
    (port, listening socket); close the socket to stop accepting."""
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1], srv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_range(n: int = 20) -> tuple[int, int]:
    """A run of ports that were free a moment ago (for --ports)."""
    for _ in range(200):
        # Below Linux's ephemeral range (32768-60999), so that outgoing
        # connections of other tests do not take ports from the range later.
        base = random.randrange(10000, 32768 - n)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base, base + n - 1
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


@contextlib.asynccontextmanager
async def tunnel_server(**kw):
    kw.setdefault("listen_host", "127.0.0.1")
    kw.setdefault("listen_port", 0)
    kw.setdefault("public_host", "127.0.0.1")
    kw.setdefault("ports", free_range())
    kw.setdefault("token", TOKEN)
    async with fasttun.Server(**kw) as server:
        yield server


def client_for(server: fasttun.Server, **kw) -> fasttun.Client:
    host, port = server.address
    kw.setdefault("token", TOKEN)
    return fasttun.Client(f"{host}:{port}", **kw)


async def roundtrip(port: int, data: bytes) -> bytes:
    """Send data, half-close, read everything back until EOF."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    got = bytearray()

    async def reader() -> None:
        while chunk := await r.read(1 << 20):
            got.extend(chunk)

    task = asyncio.ensure_future(reader())
    w.write(data)
    await w.drain()
    w.write_eof()
    await task
    w.close()
    return bytes(got)


async def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    """Wait until *predicate()* is true (polling); TimeoutError after *timeout* s."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)
