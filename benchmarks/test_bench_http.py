"""HTTP mode: the body counter and head parsing (micro), and the HTTP port
against a TCP tunnel end to end (``httpbench``)."""

from __future__ import annotations

import shutil

import pytest

from fasttun._core import httphead
from fasttun._core.httpbody import BODY_CHUNKED, BodyCounterC, BodyCounterPy
from fasttun.http import _heads

from . import httpbench
from .conftest import SIZE_IDS, SIZES, SMOKE

COUNTERS = {"c": BodyCounterC, "py": BodyCounterPy}

# What a browser sends, and what nginx answers.
REQUEST = (b"GET /api/items?page=2 HTTP/1.1\r\nHost: myapp.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux "
           b"x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36\r\nAccept: text/html,"
           b"application/xhtml+xml\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n"
           b"Connection: keep-alive\r\nCookie: session=abc123; theme=dark\r\n\r\n")
RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 04 Dec 2026 05:00:00 GMT\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1234\r\nConnection: keep-alive\r\n\r\n")


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("impl", ["c", "py"])
def test_chunked_scan(benchmark, impl, size):
    """Find the end of a chunked body of *size* bytes in 4 KiB chunks, fed as one piece."""
    Counter = COUNTERS[impl]
    if Counter is None:
        pytest.skip("compiled core not built")
    benchmark.group = f"chunked scan {size}"
    chunk = min(size, 4096)
    body = (b"%x\r\n" % chunk + b"x" * chunk + b"\r\n") * (size // chunk) + b"0\r\n\r\n"
    view = memoryview(body)
    counter = Counter()

    def run():
        counter.start(BODY_CHUNKED)
        return counter.feed(view)

    assert benchmark(run) == len(body)


@pytest.mark.parametrize("path", ["fast", "h11"])
def test_request_head(benchmark, path, monkeypatch):
    """Parse a browser's request head and build the head the local service gets."""
    if path == "fast" and not httphead.FAST_PATH:
        pytest.skip("compiled core not built")
    if path == "h11":
        monkeypatch.setattr(_heads, "scan_request", httphead.scan_request_py)
    benchmark.group = "request head"
    read, forward = _heads.read_request, _heads.forward_head

    def run():
        return forward(read(REQUEST), client_ip="203.0.113.7", proto="https")

    assert benchmark(run).startswith(b"GET /api/items?page=2 HTTP/1.1\r\n")


@pytest.mark.parametrize("path", ["fast", "h11"])
def test_response_head(benchmark, path, monkeypatch):
    """Parse nginx's response head and find its body's framing."""
    if path == "fast" and not httphead.FAST_PATH:
        pytest.skip("compiled core not built")
    if path == "h11":
        monkeypatch.setattr(_heads, "scan_response", httphead.scan_response_py)
    benchmark.group = "response head"
    read, framing = _heads.read_response, _heads.response_framing

    def run():
        return framing(b"GET", read(RESPONSE))

    assert benchmark(run) == (1, 1234)


def test_http_port_vs_tcp_tunnel(benchmark, capsys):
    """httpbench: wrk rps and p99, 1 GiB each way, memory per keep-alive connection."""
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    args = httpbench.parse_args(["--repeat", "1", "--seconds", "1" if SMOKE else "5",
                                 "--bulk-bytes", str((8 if SMOKE else 1024) << 20),
                                 "--connections", "20" if SMOKE else "1000"])
    results: dict = {}
    benchmark.pedantic(lambda: results.update(httpbench.run(args)), rounds=1, iterations=1)
    text = httpbench.summary(results)
    benchmark.extra_info["summary"] = text
    with capsys.disabled():
        print("\n" + text)
