# Augmenting declarations: _heads.py compiled as _heads_c (see visitor_c.pxd).
# The visitor's per-request path reads a head, builds a RequestHead and the
# forwarded head; here those are C fields and C calls.

cimport cython


@cython.final
@cython.freelist(32)
cdef class RequestHead:
    cdef public object method         # bytes
    cdef public object target         # bytes
    cdef public object version        # b"1.1" or b"1.0"
    cdef public object headers        # [(raw, lower, value)], or None (the fast path's)
    cdef public object host           # str
    cdef public object authority      # bytes
    cdef public bint keep_alive
    cdef public bint upgrade
    cdef public int body_mode
    cdef public long long body_length
    cdef public object authorization  # bytes, or None
    cdef public Py_ssize_t size
    cdef public object raw            # the fast path's: the head, the kept fields, X-Forwarded-For, Forwarded
    cdef public object kept
    cdef public object xff
    cdef public object fwd


@cython.final
@cython.freelist(32)
cdef class ResponseHead:
    cdef public int status
    cdef public object version
    cdef public object headers
    cdef public bint keep_alive
    cdef public object length         # int, or None
    cdef public bint chunked


cpdef object split_host(object authority)


@cython.locals(self=RequestHead)
cpdef RequestHead _request_from_fast(tuple fields, bytes raw)
@cython.locals(self=ResponseHead, length=cython.longlong)
cpdef ResponseHead _response_from_fast(tuple fields)
@cython.locals(fields=tuple)
cpdef RequestHead read_request(object head)
@cython.locals(fields=tuple)
cpdef ResponseHead read_response(object head)
@cython.locals(kept=object, xff=object, fwd=object)
cpdef bytes forward(RequestHead req, str client_ip, str proto, object host_header, tuple set_headers, tuple drop,
                    list cache)

# The compiled scanner's functions, called as C functions (the names shadow
# the .py's imports from the selector, which the twin keeps using).
from fasttun._core.httphead_c cimport head_end, scan_request, scan_response

cpdef Py_ssize_t find_head_end(object buf, Py_ssize_t start=*) except -2
cpdef Py_ssize_t head_end_from(object buf, Py_ssize_t pos) except -2
