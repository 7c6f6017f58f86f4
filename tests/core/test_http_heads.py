"""The sans-I/O parts of HTTP mode, without sockets: heads (h11), names, the
rate limiter, pages, PROXY headers; and a fuzz of the head reader."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fasttun._core import httphead
from fasttun._core.httpbody import BODY_CHUNKED, BODY_LENGTH, BODY_NONE, BODY_UNTIL_CLOSE
from fasttun.aio.proxyproto import V2_SIGNATURE, parse_address, proxy_header
from fasttun.http import _heads
from fasttun.http._heads import (
    HeadError,
    find_head_end,
    forward_head,
    read_request,
    read_response,
    response_framing,
    split_host,
)
from fasttun.http._names import NameRefused, Names, random_label, valid_hostname
from fasttun.http._pages import page
from fasttun.http._ratelimit import RateLimiter
from tests.fuzzing import mutate, mutation


def req(text: str) -> _heads.RequestHead:
    return read_request(text.replace("\n", "\r\n").encode() + b"\r\n")


def test_find_head_end():
    assert find_head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest") == 27
    assert find_head_end(b"GET / HTTP/1.1\r\nHost: a\r\n") == -1
    assert find_head_end(b"GET / HTTP/1.1\nHost: a\n\nrest") == 24  # bare LF, as h11 accepts
    data = b"GET / HTTP/1.1\r\nHost: a\r\n\r"
    assert find_head_end(data + b"\n", len(data)) == len(data) + 1  # resumed search looks back


def test_request_fields():
    r = req("POST /a?b=1 HTTP/1.1\nHost: App.Example.com:8080\nContent-Length: 5\nConnection: keep-alive\n"
            "Authorization: Basic eA==\n")
    assert (r.method, r.target, r.version, r.host) == (b"POST", b"/a?b=1", b"1.1", "app.example.com")
    assert (r.body_mode, r.body_length, r.keep_alive, r.upgrade) == (BODY_LENGTH, 5, True, False)
    assert r.authorization == b"Basic eA==" and r.authority == b"App.Example.com:8080"
    r = req("GET / HTTP/1.0\nHost: a\n")
    assert not r.keep_alive and r.body_mode == BODY_NONE
    assert req("GET / HTTP/1.0\nHost: a\nConnection: Keep-Alive\n").keep_alive
    assert not req("GET / HTTP/1.1\nHost: a\nConnection: close\n").keep_alive
    r = req("GET /ws HTTP/1.1\nHost: a\nConnection: keep-alive, Upgrade\nUpgrade: websocket\n")
    assert r.upgrade and r.keep_alive
    assert not req("GET / HTTP/1.1\nHost: a\nUpgrade: websocket\n").upgrade  # Connection must name it
    assert req("PUT / HTTP/1.1\nHost: a\nTransfer-Encoding: Chunked\n").body_mode == BODY_CHUNKED
    r = req("GET http://Other.Example:81/x HTTP/1.1\nHost: ignored\n")  # absolute form: the target's host
    assert r.host == "other.example" and r.authority == b"Other.Example:81"


@pytest.mark.parametrize("text, status", [
    ("GET / HTTP/1.1\n", 400),  # no Host
    ("GET / HTTP/1.1\nHost: a\nHost: b\n", 400),
    ("POST / HTTP/1.1\nHost: a\nContent-Length: 1\nTransfer-Encoding: chunked\n", 400),
    ("POST / HTTP/1.0\nHost: a\nTransfer-Encoding: chunked\n", 400),
    ("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip\n", 501),
    ("POST / HTTP/1.1\nHost: a\nContent-Length: -1\n", 400),
    ("POST / HTTP/1.1\nHost: a\nContent-Length: 99999999999999999999\n", 400),
    ("CONNECT a:443 HTTP/1.1\nHost: a:443\n", 405),
    ("GET / HTTP/1.1\nHost: a\n X: folded\n", 400),
    ("GET / HTTP/2.0\nHost: a\n", 505),
    ("GET  / HTTP/1.1\nHost: a\n", 400),
    ("GET / HTTP/1.1\nHost: a\nBad Name: x\n", 400),
    ("GET ftp://a/ HTTP/1.1\nHost: a\n", 400),
])
def test_refused_requests(text, status):
    with pytest.raises(HeadError) as info:
        req(text)
    assert info.value.status == status


def test_h11_public_api_fallback_parses_the_same():
    """The path taken if h11 ever moves the reader functions we call."""
    head = b"POST /a HTTP/1.1\r\nHost: a.b\r\nContent-Length: 3\r\n\r\n"
    event = _heads._h11_read_public(head, True)
    assert (event.method, event.target, list(event.headers)) == \
        (b"POST", b"/a", [(b"host", b"a.b"), (b"content-length", b"3")])
    event = _heads._h11_read_public(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", False)
    assert event.status_code == 404
    with pytest.raises(h11.RemoteProtocolError):
        _heads._h11_read_public(b"NOT HTTP\r\n\r\n", True)


def test_response_framing():
    def resp(text: str) -> _heads.ResponseHead:
        return read_response(text.replace("\n", "\r\n").encode() + b"\r\n")

    assert response_framing(b"GET", resp("HTTP/1.1 200 OK\nContent-Length: 3\n")) == (BODY_LENGTH, 3)
    assert response_framing(b"HEAD", resp("HTTP/1.1 200 OK\nContent-Length: 3\n")) == (BODY_NONE, 0)
    assert response_framing(b"GET", resp("HTTP/1.1 204 No Content\n")) == (BODY_NONE, 0)
    assert response_framing(b"GET", resp("HTTP/1.1 304 Not Modified\nContent-Length: 9\n")) == (BODY_NONE, 0)
    assert response_framing(b"GET", resp("HTTP/1.1 100 Continue\n")) == (BODY_NONE, 0)
    assert response_framing(b"GET", resp("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n")) == (BODY_CHUNKED, 0)
    assert response_framing(b"GET", resp("HTTP/1.0 200 OK\n")) == (BODY_UNTIL_CLOSE, 0)
    assert not resp("HTTP/1.0 200 OK\nContent-Length: 1\n").keep_alive
    assert not resp("HTTP/1.1 200 OK\nConnection: close\n").keep_alive
    assert resp("HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n").status == 101
    with pytest.raises(HeadError) as info:
        resp("HTTTP/1.1 200 OK\n")
    assert info.value.status == 502


def test_split_host():
    assert split_host(b"A.b.C:80") == "a.b.c"
    assert split_host(b"a.b.") == "a.b"
    assert split_host(b"[::1]:8080") == "[::1]"
    assert split_host(b"") == ""


def test_forward_head_is_a_valid_head_with_our_fields():
    r = req("POST /x HTTP/1.1\nHost: app.t:8\nx-forwarded-for: 1.1.1.1\nX-Forwarded-For: 2.2.2.2\n"
            "Forwarded: for=1.1.1.1\nX-Forwarded-Proto: ftp\nAuthorization: Basic eA==\nContent-Length: 0\n"
            "X-Gone: yes\n")
    out = forward_head(r, client_ip="2001:db8::1", proto="https", host_header=b"localhost",
                       set_headers=((b"X-Add", b"1"), (b"x-gone", b"")), drop_authorization=True)
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(out)
    event = conn.next_event()
    assert isinstance(event, h11.Request) and event.target == b"/x"
    got = [(k.decode(), v.decode()) for k, v in event.headers.raw_items()]
    assert got == [
        ("Host", "localhost"), ("Content-Length", "0"),
        ("X-Forwarded-For", "1.1.1.1, 2.2.2.2, 2001:db8::1"), ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "app.t:8"),
        ("Forwarded", 'for=1.1.1.1, for="[2001:db8::1]";host="app.t:8";proto=https'), ("X-Add", "1"),
    ]


# -- fuzz: the head reader only ever returns a RequestHead or raises HeadError ---------------------------
valid_heads = st.sampled_from([
    b"GET / HTTP/1.1\r\nHost: a.b\r\n\r\n",
    b"POST /upload?x=1 HTTP/1.1\r\nHost: a.b:80\r\nContent-Length: 10\r\nConnection: keep-alive\r\n\r\n",
    b"PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\n\r\n",
    b"GET http://h/ HTTP/1.0\r\nHost: a\r\nCookie: a=b; c=d\r\n\r\n",
])


@settings(max_examples=1500, deadline=None)
@given(valid_heads, st.lists(mutation, min_size=1, max_size=4))
def test_fuzz_mutated_heads(head, mutations):
    data = mutate(head, mutations)
    end = find_head_end(data)
    if end < 0:
        return
    try:
        r = read_request(data[:end])
    except HeadError as exc:
        assert exc.status in (400, 405, 501, 505)
        return
    # What was accepted is re-emitted as a head h11 accepts, with the same line.
    out = forward_head(r, client_ip="127.0.0.1", proto="http")
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(out)
    event = conn.next_event()
    assert isinstance(event, h11.Request)
    assert (event.method, event.target, event.http_version) == (r.method, r.target, r.version)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data):
    end = find_head_end(data)
    if end >= 0:
        try:
            read_request(data[:end])
        except HeadError:
            pass


# -- names ------------------------------------------------------------------------------------------------
def test_names_take_refuse_reserve_and_give_back():
    names = Names("example.com", reserve=10)
    a = names.take("A", "claim-a" * 3, 0.0, subdomain="MyApp")
    assert a.host == "myapp.example.com" and names.lookup("myapp.example.com", 0.0) is a
    with pytest.raises(NameRefused, match="in use by another client"):
        names.take("B", "claim-b" * 3, 0.0, subdomain="myapp")
    with pytest.raises(NameRefused, match="already open for this client"):
        names.take("A2", "claim-a" * 3, 0.0, subdomain="myapp")
    names.release(a, 1.0)  # its client went away
    assert names.lookup("myapp.example.com", 5.0) is a and a.holder is None
    with pytest.raises(NameRefused, match="reserved for another client"):
        names.take("B", "claim-b" * 3, 5.0, subdomain="myapp")
    again = names.take("A3", "claim-a" * 3, 6.0, subdomain="myapp")  # the same client is back
    assert again is a and a.holder == "A3"
    names.release(a, 7.0)
    assert names.lookup("myapp.example.com", 17.0) is None  # reservation over
    assert names.take("B", "claim-b" * 3, 17.0, subdomain="myapp").holder == "B"


def test_names_random_prefer_hostname_and_drop():
    names = Names("example.com")
    drawn = names.take("A", "c" * 20, 0.0)
    assert drawn.host.endswith(".example.com") and drawn.label == drawn.host.split(".")[0]
    other = names.take("B", "d" * 20, 0.0, subdomain=drawn.label, prefer=True)  # taken: another is drawn
    assert other.host != drawn.host
    h = names.take("C", "e" * 20, 0.0, hostname="Www.Other.ORG.")
    assert h.host == "www.other.org" and h.label == ""
    names.drop(h)
    assert names.lookup("www.other.org", 0.0) is None
    with pytest.raises(NameRefused, match="no --domain"):
        Names("").take("A", "c" * 20, 0.0, subdomain="x")
    with pytest.raises(NameRefused, match="not a valid host name"):
        names.take("A", "c" * 20, 0.0, hostname="bad_host.com")
    assert len({random_label() for _ in range(200)}) == 200
    assert valid_hostname("a-b.c") and not valid_hostname("-a.c") and not valid_hostname("a" * 64 + ".c")


def test_rate_limiter():
    rl = RateLimiter(2)
    assert [rl.check("a", 0.0) for _ in range(2)] == [0.0, 0.0]
    assert rl.check("a", 0.0) == pytest.approx(0.5)
    assert rl.check("b", 0.0) == 0.0  # per key
    assert rl.check("a", 0.5) == 0.0  # refilled one
    small = RateLimiter(1, max_keys=100)
    for i in range(1000):
        small.check(f"k{i}", float(i))
    assert len(small) <= 100


def test_pages():
    p = page(404, "No tunnel for <script>x</script>.")
    head, _, body = p.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 Not Found\r\n") and b"Connection: close" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert b"&lt;script&gt;" in body and b"<script>" not in body
    assert page(429, "x", headers=(("Retry-After", "3"),), head_only=True).endswith(b"Retry-After: 3\r\n\r\n")


# -- PROXY protocol -----------------------------------------------------------------------------------------
def test_proxy_headers():
    assert proxy_header(1, b"1.2.3.4:5 6.7.8.9:80") == b"PROXY TCP4 1.2.3.4 6.7.8.9 5 80\r\n"
    assert proxy_header(1, b"[2001:db8::1]:5 [::1]:80 http") == b"PROXY TCP6 2001:db8::1 ::1 5 80\r\n"
    assert proxy_header(1, b"[::ffff:1.2.3.4]:5 [::ffff:6.7.8.9]:80") == b"PROXY TCP4 1.2.3.4 6.7.8.9 5 80\r\n"
    assert proxy_header(1, b"") == b"PROXY UNKNOWN\r\n"
    assert proxy_header(1, b"1.2.3.4:5 [::1]:80") == b"PROXY UNKNOWN\r\n"
    v2 = proxy_header(2, b"1.2.3.4:5 6.7.8.9:80")
    assert v2 == V2_SIGNATURE + b"\x21\x11\x00\x0c" + bytes([1, 2, 3, 4, 6, 7, 8, 9]) + b"\x00\x05\x00\x50"
    assert proxy_header(2, b"?") == V2_SIGNATURE + b"\x20\x00\x00\x00"
    assert len(proxy_header(2, b"[::1]:1 [::1]:2")) == 16 + 36
    assert parse_address("nonsense") is None and parse_address("a:b") is None


# -- the compiled fast path agrees with h11 -------------------------------------------------------------

fast = pytest.mark.skipif(httphead.scan_request_c is None, reason="compiled core not built")

header_lines = st.sampled_from([
    b"Host: app.example.com", b"host:app.example.com:8080", b"HOST:  a.b  ", b"Content-Length: 10",
    b"content-length:0", b"Transfer-Encoding: chunked", b"transfer-encoding: Chunked", b"Connection: close",
    b"Connection: keep-alive, Upgrade", b"connection:upgrade", b"Upgrade: websocket", b"Authorization: Basic eA==",
    b"X-Forwarded-For: 1.2.3.4", b"x-forwarded-for:5.6.7.8 , 9.9.9.9", b"Forwarded: for=1.1.1.1",
    b"X-Forwarded-Proto: ftp", b"X-Forwarded-Host: evil", b"Cookie: a=b; c=d", b"X-Empty:", b"X-Tab:\tv\t",
    b"User-Agent: Mozilla/5.0 (X11) \xc3\xa9", b"X-Env: prod", b"Accept: */*", b"Content-Length: 12a",
    b"Bad Header: x", b"X-Ctl: a\x01b", b" folded", b"Host: second.example",
])
request_lines = st.sampled_from([
    b"GET / HTTP/1.1", b"POST /upload?x=1&y=%20 HTTP/1.1", b"PUT /a HTTP/1.0", b"GET http://h/ HTTP/1.1",
    b"CONNECT h:443 HTTP/1.1", b"GET / HTTP/2.0", b"OPTIONS * HTTP/1.1", b"get /lower HTTP/1.1", b"G@T / HTTP/1.1",
])
options = st.sampled_from([
    {}, {"host_header": b"localhost:3000"}, {"drop_authorization": True},
    {"set_headers": ((b"X-Env", b"demo"), (b"cookie", b""))},
])


def via_h11(head: bytes):
    saved = _heads.scan_request
    _heads.scan_request = httphead.scan_request_py
    try:
        return read_request(head)
    finally:
        _heads.scan_request = saved


def request_fields(r):
    return (r.method, r.target, r.version, r.host, r.authority, r.keep_alive, r.upgrade, r.body_mode,
            r.body_length, r.authorization, r.size)


@fast
@settings(max_examples=2000, deadline=None)
@given(request_lines, st.lists(header_lines, max_size=8), options, st.lists(mutation, max_size=2),
       st.sampled_from([b"\r\n", b"\n"]))
def test_fast_request_path_agrees_with_h11(line, fields, opts, mutations, eol):
    head = mutate(eol.join([line, *fields]) + eol + eol, mutations)
    end = find_head_end(head)
    if end < 0:
        return
    head = head[:end]
    fast_result = httphead.scan_request_c(head, _heads.DEFAULT_DROP)
    try:
        slow = via_h11(head)
    except HeadError:
        assert fast_result is None  # whatever h11 (or our checks) refuses, the fast path never accepts
        return
    if fast_result is None:
        return  # declined: h11 parses it
    quick = read_request(head)
    assert quick.kept is not None and request_fields(quick) == request_fields(slow)
    for ip in ("203.0.113.9", "2001:db8::1"):
        assert forward_head(quick, client_ip=ip, proto="https", **opts) == \
            forward_head(slow, client_ip=ip, proto="https", **opts)


status_lines = st.sampled_from([b"HTTP/1.1 200 OK", b"HTTP/1.0 404 Not Found", b"HTTP/1.1 101 Switching Protocols",
                                b"HTTP/1.1 204", b"HTTP/1.1 099 Low", b"HTTP/1.1 200 \xc3\xa9", b"HTTP/2 200"])
response_fields = st.sampled_from([b"Content-Length: 5", b"content-length:0", b"Transfer-Encoding: chunked",
                                   b"Connection: close", b"connection: Keep-Alive", b"Server: nginx",
                                   b"Content-Length: 7", b"Transfer-Encoding: gzip", b"X-Ctl: \x7f"])


@fast
@settings(max_examples=1000, deadline=None)
@given(status_lines, st.lists(response_fields, max_size=5), st.lists(mutation, max_size=2))
def test_fast_response_path_agrees_with_h11(line, fields, mutations):
    head = mutate(b"\r\n".join([line, *fields]) + b"\r\n\r\n", mutations)
    end = find_head_end(head)
    if end < 0:
        return
    head = head[:end]
    fast_result = httphead.scan_response_c(head)
    # In place, in a buffer that holds more (as the visitor reads a whole answer).
    assert httphead.scan_response_in_c(memoryview(head + b"12345"), end) == fast_result
    assert httphead.scan_response_in_py(memoryview(head + b"12345"), end) is None  # (no fast path there)
    saved = _heads.scan_response
    _heads.scan_response = httphead.scan_response_py
    try:
        slow = read_response(head)
    except HeadError:
        assert fast_result is None
        return
    finally:
        _heads.scan_response = saved
    if fast_result is None:
        return
    quick = read_response(head)
    assert (quick.status, quick.version, quick.keep_alive, quick.length, quick.chunked) == \
        (slow.status, slow.version, slow.keep_alive, slow.length, slow.chunked)
    for method in (b"GET", b"HEAD"):
        assert response_framing(method, quick) == response_framing(method, slow)


@pytest.mark.parametrize("scan", ["c", "py"])
def test_scan_response_in_checks_its_end(scan):
    fn = getattr(httphead, f"scan_response_in_{scan}")
    if fn is None:
        pytest.skip("compiled core not built")
    buf = memoryview(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    for end in (-1, len(buf) + 1):
        with pytest.raises(ValueError, match="outside the buffer"):
            fn(buf, end)


@fast
def test_fast_path_takes_the_common_heads():
    assert httphead.scan_request_c(b"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: wrk\r\n\r\n") is not None
    assert httphead.scan_response_c(b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 12\r\n\r\n") is not None


@pytest.mark.skipif(httphead.head_end_c is None, reason="compiled core not built")
@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from([b"\n", b"\r", b"\r\n", b"\n\n", b"\r\n\r\n", b"a", b"GET / HTTP/1.1", b": x"]),
                max_size=30),
       st.integers(-3, 200), st.sampled_from([bytes, bytearray, memoryview]))
def test_head_end_twins_agree(parts, pos, kind):
    buf = kind(b"".join(parts))
    assert httphead.head_end_c(buf, pos) == httphead.head_end_py(buf, pos)


def test_head_end_finds_the_first_empty_line():
    for head_end in filter(None, (httphead.head_end_c, httphead.head_end_py)):
        assert head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody") == 27
        assert head_end(b"GET / HTTP/1.1\nHost: a\n\nbody") == 24
        assert head_end(b"GET / HTTP/1.1\r\nHost: a\r\n") == -1
        assert head_end(b"x\n\r\r\n\n", 0) == 6  # (LF CR CR LF is not an empty line)
        assert head_end(b"\r\n\r\nGET", 1) == 4 and head_end(b"\r\n\r\nGET", 2) == -1


# -- _heads_c, this module compiled, against _heads ---------------------------------------------------------
try:
    from fasttun.http import _heads_c
except ImportError:  # pragma: no cover - not built
    _heads_c = None

# _heads_c always reads heads with the compiled scanner (it calls httphead_c in
# C); _heads uses the selected one. Compared only when that is the compiled one
# too: under FASTTUN_NO_EXTENSIONS, _heads takes h11's path and _heads_c is
# not used by anything.
compiled_heads = pytest.mark.skipif(_heads_c is None or not httphead.FAST_PATH,
                                    reason="compiled core not built, or not selected")


def _read_both(read, head):
    out = []
    for module in (_heads, _heads_c):
        try:
            out.append(getattr(module, read)(head))
        except HeadError as exc:  # the same class from both (fasttun.http._errors)
            out.append((exc.status, exc.reason))
    return out


@compiled_heads
def test_heads_c_is_compiled():
    import importlib.machinery

    assert _heads_c.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert _heads_c.HeadError is _heads.HeadError


@compiled_heads
@settings(max_examples=1500, deadline=None)
@given(request_lines, st.lists(header_lines, max_size=8), options, st.lists(mutation, max_size=2),
       st.sampled_from([b"\r\n", b"\n"]))
def test_heads_twins_agree_on_requests(line, fields, opts, mutations, eol):
    head = mutate(eol.join([line, *fields]) + eol + eol, mutations)
    end = _heads.find_head_end(head)
    assert end == _heads_c.find_head_end(head)
    if end < 0:
        return
    py, c = _read_both("read_request", head[:end])
    if isinstance(py, tuple):
        assert c == py
        return
    assert request_fields(c) == request_fields(py) and (c.kept, c.xff, c.fwd) == (py.kept, py.xff, py.fwd)
    for ip in ("203.0.113.9", "2001:db8::1"):
        cache_py: list = [None, b""]
        cache_c: list = [None, b""]
        for _ in range(2):  # the second time from the connection's cache
            assert _heads_c.forward_head(c, client_ip=ip, proto="http", cache=cache_c, **opts) == \
                _heads.forward_head(py, client_ip=ip, proto="http", cache=cache_py, **opts)


@compiled_heads
@settings(max_examples=800, deadline=None)
@given(status_lines, st.lists(response_fields, max_size=5), st.lists(mutation, max_size=2),
       st.sampled_from([b"GET", b"HEAD"]))
def test_heads_twins_agree_on_responses(line, fields, mutations, method):
    head = mutate(b"\r\n".join([line, *fields]) + b"\r\n\r\n", mutations)
    end = _heads.find_head_end(head)
    if end < 0:
        return
    py, c = _read_both("read_response", head[:end])
    if isinstance(py, tuple):
        assert c == py
        return
    assert (c.status, c.version, c.keep_alive, c.length, c.chunked, c.headers) == \
        (py.status, py.version, py.keep_alive, py.length, py.chunked, py.headers)
    try:
        framing = _heads.response_framing(method, py)
    except HeadError as exc:
        with pytest.raises(HeadError, match=exc.reason):
            _heads_c.response_framing(method, c)
    else:
        assert _heads_c.response_framing(method, c) == framing
