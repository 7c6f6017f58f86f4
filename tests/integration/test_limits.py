"""Server limits: failed-authentication blocking, clients at once, streams per client."""

from __future__ import annotations

import asyncio
import logging

import pytest

import fasttun

from ..support import Services, client_for, roundtrip, tunnel_server

pytestmark = pytest.mark.usefixtures("impl", "loop_kind")


async def test_failed_authentications_block_the_address(caplog):
    async with tunnel_server(auth_failures=3, auth_window=60) as server:
        with caplog.at_level(logging.WARNING, logger="fasttun"):
            for _ in range(3):
                with pytest.raises(fasttun.AuthenticationError):
                    async with client_for(server, token="wrong"):
                        pass
            # now even the right token is refused from this address
            with pytest.raises(fasttun.FasttunError):
                async with client_for(server, reconnect=False):
                    pass
        text = caplog.text
        assert "authentication failed from 127.0.0.1" in text
        assert "blocking 127.0.0.1 for 60 s after 3 failed authentications" in text
        assert "too many failed authentications from 127.0.0.1" in text


async def test_max_clients():
    async with tunnel_server(max_clients=1) as server, client_for(server) as first:
        with pytest.raises(fasttun.FasttunError, match="server full"):
            async with client_for(server):
                pass
        assert server.client_count == 1
        assert first.tunnels == []  # the first one is still connected and usable
        svc = Services()
        t = await first.expose(await svc.echo())
        assert await roundtrip(t.remote_port, b"fine") == b"fine"
        svc.close()


async def test_max_streams_per_client():
    svc = Services()
    echo = await svc.echo()
    async with tunnel_server(max_streams=2) as server, client_for(server) as c:
        held = await c.expose(echo)
        conns = [await asyncio.open_connection("127.0.0.1", held.remote_port) for _ in range(2)]
        await asyncio.sleep(0.1)
        # a third stream is refused: the public connection is closed at once
        r, w = await asyncio.open_connection("127.0.0.1", held.remote_port)
        with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
            async with asyncio.timeout(5):
                await r.readexactly(1)
        w.close()
        for _, cw in conns:
            cw.close()  # the echo service closes too: both streams end
        await asyncio.sleep(0.2)
        assert await roundtrip(held.remote_port, b"after") == b"after"
    svc.close()
