"""A fault-injecting TCP proxy for tests (asyncpg's _testbase/fuzzer idea).

It relays between a listening port and a target, and can, while running:
delay every chunk, split writes into small pieces, stall (stop forwarding,
no FIN, no RST: the connection just goes silent), resume, and cut every
connection with a RST.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct


class FaultProxy:
    def __init__(self, target: tuple[str, int], *, delay: float = 0.0, split: int = 0, seed: int = 0) -> None:
        self.target = target
        self.delay = delay  # seconds each chunk is held
        self.split = split  # write in pieces of at most this many bytes (0: as read)
        self.running = asyncio.Event()
        self.running.set()
        self.rng = random.Random(seed)
        self.server: asyncio.AbstractServer | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Task] = set()
        self.connections = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    def stall(self) -> None:
        """Stop forwarding in both directions, closing nothing."""
        self.running.clear()

    def resume(self) -> None:
        self.running.set()

    def cut(self) -> None:
        """Reset every relayed connection."""
        for w in list(self.writers):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            w.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        self.cut()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _handle(self, r1: asyncio.StreamReader, w1: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await self._relay(r1, w1)
        except asyncio.CancelledError:
            pass
        finally:
            self.tasks.discard(task)

    async def _relay(self, r1: asyncio.StreamReader, w1: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.add(w1)
        await self.running.wait()  # a stalled link accepts but never answers
        try:
            r2, w2 = await asyncio.open_connection(*self.target)
        except OSError:
            w1.transport.abort()
            return
        self.writers.add(w2)
        await asyncio.gather(self._pump(r1, w2), self._pump(r2, w1), return_exceptions=True)
        for w in (w1, w2):
            self.writers.discard(w)
            w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self.running.wait()
                if self.delay:
                    await asyncio.sleep(self.delay)
                if self.split:
                    pos = 0
                    while pos < len(data):
                        n = self.rng.randint(1, self.split)
                        writer.write(data[pos : pos + n])
                        pos += n
                        await writer.drain()
                else:
                    writer.write(data)
                    await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            writer.transport.abort()
