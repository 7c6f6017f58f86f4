"""The inspector's tap (``fasttun.http.tap``, and ``tap_c``, the same module
compiled), sans I/O: whatever way the bytes are cut, the same exchanges are
recorded; bodies are kept up to the limit and counted in full; memory stays
bounded."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fasttun.http import tap as tap_py
from fasttun.http.tap import BODY_LIMIT, Capture

try:
    from fasttun.http import tap_c
except ImportError:  # pragma: no cover - not built
    tap_c = None


@pytest.fixture(scope="module", params=["py", "c"])
def tapmod(request):
    """The tap's twin (tap) or the compiled module (tap_c)."""
    if request.param == "c" and tap_c is None:
        pytest.skip("compiled core not built")
    return tap_py if request.param == "py" else tap_c

REQUESTS = (b"GET /a HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\n\r\n"
            b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            b"HEAD /d HTTP/1.1\r\nHost: x\r\n\r\n")
RESPONSES = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
             b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"2\r\nok\r\n0\r\n\r\n"
             b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
             b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")  # HEAD: no body follows


def cut(data: bytes, points: list[int]) -> list[bytes]:
    points = sorted({p % (len(data) + 1) for p in points})
    out, last = [], 0
    for p in points + [len(data)]:
        out.append(data[last:p])
        last = p
    return [c for c in out if c]


def check(capture: Capture) -> None:
    recs = list(capture.records)
    assert [(r.method, r.target, r.status) for r in recs] == [
        (b"GET", b"/a", 200), (b"POST", b"/b", 201), (b"PUT", b"/c", 404), (b"HEAD", b"/d", 200)]
    assert recs[0].to_dict()["url"] == "https://x/a"
    assert bytes(recs[0].response_body) == b"hi"
    assert bytes(recs[1].request_body) == b"hello" and bytes(recs[1].response_body) == b"2\r\nok\r\n0\r\n\r\n"
    assert bytes(recs[2].request_body) == b"3\r\nabc\r\n0\r\n\r\n" and recs[2].response_size == 0
    assert recs[3].response_size == 0 and all(r.duration is not None for r in recs)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10_000), max_size=12), st.lists(st.integers(0, 10_000), max_size=12))
def test_any_cut_records_the_same(tapmod, req_points, resp_points):
    capture = tapmod.Capture()
    tap = tapmod.Tap(capture, "t1")
    for chunk in cut(REQUESTS, req_points):
        tap.request_data(memoryview(chunk))
    for chunk in cut(RESPONSES, resp_points):
        tap.response_data(memoryview(chunk))
    check(capture)


def test_big_bodies_kept_up_to_the_limit_and_counted_whole(tapmod):
    capture = tapmod.Capture()
    tap = tapmod.Tap(capture, "t1")
    body = bytes(range(256)) * 1024  # 256 KiB
    tap.request_data(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
    for i in range(0, len(body), 10000):
        tap.request_data(body[i:i + 10000])
    tap.response_data(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
    assert not capture.records  # until close
    tap.closed()
    (r,) = capture.records
    assert r.request_size == len(body) and bytes(r.request_body) == body[:BODY_LIMIT]
    assert r.response_size == len(body) and bytes(r.response_body) == body[:BODY_LIMIT]
    d = r.to_dict()
    assert d["request"]["body"]["truncated"] and d["request"]["body"]["size"] == len(body)
    assert "base64" in d["request"]["body"]  # not UTF-8


def test_upgrade_and_garbage_end_the_recording(tapmod):
    capture = tapmod.Capture()
    tap = tapmod.Tap(capture, "ws")
    tap.request_data(b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello")
    tap.response_data(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
                      b"\x81\x02hi")
    tap.request_data(b"GET /not-http-any-more HTTP/1.1\r\n\r\n")
    assert [(r.target, r.status) for r in capture.records] == [(b"/chat", 101)]
    other = tapmod.Tap(capture, "bad")
    other.request_data(b"NOT HTTP\r\n\r\n")
    other.response_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert len(capture.records) == 1


def test_capture_is_bounded_in_count_and_bytes(tapmod):
    capture = tapmod.Capture(max_records=5, max_bytes=1 << 20)
    tap = tapmod.Tap(capture, "t")
    big = b"x" * 60000
    for i in range(40):
        tap.request_data(b"POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (i, len(big), big))
        tap.response_data(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(big), big))
    assert len(capture.records) == 5 and capture.bytes <= 1 << 20
    assert [r.target for r in capture.records] == [b"/%d" % i for i in range(35, 40)]
    small = tapmod.Capture(max_records=100, max_bytes=200_000)
    tap = tapmod.Tap(small, "t")
    for i in range(40):
        tap.request_data(b"POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (i, len(big), big))
        tap.response_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert small.bytes <= 200_000 and len(small.records) == 3
    assert small.get(small.records[-1].id) is small.records[-1] and small.get(1) is None


def _records(capture: Capture) -> list:
    out = []
    for r in capture.records:
        d = r.to_dict()
        del d["time"], d["duration"], d["id"]
        out.append(d)
    return out


def test_one_message_per_piece_records_as_byte_by_byte(tapmod):
    """The fast path (a piece that is exactly one message) and the general one agree."""
    reqs = [b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
            b"HEAD /c HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /d HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /e HTTP/1.1\r\nHost: x\r\n\r\n"]
    resps = [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
             b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
             b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n",
             b"HTTP/1.1 204 No Content\r\n\r\n",
             b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (BODY_LIMIT + 10) + b"z" * (BODY_LIMIT + 10)]
    fast, slow = tapmod.Capture(), tapmod.Capture()
    a, b = tapmod.Tap(fast, "t"), tapmod.Tap(slow, "t")
    for req, resp in zip(reqs, resps):
        a.request_data(memoryview(req))
        a.response_data(memoryview(resp))
        for i in range(len(req)):
            b.request_data(req[i:i + 1])
        for i in range(len(resp)):
            b.response_data(resp[i:i + 1])
    assert _records(fast) == _records(slow)
    assert [r["status"] for r in _records(fast)] == [200, 304, 200, 204, 200]
    assert _records(fast)[4]["response"]["body"]["size"] == BODY_LIMIT + 10
    assert _records(fast)[4]["response"]["body"]["truncated"]
