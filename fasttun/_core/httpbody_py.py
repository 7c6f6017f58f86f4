"""Where an HTTP/1.1 message body ends (the pure-Python twin of ``httpbody_c``).

Rules and theory of operation
-----------------------------
The HTTP front (``fasttun.http``) parses message *heads* with h11, but body
bytes stay on the data path: they are read straight into frame buffers and
written out as views.  What the front still has to know is where a body
ends, so that the next head (a keep-alive or pipelined request, the next
response) is found and parsed.  ``BodyCounter`` answers that, reading body
bytes without copying them (RFC 9112 §6, §7.1):

* ``BODY_LENGTH``: ``Content-Length`` bytes; nothing to scan.
* ``BODY_CHUNKED``: ``Transfer-Encoding: chunked``.  Chunk headers (hex
  size, optional extensions, CRLF) and the trailer section are scanned byte
  by byte; chunk data is skipped by arithmetic.  The body ends after the
  last chunk (size 0), the trailer fields and the final CRLF.
* ``BODY_UNTIL_CLOSE``: a response without either ends when the connection
  closes; ``feed`` never reports the end.
* ``BODY_NONE``: no body (a GET, a 204, the response to HEAD).

The chunked framing is checked strictly, because a front that reads it
differently from the service behind it lets requests be smuggled: a chunk
size is 1 to 16 hex digits, every line ends with CRLF (a bare LF is an
error), chunk data is followed by CRLF, an extension line or a trailer line
is at most ``MAX_LINE`` bytes and the trailer section at most
``MAX_TRAILER``.  Anything else raises ``MalformedBody``.

Scanner states (``BODY_CHUNKED``)::

    SIZE --hex--> SIZE --CR--> SIZE_LF --LF--> DATA (size > 0) or TRAILER_START (size 0)
    SIZE --; or SP/HT--> EXT --CR--> SIZE_LF
    DATA --size bytes--> DATA_CR --CR--> DATA_LF --LF--> SIZE
    TRAILER_START --CR--> END_LF --LF--> done
    TRAILER_START --other--> TRAILER --CR--> TRAILER_LF --LF--> TRAILER_START

The caller feeds each received piece with ``feed(data)``, which returns how
many of its bytes belong to the body; when ``done`` is then true, the bytes
after them start the next message.
"""

from __future__ import annotations

__all__ = ["BodyCounter", "MalformedBody", "BODY_NONE", "BODY_LENGTH", "BODY_CHUNKED", "BODY_UNTIL_CLOSE",
           "MAX_LINE", "MAX_TRAILER"]

# Framing of a body (RFC 9112 §6.3).
BODY_NONE = 0
BODY_LENGTH = 1
BODY_CHUNKED = 2
BODY_UNTIL_CLOSE = 3

# Chunked scanner states.
CH_SIZE = 0
CH_EXT = 1
CH_SIZE_LF = 2
CH_DATA = 3
CH_DATA_CR = 4
CH_DATA_LF = 5
CH_TRAILER_START = 6
CH_TRAILER = 7
CH_TRAILER_LF = 8
CH_END_LF = 9

MAX_SIZE_DIGITS = 16  # a chunk size fits in 64 bits
MAX_LINE = 4096  # a chunk-size line with its extensions, or one trailer line
MAX_TRAILER = 16384  # the whole trailer section

_HEX = {c: int(chr(c), 16) for c in b"0123456789abcdefABCDEF"}
_CR = 13
_LF = 10


class MalformedBody(ValueError):
    """The chunked framing of a body is broken (a peer's fault)."""


class BodyCounter:
    """Finds the end of one message body at a time; see the module docstring.

    Attributes:
        mode: the framing of the current body (``BODY_*``).
        remaining: ``BODY_LENGTH``: bytes still to come; ``BODY_CHUNKED``:
            bytes left of the current chunk's data.
        done: the body has ended (always true for ``BODY_NONE``).
    """

    __slots__ = ("mode", "remaining", "done", "_state", "_digits", "_line", "_trailer")

    def __init__(self) -> None:
        self.start(BODY_NONE)

    def start(self, mode: int, length: int = 0) -> None:
        """Begin a body of framing *mode* (*length* bytes for ``BODY_LENGTH``).

        Then ``feed`` it the bytes that follow the head.
        """
        if mode < BODY_NONE or mode > BODY_UNTIL_CLOSE:
            raise ValueError(f"unknown body framing {mode}")
        if length < 0:
            raise ValueError("negative body length")
        self.mode = mode
        self.remaining = length if mode == BODY_LENGTH else 0
        self.done = mode == BODY_NONE or (mode == BODY_LENGTH and length == 0)
        self._state = CH_SIZE
        self._digits = 0
        self._line = 0
        self._trailer = 0

    def feed(self, data: bytes | bytearray | memoryview) -> int:
        """Scan *data*, the next bytes after what was fed before.

        Returns how many leading bytes of *data* belong to the body; when
        ``done`` is then true, the rest of *data* is the next message's.

        Raises:
            MalformedBody: the chunked framing is broken; the connection
                cannot be used any more.
        """
        n = len(data)
        if self.done:
            return 0
        mode = self.mode
        if mode == BODY_LENGTH:
            k = n if n < self.remaining else self.remaining
            self.remaining -= k
            if self.remaining == 0:
                self.done = True
            return k
        if mode == BODY_UNTIL_CLOSE:
            return n
        return self._feed_chunked(memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else data, n)

    def _feed_chunked(self, data, n: int) -> int:
        i = 0
        state = self._state
        while i < n:
            if state == CH_DATA:
                k = n - i
                if k > self.remaining:
                    k = self.remaining
                i += k
                self.remaining -= k
                if self.remaining == 0:
                    state = CH_DATA_CR
                continue
            c = data[i]
            i += 1
            if state >= CH_TRAILER_START:
                self._trailer += 1
                if self._trailer > MAX_TRAILER:
                    raise MalformedBody("trailer section too large")
            if state == CH_SIZE:
                v = _HEX.get(c)
                if v is not None:
                    if self._digits == MAX_SIZE_DIGITS:
                        raise MalformedBody("chunk size too long")
                    self._digits += 1
                    self.remaining = (self.remaining << 4) | v
                    self._line += 1
                elif self._digits and c == _CR:
                    state = CH_SIZE_LF
                elif c == _LF:
                    raise MalformedBody("chunk size line not ended by CRLF")
                elif self._digits and (c == 0x3B or c == 0x20 or c == 0x09):  # ; SP HT
                    state = CH_EXT
                    self._line += 1
                else:
                    raise MalformedBody(f"bad chunk size (byte {c:#04x})")
            elif state == CH_EXT:
                if c == _CR:
                    state = CH_SIZE_LF
                elif c == _LF:
                    raise MalformedBody("bare LF in a chunk extension")
                else:
                    self._line += 1
                    if self._line > MAX_LINE:
                        raise MalformedBody("chunk extension too long")
            elif state == CH_SIZE_LF:
                if c != _LF:
                    raise MalformedBody("chunk size line not ended by CRLF")
                self._digits = 0
                self._line = 0
                state = CH_DATA if self.remaining else CH_TRAILER_START
            elif state == CH_DATA_CR:
                if c != _CR:
                    raise MalformedBody("chunk data not followed by CRLF")
                state = CH_DATA_LF
            elif state == CH_DATA_LF:
                if c != _LF:
                    raise MalformedBody("chunk data not followed by CRLF")
                state = CH_SIZE
            elif state == CH_TRAILER_START:
                if c == _CR:
                    state = CH_END_LF
                elif c == _LF:
                    raise MalformedBody("bare LF in the trailer section")
                else:
                    state = CH_TRAILER
                    self._line = 1
            elif state == CH_TRAILER:
                if c == _CR:
                    state = CH_TRAILER_LF
                elif c == _LF:
                    raise MalformedBody("bare LF in the trailer section")
                else:
                    self._line += 1
                    if self._line > MAX_LINE:
                        raise MalformedBody("trailer line too long")
            elif state == CH_TRAILER_LF:
                if c != _LF:
                    raise MalformedBody("trailer line not ended by CRLF")
                state = CH_TRAILER_START
            else:  # CH_END_LF
                if c != _LF:
                    raise MalformedBody("chunked body not ended by CRLF")
                self.done = True
                self._state = state
                return i
        self._state = state
        return n
