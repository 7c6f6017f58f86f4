"""Mux: demultiplexing a mixed frame stream, and the in-memory copy loop."""

from __future__ import annotations

import pytest

from fasttun._core import consts as C
from fasttun._core.frames_py import encode_frame

from ._micro import classes, impl_params
from .conftest import SIZE_IDS, SIZES

STREAMS = 16


def connected(Session):
    client, server = Session(True), Session(False)
    for v in client.data_to_send():
        server.receive_data(bytes(v))
    for v in server.data_to_send():
        client.receive_data(bytes(v))
    return client, server


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("impl", impl_params())
def test_demux_mixed(benchmark, impl, size):
    """Receive *size* payload bytes spread over 16 streams, interleaved with
    window updates and pings; dispatch events and give the credit back."""
    Session, _, _ = classes(impl)
    benchmark.group = f"demux {size}"
    client, server = connected(Session)
    sids = [server.open_stream(1) for _ in range(STREAMS)]
    for v in server.data_to_send():
        client.receive_data(bytes(v))
    client.events_received()
    chunk = max(1, min(size // STREAMS, C.DEFAULT_MAX_FRAME))
    parts = []
    left, i = size, 0
    while left > 0:
        n = min(chunk, left)
        parts.append(encode_frame(C.FRAME_DATA, 0, sids[i % STREAMS], b"z" * n))
        if i % 8 == 7:
            parts.append(encode_frame(C.FRAME_PING, 0, 0, b"12345678"))
        left -= n
        i += 1
    wire = b"".join(parts)
    receive, events = client.receive_data, client.events_received
    consumed, to_send = client.consumed, client.data_to_send

    def run():
        receive(wire)
        got = 0
        for kind, sid, a, _ in events():
            if kind == C.EV_DATA:
                got += len(a)
                consumed(sid, len(a))
        to_send()
        return got

    assert benchmark(run) == size


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("impl", impl_params())
def test_copy_loop(benchmark, impl, size):
    """Move *size* bytes through a stream end to end in memory: read into the
    reserved frame buffer, commit, write out, decode on the peer, deliver,
    credit back (the per-byte work of the data path without the sockets)."""
    Session, _, _ = classes(impl)
    benchmark.group = f"copy loop {size}"
    client, server = connected(Session)
    sid = server.open_stream(1)
    for v in server.data_to_send():
        client.receive_data(bytes(v))
    client.events_received()
    source = memoryview(b"q" * size)
    reserve, commit, s_send = server.reserve, server.commit, server.data_to_send
    get_buffer, buffer_updated, events = client.get_buffer, client.buffer_updated, client.events_received
    consumed, c_send, s_recv = client.consumed, client.data_to_send, server.receive_data

    def run():
        pos = 0
        got = 0
        while pos < size:
            view = reserve(sid)
            n = min(len(view), size - pos)
            view[:n] = source[pos : pos + n]  # stands for recv_into
            del view
            commit(sid, n)
            pos += n
            for out in s_send():
                m = len(out)
                off = 0
                while off < m:
                    target = get_buffer(-1)
                    k = min(len(target), m - off)
                    target[:k] = out[off : off + k]  # stands for the tunnel socket
                    del target
                    buffer_updated(k)
                    off += k
                for kind, s, a, _ in events():
                    if kind == C.EV_DATA:
                        got += len(a)  # stands for transport.write(a)
                        consumed(s, len(a))
            for out in c_send():
                s_recv(bytes(out))
            server.events_received()
        return got

    assert benchmark(run) == size
