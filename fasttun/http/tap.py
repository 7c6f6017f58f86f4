# cython: annotation_typing=False
"""Recording HTTP exchanges as they pass (the client's inspector), sans I/O.

A ``Tap`` follows one connection of an HTTP tunnel: ``request_data`` gets the
bytes going to the local service, ``response_data`` the bytes coming back.
It finds each head, parses it (``heads``: the compiled fast path, else h11),
follows each body's framing with the compiled ``BodyCounter``, and keeps the
head and the first ``BODY_LIMIT`` bytes of each body.  A finished exchange
becomes an ``Exchange`` in the ``Capture``: a ring of the last ``max_records``
exchanges, at most ``max_bytes`` in all.

It never changes or holds back a byte: it only looks.  Anything it cannot
follow (an oversized head, an upgrade, a malformed message) ends its
recording for that connection.

This module is also compiled, as ``tap_c`` with the augmenting declarations
of ``tap_c.pxd``; ``admin.agent`` uses the compiled one unless
``FASTTUN_NO_EXTENSIONS`` is set.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from typing import Any

from .._core.httpbody import BODY_NONE, BODY_UNTIL_CLOSE, BodyCounter, MalformedBody
from .._core.httphead import scan_request, scan_response
from .heads import (
    DEFAULT_DROP,
    HeadError,
    find_head_end,
    head_end_from,
    read_request,
    read_response,
    response_framing,
)

__all__ = ["Tap", "Capture", "Exchange", "BODY_LIMIT", "split_head"]

BODY_LIMIT = 65536  # bytes of each body kept
MAX_HEAD = 32768  # a longer head ends the recording (the front refuses longer ones anyway)


class Exchange:
    """One recorded request and its response."""

    __slots__ = ("id", "tunnel", "started", "duration", "method", "target", "request_head", "request_body",
                 "request_size", "status", "response_head", "response_body", "response_size", "replay_of", "held")

    def __init__(self, tunnel: str, method: bytes, target: bytes, head: bytes) -> None:
        self.id = 0
        self.tunnel = tunnel
        self.started = time.time()
        self.duration: float | None = None
        self.method = method
        self.target = target
        self.request_head = head
        self.request_body = bytearray()
        self.request_size = 0  # body bytes, all of them
        self.status = 0
        self.response_head = b""
        self.response_body = bytearray()
        self.response_size = 0
        self.replay_of: int | None = None
        self.held = 0  # its cost when the capture took it

    @property
    def cost(self) -> int:
        """Bytes it holds."""
        return len(self.request_head) + len(self.request_body) + len(self.response_head) + len(self.response_body)

    def to_dict(self) -> dict:
        """The JSON form (docs/api.md, the agent API): bodies as text when
        they are UTF-8, else base64."""
        line, req_headers = split_head(self.request_head)
        status_line, resp_headers = split_head(self.response_head) if self.response_head else ("", [])
        fields = {k.lower(): v for k, v in req_headers}
        scheme = fields.get("x-forwarded-proto", "http")
        host = fields.get("x-forwarded-host") or fields.get("host", "")
        return {
            "id": self.id, "tunnel": self.tunnel, "time": self.started,
            "duration": None if self.duration is None else round(self.duration, 6),
            "method": self.method.decode("latin-1"), "url": f"{scheme}://{host}{self.target.decode('latin-1')}",
            "path": self.target.decode("latin-1"), "request": {"line": line, "headers": req_headers,
                                                               "body": _body(self.request_body, self.request_size)},
            "status": self.status or None,
            "response": {"line": status_line, "headers": resp_headers,
                         "body": _body(self.response_body, self.response_size)} if self.response_head else None,
            "replay_of": self.replay_of,
        }

    def summary(self) -> dict:
        d = self.to_dict()
        for part in ("request", "response"):
            if d[part] is not None:
                d[part] = {"headers": d[part]["headers"], "body": {k: v for k, v in d[part]["body"].items()
                                                                    if k in ("size", "truncated")}}
        return d


def _body(data: bytearray, size: int) -> dict:
    out: dict[str, Any] = {"size": size, "truncated": size > len(data)}
    try:
        out["text"] = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        import base64

        out["base64"] = base64.b64encode(bytes(data)).decode()
    return out


def split_head(head: bytes) -> tuple[str, list[list[str]]]:
    """(start line, [[name, value], ...]) of a head, for display."""
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.append([name.strip(), value.strip()])
    return lines[0], headers


class Capture:
    """The last exchanges of every tapped connection, bounded in count and bytes."""

    def __init__(self, max_records: int = 200, max_bytes: int = 32 << 20) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.records: deque[Exchange] = deque()
        self.bytes = 0
        self._ids = itertools.count(1)

    def add(self, ex: Exchange) -> Exchange:
        ex.id = next(self._ids)
        records = self.records
        records.append(ex)
        ex.held = ex.cost
        self.bytes += ex.held
        while len(records) > self.max_records or self.bytes > self.max_bytes:
            self.bytes -= records.popleft().held
        return ex

    def get(self, rid: int) -> Exchange | None:
        for ex in self.records:
            if ex.id == rid:
                return ex
        return None

    def clear(self) -> None:
        self.records.clear()
        self.bytes = 0


_HEAD, _BODY, _OFF = range(3)


class Tap:
    """Follows the exchanges of one connection (see the module docstring)."""

    def __init__(self, capture: Capture, tunnel: str) -> None:
        self.capture = capture
        self.tunnel = tunnel
        self.pending: deque[Exchange] = deque()  # requests sent, not yet answered
        self._req = _Side()
        self._resp = _Side()

    def request_data(self, data: bytes | memoryview) -> None:
        side = self._req
        if side.state == _HEAD and not side.buf:
            # The usual piece: exactly one whole request without a body.
            end = head_end_from(data, 0)
            if end == len(data) and end <= MAX_HEAD:
                head = bytes(data)
                fields = scan_request(head, DEFAULT_DROP)
                if fields is not None and fields[6] == BODY_NONE and not fields[5]:
                    self.pending.append(Exchange(self.tunnel, fields[0], fields[1], head))
                    return
        pos, end = 0, len(data)
        while pos < end and side.state != _OFF:
            if side.state == _HEAD:
                pos = self._gather(side, data, pos)
                if side.head is None:
                    break
                head, side.head = side.head, None
                fields = scan_request(head, DEFAULT_DROP)  # the compiled fast path; h11 for the rest
                if fields is not None:
                    method, target, _, _, _, upgrade, mode, length = fields[:8]
                else:
                    try:
                        req = read_request(head)
                    except HeadError:
                        self._off()
                        break
                    method, target, upgrade, mode, length = (req.method, req.target, req.upgrade, req.body_mode,
                                                             req.body_length)
                ex = Exchange(self.tunnel, method, target, head)
                self.pending.append(ex)
                side.exchange = ex
                if upgrade:
                    side.state = _OFF  # what follows a 101 is not HTTP; the answer head is still recorded
                    break
                self._start_body(side, mode, length)
            else:
                pos = self._body(side, data, pos, request=True)

    def response_data(self, data: bytes | memoryview) -> None:
        side = self._resp
        pending = self.pending
        if side.state == _HEAD and not side.buf and pending:
            # The usual piece: exactly one whole answer with a Content-Length body.
            end = head_end_from(data, 0)
            if 0 < end <= MAX_HEAD:
                head = bytes(data[:end])
                fields = scan_response(head)
                if fields is not None:
                    status, _, _, length, chunked = fields
                    ex = pending[0]
                    if (length == len(data) - end and not chunked and status >= 200 and status != 204
                            and status != 304 and ex.method != b"HEAD"):
                        pending.popleft()
                        ex.status = status
                        ex.response_head = head
                        ex.response_body = bytearray(data[end:end + BODY_LIMIT])
                        ex.response_size = length
                        ex.duration = time.time() - ex.started
                        self.capture.add(ex)
                        return
        pos, end = 0, len(data)
        while pos < end and side.state != _OFF:
            if side.state == _HEAD:
                pos = self._gather(side, data, pos)
                if side.head is None:
                    break
                head, side.head = side.head, None
                if not self.pending:
                    self._off()
                    break
                ex = self.pending[0]
                try:
                    resp = read_response(head)
                    mode, length = response_framing(ex.method, resp)
                except HeadError:
                    self._off()
                    break
                if resp.status < 200 and resp.status != 101:
                    continue  # an interim answer; the final one follows
                ex.status = resp.status
                ex.response_head = head
                side.exchange = ex
                if resp.status == 101:
                    self._finish()
                    self._off()
                    break
                self._start_body(side, mode, length)
            else:
                pos = self._body(side, data, pos, request=False)

    def closed(self) -> None:
        """The connection ended: a body that ran until the close is complete."""
        side = self._resp
        if side.state == _BODY and side.counter.mode == BODY_UNTIL_CLOSE:
            self._finish()
        self._off()

    # -- internals ------------------------------------------------------------
    def _gather(self, side: "_Side", data: bytes | memoryview, pos: int) -> int:
        """Collect a head; sets ``side.head`` when whole; returns where it stopped."""
        buf = side.buf
        if not buf:  # usually the whole head is in this piece: no gathering
            end = head_end_from(data, pos)
            if end >= 0:
                if end - pos > MAX_HEAD:
                    self._off()
                    return len(data)
                side.head = bytes(data[pos:end])
                return end
        start = len(buf)
        buf += data[pos:]
        end = find_head_end(buf, max(0, start - 3))
        if end < 0:
            if len(buf) > MAX_HEAD:
                self._off()
            return len(data)
        side.head = bytes(buf[:end])
        side.buf = bytearray()
        return len(data) - (len(buf) - end)

    def _start_body(self, side: "_Side", mode: int, length: int) -> None:
        side.counter.start(mode, length)
        if side.counter.done:
            self._body_done(side)
        else:
            side.state = _BODY

    def _body(self, side: "_Side", data: bytes | memoryview, pos: int, request: bool) -> int:
        piece = data[pos:] if pos else data
        try:
            k = side.counter.feed(piece)
        except MalformedBody:
            self._off()
            return len(data)
        ex = side.exchange
        assert ex is not None
        kept = ex.request_body if request else ex.response_body
        if len(kept) < BODY_LIMIT:
            kept += piece[: min(k, BODY_LIMIT - len(kept))]
        if request:
            ex.request_size += k
        else:
            ex.response_size += k
        if side.counter.done:
            self._body_done(side)
        return pos + k

    def _body_done(self, side: "_Side") -> None:
        side.state = _HEAD
        if side is self._resp:
            self._finish()

    def _finish(self) -> None:
        ex = self.pending.popleft()
        ex.duration = time.time() - ex.started
        self._resp.exchange = None
        self.capture.add(ex)

    def _off(self) -> None:
        self._req.state = self._resp.state = _OFF
        self._req.buf = bytearray()
        self._resp.buf = bytearray()
        self.pending.clear()


class _Side:
    __slots__ = ("state", "buf", "head", "counter", "exchange")

    def __init__(self) -> None:
        self.state = _HEAD
        self.buf = bytearray()
        self.head: bytes | None = None
        self.counter = BodyCounter()
        self.exchange: Exchange | None = None
