"""Stress: 10,000 concurrent public connections spread over 10 clients.

Starts an echo service, one ``fasttun serve`` and 10 ``fasttun expose``
processes on 127.0.0.1, then opens 10,000 connections (1,000 per client's
public port), all held open at the same time, each checked end to end with
a 64-byte payload of its own. Prints the errors, the time taken and the peak
memory of the tunnel processes. Bounded in time (--deadline), loopback only.

The soft limit on open files is raised to the hard limit for this process
and the processes it starts (each needs over 10,000 descriptors).

    python -m benchmarks.stress [--conns 10000] [--clients 10]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time

from . import e2e


async def load(ports: list[int], per_port: int, deadline: float) -> tuple[int, int, float]:
    sem = asyncio.Semaphore(512)  # connects in flight; all stay open afterwards
    opened: list[asyncio.StreamWriter] = []
    all_open = asyncio.Event()
    total = len(ports) * per_port
    errors = 0
    ok = 0

    async def one(i: int, port: int) -> None:
        nonlocal errors, ok
        try:
            async with sem:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                payload = i.to_bytes(8, "big") * 8
                w.write(e2e.HDR.pack(b"E", 0) + payload)
                if await r.readexactly(64) != payload:
                    raise ValueError("wrong echo")
            opened.append(w)
            if len(opened) == total:
                all_open.set()
            await all_open.wait()  # hold every connection open at once
            ok += 1
        except (OSError, ValueError, asyncio.IncompleteReadError):
            errors += 1
            if len(opened) + errors >= total:
                all_open.set()

    t0 = time.perf_counter()
    async with asyncio.timeout(deadline):
        await asyncio.gather(*(one(i, ports[i % len(ports)]) for i in range(total)))
    took = time.perf_counter() - t0
    for w in opened:
        w.close()
    return ok, errors, took


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conns", type=int, default=10000)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--deadline", type=float, default=300.0, help="seconds before giving up (default 300)")
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"open files limit raised from {soft} to {hard}", flush=True)
    procs = e2e.Procs()
    try:
        svc = procs.start([sys.executable, "-m", "benchmarks.e2e", "service"])
        svc_port = int(e2e._read_line(svc, r"PORT (\d+)").group(1))
        ctrl = e2e.free_port()
        ports = [e2e.free_port() for _ in range(a.clients)]
        srv = procs.start([sys.executable, "-m", "fasttun", "serve", "--listen", f"127.0.0.1:{ctrl}",
                           "--public-host", "127.0.0.1", "--ports", "1024-65535", "--token", "stress", "-q"])
        e2e._read_line(srv, "listening")
        pids = [srv.pid]
        for port in ports:
            cli = procs.start([sys.executable, "-m", "fasttun", "expose", str(svc_port), "--server",
                               f"127.0.0.1:{ctrl}", "--remote-port", str(port), "--token", "stress", "-q"])
            e2e._read_line(cli, r"^tcp://")
            pids.append(cli.pid)
        base = e2e._rss_kib(pids)
        peak = [base]
        stop = False

        async def sample() -> None:
            while not stop:
                peak[0] = max(peak[0], e2e._rss_kib(pids))
                await asyncio.sleep(0.1)

        async def run() -> tuple[int, int, float]:
            nonlocal stop
            sampler = asyncio.ensure_future(sample())
            try:
                return await load(ports, a.conns // a.clients, a.deadline)
            finally:
                stop = True
                await sampler

        ok, errors, took = e2e._run(run())
        print(f"{a.conns} connections over {a.clients} clients: {ok} verified, {errors} errors, "
              f"all open after {took:.1f} s; tunnel processes' RSS {base / 1024:.0f} MiB at rest, "
              f"peak {peak[0] / 1024:.0f} MiB", flush=True)
        return 0 if errors == 0 and ok == a.conns else 1
    finally:
        procs.stop()


if __name__ == "__main__":
    raise SystemExit(main())
