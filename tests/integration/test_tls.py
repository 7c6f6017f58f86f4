"""TLS on the tunnel connection: pinning, CA verification, the token-bound
proof of the server, and clear errors when the two sides disagree."""

from __future__ import annotations

import asyncio
import json
import struct

import pytest
import trustme

import fasttun
from fasttun._core import consts as C
from fasttun._core.frames_py import encode_frame
from fasttun.transports import tls

from ..support import TOKEN, Services, client_for, pattern, roundtrip, tunnel_server

pytestmark = pytest.mark.usefixtures("impl", "loop_kind")


async def test_pinned_fingerprint(tmp_path):
    svc = Services()
    port = await svc.echo()
    async with tunnel_server(state_dir=str(tmp_path)) as server:
        fp = server._server.fingerprint
        assert server._server.self_signed and len(fp) == 64
        async with client_for(server, fingerprint=fp) as c:
            t = await c.expose(port)
            data = pattern(1 << 20)
            assert await roundtrip(t.remote_port, data) == data
        wrong = "00" * 32
        with pytest.raises(fasttun.AuthenticationError, match=f"expected {wrong}, the server presented {fp}"):
            async with client_for(server, fingerprint="SHA256:" + wrong.upper()):
                pass
    svc.close()


async def test_certificate_survives_restart(tmp_path):
    async with tunnel_server(state_dir=str(tmp_path)) as server:
        first = server._server.fingerprint
    async with tunnel_server(state_dir=str(tmp_path)) as server:
        assert server._server.fingerprint == first


async def test_ca_verified_certificate(tmp_path):
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    cert, key, ca_file = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    svc = Services()
    port = await svc.echo()
    async with tunnel_server(cert=str(cert), key=str(key)) as server:
        assert not server._server.self_signed
        async with client_for(server, ca=str(ca_file)) as c:
            t = await c.expose(port)
            assert await roundtrip(t.remote_port, b"verified") == b"verified"
        other = trustme.CA()
        other.cert_pem.write_to_path(str(tmp_path / "other.pem"))
        with pytest.raises(fasttun.AuthenticationError, match="cannot verify the certificate"):
            async with client_for(server, ca=str(tmp_path / "other.pem")):
                pass
    svc.close()


async def test_system_trust_store(tmp_path, monkeypatch):
    """``--ca system`` verifies against the system's store: here OpenSSL's
    default paths, pointed at a test CA (SSL_CERT_FILE, SSL_CERT_DIR)."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "other.pem"))
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "empty"))
    svc = Services()
    port = await svc.echo()
    async with tunnel_server(cert=str(cert), key=str(key)) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
        async with client_for(server, ca="system") as c:
            t = await c.expose(port)
            assert await roundtrip(t.remote_port, b"system store") == b"system store"
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "other.pem"))
        with pytest.raises(fasttun.AuthenticationError, match="cannot verify the certificate"):
            async with client_for(server, ca="system"):
                pass
    svc.close()


async def test_no_auth_server_needs_pin(tmp_path):
    async with tunnel_server(auth=False, token=None, state_dir=str(tmp_path)) as server:
        with pytest.raises(fasttun.AuthenticationError, match="--no-auth"):
            async with client_for(server, token=None):
                pass
        async with client_for(server, token=None, fingerprint=server._server.fingerprint):
            pass


async def test_server_without_the_token_is_refused(tmp_path):
    """A TLS server that does not know the token (a man in the middle) cannot
    produce the proof; a client without a pinned fingerprint refuses it."""
    cert, key, _ = tls.load_or_create_certificate(tmp_path)
    seen_auth = asyncio.get_running_loop().create_future()

    async def fake(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(C.PREAMBLE + encode_frame(C.FRAME_CONTROL, 0, 0, json.dumps(
            {"op": "hello", "nonce": "00" * 32, "auth": True}).encode()))
        await r.readexactly(8)
        _, _, _, _, n = struct.unpack(">BBHII", await r.readexactly(12))
        seen_auth.set_result(json.loads(await r.readexactly(n)))
        w.write(encode_frame(C.FRAME_CONTROL, 0, 0, json.dumps(
            {"op": "welcome", "ping_interval": 5, "ping_timeout": 15, "proof": "ab" * 32}).encode()))
        await r.read()
        w.close()

    srv = await asyncio.start_server(fake, "127.0.0.1", 0, ssl=tls.server_context(cert, key))
    port = srv.sockets[0].getsockname()[1]
    with pytest.raises(fasttun.AuthenticationError, match="could not prove that it knows the token"):
        async with fasttun.Client(f"127.0.0.1:{port}", token=TOKEN):
            pass
    assert TOKEN not in json.dumps(await seen_auth)  # only an HMAC crosses the wire
    srv.close()


async def test_tls_and_plain_disagree(tmp_path):
    async with tunnel_server(state_dir=str(tmp_path)) as server:
        with pytest.raises(fasttun.ConnectError, match="drop --no-tls"):
            async with client_for(server, tls=False):
                pass
    async with tunnel_server(tls=False) as server:
        with pytest.raises(fasttun.ConnectError, match="pass --no-tls too"):
            async with client_for(server):
                pass


@pytest.mark.parametrize("use_tls", [True, False], ids=["tls", "tcp"])
async def test_transfer_over_each_transport(use_tls, tmp_path):
    svc = Services()
    port = await svc.echo()
    async with tunnel_server(tls=use_tls, state_dir=str(tmp_path)) as server, \
            client_for(server, tls=use_tls) as c:
        t = await c.expose(port)
        payloads = [pattern(n, seed=n) for n in (0, 1, 65536, 3 << 20)]
        results = await asyncio.gather(*(roundtrip(t.remote_port, p) for p in payloads))
        assert results == payloads
    svc.close()
