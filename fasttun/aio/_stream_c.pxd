# Augmenting declarations: _stream.py compiled as _stream_c (see
# http/visitor_c.pxd, and aiohttp's reader_c.pxd).  The stream's attributes
# are typed so that each read and each delivery reads and writes them as C
# fields; all stay visible from Python (``public``): the server, the client,
# the inspector's tapped stream and the tests read them.  The session is the
# compiled one, so reserve, commit, send_window, consumed and released are C
# calls.  What only the stream calls on itself is ``cdef``.

cimport cython

from fasttun._core.mux_c cimport Session

# The event kinds dispatch compares with, as C values (the .py imports them
# from consts).
cdef int EV_ACCEPT, EV_CONTROL, EV_DATA, EV_FIN, EV_GO_AWAY, EV_OPEN, EV_RESET, EV_TIMEOUT, EV_WINDOW
cdef Py_ssize_t LEND_MIN


cpdef write_payloads(transport, list payloads, Py_ssize_t size, bint shared)

@cython.locals(kind=int, ev=tuple, run=list, streams=dict, blocked=set)
cpdef bint dispatch(proto, list events) except -1

@cython.locals(n=Py_ssize_t)
cdef _deliver_run(proto, dict streams, stream_id, list payloads)


cdef class StreamCore:
    cdef public object owner          # SessionProtocol
    cdef public Session session       # owner.session (the compiled one: its methods are C calls)
    cdef public object stream_id      # int, 0 until the server opens the stream
    cdef public object tunnel_id
    cdef public object transport
    cdef public bint _reading
    cdef public bint _write_paused
    cdef public long long _withheld   # received bytes not yet credited back
    cdef public list _pending         # bytes waiting for the socket or for credit, or None
    cdef public bint _eof_in
    cdef public bint _eof_out
    cdef public bint _closed
    cdef public object _scratch       # memoryview, or None
    cdef public bint _into_scratch
    cdef public object pending_in     # server: the Tunnel counting this stream as pending
    cdef public object prefix         # client: bytes written to the local service first
    cdef public object traffic        # the tunnel's Traffic, while counted as open
    cdef public bint held
    cdef public bint _fin_waiting

    @cython.locals(view=object)
    cpdef get_buffer(self, Py_ssize_t sizehint)
    cpdef buffer_updated(self, Py_ssize_t nbytes)
    cdef _hold(self, bytes data)
    cdef _wait_credit(self)
    @cython.locals(n=Py_ssize_t, session=Session)
    cpdef deliver_many(self, list payloads)
    cpdef _check_window(self)
    cdef _pause(self)
    cdef _resume(self)
    cdef _close(self)
