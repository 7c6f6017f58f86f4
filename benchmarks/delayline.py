"""A user-space delay line: a TCP relay that behaves like a far, slower link.

Every chunk is serialised at ``rate`` (one pacer per direction, shared by all
connections, like one link) and then held for ``delay`` seconds before it is
written on, so a round trip through the line costs ``2 * delay``.  What is
queued per direction is bounded (twice the bandwidth-delay product plus
1 MiB); past that the line stops reading, and TCP's own flow control pushes
back.  This kernel has no netem, hence this tool.

    python -m benchmarks.delayline --listen 127.0.0.1:7001 --to 127.0.0.1:7000 \\
        --delay-ms 25 --rate-mbit 400

Loopback only: --listen and --to must be loopback addresses.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ipaddress
import signal


class Pacer:
    """One direction of the link: when the next byte can start."""

    def __init__(self, rate: float) -> None:
        self.rate = rate  # bytes per second
        self.free_at = 0.0

    def schedule(self, now: float, nbytes: int, delay: float) -> float:
        start = now if now > self.free_at else self.free_at
        self.free_at = start + nbytes / self.rate
        return self.free_at + delay


class DelayLine:
    def __init__(self, target: tuple[str, int], delay: float, rate: float) -> None:
        self.target = target
        self.delay = delay
        self.rate = rate
        self.up = Pacer(rate)  # listener side -> target
        self.down = Pacer(rate)
        self.limit = int(2 * rate * delay) + (1 << 20)
        self.connections = 0

    async def handle(self, r1: asyncio.StreamReader, w1: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            r2, w2 = await asyncio.open_connection(*self.target)
        except OSError:
            w1.close()
            return
        await asyncio.gather(self._pump(r1, w2, self.up), self._pump(r2, w1, self.down), return_exceptions=True)
        for w in (w1, w2):
            w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pacer: Pacer) -> None:
        loop = asyncio.get_running_loop()
        queue: collections.deque = collections.deque()
        queued = 0
        more = asyncio.Event()
        room = asyncio.Event()
        room.set()
        done = False

        async def receive() -> None:
            nonlocal queued, done
            try:
                while True:
                    await room.wait()
                    data = await reader.read(65536)
                    if not data:
                        break
                    queue.append((pacer.schedule(loop.time(), len(data), self.delay), data))
                    queued += len(data)
                    if queued > self.limit:
                        room.clear()
                    more.set()
            except ConnectionError:
                pass
            done = True
            more.set()

        async def send() -> None:
            nonlocal queued
            while True:
                while not queue:
                    if done:
                        if writer.can_write_eof():
                            writer.write_eof()
                        return
                    more.clear()
                    await more.wait()
                due, data = queue[0]
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                queue.popleft()
                queued -= len(data)
                if queued <= self.limit:
                    room.set()
                writer.write(data)
                await writer.drain()

        try:
            await asyncio.gather(receive(), send())
        except ConnectionError:
            pass


def _loopback(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    host = host.strip("[]")
    if not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"{hostport}: the delay line only runs on loopback addresses")
    return host, int(port)


async def serve(listen: tuple[str, int], target: tuple[str, int], delay: float, rate: float,
                ready=None) -> None:
    line = DelayLine(target, delay, rate)
    server = await asyncio.start_server(line.handle, *listen)
    if ready is not None:
        ready(server.sockets[0].getsockname()[1])
    async with server:
        stop = asyncio.get_running_loop().create_future()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
        await stop


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", required=True, help="loopback HOST:PORT to accept on (port 0: any; printed)")
    p.add_argument("--to", required=True, help="loopback HOST:PORT to relay to")
    p.add_argument("--delay-ms", type=float, default=25.0, help="one-way delay (default 25)")
    p.add_argument("--rate-mbit", type=float, default=400.0, help="line rate each way (default 400)")
    a = p.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    runner(serve(_loopback(a.listen), _loopback(a.to), a.delay_ms / 1000, a.rate_mbit * 1e6 / 8,
                 ready=lambda port: print(f"PORT {port}", flush=True)))


if __name__ == "__main__":
    main()
