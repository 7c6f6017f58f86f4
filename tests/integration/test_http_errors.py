"""HTTP mode: fasttun's own answers, hostile visitors, names across reconnects,
backpressure and big transfers.  The tests run on the compiled visitor and
core and on their twins (``impl``), but for the backpressure and 1 GiB ones
(the compiled path: the data path's figures are theirs)."""

from __future__ import annotations

import asyncio
import hashlib
import socket

import pytest

import fasttun
from fasttun.exceptions import ConfigError, TunnelError
from tests.conftest import MS
from tests.httpsupport import DOMAIN, H11Service, Visitor, echo_handler, http_server, raw_exchange, status_of
from tests.support import client_for, free_port

HTML = b"Content-Type: text/html; charset=utf-8"


def assert_page(answer: bytes, status: int, *words: bytes) -> None:
    assert status_of(answer) == status, answer[:200]
    head, _, body = answer.partition(b"\r\n\r\n")
    assert HTML in head and b"Connection: close" in head
    assert body.startswith(b"<!doctype html>") and all(w in body for w in words), body
    # Nothing of the inside: no local address, no Python.
    assert b"127.0.0.1" not in body and b"Traceback" not in body and b"localhost" not in body


async def test_pages_404_400_405_431(impl):
    async with http_server() as server:
        port = server.http_port
        assert_page(await raw_exchange(port, f"GET / HTTP/1.1\r\nHost: nobody.{DOMAIN}\r\n\r\n".encode()), 404,
                    f"nobody.{DOMAIN}".encode())
        assert_page(await raw_exchange(port, b"GARBAGE\r\n\r\n"), 400, b"malformed")
        assert_page(await raw_exchange(port, b"GET / HTTP/1.1\r\n\r\n"), 400)  # no Host
        assert_page(await raw_exchange(port, b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"), 405)
        big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n"
        assert_page(await raw_exchange(port, big), 431, b"too large")
        # A HEAD request gets the head of the page only.
        answer = await raw_exchange(port, f"HEAD / HTTP/1.1\r\nHost: nobody.{DOMAIN}\r\n\r\n".encode())
        assert status_of(answer) == 404 and answer.endswith(b"\r\n\r\n")


async def test_502_when_the_local_service_refuses_and_when_the_client_is_offline(impl):
    async with http_server(http_reserve=30) as server:
        client = client_for(server, reconnect=False)
        await client.connect()
        await client.expose(free_port(), http=True, subdomain="down")  # nothing listens there
        answer = await raw_exchange(server.http_port, f"GET / HTTP/1.1\r\nHost: down.{DOMAIN}\r\n\r\n".encode())
        assert_page(answer, 502, b"could not reach its local service")
        client._client.conn.transport.abort()  # lost, not a goodbye: the name is kept for it
        await asyncio.sleep(50 * MS)
        answer = await raw_exchange(server.http_port, f"GET / HTTP/1.1\r\nHost: down.{DOMAIN}\r\n\r\n".encode())
        assert_page(answer, 502, b"offline")
        await client.close()


async def test_504_when_the_local_service_does_not_answer(impl):
    stalled: list = []

    async def handle(r, w):
        stalled.append(w)
        try:
            await r.read()
        except ConnectionError:  # the stream was reset after the 504
            pass

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with http_server(http_timeout=0.5) as server:
        async with client_for(server) as client:
            await client.expose(srv.sockets[0].getsockname()[1], http=True, subdomain="mute")
            answer = await raw_exchange(server.http_port, f"GET / HTTP/1.1\r\nHost: mute.{DOMAIN}\r\n\r\n".encode())
            assert_page(answer, 504, b"did not answer in time")
    for w in stalled:
        w.close()
    srv.close()


@pytest.mark.parametrize("attack, status", [
    # request smuggling: both framings
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),  # bad chunk size
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\n Folded: x\r\n\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\r\n\r\n", 400),  # TLS to plain HTTP
])
async def test_hostile_requests_get_their_error_and_cost_others_nothing(impl, attack, status):
    svc = H11Service(echo_handler)
    port = await svc.start()
    async with http_server() as server:
        async with client_for(server) as client:
            await client.expose(port, http=True, subdomain="h")
            attack = attack.replace(b"Host: h\r\n", f"Host: h.{DOMAIN}\r\n".encode())
            healthy = await Visitor.open(server.http_port)
            assert (await healthy.request("GET", "/before", f"h.{DOMAIN}"))[0] == 200
            answer = await raw_exchange(server.http_port, attack)
            assert status_of(answer) == status
            assert (await healthy.request("GET", "/after", f"h.{DOMAIN}"))[0] == 200
            healthy.close()
    assert all(r.target != "/" for r in svc.requests)  # no attack reached the service
    svc.close()


async def test_slowloris_is_cut_off_while_others_are_served(impl, loop_kind):
    svc = H11Service(echo_handler)
    port = await svc.start()
    async with http_server(http_timeout=0.6) as server:
        async with client_for(server) as client:
            await client.expose(port, http=True, subdomain="s")
            host = f"s.{DOMAIN}"
            slow = []
            for _ in range(20):
                r, w = await asyncio.open_connection("127.0.0.1", server.http_port)
                slow.append((r, w))
            head = f"GET / HTTP/1.1\r\nHost: {host}\r\nX-A: ".encode()
            readers = [asyncio.ensure_future(_read_until_closed(r)) for r, _ in slow]
            loop = asyncio.get_running_loop()
            started = loop.time()
            served = 0
            healthy = await Visitor.open(server.http_port)
            # One byte per slow visitor every 50 ms: the head never ends.
            for i in range(60):
                for (r, w), reader in zip(slow, readers):
                    if not reader.done() and not r.at_eof() and not w.is_closing():
                        try:
                            w.write(head[i : i + 1] if i < len(head) else b"a")
                        except ConnectionError:  # the front closed it meanwhile
                            pass
                if i % 4 == 0:
                    assert (await healthy.request("GET", f"/ok{i}", host))[0] == 200
                    served += 1
                await asyncio.sleep(50 * MS)
                if all(r.done() for r in readers):
                    break
            elapsed = loop.time() - started
            answers = [await asyncio.wait_for(r, 3) for r in readers]
            for _, w in slow:
                w.close()
            healthy.close()
    assert all(status_of(a) == 408 for a in answers), answers[0][:100]
    assert 0.5 < elapsed < 2.5 and served >= 3


async def _read_until_closed(r: asyncio.StreamReader) -> bytes:
    data = bytearray()
    try:
        while chunk := await r.read(65536):
            data += chunk
    except ConnectionError:  # a reset after the answer (we wrote to a closed socket)
        pass
    return bytes(data)


async def test_idle_keep_alive_connection_closes_after_the_timeout(impl):
    async with http_server(http_timeout=0.3) as server:
        r, w = await asyncio.open_connection("127.0.0.1", server.http_port)
        assert await asyncio.wait_for(r.read(), 3) == b""  # closed without a word
        w.close()


async def test_names_held_refused_and_given_back_on_reconnect(impl):
    svc = H11Service(echo_handler)
    port = await svc.start()
    async with http_server(http_reserve=30) as server:
        async with client_for(server, backoff_min=0.05, backoff_max=0.1) as a, client_for(server) as b:
            ta = await a.expose(port, http=True, subdomain="mine")
            drawn = await a.expose(port, http=True)  # a random, readable name
            label = drawn.name.split(".")[0]
            assert drawn.name.endswith(f".{DOMAIN}") and label.count("-") == 2 and len(label.split("-")[2]) == 8
            with pytest.raises(TunnelError, match="in use by another client"):
                await b.expose(port, http=True, subdomain="mine")
            with pytest.raises(TunnelError, match="already open for this client"):
                await a.expose(port, http=True, subdomain="mine")
            with pytest.raises(ConfigError, match="inner hyphens"):
                await a.expose(port, http=True, subdomain="-bad-")
            # a's connection drops: its names are kept for it, and b cannot take them
            a._client.conn.transport.abort()
            await asyncio.sleep(20 * MS)
            with pytest.raises(TunnelError, match=r"reserved for another client, which lost its connection "
                                                   r"\(for \d+ s more\)"):
                await b.expose(port, http=True, subdomain="mine")
            for _ in range(100):
                await asyncio.sleep(20 * MS)
                if ta.tunnel_id in a._client.conn.by_id and not a._client.conn.closed.done():
                    break
            assert ta.name == f"mine.{DOMAIN}" and a.tunnels[1].name == drawn.name  # the same names back
            for name in (ta.name, drawn.name):
                v = await Visitor.open(server.http_port)
                assert (await v.request("GET", "/", name))[0] == 200
                v.close()
    svc.close()


async def test_unbind_and_a_clean_exit_free_the_name_at_once(impl):
    async with http_server(http_reserve=30) as server:
        async with client_for(server) as a, client_for(server) as b:
            t = await a.expose(1, http=True, subdomain="free")
            await t.close()
            await asyncio.sleep(20 * MS)
            assert (await b.expose(1, http=True, subdomain="free")).name == f"free.{DOMAIN}"
            await a.expose(1, http=True, subdomain="left")
        async with client_for(server) as c:  # a and b said goodbye: their names are free
            assert (await c.expose(1, http=True, subdomain="left")).name == f"left.{DOMAIN}"
            assert (await c.expose(1, http=True, subdomain="free")).name == f"free.{DOMAIN}"


async def test_http_bind_on_a_server_without_http_port(impl):
    async with fasttun.Server(listen_host="127.0.0.1", listen_port=0, ports=(20000, 20001), token="t") as server:
        async with fasttun.Client(f"127.0.0.1:{server.address[1]}", token="t") as client:
            with pytest.raises(TunnelError, match="no HTTP port"):
                await client.expose(3000, http=True)


async def test_hostname_tunnels_and_servers_without_domain(impl):
    svc = H11Service(echo_handler)
    port = await svc.start()
    async with http_server(domain="") as server:
        async with client_for(server) as client:
            with pytest.raises(TunnelError, match="no --domain"):
                await client.expose(port, http=True, subdomain="x")
            t = await client.expose(port, http=True, hostname="App.Example.ORG")
            assert t.name == "app.example.org"
            v = await Visitor.open(server.http_port)
            assert (await v.request("GET", "/", "app.example.org"))[0] == 200
            v.close()
    svc.close()


@pytest.mark.timeout(120)
async def test_slow_local_reader_gets_backpressure_not_buffering(loop_kind):
    """An upload to a service that stops reading: the visitor's sends stall
    after a bounded amount (windows and socket buffers), and when the service
    reads again every byte arrives (hash)."""
    total = 96 << 20
    gate = asyncio.Event()
    got: list = []

    async def handle(r, w):
        await r.readuntil(b"\r\n\r\n")
        await gate.wait()
        h, n = hashlib.sha256(), 0
        while n < total:
            data = await r.read(1 << 20)
            h.update(data)
            n += len(data)
        got.append((n, h.hexdigest()))
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await w.drain()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with http_server() as server:
        async with client_for(server) as client:
            await client.expose(srv.sockets[0].getsockname()[1], http=True, subdomain="up")
            sock = socket.create_connection(("127.0.0.1", server.http_port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.sock_sendall(sock, f"PUT /f HTTP/1.1\r\nHost: up.{DOMAIN}\r\nContent-Length: {total}\r\n\r\n"
                                    .encode())
            block = memoryview(bytes(range(256)) * 4096)  # 1 MiB
            h = hashlib.sha256()
            sent = off = 0
            while True:  # send until the sends stall
                try:
                    n = sock.send(block[off:])
                except BlockingIOError:
                    await asyncio.sleep(200 * MS)
                    try:
                        n = sock.send(block[off:])
                    except BlockingIOError:
                        break
                h.update(block[off : off + n])
                sent += n
                off = (off + n) % len(block)
                assert sent < 64 << 20, "no backpressure: 64 MiB accepted for a service that reads nothing"
            stalled_at = sent
            gate.set()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 21)
            while sent < total:
                chunk = block[off : off + min(len(block) - off, total - sent)]
                await loop.sock_sendall(sock, chunk)
                h.update(chunk)
                sent += len(chunk)
                off = 0
            answer = await loop.sock_recv(sock, 1000)
            sock.close()
    srv.close()
    # The stream's window (it grew while the service's socket buffers still
    # took bytes) and the socket buffers on the way (kernel autotuning makes
    # them several MiB each on loopback): bounded, far below the upload.
    assert stalled_at < 48 << 20, stalled_at
    assert answer.startswith(b"HTTP/1.1 200") and got == [(total, h.hexdigest())]


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("direction", ["up", "down"])
async def test_one_gib_through_the_http_port(direction):
    total = 1 << 30
    block = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB

    async def handle(r, w):
        head = await r.readuntil(b"\r\n\r\n")
        if head.startswith(b"PUT"):
            h, n = hashlib.sha256(), 0
            while n < total:
                data = await r.read(1 << 20)
                h.update(data)
                n += len(data)
            body = f"{n} {h.hexdigest()}".encode()
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        else:
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
            for _ in range(total // len(block)):
                w.write(block)
                await w.drain()
        await w.drain()

    expected = hashlib.sha256()
    for _ in range(total // len(block)):
        expected.update(block)
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with http_server() as server:
        async with client_for(server) as client:
            await client.expose(srv.sockets[0].getsockname()[1], http=True, subdomain="big")
            r, w = await asyncio.open_connection("127.0.0.1", server.http_port, limit=1 << 20)
            if direction == "up":
                w.write(f"PUT / HTTP/1.1\r\nHost: big.{DOMAIN}\r\nContent-Length: {total}\r\n\r\n".encode())
                for _ in range(total // len(block)):
                    w.write(block)
                    await w.drain()
                await r.readuntil(b"\r\n\r\n")
                assert (await r.read(200)).decode() == f"{total} {expected.hexdigest()}"
            else:
                w.write(f"GET / HTTP/1.1\r\nHost: big.{DOMAIN}\r\n\r\n".encode())
                head = await r.readuntil(b"\r\n\r\n")
                assert f"Content-Length: {total}".encode() in head
                h, n = hashlib.sha256(), 0
                while n < total:
                    data = await r.read(1 << 20)
                    assert data
                    h.update(data)
                    n += len(data)
                assert n == total and h.hexdigest() == expected.hexdigest()
            w.close()
    srv.close()
