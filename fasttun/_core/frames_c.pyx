# cython: language_level=3
"""Compiled frame codec (the twin of ``frames_py``; read that module first).

Headers are read through a raw pointer into the receive buffer, with one
explicit length check before each read.
"""

cimport cython
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from libc.stdint cimport uint32_t
from libc.string cimport memcpy, memmove

from fasttun._core.buffers_c cimport BufferPool, buffer_exported

from ..exceptions import ProtocolError
from .consts import FRAME_NAMES
from .frames_py import HEADER, check_preamble, encode_frame

__all__ = ["FrameDecoder", "pack_header", "encode_frame", "HEADER"]

DEF HEADER_SIZE = 12
DEF PREAMBLE_SIZE = 8
DEF FRAME_TYPE_MAX = 6
DEF MIN_READ = 16384
DEF COPY_MAX = 4096  # (consts.COPY_MAX; checked at import)

from . import consts as _consts

assert _consts.COPY_MAX == COPY_MAX


def pack_header(bytearray buf not None, Py_ssize_t pos, unsigned int ftype, unsigned int flags,
                uint32_t stream_id, uint32_t length):
    """Write a frame header at ``buf[pos:pos + HEADER_SIZE]``."""
    cdef unsigned char* p
    if pos < 0 or pos + HEADER_SIZE > PyByteArray_GET_SIZE(buf):
        raise ValueError("header does not fit in the buffer")
    if ftype > 255 or flags > 255:
        raise OverflowError("frame type or flags out of range")
    put_header(<unsigned char*>PyByteArray_AS_STRING(buf) + pos, ftype, flags, stream_id, length)


@cython.final
cdef class FrameDecoder:
    """Incremental decoder of the frame stream of one session (fields: frames_c.pxd)."""

    def __cinit__(self, Py_ssize_t max_frame=262144, BufferPool pool=None, bint expect_preamble=True,
                  Py_ssize_t buffer_size=262144):
        cdef Py_ssize_t size = max(buffer_size, 2 * (HEADER_SIZE + max_frame))
        self.max_frame = max_frame
        if pool is None or pool.size < size:
            pool = BufferPool(size, 4)
        self._pool = pool
        self._buf = pool.acquire()
        self._cap = PyByteArray_GET_SIZE(self._buf)
        self._start = 0
        self._end = 0
        self._need_preamble = expect_preamble
        self.peer_version = 0
        self.frames_received = 0

    cdef Py_ssize_t _prepare(self) except -1:
        """Make room after the data (see frames_py.get_buffer); return where it starts."""
        cdef Py_ssize_t start = self._start, end = self._end
        cdef bytearray buf = self._buf, new
        if start == end and start and not buffer_exported(buf):
            self._start = self._end = start = end = 0
        if self._cap - end < MIN_READ or self._cap - start < HEADER_SIZE + self.max_frame:
            if buffer_exported(buf):
                new = self._pool.acquire()
                memcpy(PyByteArray_AS_STRING(new), PyByteArray_AS_STRING(buf) + start, end - start)
                self._pool.release(buf)
                self._buf = buf = new
            else:
                memmove(PyByteArray_AS_STRING(buf), PyByteArray_AS_STRING(buf) + start, end - start)
            self._start = 0
            self._end = end = end - start
        return end

    def get_buffer(self, Py_ssize_t sizehint=-1):
        cdef Py_ssize_t end = self._prepare()
        return memoryview(self._buf)[end:]

    cdef Py_ssize_t _scan(self, Py_ssize_t nbytes) except -1:
        """Take *nbytes* received; check the headers of the complete frames
        from ``_start`` and return where they end (``_start`` is left for the
        caller, which walks them).  Raises ProtocolError at a malformed one."""
        cdef Py_ssize_t pos, end
        cdef uint32_t length
        cdef unsigned int ftype, n = 0
        cdef const unsigned char* base
        if nbytes < 0 or self._end + nbytes > self._cap:
            raise ValueError("nbytes out of range")
        self._end += nbytes
        buf = self._buf
        if self._need_preamble:
            if self._end - self._start < PREAMBLE_SIZE:
                return self._start
            self.peer_version = check_preamble(bytes(buf[self._start:self._start + PREAMBLE_SIZE]))
            self._start += PREAMBLE_SIZE
            self._need_preamble = False
        pos = self._start
        end = self._end
        base = <const unsigned char*>PyByteArray_AS_STRING(buf)
        while end - pos >= HEADER_SIZE:
            ftype = base[pos]
            length = be32(base + pos + 8)
            if ftype > FRAME_TYPE_MAX:
                raise ProtocolError(f"unknown frame type {ftype}")
            if length > <uint32_t>self.max_frame:
                raise ProtocolError(
                    f"{FRAME_NAMES[ftype]} frame of {length} bytes exceeds the maximum of {self.max_frame}")
            if end - pos - HEADER_SIZE < <Py_ssize_t>length:
                break
            pos += HEADER_SIZE + length
            n += 1
        self.frames_received += n
        return pos

    def buffer_updated(self, Py_ssize_t nbytes):
        cdef Py_ssize_t pos, stop
        cdef uint32_t length
        cdef const unsigned char* base
        cdef list frames = []
        stop = self._scan(nbytes)
        pos = self._start
        if pos == stop:
            return frames
        base = <const unsigned char*>PyByteArray_AS_STRING(self._buf)
        mv = None  # made for the first payload handed out as a view
        while pos < stop:
            length = be32(base + pos + 8)
            if length <= COPY_MAX:
                payload = (<const char*>base)[pos + HEADER_SIZE:pos + HEADER_SIZE + <Py_ssize_t>length]
            else:
                if mv is None:
                    mv = memoryview(self._buf)
                payload = mv[pos + HEADER_SIZE:pos + HEADER_SIZE + <Py_ssize_t>length]
            frames.append((base[pos], base[pos + 1], be32(base + pos + 4), payload))
            pos += HEADER_SIZE + length
        self._start = pos
        return frames

    def receive_data(self, data):
        cdef list frames = []
        cdef Py_ssize_t n
        view = memoryview(data)
        while len(view):
            target = self.get_buffer()
            n = min(len(target), len(view))
            target[:n] = view[:n]
            del target
            frames.extend(self.buffer_updated(n))
            view = view[n:]
        return frames

    @property
    def buffered(self):
        return self._end - self._start
