"""End-to-end measurements through real ``fasttun serve`` + ``fasttun expose``
processes on loopback, each next to the same measurement on a direct
connection to the service.

The service (``python -m benchmarks.e2e service``) speaks a 9-byte header:
mode (``E`` echo, ``S`` sink, ``O`` source) and a u64 count.  Sink reads that
many bytes and answers ``OK``; source sends that many bytes and closes; echo
echoes until EOF.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

HDR = struct.Struct(">cQ")
BLOCK = b"\xa5" * (1 << 20)
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- the service ----------------------------------------------------------------
async def _handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    try:
        mode, n = HDR.unpack(await r.readexactly(HDR.size))
        if mode == b"S":
            left = n
            while left > 0:
                data = await r.read(min(left, 1 << 20))
                if not data:
                    break
                left -= len(data)
            w.write(b"OK" if left == 0 else b"NO")
        elif mode == b"O":
            left = n
            while left > 0:
                k = min(left, len(BLOCK))
                w.write(BLOCK[:k])
                left -= k
                await w.drain()
        else:
            while data := await r.read(1 << 16):
                w.write(data)
                await w.drain()
        await w.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    w.close()


async def _service(port: int) -> None:
    server = await asyncio.start_server(_handle, "127.0.0.1", port, backlog=4096)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


# -- processes --------------------------------------------------------------------
class Procs:
    """Processes started by a benchmark, stopped (by PID) when it ends."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, args: list[str], env: dict | None = None) -> subprocess.Popen:
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             env={**os.environ, "PYTHONPATH": HERE, **(env or {})})
        self.procs.append(p)
        return p

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(2)
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _read_line(p: subprocess.Popen, pattern: str, timeout: float = 15) -> re.Match:
    result: list = []

    def reader() -> None:
        for line in p.stdout:  # type: ignore[union-attr]
            m = re.search(pattern, line)
            if m:
                result.append(m)
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(timeout)
    if not result:
        raise RuntimeError(f"no line matching {pattern!r} from {p.args}")
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()  # type: ignore[union-attr]
    return result[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def setup(delay_ms: float = 0, rate_mbit: float = 0):
    """Yield (service port, public port, [tunnel pids]); optionally through a delay line."""
    procs = Procs()
    try:
        svc = procs.start([sys.executable, "-m", "benchmarks.e2e", "service"])
        svc_port = int(_read_line(svc, r"PORT (\d+)").group(1))
        ctrl, public = free_port(), free_port()
        srv = procs.start([sys.executable, "-m", "fasttun", "serve", "--listen", f"127.0.0.1:{ctrl}",
                           "--public-host", "127.0.0.1", "--ports", f"{public}-{public}", "--token", "bench", "-q"])
        _read_line(srv, "listening")
        server = f"127.0.0.1:{ctrl}"
        if delay_ms or rate_mbit:
            line = procs.start([sys.executable, "-m", "benchmarks.delayline", "--listen", "127.0.0.1:0",
                                "--to", server, "--delay-ms", str(delay_ms), "--rate-mbit", str(rate_mbit)])
            line_port = _read_line(line, r"PORT (\d+)").group(1)
            server = f"127.0.0.1:{line_port}"
        cli = procs.start([sys.executable, "-m", "fasttun", "expose", str(svc_port), "--server", server,
                           "--remote-port", str(public), "--token", "bench", "-q"])
        _read_line(cli, r"^tcp://")
        yield svc_port, public, [srv.pid, cli.pid]
    finally:
        procs.stop()


# -- measurements -------------------------------------------------------------------
def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def bulk(port: int, nbytes: int, direction: str) -> float:
    """One stream moving *nbytes* ("up": user to service, "down": back); MB/s."""
    with _connect(port) as s:
        t0 = time.perf_counter()
        if direction == "up":
            s.sendall(HDR.pack(b"S", nbytes))
            view = memoryview(BLOCK)
            left = nbytes
            while left > 0:
                left -= s.send(view[: min(left, len(view))])
            assert s.recv(2) == b"OK"
        else:
            s.sendall(HDR.pack(b"O", nbytes))
            buf = bytearray(1 << 20)
            got = 0
            while k := s.recv_into(buf):
                got += k
            assert got == nbytes, (got, nbytes)
        return nbytes / (time.perf_counter() - t0) / 1e6


def bulk_parallel(port: int, streams: int, nbytes: int, direction: str) -> float:
    """*streams* streams at once, *nbytes* each; aggregate MB/s."""
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(bulk(port, nbytes, direction))) for _ in range(streams)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == streams
    return streams * nbytes / (time.perf_counter() - t0) / 1e6


def rtt(port: int, count: int) -> float:
    """p50 of 64-byte echo round trips on one connection, in microseconds."""
    return statistics.median(echo_round_trips(port, count)) * 1e6


def echo_round_trips(port: int, count: int) -> list[float]:
    """*count* 64-byte echo round trips on one connection, after 50 to warm up; seconds each."""
    with _connect(port) as s:
        s.sendall(HDR.pack(b"E", 0))
        msg = b"p" * 64
        times = []
        for i in range(count + 50):
            t0 = time.perf_counter()
            s.sendall(msg)
            got = 0
            while got < 64:
                got += len(s.recv(64 - got))
            if i >= 50:
                times.append(time.perf_counter() - t0)
        return times


def _rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of *pid* so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _cpu_s(pids: list[int]) -> float:
    return sum(sum(cpu_times(pid)) for pid in pids)


def _run(coro):
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)


def connrate(port: int, seconds: float, pids: list[int] | None = None) -> tuple[float, float]:
    """New connections per second (16 workers, 64-byte echo each); and tunnel
    CPU microseconds per connection (0 for a direct connection)."""

    async def main() -> int:
        count = 0
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal count
            while time.perf_counter() < stop:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                w.write(HDR.pack(b"E", 0) + b"c" * 64)
                await r.readexactly(64)
                w.close()
                count += 1

        await asyncio.gather(*(worker() for _ in range(16)))
        return count

    cpu0 = _cpu_s(pids) if pids else 0.0
    n = _run(main())
    cpu = (_cpu_s(pids) - cpu0) if pids else 0.0
    return n / seconds, cpu / n * 1e6


def concurrent(port: int, conns: int, nbytes: int, pids: list[int] | None = None) -> dict:
    """*conns* connections at once, each echoing *nbytes*; errors, MB/s, peak MiB."""
    peak = [_rss_kib(pids) if pids else 0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_kib(pids))  # type: ignore[arg-type]
            done.wait(0.05)

    async def one() -> bool:
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(HDR.pack(b"E", 0))
            data = b"e" * nbytes

            async def send() -> None:
                for i in range(0, nbytes, 65536):
                    w.write(data[i : i + 65536])
                    await w.drain()

            sender = asyncio.ensure_future(send())
            got = 0
            while got < nbytes:
                chunk = await r.read(1 << 16)
                if not chunk:
                    break
                got += len(chunk)
            await sender
            w.close()
            return got == nbytes
        except OSError:
            return False

    async def main() -> list:
        return await asyncio.gather(*(one() for _ in range(conns)))

    if pids:
        threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    ok = _run(main())
    wall = time.perf_counter() - t0
    done.set()
    return {"errors": ok.count(False), "MBps": 2 * conns * nbytes / wall / 1e6, "peak_MiB": peak[0] / 1024}


def idle_kib_per_stream(port: int, conns: int, pids: list[int]) -> float:
    """Tunnel memory per open idle connection (each checked with a 1-byte echo)."""
    before = _rss_kib(pids)
    socks = []
    try:
        for _ in range(conns):
            s = _connect(port)
            s.sendall(HDR.pack(b"E", 0) + b"i")
            assert s.recv(1) == b"i"
            socks.append(s)
        time.sleep(0.3)
        return (_rss_kib(pids) - before) / conns
    finally:
        for s in socks:
            s.close()


if __name__ == "__main__" and sys.argv[1:2] == ["service"]:
    _run(_service(0))
