"""HTTP mode against a TCP tunnel, same server, same client, same service.

One ``fasttun serve --http-port`` and one ``fasttun expose`` that exposes the
same local service twice: as a TCP tunnel (a public port) and as an HTTP
tunnel (a name on the HTTP port).  Then, interleaved (TCP, HTTP, TCP, ...):

  rps      wrk, keep-alive, 50 connections, 2 threads, small responses:
           requests/s and p99 latency.  The client's request lines are on
           (its console goes to a file), as a user runs it.
  bulk     one 1 GiB upload (PUT with Content-Length) and one 1 GiB download
           through each: MB/s (10^6 bytes), the byte count checked.
  memory   1,000 keep-alive connections through the HTTP port, each after
           one request: growth of both tunnel processes' RSS, KiB per
           connection.

``--cpus-tunnel``, ``--cpus-service`` and ``--cpus-load`` pin the roles with
``taskset``, as ``tunnelbench.py`` does (e.g. both tunnel processes on CPU
1, nginx and wrk on CPU 0: the tunnel's CPU is then what limits the rate).

The local service is either this script (``--service python``: uvloop,
a minimal HTTP/1.1 keep-alive server, as fast as Python gets) or nginx
(``--service nginx``: a C server, so that the tunnel is what limits the rate).

    python -m benchmarks.httpbench --service nginx --repeat 3 --out benchmarks/results/NAME

Needs wrk (apt-get install wrk) for rps and nginx for ``--service nginx``.
Loopback only; every process it starts is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from .e2e import HERE, Procs, _read_line, _rss_kib, cpu_times, free_port

GiB = 1 << 30
# taskset CPU lists per role ("tunnel", "service", "load"), set by run(); None: not pinned
PIN: dict = {"tunnel": None, "service": None, "load": None}


def _pinned(role: str, argv: list[str]) -> list[str]:
    cpus = PIN.get(role)
    if not cpus:
        return argv
    taskset = shutil.which("taskset")
    if taskset is None:
        raise RuntimeError("taskset is required for --cpus-* (util-linux)")
    return [taskset, "-c", cpus, *argv]
HELLO = b"hello world\n"
BLOCK = memoryview(b"\x5a" * (1 << 20))


# -- the Python service --------------------------------------------------------------
class _Service(asyncio.Protocol):
    """GET /bytes/N: N bytes; PUT: reads the Content-Length body, answers its
    count; anything else: "hello world".  Keep-alive, pipelining-safe."""

    def connection_made(self, transport):  # type: ignore[no-untyped-def]
        self.t = transport
        self.buf = b""
        self.body_left = 0

    def data_received(self, data: bytes) -> None:
        if self.body_left:
            k = min(self.body_left, len(data))
            self.body_left -= k
            data = data[k:]
            if not self.body_left:
                self._answer(str(self.body_total).encode())
        self.buf += data
        while not self.body_left:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end], self.buf[end + 4 :]
            line = head.split(b"\r\n", 1)[0]
            if line.startswith(b"PUT"):
                m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                self.body_total = self.body_left = int(m.group(1)) if m else 0
                k = min(self.body_left, len(self.buf))
                self.body_left -= k
                self.buf = self.buf[k:]
                if not self.body_left:
                    self._answer(str(self.body_total).encode())
            elif line.startswith(b"GET /bytes/"):
                n = int(line.split(b" ")[1][7:])
                self.t.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
                asyncio.ensure_future(self._send(n))
            else:
                self._answer(HELLO)

    def _answer(self, body: bytes) -> None:
        self.t.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))

    async def _send(self, n: int) -> None:
        while n > 0 and not self.t.is_closing():
            k = min(n, len(BLOCK))
            self.t.write(BLOCK[:k])
            n -= k
            while self.t.get_write_buffer_size() > (4 << 20) and not self.t.is_closing():
                await asyncio.sleep(0.001)


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Service, "127.0.0.1", port, backlog=4096)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_max_body_size 0;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "hello world\\n"; }} }}
}}
"""


# -- setup ------------------------------------------------------------------------------
@contextlib.contextmanager
def setup(service: str, tls: bool, client_args: tuple = ()):  # type: ignore[no-untyped-def]
    """Yield {"tcp": port, "http": port, "host": name, "bulk_tcp", "bulk_host", "pids": [tunnel pids]}.

    The Python service always runs (bulk and memory use it); with
    ``service == "nginx"``, nginx is exposed too, and the rps test uses it.
    """
    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="fasttun-httpbench-")
    os.chmod(tmp, 0o755)
    try:
        py = procs.start(_pinned("service", [sys.executable, "-m", "benchmarks.httpbench", "service"]))
        py_port = int(_read_line(py, r"PORT (\d+)").group(1))
        routes = {"app": py_port}
        if service == "nginx":
            ng_port = free_port()
            conf = os.path.join(tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CONF.format(tmp=tmp, port=ng_port))
            procs.start(_pinned("service", [shutil.which("nginx") or "/usr/sbin/nginx", "-c", conf, "-p", tmp]))
            _wait_port(ng_port)
            routes["fast"] = ng_port
        ctrl, http = free_port(), free_port()
        publics = {name: free_port() for name in routes}
        low, high = min(publics.values()), max(publics.values())
        no_tls = [] if tls else ["--no-tls"]
        srv = procs.start(_pinned("tunnel", [sys.executable, "-m", "fasttun", "serve", "--listen", f"127.0.0.1:{ctrl}",
                                             "--public-host", "127.0.0.1", "--ports", f"{low}-{high}", "--token",
                                             "bench", "--http-port", str(http), "--domain", "bench.test", "-q",
                                             "--state-dir", tmp, *no_tls]))
        _read_line(srv, "listening")
        fp = ["--fingerprint", _fingerprint(tmp)] if tls else []
        console = os.path.join(tmp, "console.log")
        rs = []
        for name, port in routes.items():
            rs += ["-r", f"{port}-{publics[name]}", "-r", f"{port}-http:{name}"]
        with open(console, "w") as out:
            cli = subprocess.Popen(_pinned("tunnel", [sys.executable, "-m", "fasttun", "expose", "--server",
                                                      f"127.0.0.1:{ctrl}", "--token", "bench", *rs, *no_tls, *fp,
                                                      *client_args]), stdout=out,
                                   stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONPATH": HERE})
        procs.procs.append(cli)
        for name in routes:
            _wait_log(console, f"http://{name}.bench.test")
        rate = "fast" if service == "nginx" else "app"
        yield {"tcp": publics[rate], "http": http, "host": f"{rate}.bench.test", "bulk_tcp": publics["app"],
               "bulk_host": "app.bench.test", "pids": [srv.pid, cli.pid], "console": console}
    finally:
        procs.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _fingerprint(state_dir: str) -> str:
    from fasttun.transports import tls

    return tls.certificate_fingerprint(os.path.join(state_dir, "server.crt"))


def _wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def _wait_log(path: str, text: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path) as f:
            if text in f.read():
                return
        time.sleep(0.05)
    raise RuntimeError(f"{text!r} never appeared in {path}")


# -- measurements ---------------------------------------------------------------------------
def rps(port: int, host: str, seconds: float, pids: list[int]) -> dict:
    """wrk: 2 threads, 50 connections, keep-alive; requests/s, p99 ms, tunnel CPU µs per request."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is required (apt-get install wrk)")
    split0 = [cpu_times(pid) for pid in pids]
    out = subprocess.run(_pinned("load", [wrk, "-t2", "-c50", f"-d{seconds:g}s", "--latency", "-H", f"Host: {host}",
                                          f"http://127.0.0.1:{port}/"]),
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    split = [(u1 - u0, s1 - s0) for (u0, s0), (u1, s1) in zip(split0, (cpu_times(pid) for pid in pids))]
    cpu = sum(u + k for u, k in split)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    per = {name: {"user_us": u / total * 1e6, "sys_us": k / total * 1e6}
           for name, (u, k) in zip(("server", "client"), split)}
    return {"rps": rate, "p99_ms": p99, "cpu_us_per_req": cpu / total * 1e6, "cpu_split": per,
            "errors": errors.group(0) if errors else ""}


def _head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("closed before the head")
        data += chunk
    return data


def bulk(port: int, host: str, nbytes: int, direction: str) -> float:
    """One request moving *nbytes*; MB/s from the first byte sent to the last received."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        t0 = time.perf_counter()
        if direction == "up":
            s.sendall(f"PUT /sink HTTP/1.1\r\nHost: {host}\r\nContent-Length: {nbytes}\r\n\r\n".encode())
            left = nbytes
            while left > 0:
                left -= s.send(BLOCK[: min(left, len(BLOCK))])
            data = _head(s)
            body = data.split(b"\r\n\r\n", 1)[1]
            while len(body) < len(str(nbytes)):
                body += s.recv(100)
            assert int(body) == nbytes, body
        else:
            s.sendall(f"GET /bytes/{nbytes} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            data = _head(s)
            got = len(data.split(b"\r\n\r\n", 1)[1])
            buf = bytearray(1 << 20)
            while got < nbytes:
                k = s.recv_into(buf)
                if not k:
                    break
                got += k
            assert got == nbytes, (got, nbytes)
        return nbytes / (time.perf_counter() - t0) / 1e6


async def _hold(port: int, host: str, count: int, pids: list[int]) -> dict:
    before = _rss_kib(pids)
    conns = []
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    for i in range(0, count, 100):
        batch = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(min(100, count - i))))
        for r, w in batch:
            w.write(request)
        for r, w in batch:
            head = await r.readuntil(b"\r\n\r\n")
            n = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            await r.readexactly(n)
        conns += batch
    await asyncio.sleep(1.0)
    during = _rss_kib(pids)
    # Every connection still works after the pause.
    for r, w in conns[:: max(1, count // 50)]:
        w.write(request)
        await r.readuntil(b"\r\n\r\n")
    for _, w in conns:
        w.close()
    return {"connections": count, "rss_before_kib": before, "rss_during_kib": during,
            "kib_per_connection": (during - before) / count}


def memory(port: int, host: str, count: int, pids: list[int]) -> dict:
    """RSS growth of both tunnel processes with *count* keep-alive connections open."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count * 2 + 100), hard))
    return asyncio.run(_hold(port, host, count, pids))


# -- the run ---------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict:
    results: dict = {"args": vars(args), "rps": {"tcp": [], "http": []}, "bulk": {}, "memory": None}
    PIN.update(tunnel=args.cpus_tunnel, service=args.cpus_service, load=args.cpus_load)
    with setup(args.service, args.tls, tuple(args.client_args.split())) as t:
        pids, host = t["pids"], t["host"]
        if "rps" in args.tests:
            for port in (t["tcp"], t["http"]):  # warm-up
                rps(port, host, 1, pids)
            for _ in range(args.repeat):
                for kind in ("tcp", "http"):
                    r = rps(t[kind], host, args.seconds, pids)
                    results["rps"][kind].append(r)
                    print(f"rps {kind:4s} {r['rps']:9.0f}/s  p99 {r['p99_ms']:6.2f} ms  "
                          f"tunnel CPU {r['cpu_us_per_req']:5.1f} µs/req (user/sys µs: server "
                          f"{r['cpu_split']['server']['user_us']:.1f}/{r['cpu_split']['server']['sys_us']:.1f}, client "
                          f"{r['cpu_split']['client']['user_us']:.1f}/{r['cpu_split']['client']['sys_us']:.1f}) "
                          f"{r['errors']}", flush=True)
            with open(t["console"]) as f:
                results["console_lines"] = sum(1 for _ in f)
        if "bulk" in args.tests:
            for direction in ("up", "down"):
                for _ in range(args.repeat):
                    for kind, port in (("tcp", t["bulk_tcp"]), ("http", t["http"])):
                        mbs = bulk(port, t["bulk_host"], args.bulk_bytes, direction)
                        results["bulk"].setdefault(f"{kind}-{direction}", []).append(mbs)
                        print(f"bulk {kind:4s} {direction:4s} {mbs:7.0f} MB/s", flush=True)
        if "memory" in args.tests:
            results["memory"] = m = memory(t["http"], t["bulk_host"], args.connections, pids)
            print(f"memory: {m['connections']} keep-alive connections through the HTTP port: "
                  f"{m['kib_per_connection']:.1f} KiB each (RSS {m['rss_before_kib']} -> {m['rss_during_kib']} KiB)",
                  flush=True)
    return results


def summary(results: dict) -> str:
    lines = []
    rp = results["rps"]
    if rp["tcp"]:
        t = statistics.median(r["rps"] for r in rp["tcp"])
        h = statistics.median(r["rps"] for r in rp["http"])
        tp = statistics.median(r["p99_ms"] for r in rp["tcp"])
        hp = statistics.median(r["p99_ms"] for r in rp["http"])
        lines.append(f"keep-alive rps (median of {len(rp['tcp'])}): TCP {t:.0f}, HTTP {h:.0f} -> {h / t:.2f}x; "
                     f"p99 TCP {tp:.2f} ms, HTTP {hp:.2f} ms -> {hp / tp:.2f}x")
        if len(rp["tcp"]) > 1:
            # Each TCP run and the HTTP run right after it: a machine whose
            # speed changes between runs moves both halves of a pair alike.
            rates = [hr["rps"] / tr["rps"] for tr, hr in zip(rp["tcp"], rp["http"])]
            p99s = [hr["p99_ms"] / tr["p99_ms"] for tr, hr in zip(rp["tcp"], rp["http"])]
            lines.append(f"  per pair: rps {', '.join(f'{x:.2f}' for x in rates)}x (median "
                         f"{statistics.median(rates):.2f}x); p99 {', '.join(f'{x:.2f}' for x in p99s)}x (median "
                         f"{statistics.median(p99s):.2f}x)")
    size = results["args"]["bulk_bytes"]
    size_text = f"{size / GiB:g} GiB" if size >= GiB else f"{size >> 20} MiB"
    for direction in ("up", "down"):
        tcp, http = results["bulk"].get(f"tcp-{direction}"), results["bulk"].get(f"http-{direction}")
        if tcp and http:
            t, h = statistics.median(tcp), statistics.median(http)
            lines.append(f"{size_text} {direction} (median of {len(tcp)}): TCP {t:.0f} MB/s, HTTP {h:.0f} MB/s "
                         f"-> {h / t:.2f}x")
    m = results["memory"]
    if m:
        lines.append(f"{m['connections']} keep-alive connections through the HTTP port: "
                     f"{m['kib_per_connection']:.1f} KiB each (both tunnel processes' RSS "
                     f"{m['rss_before_kib']} -> {m['rss_during_kib']} KiB)")
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.httpbench", description=__doc__.split("\n\n")[0])
    p.add_argument("--service", choices=["python", "nginx"], default="python")
    p.add_argument("--tls", action="store_true", help="TLS on the tunnel connection (default: --no-tls)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--bulk-bytes", type=int, default=GiB)
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--tests", default="rps,bulk,memory")
    p.add_argument("--out", help="write NAME.json and NAME.txt")
    p.add_argument("--client-args", default="", help='more arguments for fasttun expose, e.g. "--inspect off"')
    p.add_argument("--cpus-tunnel", help="taskset CPU list for both tunnel processes, e.g. 1")
    p.add_argument("--cpus-service", help="taskset CPU list for nginx and the Python service, e.g. 0")
    p.add_argument("--cpus-load", help="taskset CPU list for wrk (rps only), e.g. 0")
    return p.parse_args(argv)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "service":
        try:
            import uvloop

            uvloop.install()
        except ImportError:  # pragma: no cover
            pass
        asyncio.run(_serve(0))
        return
    args = parse_args(sys.argv[1:])
    results = run(args)
    text = summary(results)
    print(text)
    if args.out:
        with open(args.out + ".json", "w") as f:
            json.dump(results, f, indent=1)
        with open(args.out + ".txt", "w") as f:
            f.write(f"python -m benchmarks.httpbench {' '.join(sys.argv[1:])}\n{text}\n")


if __name__ == "__main__":
    main()
