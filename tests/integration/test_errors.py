"""User mistakes through the library API: clear errors, nothing else disturbed."""

from __future__ import annotations

import pytest

import fasttun

from ..support import Services, client_for, free_range, roundtrip, tunnel_server

pytestmark = pytest.mark.usefixtures("impl", "loop_kind")


async def test_wrong_token():
    async with tunnel_server() as server:
        with pytest.raises(fasttun.AuthenticationError, match="refused the token"):
            async with client_for(server, token="nope"):
                pass


async def test_port_conflict_between_clients():
    svc = Services()
    port = await svc.echo()
    async with tunnel_server() as server, client_for(server) as a, client_for(server) as b:
        ta = await a.expose(port)
        with pytest.raises(fasttun.TunnelError, match="in use by another client"):
            await b.expose(port, remote_port=ta.remote_port)
        assert await roundtrip(ta.remote_port, b"a's tunnel works") == b"a's tunnel works"
    svc.close()


async def test_port_outside_range():
    svc = Services()
    port = await svc.echo()
    low, high = free_range(5)
    async with tunnel_server(ports=(low, high)) as server, client_for(server) as a, client_for(server) as c:
        ta = await a.expose(port)
        refused = rf"outside the range this server allows this client \({low}-{high}\)"
        for wanted in (low - 1, high + 1):
            with pytest.raises(fasttun.TunnelError, match=refused):
                await c.expose(port, remote_port=wanted)
        # the refusals changed nothing for the other client, nor for this one
        assert await roundtrip(ta.remote_port, b"a's tunnel works") == b"a's tunnel works"
        tc = await c.expose(port)
        assert await roundtrip(tc.remote_port, b"c's too") == b"c's too"
        assert server.public_ports == sorted([ta.remote_port, tc.remote_port])
    svc.close()


async def test_unreachable_server():
    from ..support import free_port

    with pytest.raises(fasttun.ConnectError, match="cannot reach the tunnel server"):
        async with fasttun.Client(f"127.0.0.1:{free_port()}", token="t"):
            pass


async def test_unbind_frees_port():
    svc = Services()
    port = await svc.echo()
    async with tunnel_server() as server, client_for(server) as a, client_for(server) as b:
        ta = await a.expose(port)
        await ta.close()
        for _ in range(50):
            if ta.remote_port not in server.public_ports:
                break
            import asyncio

            await asyncio.sleep(0.01)
        tb = await b.expose(port, remote_port=ta.remote_port)
        assert tb.remote_port == ta.remote_port
    svc.close()
