"""Reaching the server through a real HTTP CONNECT proxy (tinyproxy), for the
direct carrier and the WebSocket one: data hash-checked, proxy
authentication, a proxy that refuses, the environment variables curl reads,
and the command line."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

import fasttun
from fasttun.exceptions import ConfigError, ConnectError
from tests.proxysupport import Tinyproxy
from tests.support import TOKEN, Services, free_port, free_range, pattern, roundtrip

from .test_cli import Proc, echo_service, echo_through, run, server_args


def server(**kw):  # type: ignore[no-untyped-def]
    kw.update(listen_host="127.0.0.1", listen_port=0, public_host="127.0.0.1", ports=free_range(), token=TOKEN,
              ws_listen_host="127.0.0.1", ws_listen_port=0)
    return fasttun.Server(**kw)


def targets(srv: fasttun.Server) -> list[str]:
    host, port = srv.address
    ws_host, ws_port = srv.ws_address
    return [f"{host}:{port}", f"ws://{ws_host}:{ws_port}/.fasttun"]


async def test_both_carriers_through_tinyproxy(loop_kind):
    services = Services()
    sink = await services.sink()
    async with server() as srv:
        with Tinyproxy(free_port()) as proxy:
            for target in targets(srv):
                async with fasttun.Client(target, token=TOKEN, reconnect=False, proxy=proxy.url,
                                          fingerprint=srv._server.fingerprint) as client:
                    t = await client.expose(sink)
                    data = pattern(16 << 20, seed=3)
                    answer = await roundtrip(t.remote_port, data)
                    assert answer == f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode()
            assert proxy.connects() == 2, proxy.log()[-2000:]
    services.close()


async def test_proxy_authentication_and_refusals():
    services = Services()
    echo = await services.echo()
    async with server() as srv:
        target = targets(srv)[0]
        with Tinyproxy(free_port(), auth=("alice", "s3cret")) as proxy:
            with pytest.raises(ConnectError, match=r"wants authentication \(407"):
                await fasttun.Client(target, token=TOKEN, reconnect=False, proxy=proxy.url).connect()
            bad = f"http://alice:wrong@127.0.0.1:{proxy.port}"
            with pytest.raises(ConnectError, match=r"refused the user name or password \(40[17]"):
                await fasttun.Client(target, token=TOKEN, reconnect=False, proxy=bad).connect()
            good = f"http://alice:s3cret@127.0.0.1:{proxy.port}"
            async with fasttun.Client(target, token=TOKEN, reconnect=False, proxy=good) as client:
                t = await client.expose(echo)
                assert await roundtrip(t.remote_port, b"authenticated" * 100) == b"authenticated" * 100
        with Tinyproxy(free_port(), connect_ports=[443]) as strict:
            with pytest.raises(ConnectError, match=r"refused CONNECT 127\.0\.0\.1:\d+: 403"):
                await fasttun.Client(target, token=TOKEN, reconnect=False, proxy=strict.url).connect()
        dead = free_port()
        with pytest.raises(ConnectError, match=f"cannot reach the proxy http://127.0.0.1:{dead}"):
            await fasttun.Client(target, token=TOKEN, reconnect=False, proxy=f"http://127.0.0.1:{dead}").connect()
    with pytest.raises(ConfigError, match="only http:// .CONNECT. proxies"):
        fasttun.Client("127.0.0.1:1", token=TOKEN, proxy="socks5://127.0.0.1:1080")
    services.close()


async def test_environment_variables(monkeypatch):
    services = Services()
    echo = await services.echo()
    async with server() as srv:
        direct, ws = targets(srv)
        with Tinyproxy(free_port()) as proxy:
            before = proxy.connects()
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            async with fasttun.Client(direct, token=TOKEN, reconnect=False) as client:
                t = await client.expose(echo)
                assert await roundtrip(t.remote_port, b"via env") == b"via env"
            assert proxy.connects() == before + 1
            monkeypatch.delenv("HTTPS_PROXY")
            monkeypatch.setenv("http_proxy", proxy.url)  # ws:// follows http_proxy, as curl does for http://
            async with fasttun.Client(ws, token=TOKEN, reconnect=False):
                pass
            assert proxy.connects() == before + 2
            monkeypatch.setenv("no_proxy", "localhost,127.0.0.0/8")
            async with fasttun.Client(ws, token=TOKEN, reconnect=False):
                pass
            assert proxy.connects() == before + 2  # direct
            monkeypatch.delenv("no_proxy")
            monkeypatch.delenv("http_proxy")
            monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{free_port()}")  # a dead one, for everything
            with pytest.raises(ConnectError, match="cannot reach the proxy"):
                await fasttun.Client(direct, token=TOKEN, reconnect=False).connect()
    services.close()


def test_expose_proxy_from_the_command_line():
    svc_port, svc = echo_service()
    ctrl, ports = free_port(), free_range()
    with Tinyproxy(free_port()) as proxy, Proc(server_args(ctrl, ports, "--token", TOKEN), {}) as srv:
        srv.wait_line("listening")
        base = ["expose", str(svc_port), "--server", f"127.0.0.1:{ctrl}", "--token", TOKEN, "--inspect", "off"]
        with Proc(base + ["--proxy", proxy.url], {}) as client:
            public = int(client.wait_line(r"^tcp://127\.0\.0\.1:(\d+) -> ").group(1))
            assert echo_through(public, b"through tinyproxy" * 1000) == b"through tinyproxy" * 1000
            client.stop()
        r = run(base + ["--proxy", "socks5://127.0.0.1:1"])
        assert r.returncode == 2 and "only http:// (CONNECT) proxies" in r.stderr and "Traceback" not in r.stderr
        r = run(base + ["--proxy", f"http://127.0.0.1:{free_port()}", "--no-reconnect"])
        assert r.returncode == 1 and "cannot reach the proxy" in r.stderr and "Traceback" not in r.stderr
        srv.stop()
    svc.close()
    assert asyncio  # (the module's async tests share this file)
