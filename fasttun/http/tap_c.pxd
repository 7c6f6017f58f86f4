# Augmenting declarations: tap.py compiled as tap_c (see visitor_c.pxd).  The
# inspector's tap runs for every exchange of an HTTP tunnel's stream on the
# client; here its state is C fields and its steps C calls.  References
# between the classes stay untyped (object), so that a Capture of either
# twin takes an Exchange of either.

cimport cython

# The compiled head reader's functions, called as C functions (the names
# shadow the .py's imports of the same functions, which the twin uses).
from fasttun.http._heads_c cimport read_request, read_response


@cython.final
@cython.freelist(64)
cdef class Exchange:
    cdef public Py_ssize_t id
    cdef public object tunnel          # str
    cdef public double started         # time.time() when the request head went by
    cdef public object duration        # float, or None while unanswered
    cdef public object method          # bytes
    cdef public object target          # bytes
    cdef public object request_head    # bytes
    cdef public object request_body    # bytearray, at most BODY_LIMIT bytes
    cdef public long long request_size
    cdef public int status
    cdef public object response_head   # bytes
    cdef public object response_body   # bytearray, at most BODY_LIMIT bytes
    cdef public long long response_size
    cdef public object replay_of       # int, or None
    cdef public Py_ssize_t held        # its cost when the capture took it


cdef class Capture:
    cdef public Py_ssize_t max_records
    cdef public Py_ssize_t max_bytes
    cdef public object records         # deque of Exchange
    cdef public Py_ssize_t bytes
    cdef public object _ids

    cpdef add(self, ex)


@cython.final
cdef class _Side:
    cdef public int state
    cdef public bytearray buf
    cdef public object head            # bytes, or None
    cdef public object counter         # BodyCounter
    cdef public object exchange        # Exchange, or None


cdef class Tap:
    cdef public object capture
    cdef public object tunnel
    cdef public object pending         # deque of Exchange: requests sent, not yet answered
    cdef public _Side _req
    cdef public _Side _resp

    @cython.locals(side=_Side, end=Py_ssize_t, pos=Py_ssize_t)
    cpdef request_data(self, data)
    @cython.locals(side=_Side, end=Py_ssize_t, pos=Py_ssize_t, status=int)
    cpdef response_data(self, data)
    @cython.locals(side=_Side)
    cpdef closed(self)
    @cython.locals(end=Py_ssize_t, start=Py_ssize_t)
    cdef Py_ssize_t _gather(self, _Side side, data, Py_ssize_t pos) except -1
    cdef _start_body(self, _Side side, int mode, long long length)
    @cython.locals(k=Py_ssize_t)
    cdef Py_ssize_t _body(self, _Side side, data, Py_ssize_t pos, bint request) except -1
    cdef _body_done(self, _Side side)
    cdef _finish(self)
    cdef _off(self)
