"""System calls and CPU per round trip of each tunnel process.

One ``fasttun serve`` and one ``fasttun expose`` on 127.0.0.1 in front of a
tiny echo service; one connection through the tunnel does N round trips of
64 bytes while ``strace -c`` counts each process's system calls; prints the
calls per round trip.  strace slows everything down: the counts are the
figure, not the time.  With ``--cpu``, no strace: the round trips' p50/p99
and each process's user and system CPU per round trip (from /proc, in clock
ticks) and its CPU time per round trip to the nanosecond (schedstat).

    python -m benchmarks.syscalls [--round-trips 5000] [--tls] [--cpu] [--bin PATH]

Needs strace (apt-get install strace).  Every process it starts is stopped by
PID at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from .e2e import cpu_times, free_port


def _echo() -> int:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def run() -> None:
        conn, _ = srv.accept()
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    threading.Thread(target=run, daemon=True).start()
    return srv.getsockname()[1]


def _counts(path: str, n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 5 and fields[0][0].isdigit() and fields[3].isdigit():
                out[fields[-1]] = int(fields[3]) / n
    return out


def _run_ns(pid: int) -> int:
    """The CPU time of all *pid*'s threads so far, in ns (``/proc/PID/task/*/schedstat``).

    Exact, where the user/system split of ``cpu_times`` comes in clock ticks
    (10 ms: 0.5 µs steps over 20,000 round trips)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:  # the thread ended
            pass
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--round-trips", type=int, default=5000)
    ap.add_argument("--tls", action="store_true", help="TLS on the tunnel connection (default: --no-tls)")
    ap.add_argument("--bin", default=shutil.which("fasttun") or "fasttun")
    ap.add_argument("--cpu", action="store_true", help="time and CPU per round trip instead of system calls")
    args = ap.parse_args()
    if not args.cpu and shutil.which("strace") is None:
        print("strace is required (apt-get install strace)", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="fasttun-syscalls-")
    procs: list[subprocess.Popen] = []
    try:
        ctrl, pub, svc = free_port(), free_port(), _echo()
        tls = [] if args.tls else ["--no-tls"]
        procs.append(subprocess.Popen([args.bin, "serve", "--listen", f"127.0.0.1:{ctrl}", "--public-host", "127.0.0.1",
                                       "--ports", f"{pub}-{pub}", "--token", "t", "-q", "--state-dir", tmp, *tls],
                                      stdout=subprocess.DEVNULL))
        time.sleep(1.5)
        pin = []
        if args.tls:
            from fasttun.transports import tls as tlsmod

            pin = ["--fingerprint", tlsmod.certificate_fingerprint(os.path.join(tmp, "server.crt"))]
        procs.append(subprocess.Popen([args.bin, "expose", "--server", f"127.0.0.1:{ctrl}", "--token", "t",
                                       "-r", f"{svc}-{pub}", "--inspect", "off", "-q", *tls, *pin],
                                      stdout=subprocess.DEVNULL))
        deadline = time.monotonic() + 15
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", pub), timeout=5)
                s.sendall(b"x")
                if s.recv(10) == b"x":
                    break
                s.close()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(200):
            s.sendall(b"y" * 64)
            s.recv(100)
        tunnel = list(procs)
        tracers = [] if args.cpu else [
            subprocess.Popen(["strace", "-c", "-f", "-o", os.path.join(tmp, f"{i}.txt"), "-p", str(p.pid)],
                             stderr=subprocess.DEVNULL) for i, p in enumerate(tunnel)]
        procs += tracers
        time.sleep(0.5)
        n = args.round_trips
        cpu0 = [cpu_times(p.pid) for p in tunnel]
        run0 = [_run_ns(p.pid) for p in tunnel]
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            s.sendall(b"y" * 64)
            got = 0
            while got < 64:
                got += len(s.recv(100))
            times.append(time.perf_counter() - t0)
        cpu1 = [cpu_times(p.pid) for p in tunnel]
        run1 = [_run_ns(p.pid) for p in tunnel]
        s.close()
        if args.cpu:
            times.sort()
            print(f"round trip p50 {times[n // 2] * 1e6:.0f} µs, p99 {times[int(n * 0.99)] * 1e6:.0f} µs")
            for name, (u0, k0), (u1, k1), r0, r1 in zip(("serve", "expose"), cpu0, cpu1, run0, run1):
                user, system = (u1 - u0) / n * 1e6, (k1 - k0) / n * 1e6
                print(f"{name:6s} per round trip: user {user:.1f} µs, system {system:.1f} µs, "
                      f"CPU {(r1 - r0) / n / 1e3:.2f} µs (schedstat)")
            return 0
        for t in tracers:
            t.send_signal(2)
            t.wait(timeout=30)
        for i, name in enumerate(("serve", "expose")):
            counts = _counts(os.path.join(tmp, f"{i}.txt"), n)
            rows = "  ".join(f"{k} {v:.2f}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]) if v >= 0.01)
            print(f"{name:6s} per round trip: {rows}")
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
