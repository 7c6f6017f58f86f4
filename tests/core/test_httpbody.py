"""HTTP body counter: both implementations, split points, malformed framing, differential fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fasttun._core.httpbody import (
    BODY_CHUNKED,
    BODY_LENGTH,
    BODY_NONE,
    BODY_UNTIL_CLOSE,
    BodyCounterC,
    BodyCounterPy,
    MalformedBody,
)
from tests.fuzzing import mutate, mutation

COUNTERS = [pytest.param(BodyCounterPy, id="py"), pytest.param(BodyCounterC, id="c")]


@pytest.fixture(params=COUNTERS)
def Counter(request):
    if request.param is None:
        pytest.skip("compiled core not built")
    return request.param


def chunked(chunks: list[bytes], ext: bytes = b"", trailer: bytes = b"") -> bytes:
    out = b"".join(b"%x%s\r\n%s\r\n" % (len(c), ext, c) for c in chunks if c)
    return out + b"0%s\r\n%s\r\n" % (ext, trailer)


def scan(Counter, mode: int, data: bytes, cuts: list[int], length: int = 0):
    """Feed *data* cut at *cuts*; return (body bytes, done) or ("error", message)."""
    c = Counter()
    c.start(mode, length)
    pieces, last = [], 0
    for cut in sorted(set(cuts)) + [len(data)]:
        pieces.append(data[last:cut])
        last = cut
    body = 0
    try:
        for piece in pieces:
            k = c.feed(memoryview(piece))
            assert 0 <= k <= len(piece)
            body += k
            if c.done:
                break
            assert k == len(piece)  # not done: every byte belongs to the body
    except MalformedBody as exc:
        return ("error", str(exc))
    return body, c.done


def test_length(Counter):
    assert scan(Counter, BODY_LENGTH, b"x" * 10 + b"GET /", [3, 7], length=10) == (10, True)
    assert scan(Counter, BODY_LENGTH, b"x" * 4, [], length=10) == (4, False)
    c = Counter()
    c.start(BODY_LENGTH, 0)
    assert c.done and c.feed(b"abc") == 0


def test_none_and_until_close(Counter):
    c = Counter()
    c.start(BODY_NONE)
    assert c.done and c.feed(b"HTTP/1.1 200 OK\r\n") == 0
    c.start(BODY_UNTIL_CLOSE)
    assert c.feed(b"x" * 1000) == 1000 and not c.done


def test_chunked_with_extensions_and_trailer(Counter):
    body = chunked([b"hello", b" ", b"world" * 100], ext=b";name=value", trailer=b"X-Sum: 1\r\nX-B: 2\r\n")
    data = body + b"GET /next HTTP/1.1\r\n\r\n"
    for cuts in ([], [1], [2, 3, 4, 5], list(range(len(data)))):
        assert scan(Counter, BODY_CHUNKED, data, cuts) == (len(body), True)


def test_chunk_size_hex_upper_and_lower(Counter):
    data = b"A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"
    assert scan(Counter, BODY_CHUNKED, data, []) == (len(data), True)


@pytest.mark.parametrize("bad, why", [
    (b"z\r\n", "bad chunk size"),
    (b"\r\n", "bad chunk size"),
    (b"-1\r\n", "bad chunk size"),
    (b"1" * 17 + b"\r\n", "too long"),
    (b"5\nhello\r\n0\r\n\r\n", "CRLF"),
    (b"5\r\nhelloX\r\n", "CRLF"),
    (b"5\r\nhello\rX", "CRLF"),
    (b"5;a\nhello", "bare LF"),
    (b"0\r\nX: y\nZ", "bare LF"),
    (b"0\r\n\n", "bare LF"),
    (b"0\r\n\rX", "CRLF"),
    (b"1;" + b"e" * 5000 + b"\r\n", "too long"),
    (b"0\r\n" + b"X: " + b"y" * 5000, "too long"),
    (b"0\r\n" + b"X: yyyy\r\n" * 2000, "too large"),
])
def test_malformed(Counter, bad, why):
    result = scan(Counter, BODY_CHUNKED, bad, [])
    assert result[0] == "error" and why in result[1]


def test_sixteen_digits_is_fine(Counter):
    c = Counter()
    c.start(BODY_CHUNKED)
    assert c.feed(b"000000000000000a\r\n0123") == 22 and c.remaining == 6


def test_restart_reuses_the_counter(Counter):
    c = Counter()
    c.start(BODY_CHUNKED)
    assert c.feed(b"3\r\nabc\r\n0\r\n\r\nrest") == 13 and c.done
    c.start(BODY_LENGTH, 4)
    assert c.feed(b"rest") == 4 and c.done


def test_bad_start(Counter):
    with pytest.raises(ValueError):
        Counter().start(9)
    with pytest.raises(ValueError):
        Counter().start(BODY_LENGTH, -1)


body_chunks = st.lists(st.binary(min_size=1, max_size=300), max_size=6)
exts = st.sampled_from([b"", b";a=b", b" ;x", b";q=\"v\""])
trailers = st.sampled_from([b"", b"A: b\r\n", b"Expires: never\r\nX: y\r\n"])
cut_points = st.lists(st.integers(0, 4000), max_size=8)


@settings(max_examples=300, deadline=None)
@given(body_chunks, exts, trailers, st.binary(max_size=30), cut_points)
def test_valid_bodies_end_exactly(chunks, ext, trailer, after, cuts):
    body = chunked(chunks, ext, trailer)
    for Counter in (BodyCounterPy, BodyCounterC):
        if Counter is not None:
            assert scan(Counter, BODY_CHUNKED, body + after, cuts) == (len(body), True)


@settings(max_examples=500, deadline=None)
@given(body_chunks, trailers, st.lists(mutation, min_size=1, max_size=4), cut_points)
def test_mutated_bodies_same_verdict_in_both(chunks, trailer, mutations, cuts):
    data = mutate(chunked(chunks, b"", trailer), mutations)
    results = [scan(C, BODY_CHUNKED, data, cuts) for C in (BodyCounterPy, BodyCounterC) if C is not None]
    assert all(r == results[0] for r in results)
