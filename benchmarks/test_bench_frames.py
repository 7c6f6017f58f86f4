"""Frame codec: decode and encode, per payload size, compiled vs pure."""

from __future__ import annotations

import pytest

from fasttun._core import consts as C

from ._micro import classes, data_frames, impl_params
from .conftest import SIZE_IDS, SIZES


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("impl", impl_params())
def test_decode(benchmark, impl, size):
    """Decode *size* payload bytes of DATA frames (header parse + payload views)."""
    _, Decoder, _ = classes(impl)
    benchmark.group = f"decode {size}"
    dec = Decoder(expect_preamble=False)
    wire = data_frames(size)
    n = len(wire)
    get_buffer, buffer_updated = dec.get_buffer, dec.buffer_updated

    def run():
        frames = []
        pos = 0
        while pos < n:
            target = get_buffer(-1)
            k = min(len(target), n - pos)
            target[:k] = wire[pos : pos + k]
            del target
            frames += buffer_updated(k)
            pos += k
        return frames

    frames = benchmark(run)
    assert sum(len(f[3]) for f in frames) == size


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("impl", impl_params())
def test_encode(benchmark, impl, size):
    """Encode *size* payload bytes as DATA frames: reserve, fill, commit, data_to_send."""
    Session, _, _ = classes(impl)
    benchmark.group = f"encode {size}"
    s = Session(False, window=C.MAX_WINDOW >> 1)
    s.data_to_send()
    sid = s.open_stream(1)
    stream = s._streams[sid]
    payload = b"y" * size
    send_data, data_to_send = s.send_data, s.data_to_send

    def run():
        # the benchmark measures framing, not flow control: credit is refilled
        s._send_credit = stream.send_window = C.MAX_WINDOW
        sent = send_data(sid, payload)
        views = data_to_send()
        return sent, views

    sent, _ = benchmark(run)
    assert sent == size
