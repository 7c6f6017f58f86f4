"""A tunnel end to end with the installed fasttun: 1 MiB echoed, SHA-256 checked
(cibuildwheel's test command, and tools/release_check.py)."""
import asyncio
import hashlib
import os
import socket

import fasttun


async def main():
    async def echo(r, w):
        while data := await r.read(65536):
            w.write(data)
        w.close()
    svc = await asyncio.start_server(echo, "127.0.0.1", 0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        public = s.getsockname()[1]
    async with fasttun.Server(listen_host="127.0.0.1", listen_port=0, public_host="127.0.0.1",
                              ports=(public, public), token="t") as server:
        host, ctrl = server.address
        async with fasttun.Client(f"{host}:{ctrl}", token="t", reconnect=False) as client:
            t = await client.expose(svc.sockets[0].getsockname()[1])
            r, w = await asyncio.open_connection("127.0.0.1", t.remote_port)
            data = os.urandom(1 << 20)
            w.write(data)
            w.write_eof()
            got = await r.read()
            assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), len(got)
            w.close()
    svc.close()
    print("end to end: 1 MiB echoed through a tunnel, SHA-256 checked;", fasttun.IMPLEMENTATION, "core")

asyncio.run(main())
