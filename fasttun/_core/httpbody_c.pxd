# The compiled body counter as the other compiled modules see it (cimport):
# the HTTP front's visitor starts and feeds it with C calls.

cimport cython


@cython.final
@cython.freelist(64)
cdef class BodyCounter:
    cdef public int mode                     # BODY_* framing of the current body
    cdef public unsigned long long remaining  # LENGTH: bytes to come; CHUNKED: left of this chunk
    cdef public bint done                    # the body has ended
    cdef int _state                          # CH_* scanner state
    cdef int _digits                         # hex digits of the chunk size so far
    cdef int _line                           # bytes of the current size/extension/trailer line
    cdef int _trailer                        # bytes of the trailer section

    cpdef start(self, int mode, long long length=*)
    cpdef Py_ssize_t feed(self, object data) except -1
    cdef Py_ssize_t _feed_chunked(self, const unsigned char* p, Py_ssize_t n) except -1
