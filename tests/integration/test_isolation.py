"""One client's bad frames or death never disturb another client's streams."""

from __future__ import annotations

import asyncio
import json
import logging
import struct

import pytest

from fasttun._core import consts as C
from fasttun._core.frames_py import encode_frame
from fasttun.aio.auth import auth_mac

from ..support import TOKEN, Services, client_for, pattern, roundtrip, tunnel_server

pytestmark = pytest.mark.usefixtures("impl", "loop_kind")


async def read_frames(r: asyncio.StreamReader, n: int) -> list:
    frames = []
    for _ in range(n):
        t, f, _, sid, length = struct.unpack(">BBHII", await r.readexactly(12))
        frames.append((t, f, sid, await r.readexactly(length)))
    return frames


async def authed_raw_client(server):
    host, port = server.address
    r, w = await asyncio.open_connection(host, port)
    w.write(C.PREAMBLE)
    assert await r.readexactly(8) == C.PREAMBLE
    (hello,) = await read_frames(r, 1)
    nonce = bytes.fromhex(json.loads(hello[3])["nonce"])
    auth = {"op": "auth", "mac": auth_mac(TOKEN, b"client", nonce)}
    w.write(encode_frame(C.FRAME_CONTROL, 0, 0, json.dumps(auth).encode()))
    (welcome,) = await read_frames(r, 1)
    assert json.loads(welcome[3])["op"] == "welcome"
    return r, w


BAD_INPUTS = {
    "garbage-handshake": None,
    "wrong-version": None,
    "unknown-type": encode_frame(C.FRAME_DATA, 0, 0, b"")[:0] + bytes([9]) + bytes(11),
    "oversized": struct.pack(">BBHII", C.FRAME_DATA, 0, 0, 1, 1 << 20),
    "never-opened": encode_frame(C.FRAME_DATA, 0, 7, b"x"),
    "window-overflow": encode_frame(C.FRAME_WINDOW_UPDATE, 0, 1, struct.pack(">I", 0xFFFFFFFF)),
    "bad-json": encode_frame(C.FRAME_CONTROL, 0, 0, b"{nope"),
    # Clients open no streams (docs/spec.md §4.3): the first OPEN of a burst
    # of 10,000 ends the session, so none of them is ever held.
    "too-many-streams": b"".join(encode_frame(C.FRAME_OPEN, 0, 2 * i, struct.pack(">I", 1))
                                 for i in range(1, 10001)),
    "silent-handshake": None,
    "dribbled-handshake": None,
}


async def dribble(w: asyncio.StreamWriter) -> None:
    """A valid-looking handshake, one byte every 50 ms: it never finishes."""
    data = C.PREAMBLE + encode_frame(C.FRAME_CONTROL, 0, 0, b'{"op":"auth","mac":"' + b"0" * 64 + b'"}')
    for i in range(len(data)):
        if w.is_closing():
            return
        w.write(data[i : i + 1])
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
async def test_bad_client_does_not_disturb_others(kind, caplog):
    svc = Services()
    port = await svc.echo()
    async with tunnel_server(tls=False, handshake_timeout=1.0) as server, client_for(server, tls=False) as good:
        t = await good.expose(port)
        big = pattern(8 << 20, seed=11)
        transfer = asyncio.ensure_future(roundtrip(t.remote_port, big))
        await asyncio.sleep(0.01)
        with caplog.at_level(logging.WARNING, logger="fasttun"):
            dribbler = None
            if kind in ("garbage-handshake", "wrong-version", "silent-handshake", "dribbled-handshake"):
                host, cport = server.address
                r, w = await asyncio.open_connection(host, cport)
                if kind == "garbage-handshake":
                    w.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                elif kind == "wrong-version":
                    w.write(C.MAGIC + b"\x02")
                elif kind == "dribbled-handshake":
                    dribbler = asyncio.ensure_future(dribble(w))
            else:
                r, w = await authed_raw_client(server)
                if kind == "window-overflow":  # needs an open stream: connect to a public port of ours
                    w.write(encode_frame(C.FRAME_CONTROL, 0, 0, b'{"op":"bind","id":1,"port":0}'))
                    bound = [f for f in await read_frames(r, 1)]
                    bport = json.loads(bound[0][3])["port"]
                    _, pw = await asyncio.open_connection("127.0.0.1", bport)
                    await read_frames(r, 1)  # OPEN of stream 1
                w.write(BAD_INPUTS[kind])
            # the server closes this session only
            async with asyncio.timeout(5):
                try:
                    while await r.read(65536):
                        pass
                except ConnectionResetError:  # closed with our bytes unread
                    pass
            w.close()
            if dribbler is not None:
                assert not dribbler.done()  # dropped while still dribbling
                dribbler.cancel()
        assert any("closed:" in rec.getMessage() for rec in caplog.records), caplog.text
        if kind == "too-many-streams":
            assert "only the server opens streams" in caplog.text
        if kind.endswith("-handshake") and kind != "garbage-handshake":
            assert "did not authenticate within 1 s" in caplog.text
        assert await transfer == big
        assert await roundtrip(t.remote_port, b"still fine") == b"still fine"
        assert server.client_count == 1
    svc.close()


async def test_handshake_timeout_drops_silent_connection():
    async with tunnel_server(handshake_timeout=0.3, tls=False) as server:
        host, port = server.address
        r, w = await asyncio.open_connection(host, port)
        async with asyncio.timeout(5):
            while await r.read(65536):
                pass
        w.close()
