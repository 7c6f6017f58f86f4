"""Fuzzing the handshake over real sockets, for both implementations.

One server runs on an event loop in a thread.  Each example connects, reads
the server's preamble and ``hello``, builds a valid handshake (preamble and
an ``auth`` message with the right MAC for this nonce, sometimes followed by
a ``bind``), mutates it (bytes flipped, inserted, deleted, cut off; JSON
fields replaced by other JSON values) and sends it in random pieces.  The
server must either welcome the client or close the connection, within its
handshake timeout: never crash, never hang.  Afterwards a real client
connects and transfers through a tunnel, and the server's loop reported no
unhandled exception and logged no internal error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
import threading

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fasttun._core import consts as C
from fasttun._core.frames_py import encode_frame
from fasttun.aio.auth import auth_mac

from ..fuzzing import mutate, mutation
from ..support import TOKEN, Services, client_for, roundtrip, tunnel_server

HANDSHAKE_TIMEOUT = 0.3


class ServerThread:
    """A tunnel server on its own event loop, in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.errors: list = []
        self.loop.set_exception_handler(lambda _loop, ctx: self.errors.append(ctx))
        self.ready = threading.Event()
        self.stop: asyncio.Future | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    async def _main(self) -> None:
        self.stop = self.loop.create_future()
        async with tunnel_server(tls=False, handshake_timeout=HANDSHAKE_TIMEOUT, auth_failures=1 << 30) as server:
            self.server = server
            self.ready.set()
            await self.stop

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set_result, None)  # type: ignore[union-attr]
        self.thread.join(10)
        self.loop.close()


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    ftype, _, _, _, length = struct.unpack(">BBHII", recv_exactly(sock, 12))
    return ftype, recv_exactly(sock, length)


json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
field_change = st.tuples(st.sampled_from(["op", "mac", "cnonce", "client", "id", "port", "local", "prefer"]),
                         json_value)

def build(nonce: bytes, fields: list, with_bind: bool, mutations: list) -> bytes:
    auth: dict = {"op": "auth", "mac": auth_mac(TOKEN, b"client", nonce), "cnonce": "ab" * 32, "client": "fuzz"}
    bind: dict = {"op": "bind", "id": 1, "port": 0, "local": "127.0.0.1:1", "prefer": False}
    for key, value in fields:
        (auth if key in auth else bind)[key] = value
    data = bytearray(C.PREAMBLE + encode_frame(C.FRAME_CONTROL, 0, 0, json.dumps(auth).encode()))
    if with_bind:
        data += encode_frame(C.FRAME_CONTROL, 0, 0, json.dumps(bind).encode())
    return mutate(bytes(data), mutations)


@pytest.fixture
def server_thread(impl):
    srv = ServerThread()
    yield srv
    srv.close()
    assert not srv.errors, f"unhandled exceptions in the server's loop: {srv.errors!r}"


def attempt(address, fields, with_bind, mutations, cuts) -> str:
    with socket.create_connection(address, timeout=5) as sock:
        assert recv_exactly(sock, 8) == C.PREAMBLE
        ftype, payload = read_frame(sock)
        assert ftype == C.FRAME_CONTROL
        nonce = bytes.fromhex(json.loads(payload)["nonce"])
        data = build(nonce, fields, with_bind, mutations)
        points = sorted(set(c % (len(data) + 1) for c in cuts))
        for a, b in zip([0] + points, points + [len(data)]):
            try:
                sock.sendall(data[a:b])
            except OSError:  # closed by the server already
                break
        # Welcomed, or closed within the handshake timeout (with margin): never left hanging.
        sock.settimeout(HANDSHAKE_TIMEOUT + 5)
        try:
            while True:
                ftype, payload = read_frame(sock)
                if ftype == C.FRAME_CONTROL and json.loads(payload).get("op") == "welcome":
                    return "welcomed"
        except (EOFError, ConnectionResetError):
            return "closed"


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(fields=st.lists(field_change, max_size=3), with_bind=st.booleans(),
       mutations=st.lists(mutation, max_size=3), cuts=st.lists(st.integers(0, 400), max_size=4))
def test_fuzzed_handshakes(server_thread, fields, with_bind, mutations, cuts):
    event(attempt(server_thread.server.address, fields, with_bind, mutations, cuts))


def test_server_healthy_after_fuzzing(server_thread, caplog):
    """The check the fuzz above relies on: bad handshakes leave the server serving."""
    with caplog.at_level(logging.WARNING, logger="fasttun"):
        address = server_thread.server.address
        assert attempt(address, [], False, [], []) == "welcomed"
        assert attempt(address, [("mac", "0" * 64)], False, [], []) == "closed"
        assert attempt(address, [], False, [("truncate", 0.5)], []) == "closed"  # by the timeout
        assert attempt(address, [("op", None)], True, [], []) == "closed"

        async def transfer() -> bytes:
            svc = Services()
            async with client_for(server_thread.server, tls=False) as c:
                t = await c.expose(await svc.echo())
                got = await roundtrip(t.remote_port, b"z" * 300000)
            svc.close()
            return got

        assert server_thread.run(transfer()) == b"z" * 300000
    assert not server_thread.errors
    assert "internal error" not in caplog.text and "Traceback" not in caplog.text
    assert "did not authenticate within" in caplog.text

