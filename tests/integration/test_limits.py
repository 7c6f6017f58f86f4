"""Server limits: failed-authentication blocking, clients at once, streams per client."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

import fasttun
from fasttun.aio.relay import abort_with_rst

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


async def _until(predicate, what: str, limit: float = 5.0) -> None:
    async with asyncio.timeout(limit):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_max_pending_per_tunnel(caplog):
    # A local service with a full backlog: the client's dials to it hang
    # (the kernel drops their SYNs), so its streams stay pending.
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(0)
    filler = socket.create_connection(hung.getsockname())  # takes the one backlog slot
    svc = Services()
    echo = await svc.echo()
    async with tunnel_server(max_pending=3) as server, client_for(server, connect_timeout=2.0) as c:
        stuck = await c.expose(hung.getsockname()[1])
        good = await c.expose(echo)
        tunnel = server._server.tunnels[stuck.remote_port]
        with caplog.at_level(logging.WARNING, logger="fasttun"):
            conns = []
            for i in range(3):
                conns.append(await asyncio.open_connection("127.0.0.1", stuck.remote_port))
                await _until(lambda: tunnel.pending == i + 1, "pending")
            # the fourth waits for nothing: refused at once
            r, w = await asyncio.open_connection("127.0.0.1", stuck.remote_port)
            with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
                async with asyncio.timeout(1.5):  # before the client's 2 s local dial timeout
                    await r.readexactly(1)
            w.close()
            assert tunnel.refused == 1 and tunnel.pending == 3
            assert f"public port {stuck.remote_port} has 3 connections waiting" in caplog.text
            # other tunnels of the same client are untouched
            assert await roundtrip(good.remote_port, b"unaffected") == b"unaffected"
            # a public user who gives up (RST) frees its slot
            abort_with_rst(conns[0][1].transport)
            await _until(lambda: tunnel.pending == 2, "pending after a public close")
            # the client gives up the local dials after its timeout: all slots free again
            await _until(lambda: tunnel.pending == 0, "pending after the dial timeout")
            assert "timed out" in caplog.text
            r2, w2 = await asyncio.open_connection("127.0.0.1", stuck.remote_port)
            await _until(lambda: tunnel.pending == 1, "a new connection is pending, not refused")
            assert tunnel.refused == 1
            w2.close()
            for _, cw in conns[1:]:
                cw.close()
        # streams that reached the service are not pending
        assert await roundtrip(good.remote_port, b"x" * 100000) == b"x" * 100000
        assert server._server.tunnels[good.remote_port].pending == 0
    filler.close()
    hung.close()
    svc.close()
