# The compiled frame decoder, as mux_c sees it (cimport): mux_c parses the
# frames of its receive buffer in place, through _scan, without a tuple per frame.

cimport cython
from libc.stdint cimport uint32_t

from fasttun._core.buffers_c cimport BufferPool


cdef inline uint32_t be32(const unsigned char* p) noexcept:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | <uint32_t>p[3]


cdef inline void put32(unsigned char* p, uint32_t v) noexcept:
    p[0] = (v >> 24) & 0xff
    p[1] = (v >> 16) & 0xff
    p[2] = (v >> 8) & 0xff
    p[3] = v & 0xff


cdef inline void put_header(unsigned char* p, unsigned int ftype, unsigned int flags, uint32_t stream_id,
                            uint32_t length) noexcept:
    p[0] = ftype
    p[1] = flags
    p[2] = 0
    p[3] = 0
    put32(p + 4, stream_id)
    put32(p + 8, length)


@cython.final
cdef class FrameDecoder:
    cdef readonly Py_ssize_t max_frame
    cdef BufferPool _pool
    cdef bytearray _buf
    cdef Py_ssize_t _cap
    cdef Py_ssize_t _start          # first byte not yet parsed
    cdef Py_ssize_t _end            # end of received data
    cdef bint _need_preamble
    cdef public int peer_version
    cdef public Py_ssize_t frames_received

    cdef Py_ssize_t _prepare(self) except -1
    cdef Py_ssize_t _scan(self, Py_ssize_t nbytes) except -1
