"""Server hooks (``fasttun.Hooks`` and ``--hook-url``) over real sockets:
each event arrives with what the docs promise, a refusal reaches the client
with its reason, bytes sent while a hook decides are not lost, and a hook
that fails or is down refuses (fails closed)."""

from __future__ import annotations

import asyncio

import pytest

import fasttun
from fasttun.config import ClientAccess
from fasttun.exceptions import AuthenticationError, TunnelError
from tests.httpsupport import DOMAIN, H11Service, Visitor, http_server, raw_exchange, status_of
from tests.support import Services, client_for, free_port, free_range, pattern, roundtrip, wait_for

from .test_tunnel_limits import refused


async def test_login_and_tunnel_hooks_refuse_with_a_reason():
    events = []

    async def login(e):  # type: ignore[no-untyped-def]
        events.append(e)
        await asyncio.sleep(0.05)
        if e["account"] == "mallory":
            raise fasttun.Refused("mallory is suspended")

    def tunnel(e):  # type: ignore[no-untyped-def]
        events.append(e)
        if e["kind"] == "http" and e["subdomain"] == "admin":
            return "the name admin is kept for the operator"
        return None

    ports = free_range()
    clients = (ClientAccess("alice", "tok-alice", ports), ClientAccess("mallory", "tok-mallory", ports))
    hooks = fasttun.Hooks(on_login=login, on_tunnel=tunnel)
    services = Services()
    echo = await services.echo()
    async with http_server(token=None, clients=clients, ports=ports, hooks=hooks) as server:
        bad = client_for(server, token="tok-mallory", reconnect=False)
        with pytest.raises(AuthenticationError, match="the server refused this client: mallory is suspended"):
            await bad.connect()
        good = client_for(server, token="tok-alice", reconnect=False)
        await good.connect()
        assert [(e["event"], e["account"]) for e in events] == [("login", "mallory"), ("login", "alice")]
        assert events[1]["version"].startswith("fasttun/") and events[1]["address"].startswith("127.0.0.1:")
        t = await good.expose(echo, max_conns=4)
        assert await roundtrip(t.remote_port, b"ok") == b"ok"
        assert events[2] == {"event": "tunnel", "client": events[1]["client"], "address": events[1]["address"],
                             "account": "alice", "kind": "tcp", "local": f"localhost:{echo}", "port": 0,
                             "limits": {"max_conns": 4}}
        with pytest.raises(TunnelError, match="refused by the server: the name admin is kept for the operator"):
            await good.expose(echo, http=True, subdomain="admin")
        assert (await good.expose(echo, http=True, subdomain="shop")).name == f"shop.{DOMAIN}"
        assert server._server.refused["hook_login"] == 1 and server._server.refused["hook_tunnel"] == 1
        await good.close()
    services.close()


async def test_connect_hook_decides_and_held_bytes_arrive(loop_kind):
    seen = []

    async def connect(e):  # type: ignore[no-untyped-def]
        seen.append(e)
        await asyncio.sleep(0.2)  # the visitor sends everything, and its EOF, meanwhile
        if len(seen) == 2:
            raise fasttun.Refused("second visitor")

    services = Services()
    sink = await services.sink()
    async with http_server(hooks=fasttun.Hooks(on_connect=connect)) as server:
        client = client_for(server, reconnect=False)
        await client.connect()
        t = await client.expose(sink)
        data = pattern(300_000)
        import hashlib
        assert await roundtrip(t.remote_port, data) == f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode()
        assert await refused(t.remote_port)
        small = b"tiny"
        assert await roundtrip(t.remote_port, small) == f"4 {hashlib.sha256(small).hexdigest()}".encode()
        assert [e["event"] for e in seen] == ["connect"] * 3
        assert seen[0]["tunnel"] == t.tunnel_id and seen[0]["kind"] == "tcp"
        assert seen[0]["visitor"].startswith("127.0.0.1:") and seen[0]["public"] == f"127.0.0.1:{t.remote_port}"
        assert server._server.refused["hook_connect"] == 1
        await client.close()
    services.close()


async def test_connect_hook_on_the_http_port():
    async def connect(e):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.05)
        if e["visitor"].startswith("127.0.0.1:") and e["host"] == f"private.{DOMAIN}":
            raise fasttun.Refused("private tunnel")

    async def app(req):  # type: ignore[no-untyped-def]
        body = await req.read()
        return 200, [("Content-Type", "text/plain")], b"got %d" % len(body)

    svc = H11Service(app)
    port = await svc.start()
    async with http_server(hooks=fasttun.Hooks(on_connect=connect)) as server:
        client = client_for(server, reconnect=False)
        await client.connect()
        await client.expose(port, http=True, subdomain="open")
        await client.expose(port, http=True, subdomain="private")
        v = await Visitor.open(server.http_port)
        body = pattern(100_000)
        for _ in range(3):  # the hook is asked once per connection
            status, _, got = await v.request("POST", "/", f"open.{DOMAIN}", body=body)
            assert (status, got) == (200, b"got 100000")
        v.close()
        answer = await raw_exchange(server.http_port, f"GET / HTTP/1.1\r\nHost: private.{DOMAIN}\r\n\r\n".encode())
        assert status_of(answer) == 403 and b"Refused: private tunnel" in answer
        await client.close()
    svc.close()


async def test_close_hook_hears_every_reason():
    closes = []
    services = Services()
    echo = await services.echo()
    async with http_server(hooks=fasttun.Hooks(on_close=closes.append)) as server:
        client = client_for(server, reconnect=False)
        await client.connect()
        a = await client.expose(echo)
        b = await client.expose(echo, max_serves=1)
        c = await client.expose(echo)
        await a.close()
        assert await roundtrip(b.remote_port, b"x") == b"x"
        await wait_for(lambda: len(closes) == 2)
        await client.close()
        await wait_for(lambda: len(closes) == 3)
        assert [(e["tunnel"], e["reason"]) for e in closes] == [
            (a.tunnel_id, "the client closed it"), (b.tunnel_id, "it served 1 connections (max_serves)"),
            (c.tunnel_id, "the client left")]
        assert closes[0]["public"] == f"127.0.0.1:{a.remote_port}" and closes[0]["kind"] == "tcp"
    services.close()


async def test_a_failing_or_slow_hook_refuses():
    def broken(e):  # type: ignore[no-untyped-def]
        raise RuntimeError("bug in the hook")

    async def slow(e):  # type: ignore[no-untyped-def]
        await asyncio.sleep(10)

    for hook, why in ((broken, "the server's hook failed"), (slow, "the server's hook did not answer")):
        async with http_server(hooks=fasttun.Hooks(on_login=hook, timeout=0.3)) as server:
            client = client_for(server, reconnect=False)
            with pytest.raises(AuthenticationError, match=why):
                await client.connect()


async def test_hook_url_posts_events_and_fails_closed_when_down(caplog):
    events = []

    async def hook_app(req):  # type: ignore[no-untyped-def]
        import json
        e = json.loads(await req.read())
        events.append(e)
        assert req.headers["content-type"] == "application/json"
        if e["event"] == "tunnel" and e["port"] == 0:
            return 200, [("Content-Type", "application/json")], b'{"allow": false, "reason": "pick a port"}'
        return 200, [("Content-Type", "application/json")], b'{"allow": true}'

    hook = H11Service(hook_app)
    hook_port = await hook.start()
    services = Services()
    echo = await services.echo()
    ports = free_range()
    async with http_server(ports=ports, hook_url=f"http://127.0.0.1:{hook_port}/fasttun?v=1") as server:
        client = client_for(server, reconnect=False)
        await client.connect()
        with pytest.raises(TunnelError, match="pick a port"):
            await client.expose(echo)
        t = await client.expose(echo, remote_port=ports[0])
        assert await roundtrip(t.remote_port, b"hello") == b"hello"
        await client.close()
        await wait_for(lambda: events and events[-1]["event"] == "close")
        assert [e["event"] for e in events] == ["login", "tunnel", "tunnel", "connect", "close"]
        assert hook.requests[0].target == "/fasttun?v=1"
    hook.close()
    dead = free_port()
    async with http_server(hook_url=f"http://127.0.0.1:{dead}/") as server:
        client = client_for(server, reconnect=False)
        with pytest.raises(AuthenticationError, match="the server's hook is unavailable"):
            await client.connect()
        assert f"hook http://127.0.0.1:{dead}/ is down" in caplog.text
    services.close()
