"""The tunnel encrypted by Noise instead of TLS (``serve --noise``, ``expose
--noise KEY``): data hash-checked, many streams, the server pinned by its key,
the token still proved (bound to the handshake hash), and the mistakes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re

import pytest

import fasttun
from fasttun.exceptions import AuthenticationError, ConfigError
from tests.support import TOKEN, Services, free_port, free_range, pattern, roundtrip

from .test_cli import Proc, echo_service, echo_through, run, server_args


def noise_server(tmp_path, **kw):  # type: ignore[no-untyped-def]
    return fasttun.Server(listen_host="127.0.0.1", listen_port=0, public_host="127.0.0.1", ports=free_range(),
                          token=TOKEN, noise=True, state_dir=str(tmp_path / "state"), **kw)


async def test_noise_carries_the_tunnel(tmp_path, impl, loop_kind):
    services = Services()
    sink, echo = await services.sink(), await services.echo()
    async with noise_server(tmp_path) as server:
        pub = server._server.noise_public
        addr = "%s:%d" % server.address
        async with fasttun.Client(addr, token=TOKEN, noise_key=pub, reconnect=False) as client:
            t = await client.expose(sink)
            data = pattern(16 << 20, seed=9)
            assert await roundtrip(t.remote_port, data) == f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode()
            e = await client.expose(echo)

            async def one(i: int) -> None:
                payload = pattern(10_000 + 313 * i, seed=i)
                assert await roundtrip(e.remote_port, payload) == payload

            await asyncio.gather(*(one(i) for i in range(100)))
            transport = client._client.conn.transport
            assert transport.get_extra_info("ssl_object") is None
            assert len(transport.get_extra_info("channel_binding")) == 32
        # The key is kept: a restarted server has the same one.
    async with noise_server(tmp_path) as again:
        assert again._server.noise_public == pub
    services.close()


async def test_wrong_key_and_wrong_token(tmp_path):
    async with noise_server(tmp_path) as server:
        addr = "%s:%d" % server.address
        wrong = base64.b64encode(os.urandom(32)).decode()
        with pytest.raises(AuthenticationError, match="Noise handshake with the server failed"):
            await fasttun.Client(addr, token=TOKEN, noise_key=wrong, reconnect=False).connect()
        with pytest.raises(AuthenticationError, match="refused the token"):
            await fasttun.Client(addr, token="nope", noise_key=server._server.noise_public, reconnect=False).connect()
        # A TLS client on the Noise port fails its handshake, and says so.
        with pytest.raises(fasttun.FasttunError):
            await fasttun.Client(addr, token=TOKEN, reconnect=False, connect_timeout=3).connect()
    with pytest.raises(ConfigError, match="--noise replaces TLS"):
        fasttun.Client("127.0.0.1:1", token=TOKEN, noise_key=base64.b64encode(b"k" * 32).decode(), fingerprint="a" * 64)
    with pytest.raises(ConfigError, match="--noise"):
        fasttun.Client("127.0.0.1:1", token=TOKEN, noise_key="short")


def test_noise_from_the_command_line(tmp_path):
    svc_port, svc = echo_service()
    ctrl, ports = free_port(), free_range()
    with Proc(server_args(ctrl, ports, "--token", TOKEN, "--noise", "--state-dir", str(tmp_path)), {}) as srv:
        srv.wait_line(r"\(Noise NK, AES-GCM\)")
        pub = srv.wait_line(r"^Noise public key \(kept in the state directory\): (\S{44})$").group(1)
        srv.wait_line(rf"fasttun expose 3000 --server \S+:{ctrl} --token {TOKEN} --noise {re.escape(pub)}$")
        base = ["expose", str(svc_port), "--server", f"127.0.0.1:{ctrl}", "--token", TOKEN, "--inspect", "off"]
        with Proc(base + ["--noise", pub], {}) as client:
            public = int(client.wait_line(r"^tcp://127\.0\.0\.1:(\d+) -> ").group(1))
            assert echo_through(public, b"noise" * 10000) == b"noise" * 10000
            client.stop()
        wrong = base64.b64encode(os.urandom(32)).decode()
        r = run(base + ["--noise", wrong])
        assert r.returncode == 1 and "Noise handshake with the server failed" in r.stderr
        assert "Traceback" not in r.stderr
        srv.stop()
    r = run(["serve", "--noise", "--no-tls"])
    assert r.returncode == 2 and "--noise replaces TLS" in r.stderr
    svc.close()


async def test_a_key_client_over_noise(tmp_path):
    from fasttun.config import ClientAccess
    from fasttun.transports.keys import generate_key

    pub = generate_key(tmp_path / "laptop.key")
    ports = free_range(5)
    services = Services()
    echo = await services.echo()
    async with noise_server(tmp_path, clients=(ClientAccess("laptop", None, ports, key=pub),)) as server:
        addr = "%s:%d" % server.address
        async with fasttun.Client(addr, token=None, key=str(tmp_path / "laptop.key"),
                                  noise_key=server._server.noise_public, reconnect=False) as client:
            t = await client.expose(echo)
            assert ports[0] <= t.remote_port <= ports[1]
            assert await roundtrip(t.remote_port, b"keyed noise") == b"keyed noise"
    services.close()
