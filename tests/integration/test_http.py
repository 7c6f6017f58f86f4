"""HTTP mode end to end: a server with an HTTP port, clients with HTTP tunnels,
real local services and real visitors over 127.0.0.1 (docs/spec.md §9).
Every test runs on the compiled visitor and core and on their twins (``impl``)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time

import pytest

from fasttun.http.visitor_py import LINES_MESSAGE_TEXT
from tests.conftest import MS
from tests.httpsupport import (
    DOMAIN,
    H11Service,
    Visitor,
    echo_handler,
    http_server,
    parse_echo,
    raw_exchange,
    status_of,
)
from tests.support import client_for, pattern


async def test_requests_reach_the_tunnel_their_host_names(impl, loop_kind):
    async def hello(req):
        return 200, [("Content-Type", "text/plain")], b"I am " + req.headers["host"].encode()

    services = [H11Service(hello), H11Service(echo_handler)]
    ports = [await s.start() for s in services]
    records = []
    async with http_server() as server:
        async with client_for(server, on_request=lambda t, m: records.append((t.name, m))) as client:
            a = await client.expose(ports[0], http=True, subdomain="alpha")
            b = await client.expose(ports[1], http=True, subdomain="beta")
            assert a.name == f"alpha.{DOMAIN}" and a.urls == [f"http://alpha.{DOMAIN}:{server.http_port}"]
            assert b.url == f"http://beta.{DOMAIN}:{server.http_port}"
            v = await Visitor.open(server.http_port)
            for i in range(5):  # keep-alive: every request of the connection, in order
                status, headers, body = await v.request("GET", f"/n{i}", f"alpha.{DOMAIN}:{server.http_port}")
                assert status == 200 and body == f"I am alpha.{DOMAIN}:{server.http_port}".encode()
            v.close()
            w = await Visitor.open(server.http_port)
            status, _, body = await w.request("GET", "/x?y=1", f"BETA.{DOMAIN}.")  # case and trailing dot
            line, headers, digest = parse_echo(body.decode())
            assert status == 200 and line == "GET /x?y=1"
            w.close()
            await asyncio.sleep(50 * MS)
    assert services[0].connections == 1  # one visitor connection is one stream, one local connection
    assert [(n, m["method"], m["path"], m["status"]) for n, m in records] == \
        [(f"alpha.{DOMAIN}", "GET", f"/n{i}", 200) for i in range(5)] + [(f"beta.{DOMAIN}", "GET", "/x?y=1", 200)]
    assert all(m["bytes"] > 0 and m["duration"] >= 0 and m["client"] == "127.0.0.1" for _, m in records)
    for s in services:
        s.close()


async def test_another_tunnels_name_on_the_same_connection_gets_421(impl):
    svc = H11Service(echo_handler)
    port = await svc.start()
    async with http_server() as server:
        async with client_for(server) as client:
            await client.expose(port, http=True, subdomain="one")
            await client.expose(port, http=True, subdomain="two")
            v = await Visitor.open(server.http_port)
            assert (await v.request("GET", "/", f"one.{DOMAIN}"))[0] == 200
            status, headers, body = await v.request("GET", "/", f"two.{DOMAIN}")
            assert status == 421 and headers["connection"] == "close" and b"new connection" in body
            assert await v.reader.read() == b""  # and the connection closes
            # A new connection for the other name works.
            w = await Visitor.open(server.http_port)
            assert (await w.request("GET", "/", f"two.{DOMAIN}"))[0] == 200
            w.close()
    svc.close()


async def test_forwarded_headers(impl, loop_kind):
    svc = H11Service(echo_handler)
    port = await svc.start()
    async with http_server() as server:
        async with client_for(server) as client:
            await client.expose(port, http=True, subdomain="app")
            v = await Visitor.open(server.http_port)
            host = f"app.{DOMAIN}:{server.http_port}"
            _, _, body = await v.request("GET", "/", host, headers=(
                ("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "evil"),
                ("Forwarded", "for=203.0.113.9"), ("X-Keep", "yes")))
            _, headers, _ = parse_echo(body.decode())
            got = dict(headers)
            assert got["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"  # appended
            assert got["X-Forwarded-Proto"] == "http" and got["X-Forwarded-Host"] == host  # ours, not the visitor's
            assert got["Forwarded"] == f'for=203.0.113.9, for=127.0.0.1;host="{host}";proto=http'
            assert got["X-Keep"] == "yes" and got["Host"] == host
            assert [k for k, _ in headers].count("X-Forwarded-Proto") == 1
            v.close()
    svc.close()


async def test_tunnel_header_options(impl):
    svc = H11Service(echo_handler)
    port = await svc.start()
    async with http_server() as server:
        async with client_for(server) as client:
            await client.expose(port, http=True, subdomain="opts", host_header="localhost:3000",
                                request_headers=(("X-Env", "demo"), ("User-Agent", ""), ("X-Keep", "mine")))
            v = await Visitor.open(server.http_port)
            host = f"opts.{DOMAIN}"
            _, _, body = await v.request("GET", "/", host, headers=(("User-Agent", "curl"), ("X-Keep", "theirs")))
            _, headers, _ = parse_echo(body.decode())
            got = dict(headers)
            assert got["Host"] == "localhost:3000" and got["X-Forwarded-Host"] == host  # frp's hostHeaderRewrite
            assert got["X-Env"] == "demo" and got["X-Keep"] == "mine" and "User-Agent" not in got
            v.close()
    svc.close()


async def test_basic_auth(impl):
    svc = H11Service(echo_handler)
    port = await svc.start()
    async with http_server() as server:
        async with client_for(server) as client:
            await client.expose(port, http=True, subdomain="secret", basic_auth="alice:s3cret")
            host = f"secret.{DOMAIN}"
            for creds in (None, "alice:wrong", "bob:s3cret"):
                v = await Visitor.open(server.http_port)
                hdrs = (("Authorization", "Basic " + base64.b64encode(creds.encode()).decode()),) if creds else ()
                status, headers, body = await v.request("GET", "/", host, headers=hdrs)
                assert status == 401 and headers["www-authenticate"].startswith('Basic realm="fasttun"')
                assert b"user name and password" in body
                v.close()
            v = await Visitor.open(server.http_port)
            good = "Basic " + base64.b64encode(b"alice:s3cret").decode()
            for _ in range(2):  # every request of the connection is checked, and passes
                status, _, body = await v.request("GET", "/", host, headers=(("Authorization", good),))
                assert status == 200
                assert "Authorization" not in dict(parse_echo(body.decode())[1])  # fasttun's, not the app's
            v.close()
    assert len(svc.requests) == 2  # the refused ones never reached the service
    svc.close()


async def test_rate_limit_per_visitor(impl):
    svc = H11Service(echo_handler)
    port = await svc.start()
    async with http_server() as server:
        async with client_for(server) as client:
            await client.expose(port, http=True, subdomain="slow", rate_limit=3)
            statuses, retry = [], None
            for _ in range(5):
                v = await Visitor.open(server.http_port)
                status, headers, _ = await v.request("GET", "/", f"slow.{DOMAIN}")
                statuses.append(status)
                retry = headers.get("retry-after", retry)
                v.close()
            assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
            assert retry is not None and int(retry) >= 1
            await asyncio.sleep(1.1)  # the bucket refills
            v = await Visitor.open(server.http_port)
            assert (await v.request("GET", "/", f"slow.{DOMAIN}"))[0] == 200
            v.close()
    svc.close()


async def test_pipelined_requests_and_http10(impl):
    svc = H11Service(echo_handler)
    port = await svc.start()
    async with http_server() as server:
        async with client_for(server) as client:
            await client.expose(port, http=True, subdomain="pipe")
            host = f"pipe.{DOMAIN}"
            v = await Visitor.open(server.http_port)
            burst = b"".join(f"GET /p{i} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode() for i in range(10))
            burst += f"POST /p10 HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\nhello".encode()
            v.send_raw(burst)
            for i in range(11):
                status, _, body = await v.response()
                assert status == 200 and body.startswith(f"{'POST' if i == 10 else 'GET'} /p{i}".encode())
            v.close()
            # HTTP/1.0: one request, then the connection closes.
            answer = await raw_exchange(server.http_port, f"GET /old HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            assert status_of(answer) == 200 and b"GET /old" in answer
    svc.close()


async def test_http10_local_service(impl):
    """An HTTP/1.0 service (Python's http.server style): the answer ends at close."""

    async def handle(r, w):
        await r.readuntil(b"\r\n\r\n")
        w.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        w.write(b"x" * 100000)
        await w.drain()
        w.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with http_server() as server:
        async with client_for(server) as client:
            await client.expose(srv.sockets[0].getsockname()[1], http=True, subdomain="old")
            answer = await raw_exchange(server.http_port, f"GET / HTTP/1.1\r\nHost: old.{DOMAIN}\r\n\r\n".encode())
            assert status_of(answer) == 200 and answer.endswith(b"x" * 100000)
    srv.close()


async def test_chunked_bodies_both_ways(impl, loop_kind):
    chunks = [pattern(n, seed=n) for n in (1, 10, 1000, 100000, 3)]

    async def handler(req):
        assert req.headers.get("transfer-encoding") == "chunked"
        got = await req.read()

        async def answer():
            for c in chunks:
                yield c

        return 200, [("Transfer-Encoding", "chunked"), ("X-Got", hashlib.sha256(got).hexdigest())], answer()

    svc = H11Service(handler)
    port = await svc.start()
    async with http_server() as server:
        async with client_for(server) as client:
            await client.expose(port, http=True, subdomain="chunks")
            v = await Visitor.open(server.http_port)
            for _ in range(2):  # and the connection stays usable after each
                body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\nX-T: 1\r\n\r\n"
                v.send_raw(f"PUT /up HTTP/1.1\r\nHost: chunks.{DOMAIN}\r\nTransfer-Encoding: chunked\r\n\r\n"
                           .encode() + body)
                status, headers, got = await v.response()
                assert status == 200 and got == b"".join(chunks)
                assert headers["x-got"] == hashlib.sha256(b"".join(chunks)).hexdigest()
            v.close()
    svc.close()


async def test_streamed_response_and_server_sent_events_arrive_as_written(impl, loop_kind):
    written: list[float] = []

    async def handler(req):
        async def events():
            for i in range(5):
                written.append(time.monotonic())
                yield f"data: event {i}\n\n".encode()
                await asyncio.sleep(200 * MS)

        return 200, [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")], events()

    svc = H11Service(handler)
    port = await svc.start()
    async with http_server() as server:
        async with client_for(server) as client:
            await client.expose(port, http=True, subdomain="sse")
            r, w = await asyncio.open_connection("127.0.0.1", server.http_port)
            w.write(f"GET /events HTTP/1.1\r\nHost: sse.{DOMAIN}\r\nAccept: text/event-stream\r\n\r\n".encode())
            await r.readuntil(b"\r\n\r\n")
            arrived = []
            for i in range(5):
                size = await r.readuntil(b"\r\n")  # a chunk: each event is one write of the service
                data = await r.readexactly(int(size, 16) + 2)
                assert data[:-2] == f"data: event {i}\n\n".encode()
                arrived.append(time.monotonic())
            w.close()
    # Each event reached the visitor before the service wrote the next one.
    for i in range(4):
        assert arrived[i] < written[i + 1], (i, arrived[i] - written[i])
    svc.close()


async def test_expect_100_continue(impl):
    async def handle(r, w):
        head = await r.readuntil(b"\r\n\r\n")
        assert b"Expect: 100-continue" in head
        w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await w.drain()
        body = await r.readexactly(11)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n" + body)
        await w.drain()
        w.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with http_server() as server:
        async with client_for(server) as client:
            await client.expose(srv.sockets[0].getsockname()[1], http=True, subdomain="cont")
            r, w = await asyncio.open_connection("127.0.0.1", server.http_port)
            w.write(f"POST / HTTP/1.1\r\nHost: cont.{DOMAIN}\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"
                    .encode())
            assert await r.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"  # before the body is sent
            w.write(b"hello world")
            head = await r.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and await r.readexactly(11) == b"hello world"
            w.close()
    srv.close()


async def test_websocket_passes_through(impl, loop_kind):
    websockets = pytest.importorskip("websockets")
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    async def echo(ws):
        async for message in ws:
            await ws.send(message)
        await ws.close()

    async with serve(echo, "127.0.0.1", 0, max_size=None) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        async with http_server() as server:
            async with client_for(server) as client:
                await client.expose(port, http=True, subdomain="ws")
                uri = f"ws://ws.{DOMAIN}:{server.http_port}/chat"
                async with connect(uri, host="127.0.0.1", port=server.http_port, max_size=None) as ws:
                    for size in (1, 1000, 1 << 20):
                        data = pattern(size, seed=size)
                        await ws.send(data)
                        assert await ws.recv() == data
                    await ws.send("text too")
                    assert await ws.recv() == "text too"
    assert websockets


async def test_other_upgrade_passes_raw_bytes(impl):
    async def handle(r, w):
        head = await r.readuntil(b"\r\n\r\n")
        assert b"Upgrade: x-raw" in head
        w.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x-raw\r\n\r\nserver first\n")
        while data := await r.read(65536):  # then a raw echo
            w.write(data)
        w.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with http_server() as server:
        async with client_for(server) as client:
            await client.expose(srv.sockets[0].getsockname()[1], http=True, subdomain="raw")
            r, w = await asyncio.open_connection("127.0.0.1", server.http_port)
            w.write(f"GET / HTTP/1.1\r\nHost: raw.{DOMAIN}\r\nConnection: Upgrade\r\nUpgrade: x-raw\r\n\r\n".encode())
            assert (await r.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
            assert await r.readline() == b"server first\n"
            junk = b"GET / HTTP/1.1\r\n\r\n" + pattern(200000)  # not parsed as HTTP any more
            w.write(junk)
            assert await r.readexactly(len(junk)) == junk
            w.write_eof()
            assert await r.read() == b""
            w.close()
    srv.close()


async def test_upgrade_declined_goes_on_as_http(impl):
    svc = H11Service(echo_handler)  # answers 200 to everything: the upgrade is declined
    port = await svc.start()
    async with http_server() as server:
        async with client_for(server) as client:
            await client.expose(port, http=True, subdomain="decline")
            v = await Visitor.open(server.http_port)
            host = f"decline.{DOMAIN}"
            status, _, _ = await v.request("GET", "/", host, headers=(("Connection", "Upgrade"), ("Upgrade", "x")))
            assert status == 200
            assert (await v.request("GET", "/next", host))[0] == 200
            v.close()
    svc.close()


class _Console:
    """An ``on_request`` that asks for lines (as ``cli.RequestLog``): it keeps
    each ``request_lines`` message's runs."""

    def __init__(self) -> None:
        self.messages: list = []

    def __call__(self, tunnel, msg) -> None:  # pragma: no cover - lines are asked for
        raise AssertionError("records sent to a client that asked for lines")

    def lines_message(self, tunnels: dict, runs: list) -> None:
        self.messages.append([(tunnels[tid].name, text) for tid, text in runs])


async def test_console_lines_come_in_batches(impl):
    """A bind with log "lines" gets the lines of a busy tunnel gathered for
    0.05 s, or until they fill a message (docs/spec.md §9.2): every request's
    line, in order, in far fewer messages than requests, none over the size."""
    service = H11Service(echo_handler)
    port = await service.start()
    console = _Console()
    n = 300
    long = "p" * 150  # 300 lines of ~180 characters: several messages' worth
    async with http_server() as server:
        async with client_for(server, on_request=console) as client:
            t = await client.expose(port, http=True, subdomain="lines")
            v = await Visitor.open(server.http_port)
            started = time.monotonic()
            for i in range(n):  # one after another: one turn of the server's loop each
                status, _, _ = await v.request("GET", f"/r{i}/{long}", t.name)
                assert status == 200
            took = time.monotonic() - started
            v.close()
            deadline = time.monotonic() + 5
            while sum(text.count("\n") for m in console.messages for _, text in m) < n:
                assert time.monotonic() < deadline, "lines missing"
                await asyncio.sleep(10 * MS)
    service.close()
    lines = [line for m in console.messages for name, text in m for line in text.splitlines() if name == t.name]
    assert [line.split("  ")[0] for line in lines] == [f"GET /r{i}/{long}" for i in range(n)]
    assert all(line.split("  ")[1] == "200" for line in lines)
    sizes = [sum(len(text) for _, text in m) for m in console.messages]
    assert max(sizes) <= LINES_MESSAGE_TEXT
    # One message per 0.05 s of requests (and the last), plus one per
    # message's worth of lines (a line of ~185 characters would not fit the
    # last), where one per turn would be one per request.
    total = sum(sizes)
    assert total // LINES_MESSAGE_TEXT + 1 <= len(console.messages) <= \
        took / 0.05 + 2 + total // (LINES_MESSAGE_TEXT - 200) < n / 2
