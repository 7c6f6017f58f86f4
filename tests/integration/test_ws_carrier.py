"""The tunnel carried by a WebSocket (``--server ws://...``), behind a real
nginx that proxies the upgrade, and straight to the server's HTTP and HTTPS
ports: 64 MiB each way hash-checked, 200 concurrent streams, a restart of
nginx survived (the client reconnects and gets its port back), wss:// with
the tunnel's TLS off inside, and the mistakes a user can make."""

from __future__ import annotations

import asyncio
import hashlib
import struct

import pytest

import fasttun
from fasttun.exceptions import ConnectError
from tests.httpsupport import DOMAIN, Visitor, issue_cert
from tests.nginxsupport import Nginx
from tests.support import TOKEN, Services, free_port, free_range, pattern, roundtrip, wait_for

MiB = 1 << 20


def carrier_server(**kw):  # type: ignore[no-untyped-def]
    kw.setdefault("listen_host", "127.0.0.1")
    kw.setdefault("listen_port", 0)
    kw.setdefault("public_host", "127.0.0.1")
    kw.setdefault("ports", free_range())
    kw.setdefault("token", TOKEN)
    kw.setdefault("ws_listen_host", "127.0.0.1")
    kw.setdefault("ws_listen_port", 0)
    return fasttun.Server(**kw)


async def download(port: int, n: int) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(struct.pack(">Q", n))
    await w.drain()
    got = bytearray()
    while chunk := await r.read(1 << 20):
        got += chunk
    w.close()
    return bytes(got)


async def check_traffic(client: fasttun.Client, services: Services) -> None:
    sink, source, echo = await services.sink(), await services.source(), await services.echo()
    up = await client.expose(sink)
    down = await client.expose(source)
    both = await client.expose(echo)
    data = pattern(64 * MiB, seed=5)
    assert await roundtrip(up.remote_port, data) == f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode()
    got = await download(down.remote_port, 64 * MiB)
    assert len(got) == 64 * MiB and hashlib.sha256(got).digest() == hashlib.sha256(pattern(64 * MiB)).digest()

    async def one(i: int) -> None:
        payload = pattern(20_000 + 97 * i, seed=i)
        assert await roundtrip(both.remote_port, payload) == payload

    await asyncio.gather(*(one(i) for i in range(200)))


@pytest.mark.timeout(240)
async def test_through_nginx_with_the_tunnels_tls_inside(loop_kind):
    services = Services()
    async with carrier_server() as server:
        with Nginx(free_port(), server.ws_address[1]) as nginx:
            url = f"ws://127.0.0.1:{nginx.port}/.fasttun"
            async with fasttun.Client(url, token=TOKEN, reconnect=False,
                                      fingerprint=server._server.fingerprint) as client:
                await check_traffic(client, services)
                conn = client._client.conn
                assert conn.transport.get_extra_info("ssl_object") is not None  # the tunnel's own TLS
                assert conn.transport.get_extra_info("websocket") is not None
    services.close()


@pytest.mark.timeout(180)
async def test_wss_to_nginx_with_no_tls_inside(tmp_path):
    cert, key, ca_file = issue_cert(tmp_path, "127.0.0.1")
    services = Services()
    echo = await services.echo()
    async with carrier_server(tls=False) as server:
        with Nginx(free_port(), server.ws_address[1], cert=cert, key=key) as nginx:
            url = f"wss://127.0.0.1:{nginx.port}/.fasttun"
            # Without the CA, nginx's certificate cannot be verified.
            with pytest.raises(fasttun.AuthenticationError, match="cannot verify the certificate"):
                async with fasttun.Client(url, token=TOKEN, tls=False, reconnect=False):
                    pass
            async with fasttun.Client(url, token=TOKEN, tls=False, reconnect=False, ca=ca_file) as client:
                t = await client.expose(echo)
                data = pattern(8 * MiB)
                assert await roundtrip(t.remote_port, data) == data
                assert client._client.conn.transport.get_extra_info("ssl_object") is None  # nothing inside
    services.close()


@pytest.mark.timeout(120)
async def test_nginx_restart_the_client_reconnects_and_keeps_its_port():
    services = Services()
    echo = await services.echo()
    async with carrier_server() as server:
        nginx = Nginx(free_port(), server.ws_address[1]).start()
        try:
            ups = []
            client = fasttun.Client(f"ws://127.0.0.1:{nginx.port}/.fasttun", token=TOKEN,
                                    fingerprint=server._server.fingerprint, on_tunnel=ups.append,
                                    backoff_min=0.2, backoff_max=0.5)
            await client.connect()
            t = await client.expose(echo)
            port = t.remote_port
            assert await roundtrip(port, b"before") == b"before"
            await asyncio.to_thread(nginx.stop)
            await wait_for(lambda: not server._server.sessions, 10)  # the server saw it go
            await asyncio.to_thread(nginx.start)
            await wait_for(lambda: len(ups) == 2, 15)
            assert t.remote_port == port
            assert await roundtrip(port, b"after" * 1000) == b"after" * 1000
            await client.close()
        finally:
            nginx.close()
    services.close()


@pytest.mark.timeout(120)
async def test_the_http_and_https_ports_accept_the_upgrade(tmp_path):
    cert, key, ca_file = issue_cert(tmp_path, f"*.{DOMAIN}", "127.0.0.1")
    services = Services()
    echo = await services.echo()

    async with fasttun.Server(listen_host="127.0.0.1", listen_port=0, public_host="127.0.0.1", ports=free_range(),
                              token=TOKEN, http_port=0, https_port=0, https_cert=cert, https_key=key,
                              domain=DOMAIN) as server:
        fp = server._server.fingerprint
        for url, extra in ((f"ws://127.0.0.1:{server.http_port}/.fasttun", {}),
                           (f"wss://127.0.0.1:{server.https_port}/.fasttun", {"ca": ca_file})):
            async with fasttun.Client(url, token=TOKEN, reconnect=False, fingerprint=fp, **extra) as client:
                t = await client.expose(echo)
                data = pattern(4 * MiB)
                assert await roundtrip(t.remote_port, data) == data
                web = await client.expose(echo, http=True, subdomain="viaws")
                assert web.name == f"viaws.{DOMAIN}"
        # Visitors on the same port are not affected: another path is routed as usual.
        v = await Visitor.open(server.http_port)
        status, _, body = await v.request("GET", "/.fasttun-not", f"nobody.{DOMAIN}",
                                          headers=(("Connection", "upgrade"), ("Upgrade", "websocket")))
        assert status == 404
        v.close()
        with pytest.raises(ConnectError, match="answered 404"):
            async with fasttun.Client(f"ws://127.0.0.1:{server.http_port}/elsewhere", token=TOKEN,
                                      reconnect=False, fingerprint=fp):
                pass
    services.close()


async def test_mistakes_say_what_is_wrong():
    async with carrier_server() as server:
        h, p = server.ws_address
        with pytest.raises(ConnectError, match=r"WebSocket to ws://127.0.0.1:\d+/wrong: the server answered 404"):
            async with fasttun.Client(f"ws://{h}:{p}/wrong", token=TOKEN, reconnect=False):
                pass
        with pytest.raises(fasttun.AuthenticationError, match="refused the token"):
            async with fasttun.Client(f"ws://{h}:{p}/.fasttun", token="wrong", reconnect=False):
                pass
        # Garbage on the WebSocket port is closed without an answer; the listener goes on.
        r, w = await asyncio.open_connection(h, p)
        w.write(b"\x00" * 100 + b"\r\n\r\n")
        answer = await asyncio.wait_for(r.read(), 5)
        assert answer == b""
        w.close()
        async with fasttun.Client(f"ws://{h}:{p}/.fasttun", token=TOKEN, reconnect=False) as client:
            assert client._client.conn is not None
    dead = free_port()
    with pytest.raises(ConnectError, match="cannot reach the tunnel server"):
        async with fasttun.Client(f"ws://127.0.0.1:{dead}/.fasttun", token=TOKEN, reconnect=False):
            pass


def test_serve_ws_listen_and_expose_ws_from_the_command_line():
    from .test_cli import Proc, echo_service, echo_through, run, server_args

    svc_port, svc = echo_service()
    ctrl, ports, ws_port = free_port(), free_range(), free_port()
    with Proc(server_args(ctrl, ports, "--token", TOKEN, "--ws-listen", f"127.0.0.1:{ws_port}", "--ws-path",
                          "/tunnel"), {}) as srv:
        srv.wait_line("listening")
        fp = srv.wait_line(r"^certificate SHA-256 .*: ([0-9a-f]{64})$").group(1)
        base = ["expose", str(svc_port), "--token", TOKEN, "--inspect", "off", "--fingerprint", fp]
        with Proc(base + ["--server", f"ws://127.0.0.1:{ws_port}/tunnel"], {}) as client:
            public = int(client.wait_line(r"^tcp://127\.0\.0\.1:(\d+) -> ").group(1))
            data = pattern(4 * MiB)
            assert echo_through(public, data) == data
            client.stop()
        r = run(base + ["--server", f"ws://127.0.0.1:{ws_port}/.fasttun", "--no-reconnect"])
        assert r.returncode == 1 and "the server answered 404" in r.stderr and "Traceback" not in r.stderr
        r = run(base + ["--server", "ftp://127.0.0.1:1"])
        assert r.returncode == 2 and "want HOST:PORT, tcp://HOST:PORT, ws://HOST/PATH" in r.stderr
        srv.stop()
    r = run(["serve", "--ws-path", "nope"])
    assert r.returncode == 2 and "--ws-path 'nope'" in r.stderr
    svc.close()


async def test_one_call_library_use():
    services = Services()
    echo = await services.echo()
    async with carrier_server() as server:
        h, p = server.ws_address
        async with await fasttun.expose(echo, server=f"ws://{h}:{p}/.fasttun", token=TOKEN,
                                        fingerprint=server._server.fingerprint, reconnect=False,
                                        max_conns=5) as t:
            assert t.url == f"tcp://127.0.0.1:{t.remote_port}" and t.remote_port in server.public_ports
            assert await roundtrip(t.remote_port, b"one call") == b"one call"
        await wait_for(lambda: not server.public_ports)
        with pytest.raises(fasttun.TunnelError):
            await fasttun.expose(echo, server=f"ws://{h}:{p}/.fasttun", token=TOKEN, reconnect=False,
                                 http=True)  # this server has no HTTP port
        await wait_for(lambda: not server._server.sessions)  # the failed call closed its client
    services.close()
