"""The fast path of HTTP head parsing (the twin of ``httphead_c``).

Rules and theory of operation
-----------------------------
``fasttun.http._heads`` parses heads with h11, which checks every line
against the grammar of RFC 9112 but costs a few microseconds of Python per
head.  The compiled ``httphead_c`` reads the common shape of a head in one
pass over its bytes, and returns what the front needs, or None when the head
is anything but plain:

* request line ``METHOD SP origin-form-target SP HTTP/1.1`` (or 1.0);
* header lines ``name: value`` ending in CRLF, names of token characters,
  values of visible characters with inner spaces/tabs;
* exactly one ``Host``, at most one ``Content-Length`` of digits, at most one
  ``Transfer-Encoding`` that says ``chunked`` (not both), no ``CONNECT``.

On None the caller parses the head with h11, which then accepts it or says
what is wrong.  So h11 stays the parser of record: the fast path only ever
accepts heads h11 accepts, and gives the same fields and the same forwarded
head (``tests/core/test_http_heads.py`` fuzzes the two against each other).

This module is the twin for ``FASTTUN_NO_EXTENSIONS=1``: it takes no fast
path (it always answers None), so a pure-Python install parses every head
with h11, as the compiled one does every head its fast path declines.

``scan_request`` returns a tuple::

    (method, target, version, authority, keep_alive, upgrade, body_mode,
     body_length, authorization, kept, xff, forwarded)

``kept`` is the head as the local service receives it before fasttun's own
fields: the request line and every field but those named in *drop*, as
``name: value`` (value without surrounding whitespace), the ``Host`` field's
value replaced by *host_header* when given; ``xff`` and ``forwarded`` are
the values of the received ``X-Forwarded-For`` and ``Forwarded`` fields
joined by ", " (None when there were none).

``scan_response`` returns ``(status, version, keep_alive, length, chunked)``
(``length`` -1 when there is no Content-Length).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["scan_request", "scan_response", "scan_response_in", "head_end", "FAST_PATH"]

FAST_PATH = False  # this twin never takes it


def scan_request(head: bytes, drop: tuple = (), host_header: bytes | None = None) -> tuple | None:
    """The fast-path parse of a request head, or None: parse it with h11."""
    return None


def scan_response(head: bytes) -> tuple | None:
    """The fast-path parse of a response head, or None: parse it with h11."""
    return None


def scan_response_in(buf: bytes | bytearray | memoryview, end: int) -> tuple[Any, ...] | None:
    """``scan_response(bytes(buf[:end]))`` (the compiled twin reads it in place)."""
    if not 0 <= end <= len(buf):
        raise ValueError(f"end {end} is outside the buffer")
    return scan_response(bytes(buf[:end]))


# The end of a head: an empty line (h11's ReceiveBuffer accepts a bare LF too).
_HEAD_END = re.compile(rb"\n\r?\n")


def head_end(buf: bytes | bytearray | memoryview, pos: int = 0) -> int:
    """Index just after the first empty line (LF CRLF or LF LF) at or after
    *pos* in *buf*, or -1.  (Not a fast path: the compiled twin answers the
    same for every input, only sooner.)"""
    m = _HEAD_END.search(buf, max(0, pos))
    return m.end() if m is not None else -1

