"""Faults survived: a stalled link, a killed client, and nothing lost through
a proxy that splits and delays writes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import subprocess
import sys

import pytest

from ..faultproxy import FaultProxy
from ..support import TOKEN, Services, client_for, pattern, roundtrip, tunnel_server

HEARTBEAT = dict(ping_interval=0.3, ping_timeout=1.2)


@pytest.mark.usefixtures("impl", "loop_kind")
@pytest.mark.timeout(60)
async def test_stalled_link_detected_both_ways_and_recovered(caplog):
    svc = Services()
    port = await svc.echo()
    async with tunnel_server(**HEARTBEAT) as server:
        host, ctrl = server.address
        proxy = FaultProxy((host, ctrl))
        pport = await proxy.start()
        async with client_for(server) as _:
            pass
        import fasttun

        async with fasttun.Client(f"127.0.0.1:{pport}", token=TOKEN, backoff_min=0.2, backoff_max=0.5) as c:
            t = await c.expose(port)
            public = t.remote_port
            assert await roundtrip(public, b"before") == b"before"
            loop = asyncio.get_running_loop()
            proxy.stall()
            t0 = loop.time()
            # the server notices (heartbeat timeout) and frees the port ...
            while public in server.public_ports:
                assert loop.time() - t0 < 5, "server did not notice the stalled link"
                await asyncio.sleep(0.05)
            # ... and so does the client, which starts reconnecting
            while c._client.conn is not None and not c._client.conn.closed.done():
                assert loop.time() - t0 < 5, "client did not notice the stalled link"
                await asyncio.sleep(0.05)
            proxy.resume()
            while public not in server.public_ports:
                assert loop.time() - t0 < 20, "client did not come back"
                await asyncio.sleep(0.05)
            assert await roundtrip(public, b"after") == b"after"
        await proxy.close()
    svc.close()


@pytest.mark.timeout(60)
async def test_kill_9_client_mid_transfer():
    svc = Services()
    sink = await svc.sink()
    async with tunnel_server(**HEARTBEAT) as server:
        host, ctrl = server.address
        proc = subprocess.Popen([sys.executable, "-m", "fasttun", "expose", str(sink), "--server", f"{host}:{ctrl}",
                                 "--token", TOKEN], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = await asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline)
            public = int(line.rsplit(" -> ")[0].rpartition(":")[2])
            r, w = await asyncio.open_connection("127.0.0.1", public)
            w.write(b"x" * (8 << 20))  # mid-transfer ...
            await asyncio.sleep(0.2)
            os.kill(proc.pid, signal.SIGKILL)  # ... the client dies
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                async with asyncio.timeout(5):  # the public user's connection ends promptly
                    await r.readexactly(1)
                    await w.drain()
            while server.public_ports:
                assert loop.time() - t0 < 5, "the server kept the dead client's port"
                await asyncio.sleep(0.05)
            w.close()
        finally:
            proc.kill()
            proc.wait()
    svc.close()


@pytest.mark.timeout(300)
async def test_nothing_lost_through_split_and_delayed_writes():
    """2,000 streams of random sizes (up to 4 MiB, log-uniform), random
    half-close order, through a proxy that splits and delays writes; every
    byte verified by hash."""
    rng = random.Random(2026)
    sizes = [int(2 ** rng.uniform(0, 22)) for _ in range(2000)]

    async def service(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        # reads everything, then answers with the hash; or (half the time)
        # answers first and reads after, so both half-close orders happen
        try:
            header = await r.readexactly(9)
            n, service_first = int.from_bytes(header[:8], "big"), header[8]
            if service_first:
                w.write(pattern(n, seed=n))
                w.write_eof()
            h = hashlib.sha256()
            got = 0
            while data := await r.read(1 << 18):
                h.update(data)
                got += len(data)
            if not service_first:
                w.write(h.digest())
            await w.drain()
        except ConnectionError:  # the user may be gone already: it checks the answer itself
            pass
        w.close()

    svc = Services()
    port = await svc.start(service)
    async with tunnel_server() as server:
        host, ctrl = server.address
        proxy = FaultProxy((host, ctrl), delay=0.001, split=1500, seed=1)
        pport = await proxy.start()
        import fasttun

        async with fasttun.Client(f"127.0.0.1:{pport}", token=TOKEN) as c:
            t = await c.expose(port)
            sem = asyncio.Semaphore(200)

            async def one(i: int, n: int) -> bool:
                service_first = i % 2
                async with sem:
                    r, w = await asyncio.open_connection("127.0.0.1", t.remote_port)
                    w.write(n.to_bytes(8, "big") + bytes([service_first]))
                    if service_first:
                        got = bytearray()
                        while chunk := await r.read(1 << 18):
                            got.extend(chunk)
                        w.write_eof()  # our half closes after theirs
                        ok = hashlib.sha256(got).digest() == hashlib.sha256(pattern(n, seed=n)).digest()
                    else:
                        data = pattern(n, seed=i)
                        w.write(data)
                        w.write_eof()
                        answer = await r.read()
                        ok = answer == hashlib.sha256(data).digest()
                    w.close()
                    return ok

            results = await asyncio.gather(*(one(i, n) for i, n in enumerate(sizes)))
        await proxy.close()
    assert results.count(False) == 0
    svc.close()
