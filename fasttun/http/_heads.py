# cython: annotation_typing=False
"""HTTP/1.x message heads: find them, parse them with h11, rewrite requests.

Sans-I/O: bytes in, objects and bytes out.  The HTTP front (``front.py``)
finds each head with ``find_head_end``, parses it with ``read_request`` or
``read_response`` and, for a request it forwards, builds the head the local
service receives with ``forward_head``.  Bodies never come here: their
framing (``RequestHead.body_mode``/``body_length``, ``response_framing``)
goes to the compiled ``BodyCounter``.

h11 does the parsing: its readers turn a head into a ``Request`` or
``Response`` after checking every line against the grammar of RFC 9112.  We
call the reader functions h11's ``Connection`` calls, on a head we already
cut out, rather than a ``Connection`` per message: the same parser and
checks, at a third of the cost (a ``Connection`` is a state machine for a
whole exchange, which the front runs itself).  If a future h11 moves them,
``_h11_read`` falls back to the public ``Connection`` API.

Before h11, the compiled fast path (``_core.httphead``) reads a head of the
plain, common shape in one pass and gives the same fields and the same
forwarded head; anything else it leaves to h11 (see ``httphead_py`` for the
rules, and the differential fuzz in ``tests/core/test_http_heads.py``).

This module is also compiled, as ``_heads_c`` with the augmenting
declarations of ``_heads_c.pxd`` (the visitor's per-request path uses it;
``HeadError`` lives in ``_errors`` so that both raise the same class).
"""

from __future__ import annotations

import re

import h11

from .._core.httpbody import BODY_CHUNKED, BODY_LENGTH, BODY_NONE, BODY_UNTIL_CLOSE
from .._core.httphead import head_end, scan_request, scan_response
from ._errors import HeadError

__all__ = ["HeadError", "RequestHead", "ResponseHead", "find_head_end", "read_request", "read_response",
           "response_framing", "forward_head", "forward", "forward_drop", "head_end_from", "is_token", "split_host",
           "MAX_BODY_LENGTH", "DEFAULT_DROP"]

try:  # the reader functions of h11's Connection (see the module docstring)
    from h11._readers import maybe_read_from_IDLE_client as _read_request_lines
    from h11._readers import maybe_read_from_SEND_RESPONSE_server as _read_response_lines
except ImportError:  # pragma: no cover - another h11 layout
    _read_request_lines = _read_response_lines = None

# Content-Length values above this are refused (they would not fit the counter).
MAX_BODY_LENGTH = 1 << 62
# Characters a Forwarded parameter value may hold unquoted (RFC 7230 tchar).
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Fields the local service never gets from the visitor: the server sets them.
DEFAULT_DROP = (b"x-forwarded-proto", b"x-forwarded-host")


def find_head_end(buf: bytes | bytearray | memoryview, start: int = 0) -> int:
    """Return the index just after the empty line ending the head in *buf*, or -1.

    *start* is where the search may begin (the bytes before it were searched
    already; the two bytes before it are looked at again).
    """
    return head_end(buf, start - 2)


def head_end_from(buf: bytes | bytearray | memoryview, pos: int) -> int:
    """Like ``find_head_end`` for a head that starts at *pos* (nothing before it is looked at)."""
    return head_end(buf, pos)


class _Lines:
    """What h11's readers take: a head already cut into lines."""

    __slots__ = ("lines",)

    def __init__(self, head: bytes | bytearray) -> None:
        lines = bytes(head).split(b"\n")
        # As h11's ReceiveBuffer does: lines end with LF or CRLF; the head
        # ends with an empty line.
        self.lines = [line[:-1] if line.endswith(b"\r") else line for line in lines[:-2]]

    def maybe_extract_lines(self) -> list[bytes]:
        return self.lines

    def is_next_line_obviously_invalid_request_line(self) -> bool:  # pragma: no cover - never incomplete
        return False


def _h11_read(head: bytes | bytearray, request: bool) -> h11.Request | h11.Response | h11.InformationalResponse:
    if _read_request_lines is not None:
        reader = _read_request_lines if request else _read_response_lines
        return reader(_Lines(head))  # type: ignore[misc]
    return _h11_read_public(head, request)  # pragma: no cover


def _h11_read_public(head: bytes | bytearray, request: bool):  # type: ignore[no-untyped-def]
    """The same parse through h11's public API (slower; for other h11 versions)."""
    if request:
        conn = h11.Connection(h11.SERVER)
    else:
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
        conn.send(h11.EndOfMessage())
    conn.receive_data(bytes(head))
    event = conn.next_event()
    if event is h11.NEED_DATA:  # pragma: no cover - the head is whole
        raise h11.RemoteProtocolError("incomplete head")
    return event


def _tokens(value: bytes) -> set[bytes]:
    return {t.strip().lower() for t in value.split(b",")}


class RequestHead:
    """A parsed request head and what the front needs of it.

    Attributes:
        method, target, version: of the request line (``version`` is b"1.1" or b"1.0").
        headers: ``(raw name, lower-case name, value)`` in the order received
            (None when the fast path read the head: it keeps ``raw`` instead).
        host: the host the request is for, lower case, without port or trailing dot.
        authority: the ``Host`` value as received (the target's, for an absolute URI).
        keep_alive: the visitor may send another request on the connection.
        upgrade: the request asks to switch protocols (``Connection: upgrade``).
        body_mode, body_length: framing of the request body (``BODY_*``).
        authorization: the ``Authorization`` value, or None.
        size: bytes of the head as received.
    """

    __slots__ = ("method", "target", "version", "headers", "host", "authority", "keep_alive", "upgrade",
                 "body_mode", "body_length", "authorization", "size", "raw", "kept", "xff", "fwd")

    @classmethod
    def from_fast(cls, fields: tuple, raw: bytes) -> "RequestHead":
        """A head the compiled fast path read (``httphead_py`` gives the tuple's order)."""
        return _request_from_fast(fields, raw)

    def __init__(self, method: bytes, target: bytes, version: bytes, headers: list, size: int = 0) -> None:
        self.size = size  # bytes of the head as received
        self.raw = self.kept = self.xff = self.fwd = None  # (the fast path's)
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.authorization: bytes | None = None
        connection: set[bytes] = set()
        authority = b""
        length: bytes | None = None
        chunked = upgrade = False
        for _, name, value in headers:
            if name == b"host":
                authority = value
            elif name == b"connection":
                connection |= _tokens(value)
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True  # h11 let only "chunked" through
            elif name == b"upgrade":
                upgrade = True
            elif name == b"authorization":
                self.authorization = value
        if version != b"1.1" and version != b"1.0":
            raise HeadError(505, f"HTTP/{version.decode('latin-1')} is not supported")
        if method == b"CONNECT":
            raise HeadError(405, "CONNECT is not supported here")
        if target[:1] != b"/" and target != b"*":
            # absolute-form (RFC 9112 §3.2.2): the target names the host
            scheme, sep, rest = target.partition(b"://")
            if not sep or scheme.lower() not in (b"http", b"https"):
                raise HeadError(400, "malformed request target")
            authority = rest.split(b"/", 1)[0].split(b"?", 1)[0]
        self.authority = authority
        self.host = split_host(authority)
        if chunked and length is not None:
            # RFC 9112 §6.3: the request smuggling shape; refuse it outright.
            raise HeadError(400, "both Content-Length and Transfer-Encoding")
        if chunked and version != b"1.1":
            raise HeadError(400, "Transfer-Encoding in an HTTP/1.0 request")
        if chunked:
            self.body_mode, self.body_length = BODY_CHUNKED, 0
        elif length is not None:
            n = int(length)
            if n > MAX_BODY_LENGTH:
                raise HeadError(400, "Content-Length too large")
            self.body_mode, self.body_length = (BODY_LENGTH, n) if n else (BODY_NONE, 0)
        else:
            self.body_mode, self.body_length = BODY_NONE, 0
        if version == b"1.1":
            self.keep_alive = b"close" not in connection
        else:
            self.keep_alive = b"keep-alive" in connection
        self.upgrade = upgrade and b"upgrade" in connection

    @property
    def path(self) -> str:
        """The target, as text (for logs)."""
        return self.target.decode("latin-1")


def _request_from_fast(fields: tuple, raw: bytes) -> RequestHead:
    self = RequestHead.__new__(RequestHead)
    (self.method, self.target, self.version, self.authority, self.keep_alive, self.upgrade, self.body_mode,
     self.body_length, self.authorization, self.kept, self.xff, self.fwd) = fields
    if self.body_length > MAX_BODY_LENGTH:
        raise HeadError(400, "Content-Length too large")
    self.host = split_host(self.authority)
    self.headers = None
    self.size = len(raw)
    self.raw = raw
    return self


def read_request(head: bytes | bytearray) -> RequestHead:
    """Parse a request head (up to and including its empty line).

    Raises:
        HeadError: the head is malformed (400; folded lines included), names
            an unsupported method (405), transfer coding (501) or version
            (505), or frames its body ambiguously (400).
    """
    if type(head) is not bytes:
        head = bytes(head)
    fields = scan_request(head, DEFAULT_DROP)
    if fields is not None:
        return _request_from_fast(fields, head)
    if b"\n " in head or b"\n\t" in head:
        # obs-fold (RFC 9112 §5.2): h11 would join the lines; a front facing
        # the internet refuses them, so no two parsers can read them apart.
        raise HeadError(400, "obsolete line folding")
    try:
        req = _h11_read(head, True)
    except h11.ProtocolError as exc:
        status = exc.error_status_hint if exc.error_status_hint in (400, 501) else 400
        raise HeadError(status, str(exc) or "malformed request") from None
    assert isinstance(req, h11.Request)
    return RequestHead(req.method, req.target, req.http_version, req.headers._full_items, len(head))


class ResponseHead:
    """A parsed response head: ``status``, ``version``, ``keep_alive``, ``headers``."""

    __slots__ = ("status", "version", "headers", "keep_alive", "length", "chunked")

    @classmethod
    def from_fast(cls, fields: tuple) -> "ResponseHead":
        """A head the compiled fast path read: (status, version, keep_alive, length or -1, chunked)."""
        return _response_from_fast(fields)

    def __init__(self, status: int, version: bytes, headers: list) -> None:
        self.status = status
        self.version = version
        self.headers = headers
        connection: set[bytes] = set()
        self.length: int | None = None
        self.chunked = False
        for _, name, value in headers:
            if name == b"connection":
                connection |= _tokens(value)
            elif name == b"content-length":
                self.length = int(value)
            elif name == b"transfer-encoding":
                self.chunked = True
        if version == b"1.1":
            self.keep_alive = b"close" not in connection
        else:
            self.keep_alive = b"keep-alive" in connection


def _response_from_fast(fields: tuple) -> ResponseHead:
    self = ResponseHead.__new__(ResponseHead)
    self.status, self.version, self.keep_alive, length, self.chunked = fields
    self.length = length if length >= 0 else None
    self.headers = None
    return self


def read_response(head: bytes | bytearray) -> ResponseHead:
    """Parse a response head (up to and including its empty line).

    Raises:
        HeadError: (502) the local service sent something that is not an
            HTTP/1.x response head.
    """
    if type(head) is not bytes:
        head = bytes(head)
    fields = scan_response(head)
    if fields is not None:
        return _response_from_fast(fields)
    try:
        resp = _h11_read(head, False)
    except h11.ProtocolError as exc:
        raise HeadError(502, f"malformed response from the local service: {exc}") from None
    return ResponseHead(resp.status_code, resp.http_version, resp.headers._full_items)


def response_framing(method: bytes, resp: ResponseHead) -> tuple[int, int]:
    """Return (``BODY_*`` mode, length) of the body following *resp* (RFC 9112 §6.3)."""
    status = resp.status
    if method == b"HEAD" or status < 200 or status in (204, 304):
        return BODY_NONE, 0
    if resp.chunked:
        return BODY_CHUNKED, 0
    if resp.length is not None:
        if resp.length > MAX_BODY_LENGTH:
            raise HeadError(502, "Content-Length too large in the local service's response")
        return (BODY_LENGTH, resp.length) if resp.length else (BODY_NONE, 0)
    return BODY_UNTIL_CLOSE, 0


_hosts: dict[bytes, str] = {}  # split_host's answers: visitors ask for few names, again and again


def split_host(authority: bytes) -> str:
    """``Host`` value -> host name: lower case, no port, no trailing dot."""
    host = _hosts.get(authority)
    if host is None:
        if len(_hosts) >= 4096:
            _hosts.clear()
        host = _hosts[authority] = _split_host(authority)
    return host


def _split_host(authority: bytes) -> str:
    text = authority.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[: text.find("]") + 1] if "]" in text else text
    host = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    return host.rstrip(".")


def is_token(text: str) -> bool:
    """True for a header field name (RFC 9110 token)."""
    return text.isascii() and bool(_TOKEN.match(text.encode()))


def _param(value: str) -> bytes:
    raw = value.encode("latin-1")
    if _TOKEN.match(raw):
        return raw
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def forward_drop(*, set_headers: tuple = (), drop_authorization: bool = False) -> tuple[bytes, ...]:
    """The lower-case names of the visitor's fields ``forward_head`` leaves out."""
    drop = DEFAULT_DROP
    if drop_authorization:
        drop += (b"authorization",)
    for name, _ in set_headers:
        if name.lower() not in drop:
            drop += (name.lower(),)
    return drop


def forward_head(req: RequestHead, *, client_ip: str, proto: str, host_header: bytes | None = None,
                 set_headers: tuple = (), drop_authorization: bool = False, drop: tuple | None = None,
                 cache: list | None = None) -> bytes:
    """Build the head the local service receives for *req*.

    Kept as received: the request line and every header field, in order and
    with their case, except:

    * ``X-Forwarded-For``: the visitor's address appended to any received;
    * ``Forwarded`` (RFC 7239): an element ``for=...;host=...;proto=...``
      appended to any received;
    * ``X-Forwarded-Proto`` and ``X-Forwarded-Host``: ours replace any received
      (the visitor may not choose them);
    * ``Host``: *host_header* instead, when given (``X-Forwarded-Host`` keeps
      the original);
    * *set_headers*: ``(name, value)`` pairs; each removes the fields of that
      name, then adds itself unless *value* is empty;
    * ``Authorization``: removed when *drop_authorization* (it was fasttun's
      own basic auth).

    Args:
        client_ip: the visitor's address (no port).
        proto: "http" or "https".
        drop: ``forward_drop(...)`` of the same options, when the caller keeps it.
        cache: ``[authority, tail]``, kept by a caller whose *client_ip*,
            *proto* and options stay the same (a visitor's connection).
    """
    if drop is None:
        drop = forward_drop(set_headers=set_headers, drop_authorization=drop_authorization)
    return forward(req, client_ip, proto, host_header, set_headers, drop, cache)


def forward(req: RequestHead, client_ip: str, proto: str, host_header: bytes | None, set_headers: tuple,
            drop: tuple, cache: list | None) -> bytes:
    """``forward_head`` with every argument given, by position (the visitor's per-request call)."""
    if req.kept is not None:  # read by the fast path
        if drop == DEFAULT_DROP and host_header is None:
            kept, xff, fwd = req.kept, req.xff, req.fwd
        else:
            fields = scan_request(req.raw, drop, host_header)
            assert fields is not None  # it read the same bytes before
            kept, xff, fwd = fields[9], fields[10], fields[11]
    else:
        kept, xff, fwd = _kept(req, drop, host_header)
    if xff is None and fwd is None and cache is not None:
        # The usual case: nothing to append to, so what follows the visitor's
        # fields depends only on the authority (the rest is the connection's).
        if cache[0] != req.authority:
            cache[0] = req.authority
            cache[1] = _tail(req.authority, client_ip, proto, set_headers, None, None)
        return kept + cache[1]
    return kept + _tail(req.authority, client_ip, proto, set_headers, xff, fwd)


def _tail(authority: bytes, client_ip: str, proto: str, set_headers: tuple, xff: bytes | None,
          fwd: bytes | None) -> bytes:
    ip = client_ip.encode("latin-1")
    out = [b"X-Forwarded-For: ", ip if xff is None else xff + b", " + ip,
           b"\r\nX-Forwarded-Proto: ", proto.encode(), b"\r\n"]
    if authority:
        out += (b"X-Forwarded-Host: ", authority, b"\r\n")
    element = b"for=" + (_param(f"[{client_ip}]") if ":" in client_ip else _param(client_ip))
    if authority:
        element += b";host=" + _param(authority.decode("latin-1"))
    element += b";proto=" + proto.encode()
    out += (b"Forwarded: ", element if fwd is None else fwd + b", " + element, b"\r\n")
    for name, value in set_headers:
        if value:
            out += (name, b": ", value, b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)


def _kept(req: RequestHead, drop: tuple, host_header: bytes | None) -> tuple[bytes, bytes | None, bytes | None]:
    """What the fast path gives as (kept, xff, forwarded), from h11's fields."""
    xff: list[bytes] = []
    fwd: list[bytes] = []
    lines = [b"%s %s HTTP/%s\r\n" % (req.method, req.target, req.version)]
    for raw, name, value in req.headers:
        if name == b"x-forwarded-for":
            xff.append(value)
        elif name == b"forwarded":
            fwd.append(value)
        elif name not in drop:
            if name == b"host" and host_header is not None:
                value = host_header
            lines.append(b"%s: %s\r\n" % (raw, value))
    if host_header is not None and not req.authority:
        lines.append(b"Host: %s\r\n" % host_header)
    return b"".join(lines), b", ".join(xff) if xff else None, b", ".join(fwd) if fwd else None
