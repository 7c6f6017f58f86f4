"""Pure-Python frame codec (the twin of ``frames_c``).

Rules and theory of operation
-----------------------------
``FrameDecoder`` owns the receive buffer of one session and is fed the way
``asyncio.BufferedProtocol`` feeds a protocol: ``get_buffer()`` hands out the
free tail of the buffer, the event loop reads into it, and
``buffer_updated(n)`` parses every complete frame and returns them as tuples
``(type, flags, stream_id, payload)``.  ``payload`` is a memoryview slice of
the receive buffer, so payload bytes are not copied by the decoder, except
payloads of at most ``COPY_MAX`` bytes, which are ``bytes`` copies (cheaper
than a view, and they never pin the buffer).

A slice may outlive the call (uvloop keeps what it could not send at once),
so bytes before the parse position are never overwritten while any export of
the buffer is alive: the decoder then moves to a fresh buffer from the pool
(docs/spec.md §3 gives the header layout, §6 the limits checked here).

The first ``PREAMBLE_SIZE`` bytes of a connection are the peer's preamble
(docs/spec.md §2); they are checked before any frame is parsed.
"""

from __future__ import annotations

import struct

from ..exceptions import ProtocolError, VersionError
from .buffers_py import BufferPool, is_exported
from .consts import (
    COPY_MAX,
    DEFAULT_MAX_FRAME,
    FRAME_NAMES,
    FRAME_TYPE_MAX,
    HEADER_SIZE,
    MAGIC,
    PREAMBLE_SIZE,
    PROTOCOL_VERSION,
)

__all__ = ["FrameDecoder", "pack_header", "encode_frame", "HEADER"]

HEADER = struct.Struct(">BBHII")
_pack_into = HEADER.pack_into
_unpack_from = HEADER.unpack_from

# Keep at least this much free space after the data when handing out a buffer.
MIN_READ = 16384


def pack_header(buf: bytearray, pos: int, ftype: int, flags: int, stream_id: int, length: int) -> None:
    """Write a frame header at ``buf[pos:pos + HEADER_SIZE]``."""
    _pack_into(buf, pos, ftype, flags, 0, stream_id, length)


def encode_frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """Return one whole frame as bytes (tests and control frames)."""
    return HEADER.pack(ftype, flags, 0, stream_id, len(payload)) + bytes(payload)


def check_preamble(data: bytes) -> int:
    """Validate a peer's preamble and return its protocol version.

    Raises:
        ProtocolError: the bytes are not a fasttun preamble.
        VersionError: the peer speaks another protocol version.
    """
    if data[:7] != MAGIC:
        raise ProtocolError(f"not a fasttun peer: bad preamble {bytes(data[:8])!r}")
    version = data[7]
    if version != PROTOCOL_VERSION:
        raise VersionError(f"peer speaks fasttun protocol version {version}, this fasttun speaks {PROTOCOL_VERSION}")
    return version


class FrameDecoder:
    """Incremental decoder of the frame stream of one session.

    Args:
        max_frame: largest payload accepted; a larger frame is a protocol error.
        pool: where receive buffers come from; a private pool when None.
        expect_preamble: check the peer's preamble before the first frame.
        buffer_size: receive buffer size (at least two maximal frames).
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, pool: BufferPool | None = None,
                 expect_preamble: bool = True, buffer_size: int = 262144) -> None:
        self.max_frame = max_frame
        size = max(buffer_size, 2 * (HEADER_SIZE + max_frame))
        if pool is None or pool.size < size:
            pool = BufferPool(size, 4)
        self._pool = pool
        self._buf = pool.acquire()
        self._cap = len(self._buf)
        self._start = 0  # first byte not yet parsed
        self._end = 0  # end of received data
        self._need_preamble = expect_preamble
        self.peer_version = 0
        self.frames_received = 0

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Return the writable view where the next received bytes go.

        Write at most ``len(view)`` bytes into it, then call
        ``buffer_updated(n)``.  The view must not be used after that call.
        """
        start, end = self._start, self._end
        buf = self._buf
        if start == end:
            if start and not is_exported(buf):
                self._start = self._end = start = end = 0
        if self._cap - end < MIN_READ or self._cap - start < HEADER_SIZE + self.max_frame:
            # Not enough room after the data: move the partial frame to the
            # front, in place when nothing borrows the buffer, else to a new one.
            if is_exported(buf):
                new = self._pool.acquire()
                new[0 : end - start] = buf[start:end]
                self._pool.release(buf)
                self._buf = buf = new
            else:
                buf[0 : end - start] = buf[start:end]
            self._start, self._end = 0, end - start
            end = self._end
        return memoryview(buf)[end:]

    def buffer_updated(self, nbytes: int) -> list:
        """Take *nbytes* written into the last ``get_buffer()`` view.

        Returns the complete frames as ``(type, flags, stream_id, payload)``.
        A payload view stays valid as long as it is alive: the decoder never
        overwrites bytes that any view still covers (it moves to a fresh
        buffer instead), so a view may be handed to a transport that keeps it.

        Raises:
            ProtocolError: the stream broke docs/spec.md; the session is over.
        """
        self._end += nbytes
        buf = self._buf
        if self._need_preamble:
            if self._end - self._start < PREAMBLE_SIZE:
                return []
            self.peer_version = check_preamble(bytes(buf[self._start : self._start + PREAMBLE_SIZE]))
            self._start += PREAMBLE_SIZE
            self._need_preamble = False
        frames = []
        pos, end = self._start, self._end
        mv = memoryview(buf)
        max_frame = self.max_frame
        while end - pos >= HEADER_SIZE:
            ftype, flags, _reserved, stream_id, length = _unpack_from(buf, pos)
            if ftype > FRAME_TYPE_MAX:
                raise ProtocolError(f"unknown frame type {ftype}")
            if length > max_frame:
                raise ProtocolError(
                    f"{FRAME_NAMES[ftype]} frame of {length} bytes exceeds the maximum of {max_frame}"
                )
            if end - pos - HEADER_SIZE < length:
                break
            pos += HEADER_SIZE
            frames.append((ftype, flags, stream_id, bytes(mv[pos : pos + length]) if length <= COPY_MAX
                           else mv[pos : pos + length]))
            pos += length
        self._start = pos
        self.frames_received += len(frames)
        return frames

    def receive_data(self, data: bytes) -> list:
        """Copy *data* in and return the complete frames (``buffer_updated``)."""
        frames: list = []
        view = memoryview(data)
        while view:
            target = self.get_buffer()
            n = min(len(target), len(view))
            target[:n] = view[:n]
            del target
            frames.extend(self.buffer_updated(n))
            view = view[n:]
        return frames

    @property
    def buffered(self) -> int:
        """Bytes received and not yet parsed (a partial frame)."""
        return self._end - self._start
