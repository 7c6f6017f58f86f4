"""Per-tunnel limits the server enforces (``--max-conns``, ``--max-serves``,
``--expire``): over real sockets, for TCP and HTTP tunnels, and the client is
told why a tunnel closed."""

from __future__ import annotations

import asyncio

import pytest

from fasttun.exceptions import TunnelError
from tests.httpsupport import DOMAIN, H11Service, Visitor, http_server, raw_exchange, status_of
from tests.support import Services, client_for, roundtrip, wait_for


async def refused(port: int) -> bool:
    """Whether a connection to *port* is refused or cut before any answer."""
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    try:
        w.write(b"ping")
        async with asyncio.timeout(5):
            return await r.read() == b""
    except ConnectionResetError:
        return True
    finally:
        w.close()


async def test_max_conns_refuses_beyond_the_limit_and_accepts_again():
    services = Services()
    echo = await services.echo()
    async with http_server() as server:
        client = client_for(server, reconnect=False)
        await client.connect()
        t = await client.expose(echo, max_conns=2)
        held = []
        for _ in range(2):
            r, w = await asyncio.open_connection("127.0.0.1", t.remote_port)
            w.write(b"hi")
            assert await r.readexactly(2) == b"hi"
            held.append(w)
        assert await refused(t.remote_port)
        held.pop().close()
        await wait_for(lambda: t.traffic.open == 1)
        await wait_for(lambda: server._server.find_tunnel(t.tunnel_id).traffic.open == 1)
        assert await roundtrip(t.remote_port, b"z" * 5000) == b"z" * 5000
        assert server._server.refused["max_conns"] == 1
        held[0].close()
        await client.close()
    services.close()


async def test_max_serves_closes_the_tunnel_after_n_connections():
    services = Services()
    echo = await services.echo()
    async with http_server() as server:
        closed = []
        client = client_for(server, reconnect=False, on_tunnel_closed=lambda t, why: closed.append(why))
        await client.connect()
        t = await client.expose(echo, max_serves=2)
        for i in range(2):
            assert await roundtrip(t.remote_port, b"x" * (1000 + i)) == b"x" * (1000 + i)
        await wait_for(lambda: closed)
        assert closed == ["it served 2 connections (max_serves)"] and t.closed and client.tunnels == []
        assert await refused(t.remote_port)
        assert server._server.find_tunnel(t.tunnel_id) is None
        await client.close()
    services.close()


async def test_expire_closes_a_tunnel_at_its_deadline_http_too():
    async def app(req):  # type: ignore[no-untyped-def]
        return 200, [("Content-Type", "text/plain")], b"ok"

    web = H11Service(app)
    port = await web.start()
    async with http_server() as server:
        closed = []
        client = client_for(server, reconnect=False, on_tunnel_closed=lambda t, why: closed.append((t.name, why)))
        await client.connect()
        await client.expose(port, http=True, subdomain="brief", expire=0.5)
        host = f"brief.{DOMAIN}:{server.http_port}"
        v = await Visitor.open(server.http_port)
        status, _, body = await v.request("GET", "/", host)
        assert (status, body) == (200, b"ok")
        v.close()
        await wait_for(lambda: closed)
        assert closed == [(f"brief.{DOMAIN}", "it expired (expire)")]
        answer = await raw_exchange(server.http_port, f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert status_of(answer) == 404  # the name is free again
        # Another client may take the name now.
        other = client_for(server, reconnect=False)
        await other.connect()
        assert (await other.expose(port, http=True, subdomain="brief")).name == f"brief.{DOMAIN}"
        await other.close()
        await client.close()
    web.close()


async def test_bad_limits_are_refused_clearly():
    services = Services()
    echo = await services.echo()
    async with http_server() as server:
        client = client_for(server, reconnect=False)
        await client.connect()
        conn = client._client.conn
        for bad, why in (({"max_conns": -1}, "max_conns"), ({"max_serves": "5"}, "max_serves"),
                         ({"expire": 0}, "expire"), ({"expire": True}, "expire")):
            fut = asyncio.get_running_loop().create_future()
            conn.requests[999] = fut
            conn.send_control({"op": "bind", "id": 999, "port": 0, "local": f"localhost:{echo}", **bad})
            msg = await asyncio.wait_for(fut, 5)
            assert msg["op"] == "error" and msg["error"].startswith(why)
        with pytest.raises(Exception) as info:
            await client.expose(echo, max_conns=-1)
        assert "--max-conns" in str(info.value) and not isinstance(info.value, TunnelError)
        await client.close()
    services.close()
