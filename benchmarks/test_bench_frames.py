"""Frame codec: decode and encode, per payload size, compiled vs pure."""

from __future__ import annotations

import pytest

from fasttun._core import consts as C

from ._micro import classes, data_frames, encode_frame, impl_params
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
def test_decode_harness_alone(benchmark, size):
    """``test_decode``'s loop with no decoder: a reused buffer instead of
    ``get_buffer``, nothing instead of ``buffer_updated``.  Both twins' decode
    times include this much, so it bounds their py/c ratio: even a decoder
    that cost nothing would show (twin's time) / (this time)."""
    benchmark.group = f"decode {size}"
    wire = data_frames(size)
    n = len(wire)
    buf = memoryview(bytearray(1 << 20))

    def run():
        frames: list = []
        pos = 0
        while pos < n:
            target = buf[0:]
            k = min(len(target), n - pos)
            target[:k] = wire[pos : pos + k]
            del target
            frames += ()
            pos += k
        return frames

    assert benchmark(run) == []


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


# The two above time one read per call, so at small sizes they time the
# benchmark's own Python (get_buffer, the copy that stands for recv_into, the
# loop: about 400 ns, measured with a decoder that does nothing) as much as
# the codec, and at 16 KiB the copy.  The two below time the codec's work per
# frame: one read (or one flush) of 64 frames of *size* bytes each, with the
# bytes put in place outside the timing, as the kernel does it.
FRAMES_PER_READ = 64
PER_FRAME_SIZES = [64, 1024, 16384]
PER_FRAME_IDS = ["64B", "1KiB", "16KiB"]


@pytest.mark.parametrize("size", PER_FRAME_SIZES, ids=PER_FRAME_IDS)
@pytest.mark.parametrize("impl", impl_params())
def test_decode_frames(benchmark, impl, size):
    """Decode one read holding 64 DATA frames of *size* bytes (header checks,
    payload views); the bytes are written into the receive buffer untimed."""
    _, Decoder, _ = classes(impl)
    benchmark.group = f"decode 64 frames of {size}"
    wire = b"".join(encode_frame(C.FRAME_DATA, 0, 1 + 2 * (i % 8), b"x" * size) for i in range(FRAMES_PER_READ))
    dec = Decoder(expect_preamble=False, buffer_size=4 * len(wire))
    n = len(wire)

    def fill():
        target = dec.get_buffer(-1)
        target[:n] = wire
        del target
        return (n,), {}

    frames = benchmark.pedantic(dec.buffer_updated, setup=fill, rounds=3000 if size < 16384 else 1000,
                                warmup_rounds=50)
    assert len(frames) == FRAMES_PER_READ and sum(len(f[3]) for f in frames) == size * FRAMES_PER_READ


@pytest.mark.parametrize("size", PER_FRAME_SIZES, ids=PER_FRAME_IDS)
@pytest.mark.parametrize("impl", impl_params())
def test_encode_frames(benchmark, impl, size):
    """Frame 64 reads of *size* bytes (reserve, commit) and hand them out
    (data_to_send), zero-copy as the relay does it: the bytes of each read
    land in the reserved view by recv_into, which is not timed here."""
    Session, _, _ = classes(impl)
    benchmark.group = f"encode 64 frames of {size}"
    s = Session(False, window=C.MAX_WINDOW >> 1)
    sid = s.open_stream(1)
    s.data_to_send()  # the preamble and the OPEN
    stream = s._streams[sid]
    reserve, commit, data_to_send = s.reserve, s.commit, s.data_to_send
    top = C.MAX_WINDOW

    def run():
        s._send_credit = stream.send_window = top
        for _ in range(FRAMES_PER_READ):
            view = reserve(sid)
            del view
            commit(sid, size)
        return data_to_send()

    views = benchmark(run)
    assert sum(len(v) for v in views) == FRAMES_PER_READ * (size + C.HEADER_SIZE)
