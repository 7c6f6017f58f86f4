"""End to end through a Server and a Client in one process, over real sockets.

Every test runs for the compiled core and its twin, on asyncio and uvloop.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import struct

import pytest

from fasttun._core.consts import MAX_STREAM_WINDOW
from fasttun.aio import relay

from ..support import Services, client_for, pattern, roundtrip, tunnel_server

pytestmark = pytest.mark.usefixtures("impl", "loop_kind")


@pytest.mark.parametrize("size", [0, 1, 65536], ids=["0B", "1B", "64KiB"])
async def test_echo_sizes(size):
    svc = Services()
    port = await svc.echo()
    async with tunnel_server() as server, client_for(server) as client:
        t = await client.expose(port)
        data = pattern(size)
        got = await roundtrip(t.remote_port, data)
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest() and len(got) == size
    svc.close()


async def test_streams_are_of_the_sessions_kind(impl):
    """Both ends relay with the stream protocol and the dispatch of their
    session's kind: compiled (``_stream_c``) for the compiled session, the
    twin (``_stream``) for the twin's."""
    expected = relay.StreamProtocolC if impl == "c" else relay.StreamProtocolPy
    svc = Services()
    port = await svc.echo()
    async with tunnel_server() as server, client_for(server) as client:
        t = await client.expose(port)
        r, w = await asyncio.open_connection("127.0.0.1", t.remote_port)
        data = pattern(300_000, seed=5)
        w.write(data)
        assert await r.readexactly(len(data)) == data
        (session,) = server._server.sessions
        for side in (session, client._client.conn):
            assert side.stream_protocol is expected
            assert [type(st) for st in side.streams.values()] == [expected]
            want = "fasttun.aio._stream_c" if impl == "c" else "fasttun.aio._stream"
            assert side._dispatch.__module__ == want
        w.close()
    svc.close()


@pytest.mark.timeout(120)
async def test_100mib_both_directions():
    svc = Services()
    sink, source = await svc.sink(), await svc.source()
    n = 100 << 20
    data = pattern(n, seed=7)
    async with tunnel_server() as server, client_for(server) as client:
        up = await client.expose(sink)
        down = await client.expose(source)
        # user -> service
        answer = await roundtrip(up.remote_port, data)
        assert answer.decode() == f"{n} {hashlib.sha256(data).hexdigest()}"
        # service -> user
        got = await roundtrip(down.remote_port, struct.pack(">Q", n))
        assert len(got) == n and hashlib.sha256(got).digest() == hashlib.sha256(pattern(n)).digest()
    svc.close()


async def test_200_concurrent_streams():
    svc = Services()
    port = await svc.echo()
    async with tunnel_server() as server, client_for(server) as client:
        t = await client.expose(port)
        payloads = [pattern(1000 + 997 * i, seed=i) for i in range(200)]
        results = await asyncio.gather(*(roundtrip(t.remote_port, p) for p in payloads))
        assert [r == p for r, p in zip(results, payloads)] == [True] * 200
    svc.close()


async def test_stalled_reader_does_not_stall_others():
    """One stream's service never reads; another stream moves 20 MiB meanwhile,
    and what the tunnel buffers for the stalled stream stays bounded."""
    svc = Services()
    stalled_port, echo_port = await svc.stall(), await svc.echo()
    async with tunnel_server() as server, client_for(server) as client:
        stalled = await client.expose(stalled_port)
        echo = await client.expose(echo_port)
        sock = socket.create_connection(("127.0.0.1", stalled.remote_port))
        sock.setblocking(False)
        pushed = 0
        chunk = b"z" * 65536
        loop = asyncio.get_running_loop()
        # Push until the whole chain stops accepting bytes for 0.5 s.
        idle_since = loop.time()
        while loop.time() - idle_since < 0.5 and pushed < 512 << 20:
            try:
                pushed += sock.send(chunk)
                idle_since = loop.time()
            except BlockingIOError:
                await asyncio.sleep(0.02)
        assert pushed < 512 << 20, "the stalled stream accepted everything: no backpressure"
        # Meanwhile another stream on the same tunnel still flows.
        data = pattern(20 << 20, seed=3)
        assert await roundtrip(echo.remote_port, data) == data
        # What the tunnel itself holds for the stalled stream is bounded by
        # one window (which may have grown while the kernel's buffers took
        # bytes) plus one transport buffer.
        bound = MAX_STREAM_WINDOW + relay.WRITE_HIGH_WATER
        held = sum(st.transport.get_write_buffer_size() for st in client._client.conn.streams.values()
                   if st.transport is not None)
        assert held <= bound
        sock.close()
    svc.close()


async def test_half_close_user_first():
    """Request, then EOF; the service answers after reading to EOF."""
    svc = Services()
    port = await svc.sink()
    async with tunnel_server() as server, client_for(server) as client:
        t = await client.expose(port)
        got = await roundtrip(t.remote_port, b"request body")
        assert got == f"12 {hashlib.sha256(b'request body').hexdigest()}".encode()


async def test_half_close_service_first():
    """The service sends and closes its write side first; it still reads after."""
    done = asyncio.get_running_loop().create_future()

    async def handle(r, w):
        w.write(b"banner")
        w.write_eof()
        await w.drain()
        done.set_result(await r.read())  # reads until the user's EOF
        w.close()

    svc = Services()
    port = await svc.start(handle)
    async with tunnel_server() as server, client_for(server) as client:
        t = await client.expose(port)
        r, w = await asyncio.open_connection("127.0.0.1", t.remote_port)
        assert await r.read() == b"banner"  # EOF arrived, our side still open
        w.write(b"after eof")
        w.write_eof()
        assert await asyncio.wait_for(done, 5) == b"after eof"
        w.close()
    svc.close()


async def test_local_service_refusing():
    svc = Services()
    echo = await svc.echo()
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there now
    async with tunnel_server() as server, client_for(server) as client:
        t = await client.expose(dead_port)
        r, w = await asyncio.open_connection("127.0.0.1", t.remote_port)
        with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
            async with asyncio.timeout(5):
                await r.readexactly(1)
        w.close()
        # the tunnel is still up
        ok = await client.expose(echo)
        assert await roundtrip(ok.remote_port, b"still here") == b"still here"
    svc.close()


async def test_public_user_vanishing():
    gone = asyncio.get_running_loop().create_future()

    async def handle(r, w):
        try:
            while await r.read(65536):
                pass
        except ConnectionError:
            pass
        gone.set_result(True)
        w.close()

    svc = Services()
    port = await svc.start(handle)
    async with tunnel_server() as server, client_for(server) as client:
        t = await client.expose(port)
        sock = socket.create_connection(("127.0.0.1", t.remote_port))
        sock.sendall(b"x" * 1000)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST
        assert await asyncio.wait_for(gone, 5)
    svc.close()


@pytest.mark.timeout(20)
async def test_credit_for_early_data_is_not_delayed():
    """Data that arrives before the local connection is up gets its credit back
    at once, not at the next heartbeat (a 4 s stall per new stream, once)."""
    svc = Services()
    port = await svc.sink()
    async with tunnel_server(ping_interval=60, ping_timeout=180) as server, client_for(server) as client:
        t = await client.expose(port)
        data = pattern(4 << 20, seed=5)
        async with asyncio.timeout(10):  # the next heartbeat is 60 s away
            answer = await roundtrip(t.remote_port, data)
        assert answer.decode() == f"{len(data)} {hashlib.sha256(data).hexdigest()}"
    svc.close()
