"""Frame codec: both implementations, and a differential fuzz of the decoder."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fasttun._core import consts as C
from fasttun._core.frames import FrameDecoderC, FrameDecoderPy, encode_frame
from fasttun.exceptions import ProtocolError, VersionError

DECODERS = [pytest.param(FrameDecoderPy, id="py"), pytest.param(FrameDecoderC, id="c")]


@pytest.fixture(params=DECODERS)
def Decoder(request):
    if request.param is None:
        pytest.skip("compiled core not built")
    return request.param


def frames_of(frames):
    return [(t, f, s, bytes(p)) for t, f, s, p in frames]


def test_roundtrip_all_sizes(Decoder):
    d = Decoder()
    sizes = [0, 1, 12, 4096, 65535, 65536, C.DEFAULT_MAX_FRAME]
    wire = C.PREAMBLE + b"".join(encode_frame(C.FRAME_DATA, 0, 1, bytes([n % 251]) * n) for n in sizes)
    got = frames_of(d.receive_data(wire))
    assert [len(p) for *_, p in got] == sizes
    assert all(p == bytes([len(p) % 251]) * len(p) for *_, p in got)


def test_byte_by_byte(Decoder):
    d = Decoder()
    wire = C.PREAMBLE + encode_frame(C.FRAME_PING, 0, 0, b"12345678") + encode_frame(C.FRAME_CONTROL, 0, 0, b"{}")
    got = []
    for i in range(len(wire)):
        got += frames_of(d.receive_data(wire[i : i + 1]))
    assert got == [(C.FRAME_PING, 0, 0, b"12345678"), (C.FRAME_CONTROL, 0, 0, b"{}")]


def test_oversized_frame(Decoder):
    d = Decoder()
    with pytest.raises(ProtocolError, match="exceeds the maximum"):
        header = encode_frame(C.FRAME_DATA, 0, 1, b"")[:8] + (C.DEFAULT_MAX_FRAME + 1).to_bytes(4, "big")
        d.receive_data(C.PREAMBLE + header)


def test_unknown_type(Decoder):
    with pytest.raises(ProtocolError, match="unknown frame type 7"):
        Decoder().receive_data(C.PREAMBLE + bytes([7]) + bytes(11))


def test_preamble(Decoder):
    with pytest.raises(ProtocolError, match="not a fasttun peer"):
        Decoder().receive_data(b"SSH-2.0-OpenSSH")
    with pytest.raises(VersionError):
        Decoder().receive_data(C.MAGIC + b"\x02")


def test_payload_views_survive_buffer_reuse(Decoder):
    """A payload view kept alive (as uvloop does) is never overwritten."""
    d = Decoder()
    d.receive_data(C.PREAMBLE)
    kept = []
    for i in range(40):  # 40 x 64 KiB: the buffer wraps several times
        kept += d.receive_data(encode_frame(C.FRAME_DATA, 0, 1, bytes([i]) * 65536))
    assert [bytes(p) == bytes([i]) * 65536 for i, (*_, p) in enumerate(kept)] == [True] * 40


def decode_all(Decoder, chunks):
    d = Decoder()
    out = []
    try:
        for chunk in chunks:
            out += frames_of(d.receive_data(chunk))
    except ProtocolError as exc:
        return out, (type(exc).__name__, str(exc))
    return out, None


frame_st = st.builds(
    lambda t, f, s, p: encode_frame(t, f, s, p),
    st.integers(0, 7), st.integers(0, 255), st.integers(0, 2**32 - 1), st.binary(max_size=300),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from([C.PREAMBLE, b"", C.MAGIC + b"\x02"]),
    body=st.one_of(st.binary(max_size=2000), st.lists(frame_st, max_size=20).map(b"".join)),
    cuts=st.lists(st.integers(0, 2500), max_size=6),
)
def test_fuzz_decoder_twins_agree(prefix, body, cuts):
    """Arbitrary bytes give frames or ProtocolError, never anything else; the twins agree."""
    wire = prefix + body
    points = sorted(set(c for c in cuts if c < len(wire)))
    chunks = [wire[a:b] for a, b in zip([0] + points, points + [len(wire)])]
    py = decode_all(FrameDecoderPy, chunks)
    if FrameDecoderC is not None:
        assert decode_all(FrameDecoderC, chunks) == py
