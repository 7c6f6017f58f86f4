"""The WebSocket library choice (issue #7): picows against websockets, on loopback.

websockets' sans-I/O protocol (what fasttun uses) framing and parsing in
memory, and picows end to end over loopback (one client and one server in one
process, uvloop); 256 KiB binary messages, 1 GiB each way; client to server is
masked (RFC 6455), server to client is not.  ``python -m benchmarks.wslib`` (picows is measured when it is installed:
``pip install picows``; it is not a fasttun dependency).
"""

import asyncio
import logging
import time

import uvloop

TOTAL = 1 << 30
MSG = 262144
payload = b"x" * MSG

async def picows_bench(direction):
    from picows import WSListener, WSMsgType, ws_connect, ws_create_server

    got = 0
    done = asyncio.get_running_loop().create_future()
    class Sink(WSListener):
        def on_ws_frame(self, transport, frame):
            nonlocal got
            got += len(frame.get_payload_as_memoryview())
            if got >= TOTAL and not done.done():
                done.set_result(None)
    class Source(WSListener):
        def on_ws_connected(self, transport):
            self.t = transport
    srv_listener = {}
    def factory(req):
        listener = Sink() if direction == "up" else Source()
        srv_listener["l"] = listener
        return listener
    server = await ws_create_server(factory, "127.0.0.1", 0, max_frame_size=1 << 20)
    port = server.sockets[0].getsockname()[1]
    transport, client = await ws_connect(Source if direction == "up" else Sink, f"ws://127.0.0.1:{port}/",
                                         max_frame_size=1 << 20)
    t0 = time.perf_counter()
    sender = transport if direction == "up" else srv_listener["l"].t
    underlying = sender.underlying_transport
    sent = 0
    while sent < TOTAL:
        sender.send(WSMsgType.BINARY, payload)
        sent += MSG
        if underlying.get_write_buffer_size() > 4 << 20:
            while underlying.get_write_buffer_size() > 1 << 20:
                await asyncio.sleep(0)
    await done
    dt = time.perf_counter() - t0
    transport.disconnect()
    server.close()
    return TOTAL / dt / 1e6

def websockets_sans_io(direction):
    """websockets' sans-I/O Protocol, the layer fasttun uses: frames built,
    (masked,) parsed (and unmasked) in memory, with no socket in between."""
    from websockets.protocol import Protocol, Side, State

    cli = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    srv = Protocol(Side.SERVER, state=State.OPEN, max_size=None)
    sender, receiver = (cli, srv) if direction == "up" else (srv, cli)
    t0 = time.perf_counter()
    for _ in range(TOTAL // MSG):
        sender.send_binary(payload)
        for chunk in sender.data_to_send():
            receiver.receive_data(chunk)
        for _event in receiver.events_received():
            pass
    return TOTAL / (time.perf_counter() - t0) / 1e6


async def main():
    logging.disable(logging.WARNING)  # (picows logs every pause and resume of writing)
    for d in ("up", "down"):
        way = "client -> server, masked" if d == "up" else "server -> client"
        print(f"websockets sans-I/O, in memory, {d:4s} ({way}, 256 KiB messages, 1 GiB): "
              f"{websockets_sans_io(d):6.0f} MB/s", flush=True)
    try:
        import picows  # noqa: F401
    except ImportError:
        print("picows is not installed (pip install picows): not measured")
        return
    for name, fn in (("picows", picows_bench),):
        for d in ("up", "down"):
            r = await fn(d)
            way = "client -> server, masked" if d == "up" else "server -> client"
            print(f"{name:10s} {d:4s} ({way}, 256 KiB messages, 1 GiB): {r:6.0f} MB/s", flush=True)

if __name__ == "__main__":
    uvloop.run(main())
