# Augmenting declarations: visitor_py.py compiled as visitor_c (see STYLE,
# aiohttp's reader_c.pxd).  Attributes are typed so that the per-request path
# reads and writes them as C fields; every one stays visible from Python
# (``public``), because the twin has the same names and the front, the
# sessions and the tests read them.  The methods only the visitor calls are
# ``cdef``: C calls, no attribute lookup, no argument tuple.

cimport cython

from fasttun.http._heads_c cimport RequestHead as CRequestHead  # (as: the .py imports the name too)
# The compiled head reader's and console's functions, called as C functions
# (the names shadow the .py's imports of the same functions, which the twin uses).
from fasttun.http._heads_c cimport read_request, forward
from fasttun.http._console_c cimport request_line
from fasttun.http._heads_c cimport find_head_end, head_end_from
from fasttun._core.httphead_c cimport scan_response_in
from fasttun._core.httpbody_c cimport BodyCounter as CBodyCounter  # (as: the .py imports the name too)
from fasttun._core.mux_c cimport Session

# Module constants as C values: the states and limits the per-request path
# compares with are C ints here (the .py assigns them; the front and the
# tests read the twin's).
cdef int R_HEAD, R_BODY, R_UPGRADE, R_RAW, R_DONE, R_HOLD
cdef int S_HEAD, S_BODY, S_RAW, S_DONE
cdef int LOG_OFF, LOG_RECORDS, LOG_LINES
cdef int BODY_LENGTH, BODY_UNTIL_CLOSE
cdef Py_ssize_t MAX_HEAD, MAX_PIPELINE, N_BUCKETS, LEND_MIN
cdef tuple DURATION_BUCKETS
cdef double LINES_DELAY
cdef Py_ssize_t LINES_MESSAGE_TEXT
cdef object _now


@cython.final
cdef class HttpRoute:
    cdef public object tunnel         # Tunnel, None once unbound
    cdef public object name           # Name
    cdef public object auth           # the expected Authorization value, or None
    cdef public object host_header    # bytes, or None
    cdef public tuple set_headers     # ((name, value), ...)
    cdef public object limiter        # RateLimiter, or None
    cdef public int log               # LOG_*: what the client is sent of each exchange
    cdef public list urls
    cdef public tuple drop            # forward_drop() of the options


@cython.final
cdef class LineBatch:
    cdef public list items            # [tunnel id, line, tunnel id, line, ...]
    cdef public Py_ssize_t size       # characters of the lines


@cython.final
@cython.freelist(64)
cdef class Exchange:
    cdef public bytes method
    cdef public bytes path          # the request target
    cdef public object host         # str, lower case
    cdef public object route        # HttpRoute, or None
    cdef public double started      # _now() when the head arrived
    cdef public double sent_at      # _now() when the request's body was all sent
    cdef public long long bytes_in  # request bytes (head and body)
    cdef public long long bytes_out # response bytes (head and body)
    cdef public int status
    cdef public bint keep_alive
    cdef public bint upgrade
    cdef public bint answered       # the response head came


@cython.locals(ex=Exchange)
cdef Exchange new_exchange(CRequestHead req, route, double now)


cdef class FrontCore:
    cdef public object loop
    cdef public object access_log     # AccessLog, or None
    cdef public long long[::1] durations  # counts per DURATION_BUCKETS bound, +Inf last (an array("q"))
    cdef public double duration_sum
    cdef public dict _records         # ClientSession -> [record, ...] to send
    cdef public dict _lines           # ClientSession -> [tunnel id, line, ...] to send
    cdef public object _lines_timer   # TimerHandle of the next _send_lines, or None
    cdef public object scratch        # memoryview: where visitors read request heads


cdef class VisitorCore:
    cdef public FrontCore front       # HttpFront
    cdef public str scheme            # "http" or "https"
    cdef public object transport
    cdef public str peer
    cdef public str peer_ip
    cdef public str local
    cdef public object sni            # str, or None
    cdef public object owner          # ClientSession, once routed
    cdef public Session session       # owner.session (the compiled one: its methods are C calls)
    cdef public object stream_id      # int, 0 until routed
    cdef public object route          # HttpRoute, once routed
    cdef public object pending_in     # Tunnel counting the stream as pending
    cdef public object traffic        # the tunnel's Traffic, once routed
    # request direction
    cdef public int rstate
    cdef public bytearray inbuf
    cdef public Py_ssize_t _searched
    cdef public bytes unsent
    cdef public CBodyCounter body
    cdef public object _view          # reserve() view of the last get_buffer, or None
    cdef public bint _reading
    cdef public bint _eof_in
    cdef public double idle_since
    cdef public object refusal        # bytes, or None
    cdef public list _tail
    # response direction
    cdef public int sstate
    cdef public list exchanges        # of Exchange, oldest first
    cdef public object rhead          # bytearray, or None
    cdef public CBodyCounter rbody
    cdef public list _out
    cdef public bint _write_paused
    cdef public long long _withheld
    cdef public bint _closed
    cdef public bint _fin_out
    cdef public double _linger_until
    cdef public bint _hook_passed

    @cython.locals(k=Py_ssize_t)
    cpdef buffer_updated(self, Py_ssize_t nbytes)
    @cython.locals(end=Py_ssize_t, k=Py_ssize_t)
    cdef process(self)
    cdef _flush_raw(self)
    @cython.locals(sent=Py_ssize_t)
    cdef bint _send(self, data) except -1
    @cython.locals(now=double, ex=Exchange, req=CRequestHead, route=HttpRoute)
    cdef bint handle_head(self, bytes head) except -1
    @cython.locals(ex=Exchange)
    cdef _request_sent(self, double now)
    cdef _write_page(self, bytes body)
    @cython.locals(want=bint, state=int)
    cdef _update_reading(self)
    @cython.locals(n=Py_ssize_t, pos=Py_ssize_t, end=Py_ssize_t, k=Py_ssize_t)
    cpdef deliver_many(self, list payloads)
    cdef _credit(self, Py_ssize_t n)
    @cython.locals(end=Py_ssize_t, n=Py_ssize_t, status=int, length=cython.longlong, ex=Exchange, now=double)
    cdef bint _answer_whole(self, p) except -1
    @cython.locals(size=Py_ssize_t)
    cdef flush_out(self)
    @cython.locals(end=Py_ssize_t, start=Py_ssize_t, consumed=Py_ssize_t, ex=Exchange, status=int)
    cdef Py_ssize_t _response_head(self, p, Py_ssize_t pos) except -1
    @cython.locals(ex=Exchange)
    cdef _response_done(self, bint upgraded=*)
    cdef _after_responses(self, double now=*)
    cdef _bad_gateway(self, str message, bint stream_gone=*)
    cdef _send_fin(self)
    cdef _abort_stream(self)
    cdef str _where(self)
    @cython.locals(now=double, duration=double, i=Py_ssize_t, tunnel=object, pending=dict, batch=list, route=HttpRoute,
                lines=LineBatch, line=str)
    cdef double _log(self, Exchange ex, int status) except? -1
