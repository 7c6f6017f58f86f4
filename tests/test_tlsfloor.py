"""benchmarks/tlsfloor.py, the stdlib-ssl measuring stick, relays correctly.

Its figures are only worth comparing if it moves every byte: real processes,
a real echo service, both of stdlib ssl's I/O modes, data checked by hash.
"""

from __future__ import annotations

import hashlib
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time

import pytest

from .integration.test_cli import echo_service, echo_through
from .support import pattern, thread_service

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "tlsfloor.py")


def start(*args: str) -> tuple[subprocess.Popen, str]:
    """Start tlsfloor; return the process and its first line ("" if none in 20 s)."""
    p = subprocess.Popen([sys.executable, SCRIPT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([p.stdout], [], [], 20)
        line = p.stdout.readline() if ready else ""  # type: ignore[union-attr]
    except BaseException:
        stop([p])
        raise
    threading.Thread(target=p.communicate, daemon=True).start()
    return p, line


def source_service(data: bytes) -> tuple[int, socket.socket]:
    """Sends *data* to each connection, then closes it."""
    def send(conn: socket.socket) -> None:
        with conn:
            conn.sendall(data)

    return thread_service(send)


def slow_download(port: int) -> bytes:
    """Connect, let the relay's socket to us fill up, then read to the end."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        time.sleep(0.5)
        got = bytearray()
        while chunk := s.recv(1 << 20):
            got.extend(chunk)
        return bytes(got)


@pytest.mark.parametrize("io", ["bio", "socket"])
def test_relays_a_download_to_a_slow_reader(io):
    data = pattern(32 << 20, seed=5)
    svc_port, svc = source_service(data)
    procs: list[subprocess.Popen] = []
    try:
        public = start_pair(io, svc_port, procs)
        got = slow_download(public)
        assert len(got) == len(data)
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    finally:
        stop(procs)
        svc.close()


def start_pair(io: str, svc_port: int, procs: list[subprocess.Popen]) -> int:
    """Start a tlsfloor server and client (added to *procs*); return the public port."""
    server, line = start("--io", io, "serve", "--listen", "127.0.0.1:0", "--public-host", "127.0.0.1",
                         "--ports", "0-0")
    procs.append(server)
    m = re.search(r"listening on port (\d+), public port (\d+)", line)
    assert m, line
    client, line = start("--io", io, "expose", str(svc_port), "--server", f"127.0.0.1:{m.group(1)}")
    procs.append(client)
    assert line.startswith("tcp://"), line
    return int(m.group(2))


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
        p.wait()


@pytest.mark.parametrize("io", ["bio", "socket"])
def test_relays_every_byte_both_ways(io):
    svc_port, svc = echo_service()
    procs: list[subprocess.Popen] = []
    try:
        public = start_pair(io, svc_port, procs)
        # 8 MiB crosses many TLS records and socket buffers in both directions.
        big = pattern(8 << 20, seed=3)
        assert hashlib.sha256(echo_through(public, big, timeout=60)).digest() == hashlib.sha256(big).digest()
        # Several connections at once, each on its own tunnel connection.
        small = [pattern(100_000 + i, seed=i) for i in range(4)]
        results: dict[int, bytes] = {}
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, echo_through(public, small[i])))
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert [results.get(i) == small[i] for i in range(4)] == [True] * 4
    finally:
        stop(procs)
        svc.close()


def test_refuses_a_non_loopback_address():
    r = subprocess.run([sys.executable, SCRIPT, "expose", "80", "--server", "192.0.2.1:7000"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "not a loopback address" in r.stderr
