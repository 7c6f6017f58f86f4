"""HTTP mode: the body counter and head parsing (micro), and the HTTP port
against a TCP tunnel end to end (``httpbench``)."""

from __future__ import annotations

import io
import shutil

import orjson
import pytest

from fasttun._core import httphead
from fasttun._core.httpbody import BODY_CHUNKED, BodyCounterC, BodyCounterPy
from fasttun.cli import RequestLog
from fasttun.http import _heads, console
from fasttun.http import tap as tap_py
from fasttun.http.visitor_py import line_messages

from . import httpbench
from .conftest import SIZE_IDS, SIZES, SMOKE

try:  # _heads and tap compiled (augmenting .pxd), as the front and the inspector use them
    from fasttun.http import _heads_c, tap_c
except ImportError:  # pragma: no cover - not built
    _heads_c = tap_c = None

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


def _heads_module(path: str):
    """compiled: _heads_c (what the front uses); fast: _heads, the compiled
    scanner under the module's Python; h11: _heads with h11 only."""
    if path != "h11" and not httphead.FAST_PATH or path == "compiled" and _heads_c is None:
        pytest.skip("compiled core not built")
    return _heads_c if path == "compiled" else _heads


@pytest.mark.parametrize("path", ["compiled", "fast", "h11"])
def test_request_head(benchmark, path, monkeypatch):
    """Parse a browser's request head and build the head the local service gets."""
    heads = _heads_module(path)
    if path == "h11":
        monkeypatch.setattr(_heads, "scan_request", httphead.scan_request_py)
    benchmark.group = "request head"
    read, forward = heads.read_request, heads.forward_head

    def run():
        return forward(read(REQUEST), client_ip="203.0.113.7", proto="https")

    assert benchmark(run).startswith(b"GET /api/items?page=2 HTTP/1.1\r\n")


@pytest.mark.parametrize("path", ["compiled", "fast", "h11"])
def test_response_head(benchmark, path, monkeypatch):
    """Parse nginx's response head and find its body's framing."""
    heads = _heads_module(path)
    if path == "h11":
        monkeypatch.setattr(_heads, "scan_response", httphead.scan_response_py)
    benchmark.group = "response head"
    read, framing = heads.read_response, heads.response_framing

    def run():
        return framing(b"GET", read(RESPONSE))

    assert benchmark(run) == (1, 1234)


@pytest.mark.parametrize("impl", ["c", "py"])
def test_tap_exchange(benchmark, impl):
    """The inspector's tap records one keep-alive exchange: the forwarded
    request, then nginx's answer with a small body, each one piece."""
    tap = tap_c if impl == "c" else tap_py
    if tap is None:
        pytest.skip("compiled core not built")
    benchmark.group = "tap exchange"
    request = memoryview(REQUEST[:-2] + b"X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n"
                         b"X-Forwarded-Host: myapp.example.com\r\n"
                         b"Forwarded: for=203.0.113.7;host=myapp.example.com;proto=https\r\n\r\n")
    response = memoryview(RESPONSE + b"x" * 1234)
    capture = tap.Capture()
    t = tap.Tap(capture, "myapp")

    def run():
        t.request_data(request)
        t.response_data(response)

    benchmark(run)
    assert capture.records[-1].status == 200 and capture.records[-1].response_size == 1234


CONSOLE_RECORDS = [[1, "GET", "/api/items?page=2", 200, 612, 0.000812, "203.0.113.7"]] * 32


@pytest.mark.parametrize("impl", ["c", "py"])
def test_console_lines(benchmark, impl):
    """The console's lines for a `requests` message of 32 records, made on
    the client (what a server sends when the bind's log is true)."""
    module = console.console_c if impl == "c" else console.console_py
    if module is None:
        pytest.skip("compiled core not built")
    benchmark.group = "console lines, 32 requests"
    tunnels = {1: type("T", (), {"name": "myapp"})()}
    lines: list = []

    def run():
        module.request_lines(lines, "12:04:05", False, tunnels, CONSOLE_RECORDS)
        lines.clear()

    benchmark(run)


def test_console_lines_from_server(benchmark):
    """The same 32 requests when the bind asked for lines (docs/spec.md
    §9.2): the client adds the time to the server's lines.  (The server's
    side, made by the compiled visitor, shows in httpbench's CPU figures.)"""
    benchmark.group = "console lines, 32 requests"
    log = RequestLog(None, io.StringIO())
    tunnels = {1: type("T", (), {"name": "myapp"})()}

    batch: list = []
    for r in CONSOLE_RECORDS:
        batch += [r[0], console.request_line(r[1], r[2], r[3], r[4], r[5])]
    runs = orjson.loads(line_messages(batch)[0])["lines"]

    def client():
        log._flush = True  # (no timer: nothing is written)
        log.lines_message(tunnels, runs)
        log._lines.clear()
        log._size = 0  # (nor a write for having gathered 64 Ki characters)

    benchmark(client)
    assert len(runs) == 1 and runs[0][1].count("\n") == 32


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
