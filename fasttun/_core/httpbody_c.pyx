# cython: language_level=3
"""Compiled body counter (the twin of ``httpbody_py``; read that module first).

``feed`` takes the buffer of any bytes-like object and scans it through a
raw pointer: chunk data is skipped by arithmetic, chunk headers and trailers
are read one byte at a time, each read after the ``i < n`` check of the loop.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer

from .httpbody_py import MalformedBody

__all__ = ["BodyCounter", "MalformedBody"]

DEF BODY_NONE = 0
DEF BODY_LENGTH = 1
DEF BODY_CHUNKED = 2
DEF BODY_UNTIL_CLOSE = 3

DEF CH_SIZE = 0
DEF CH_EXT = 1
DEF CH_SIZE_LF = 2
DEF CH_DATA = 3
DEF CH_DATA_CR = 4
DEF CH_DATA_LF = 5
DEF CH_TRAILER_START = 6
DEF CH_TRAILER = 7
DEF CH_TRAILER_LF = 8
DEF CH_END_LF = 9

DEF MAX_SIZE_DIGITS = 16
DEF MAX_LINE = 4096
DEF MAX_TRAILER = 16384


cdef inline int _hex(unsigned char c) noexcept:
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


cdef class BodyCounter:  # (its fields: httpbody_c.pxd)
    def __init__(self):
        self.start(BODY_NONE)

    cpdef start(self, int mode, long long length=0):
        if mode < BODY_NONE or mode > BODY_UNTIL_CLOSE:
            raise ValueError(f"unknown body framing {mode}")
        if length < 0:
            raise ValueError("negative body length")
        self.mode = mode
        self.remaining = <unsigned long long>length if mode == BODY_LENGTH else 0
        self.done = mode == BODY_NONE or (mode == BODY_LENGTH and length == 0)
        self._state = CH_SIZE
        self._digits = 0
        self._line = 0
        self._trailer = 0

    cpdef Py_ssize_t feed(self, object data) except -1:
        cdef Py_buffer view
        cdef Py_ssize_t n, k
        if self.done:
            return 0
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            n = view.len
            if self.mode == BODY_LENGTH:
                k = n if <unsigned long long>n < self.remaining else <Py_ssize_t>self.remaining
                self.remaining -= k
                if self.remaining == 0:
                    self.done = True
                return k
            if self.mode == BODY_UNTIL_CLOSE:
                return n
            return self._feed_chunked(<const unsigned char*>view.buf, n)
        finally:
            PyBuffer_Release(&view)

    cdef Py_ssize_t _feed_chunked(self, const unsigned char* p, Py_ssize_t n) except -1:
        cdef Py_ssize_t i = 0
        cdef unsigned long long k
        cdef int state = self._state
        cdef int v
        cdef unsigned char c
        while i < n:
            if state == CH_DATA:
                k = <unsigned long long>(n - i)
                if k > self.remaining:
                    k = self.remaining
                i += <Py_ssize_t>k
                self.remaining -= k
                if self.remaining == 0:
                    state = CH_DATA_CR
                continue
            c = p[i]
            i += 1
            if state >= CH_TRAILER_START:
                self._trailer += 1
                if self._trailer > MAX_TRAILER:
                    raise MalformedBody("trailer section too large")
            if state == CH_SIZE:
                v = _hex(c)
                if v >= 0:
                    if self._digits == MAX_SIZE_DIGITS:
                        raise MalformedBody("chunk size too long")
                    self._digits += 1
                    self.remaining = (self.remaining << 4) | <unsigned long long>v
                    self._line += 1
                elif self._digits and c == 13:
                    state = CH_SIZE_LF
                elif c == 10:
                    raise MalformedBody("chunk size line not ended by CRLF")
                elif self._digits and (c == 0x3B or c == 0x20 or c == 0x09):
                    state = CH_EXT
                    self._line += 1
                else:
                    raise MalformedBody(f"bad chunk size (byte {c:#04x})")
            elif state == CH_EXT:
                if c == 13:
                    state = CH_SIZE_LF
                elif c == 10:
                    raise MalformedBody("bare LF in a chunk extension")
                else:
                    self._line += 1
                    if self._line > MAX_LINE:
                        raise MalformedBody("chunk extension too long")
            elif state == CH_SIZE_LF:
                if c != 10:
                    raise MalformedBody("chunk size line not ended by CRLF")
                self._digits = 0
                self._line = 0
                state = CH_DATA if self.remaining else CH_TRAILER_START
            elif state == CH_DATA_CR:
                if c != 13:
                    raise MalformedBody("chunk data not followed by CRLF")
                state = CH_DATA_LF
            elif state == CH_DATA_LF:
                if c != 10:
                    raise MalformedBody("chunk data not followed by CRLF")
                state = CH_SIZE
            elif state == CH_TRAILER_START:
                if c == 13:
                    state = CH_END_LF
                elif c == 10:
                    raise MalformedBody("bare LF in the trailer section")
                else:
                    state = CH_TRAILER
                    self._line = 1
            elif state == CH_TRAILER:
                if c == 13:
                    state = CH_TRAILER_LF
                elif c == 10:
                    raise MalformedBody("bare LF in the trailer section")
                else:
                    self._line += 1
                    if self._line > MAX_LINE:
                        raise MalformedBody("trailer line too long")
            elif state == CH_TRAILER_LF:
                if c != 10:
                    raise MalformedBody("trailer line not ended by CRLF")
                state = CH_TRAILER_START
            else:  # CH_END_LF
                if c != 10:
                    raise MalformedBody("chunked body not ended by CRLF")
                self.done = True
                self._state = state
                return i
        self._state = state
        return n
