# cython: language_level=3
"""Compiled multiplexer (the twin of ``mux_py``; read that module first: its
docstring is the design, and every method here does what its namesake there
does, in the same order, with the same errors).

What compiling by hand buys over compiling ``mux_py`` as it is:

* frames are parsed in place in the decoder's buffer (``FrameDecoder._scan``
  checks the headers, then ``_handle`` walks them through a pointer): no
  tuple and no memoryview per frame, only per DATA event;
* frame headers are written through a pointer, payloads with ``memcpy``;
  ``send_data`` frames its bytes straight from the caller's buffer;
* the outgoing buffer has one memoryview for its whole life, which
  ``reserve`` and ``data_to_send`` slice;
* streams and the session are C structs with typed fields, declared in
  ``mux_c.pxd`` with the methods a stream's protocol calls (``send_data``,
  ``reserve``, ``commit``, ``consumed``, ...), so that a compiled protocol
  (the HTTP front's ``visitor_c``) calls them as C functions.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.ref cimport PyObject
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy

from fasttun._core.buffers_c cimport BufferPool
from fasttun._core.frames_c cimport FrameDecoder, be32, put32, put_header

from ..exceptions import ProtocolError
from .consts import GO_AWAY_NAMES, PREAMBLE

__all__ = ["Session", "Stream"]

DEF HEADER_SIZE = 12
DEF FRAME_DATA = 0
DEF FRAME_WINDOW_UPDATE = 1
DEF FRAME_OPEN = 2
DEF FRAME_RESET = 3
DEF FRAME_PING = 4
DEF FRAME_GO_AWAY = 5
DEF FRAME_CONTROL = 6
DEF FLAG_FIN = 0x01
DEF FLAG_ACK = 0x02
DEF FLAG_BLOCKED = 0x04
DEF RESET_LIMIT = 4
DEF OUT_BUFFER_SIZE = 262144
DEF MIN_RESERVE = 65536
DEF COPY_MAX = 4096

from .consts import (
    DEFAULT_MAX_FRAME as _DEFAULT_MAX_FRAME,
    INITIAL_WINDOW as _INITIAL_WINDOW,
    MAX_STREAM_WINDOW as _MAX_STREAM_WINDOW,
    MAX_WINDOW as _MAX_WINDOW,
    MIN_WINDOW as _MIN_WINDOW,
    RECEIVE_BUDGET as _RECEIVE_BUDGET,
    SESSION_WINDOW as _SESSION_WINDOW,
)

from . import consts as _consts

# Event kinds, from consts (the twin's names; C ints here).
cdef int EV_DATA = _consts.EV_DATA
cdef int EV_FIN = _consts.EV_FIN
cdef int EV_RESET = _consts.EV_RESET
cdef int EV_OPEN = _consts.EV_OPEN
cdef int EV_CONTROL = _consts.EV_CONTROL
cdef int EV_WINDOW = _consts.EV_WINDOW
cdef int EV_GO_AWAY = _consts.EV_GO_AWAY
cdef int EV_TIMEOUT = _consts.EV_TIMEOUT
cdef int EV_ACCEPT = _consts.EV_ACCEPT
assert (_consts.FRAME_DATA, _consts.FRAME_WINDOW_UPDATE, _consts.FRAME_OPEN, _consts.FRAME_RESET, _consts.FRAME_PING,
        _consts.FRAME_GO_AWAY, _consts.FRAME_CONTROL) == (FRAME_DATA, FRAME_WINDOW_UPDATE, FRAME_OPEN, FRAME_RESET,
                                                          FRAME_PING, FRAME_GO_AWAY, FRAME_CONTROL)
assert (_consts.FLAG_FIN, _consts.FLAG_ACK, _consts.FLAG_BLOCKED, _consts.RESET_LIMIT, _consts.HEADER_SIZE,
        _consts.COPY_MAX) == (FLAG_FIN, FLAG_ACK, FLAG_BLOCKED, RESET_LIMIT, HEADER_SIZE, COPY_MAX)

cdef long long MAX_WINDOW = _MAX_WINDOW
cdef long long MIN_WINDOW = _MIN_WINDOW
cdef long long DEFAULT_MAX_FRAME = _DEFAULT_MAX_FRAME


cdef inline bytes _u32_bytes(uint32_t v):
    cdef unsigned char b[4]
    put32(b, v)
    return (<char*>b)[:4]


# The session's small per-frame helpers, as inline C functions rather than
# methods: a method of a class declared in a .pxd cannot be inline, and the
# C compiler then stopped inlining them into send_data's loop (encode 6-8%
# slower, measured).

cdef inline bint _was_opened(Session self, uint32_t stream_id):
    if (stream_id & 1) == (self._next_id & 1):
        return stream_id < self._next_id
    return stream_id <= self._peer_max_id


cdef inline Stream _live_stream(Session self, uint32_t stream_id, str what):
    cdef PyObject* found = PyDict_GetItem(self._streams, stream_id)
    if found is NULL:
        if not (stream_id and _was_opened(self, stream_id)):
            raise ProtocolError(f"{what} for stream {stream_id}, which was never opened")
        return None  # closed already; late frames are ignored (§4.4)
    return <Stream>found


cdef inline unsigned char* _room(Session self, Py_ssize_t n) except NULL:
    """Where the next *n* bytes go in the outgoing buffer (a new one when they do not fit)."""
    if self._out is None or PyByteArray_GET_SIZE(self._out) - self._out_pos < n:
        self._seal()
        _new_out(self)
        if PyByteArray_GET_SIZE(self._out) < n:  # (callers keep frames to send_max_frame)
            raise RuntimeError(f"{n} bytes do not fit an outgoing buffer")
    return <unsigned char*>PyByteArray_AS_STRING(self._out) + self._out_pos


cdef inline int _new_out(Session self) except -1:
    self._out = self._pool.acquire()
    self._out_mv = memoryview(self._out)
    return 0


cdef inline Stream _sending(Session self, object stream_id):
    cdef PyObject* found = PyDict_GetItem(self._streams, stream_id)
    cdef Stream st
    if found is NULL:
        return None
    st = <Stream>found
    return None if st.local_fin else st


cdef inline Py_ssize_t _frame_size(Session self, Stream st) except -2:
    """Payload bytes the next DATA frame of *st* may carry, with room for
    it in the outgoing buffer (0: no credit).  As ``reserve()``."""
    cdef long long n = st.send_window
    cdef Py_ssize_t room
    if n > self._send_credit:
        n = self._send_credit
    if n <= 0:
        return 0
    if n > self.send_max_frame:
        n = self.send_max_frame
    room = PyByteArray_GET_SIZE(self._out) - self._out_pos - HEADER_SIZE if self._out is not None else -1
    if room < n:
        if room >= MIN_RESERVE:
            n = room
        else:
            self._seal()
            _new_out(self)
    return <Py_ssize_t>n


cdef inline void _commit(Session self, Stream st, Py_ssize_t nbytes) noexcept:
    cdef long long window = st.send_window - nbytes
    put_header(<unsigned char*>PyByteArray_AS_STRING(self._out) + self._out_pos, FRAME_DATA,
               FLAG_BLOCKED if window <= 0 else 0, <uint32_t>st.stream_id, <uint32_t>nbytes)
    self._out_pos += HEADER_SIZE + nbytes
    st.send_window = window
    self._send_credit -= nbytes
    self.bytes_sent += nbytes


cdef class Stream:
    """State of one stream inside a ``Session`` (no I/O; its fields: mux_c.pxd)."""

    def __init__(self, stream_id, long long window):
        self.stream_id = stream_id
        self.send_window = window
        self.recv_window = window
        self.window = window
        self.credit = 0
        self.unconsumed = 0
        self.unreleased = 0
        self.peer_blocked = False
        self.local_fin = False
        self.remote_fin = False


cdef class Session:
    """One end of a multiplexed tunnel connection (see ``mux_py.Session``; its fields: mux_c.pxd)."""

    def __init__(self, bint client, long long window=_INITIAL_WINDOW, long long max_frame=_DEFAULT_MAX_FRAME,
                 long long max_streams=65536, double ping_interval=5.0, double ping_timeout=15.0,
                 double now=0.0, BufferPool pool=None, Py_ssize_t buffer_size=OUT_BUFFER_SIZE,
                 long long max_window=_MAX_STREAM_WINDOW, long long receive_budget=_RECEIVE_BUDGET,
                 long long session_window=_SESSION_WINDOW):
        self.client = client
        self.session_window = session_window
        self._send_credit = session_window
        self._recv_credit = session_window
        self._session_credit = 0
        self.window = window
        self.max_window = max_window
        self.receive_budget = receive_budget
        self._windows = 0
        self.max_frame = max_frame
        self.send_max_frame = DEFAULT_MAX_FRAME
        self.max_streams = max_streams
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._streams = {}
        self._next_id = 2 if client else 1
        self._peer_max_id = 0
        self._events = []
        self._decoder = FrameDecoder(max_frame, None, True, buffer_size)
        if pool is None or pool.size < HEADER_SIZE + DEFAULT_MAX_FRAME:
            pool = BufferPool(max(buffer_size, 2 * (HEADER_SIZE + DEFAULT_MAX_FRAME)), 8)
        self._pool = pool
        self._out = None
        self._out_mv = None
        self._out_pos = 0
        self._out_sent = 0
        self._sealed = []
        self._last_frames = 0
        self._last_alive = now
        self._next_ping = now + ping_interval
        self._ping_seq = 0
        self.timed_out = False
        self.go_away_sent = False
        self.go_away_received = False
        self.bytes_sent = 0
        self.bytes_received = 0
        self.streams_opened = 0
        self._write(PREAMBLE)

    # ------------------------------------------------------------------
    # Receiving
    # ------------------------------------------------------------------
    def get_buffer(self, Py_ssize_t sizehint=-1):
        return self._decoder.get_buffer(sizehint)

    def buffer_updated(self, Py_ssize_t nbytes):
        self._updated(nbytes)

    cdef int _updated(self, Py_ssize_t nbytes) except -1:
        cdef FrameDecoder dec = self._decoder
        cdef Py_ssize_t stop = dec._scan(nbytes)
        if stop != dec._start:
            self._handle(stop)
        return 0

    def receive_data(self, data):
        """Copy *data* in, a receive buffer's worth at a time (as get_buffer/buffer_updated)."""
        cdef Py_buffer view
        cdef Py_ssize_t done = 0, n, end
        cdef FrameDecoder dec = self._decoder
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            while done < view.len:
                end = dec._prepare()
                n = dec._cap - end
                if n > view.len - done:
                    n = view.len - done
                memcpy(PyByteArray_AS_STRING(dec._buf) + end, <const char*>view.buf + done, n)
                self._updated(n)
                done += n
        finally:
            PyBuffer_Release(&view)

    def events_received(self):
        events = self._events
        self._events = []
        return events

    cdef int _handle(self, Py_ssize_t stop) except -1:
        """Handle the checked frames of the decoder's buffer up to *stop*."""
        cdef FrameDecoder dec = self._decoder
        cdef bytearray buf = dec._buf
        cdef const unsigned char* base = <const unsigned char*>PyByteArray_AS_STRING(buf)
        cdef Py_ssize_t pos = dec._start, p
        cdef unsigned int ftype, flags
        cdef uint32_t stream_id, length
        cdef object mv = None
        try:
            while pos < stop:
                ftype = base[pos]
                flags = base[pos + 1]
                stream_id = be32(base + pos + 4)
                length = be32(base + pos + 8)
                p = pos + HEADER_SIZE
                pos = p + length
                if ftype == FRAME_DATA:
                    if length <= COPY_MAX:
                        self._handle_data(flags, stream_id, None, base, p, length)
                    else:
                        if mv is None:
                            mv = memoryview(buf)
                        self._handle_data(flags, stream_id, mv, base, p, length)
                elif ftype == FRAME_WINDOW_UPDATE:
                    self._handle_window_update(flags, stream_id, base + p, length)
                elif ftype == FRAME_OPEN:
                    self._handle_open(stream_id, base + p, length)
                elif ftype == FRAME_RESET:
                    self._handle_reset(stream_id, base + p, length)
                elif ftype == FRAME_PING:
                    self._handle_ping(flags, stream_id, base + p, length)
                elif ftype == FRAME_GO_AWAY:
                    self._handle_go_away(stream_id, base + p, length)
                else:  # FRAME_CONTROL; the decoder refused unknown types
                    if stream_id != 0:
                        raise ProtocolError(f"CONTROL frame on stream {stream_id}")
                    self._events.append((EV_CONTROL, 0, (<const char*>base)[p:p + length], None))
        finally:
            dec._start = stop  # (an error ends the session: the rest is dropped)
        return 0

    cdef int _handle_data(self, unsigned int flags, uint32_t stream_id, object mv, const unsigned char* base,
                          Py_ssize_t p, uint32_t n) except -1:
        """DATA of *n* bytes at *p* in the receive buffer (*mv* its view, for a
        payload handed out as a slice; small ones are copied, see COPY_MAX)."""
        cdef Stream st = _live_stream(self, stream_id, "DATA")
        if n > self._recv_credit:
            raise ProtocolError(f"{n} bytes of DATA exceed the session window of {self._recv_credit}")
        self._recv_credit -= n
        if st is None:
            self._credit_session(n)
            return 0
        if st.remote_fin:
            raise ProtocolError(f"DATA on stream {stream_id} after its FIN")
        if n > st.recv_window:
            raise ProtocolError(f"stream {stream_id}: {n} bytes of DATA exceed the window of {st.recv_window}")
        if n:
            st.recv_window -= n
            st.unconsumed += n
            st.unreleased += n
            self.bytes_received += n
            if n <= COPY_MAX:
                payload = (<const char*>base)[p:p + <Py_ssize_t>n]
            else:
                payload = mv[p:p + <Py_ssize_t>n]
            self._events.append((EV_DATA, st.stream_id, payload, None))
        if flags & FLAG_BLOCKED:
            st.peer_blocked = True
        if flags & FLAG_FIN:
            st.remote_fin = True
            self._events.append((EV_FIN, st.stream_id, None, None))
            if st.local_fin:
                self._forget(stream_id)
        return 0

    cdef int _handle_window_update(self, unsigned int flags, uint32_t stream_id, const unsigned char* p,
                                   uint32_t n) except -1:
        cdef long long old, credit, window
        cdef Stream st
        if n != 4:
            raise ProtocolError(f"WINDOW_UPDATE with a payload of {n} bytes")
        if stream_id == 0:
            old = self._send_credit
            credit = old + be32(p)
            if credit > MAX_WINDOW:
                raise ProtocolError(f"session window update overflows the window ({credit})")
            self._send_credit = credit
            if old <= 0 < credit:
                self._events.append((EV_WINDOW, 0, credit, None))
            return 0
        st = _live_stream(self, stream_id, "WINDOW_UPDATE")
        if st is None:
            return 0
        if flags & FLAG_ACK and (stream_id & 1) == (self._next_id & 1):
            self._events.append((EV_ACCEPT, st.stream_id, None, None))
        old = st.send_window
        window = old + be32(p)
        if window > MAX_WINDOW:
            raise ProtocolError(f"stream {stream_id}: window update overflows the window ({window})")
        st.send_window = window
        if old <= 0 < window and not st.local_fin:
            self._events.append((EV_WINDOW, st.stream_id, window, None))
        return 0

    cdef int _handle_open(self, uint32_t stream_id, const unsigned char* p, uint32_t n) except -1:
        if stream_id == 0 or (stream_id & 1) == (self._next_id & 1):
            raise ProtocolError(f"OPEN with stream id {stream_id} of the wrong parity")
        if stream_id <= self._peer_max_id:
            raise ProtocolError(f"OPEN reuses stream id {stream_id}")
        if n < 4:
            raise ProtocolError("OPEN without a tunnel id")
        self._peer_max_id = stream_id
        if len(self._streams) >= self.max_streams:
            self._send_raw(FRAME_RESET, 0, stream_id, NULL, 4, RESET_LIMIT)
            return 0
        sid = stream_id
        self._streams[sid] = Stream(sid, self.window)
        self._windows += self.window
        self.streams_opened += 1
        self._events.append((EV_OPEN, sid, be32(p), (<const char*>p)[4:n]))
        return 0

    cdef int _handle_reset(self, uint32_t stream_id, const unsigned char* p, uint32_t n) except -1:
        cdef Stream st
        if n != 4:
            raise ProtocolError(f"RESET with a payload of {n} bytes")
        st = _live_stream(self, stream_id, "RESET")
        if st is None:
            return 0
        self._forget(stream_id)
        self._events.append((EV_RESET, st.stream_id, be32(p), None))
        return 0

    cdef int _forget(self, uint32_t stream_id) except -1:
        cdef Stream st = self._streams.pop(stream_id)
        self._windows -= st.window
        if st.unreleased:
            self._credit_session(st.unreleased)
        return 0

    cdef int _credit_session(self, long long nbytes) except -1:
        cdef long long credit = self._session_credit + nbytes
        if credit >= (self.session_window >> 2):
            self._recv_credit += credit
            self._session_credit = 0
            self._send_raw(FRAME_WINDOW_UPDATE, 0, 0, NULL, 4, <uint32_t>credit)
        else:
            self._session_credit = credit
        return 0

    cdef int _handle_ping(self, unsigned int flags, uint32_t stream_id, const unsigned char* p,
                          uint32_t n) except -1:
        if stream_id != 0 or n != 8:
            raise ProtocolError("malformed PING")
        if not flags & FLAG_ACK:
            self._send_raw(FRAME_PING, FLAG_ACK, 0, p, 8, 0)
        return 0

    cdef int _handle_go_away(self, uint32_t stream_id, const unsigned char* p, uint32_t n) except -1:
        cdef uint32_t code
        if stream_id != 0 or n < 4:
            raise ProtocolError("malformed GO_AWAY")
        code = be32(p)
        message = (<const char*>p)[4:n].decode("utf-8", "replace")
        self.go_away_received = True
        self._events.append((EV_GO_AWAY, 0, code, message or GO_AWAY_NAMES.get(code, f"code {code}")))
        return 0

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------
    cdef int _write(self, object data) except -1:
        cdef Py_buffer view
        cdef unsigned char* dst
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            dst = _room(self, view.len)
            memcpy(dst, view.buf, view.len)
            self._out_pos += view.len
        finally:
            PyBuffer_Release(&view)
        return 0

    cdef int _send_raw(self, unsigned int ftype, unsigned int flags, uint32_t stream_id, const unsigned char* p,
                       Py_ssize_t n, uint32_t word) except -1:
        """One frame of *n* payload bytes from *p* (or, when *p* is NULL, the
        4-byte big-endian *word*)."""
        cdef unsigned char* dst = _room(self, HEADER_SIZE + n)
        put_header(dst, ftype, flags, stream_id, <uint32_t>n)
        if p is NULL:
            put32(dst + HEADER_SIZE, word)
        elif n:
            memcpy(dst + HEADER_SIZE, p, n)
        self._out_pos += HEADER_SIZE + n
        return 0

    cdef int _send_frame(self, unsigned int ftype, unsigned int flags, uint32_t stream_id,
                         object payload) except -1:
        cdef Py_buffer view
        PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
        try:
            if view.len > self.send_max_frame:
                raise ValueError(f"a frame of {view.len} bytes exceeds the largest the peer takes ({self.send_max_frame})")
            if view.len == 0:
                self._send_raw(ftype, flags, stream_id, <const unsigned char*>"", 0, 0)
            else:
                self._send_raw(ftype, flags, stream_id, <const unsigned char*>view.buf, view.len, 0)
        finally:
            PyBuffer_Release(&view)
        return 0

    cdef int _seal(self) except -1:
        out = self._out
        if out is not None:
            self._out_mv = None
            if self._out_pos > self._out_sent:
                self._sealed.append((out, self._out_sent, self._out_pos))
            else:
                self._pool.release(out)
            self._out = None
            self._out_pos = 0
            self._out_sent = 0
        return 0

    def data_to_send(self):
        cdef list views = []
        cdef list sealed = self._sealed
        cdef Py_ssize_t start, end
        if sealed:
            pool = self._pool
            for buf, start, end in sealed:
                views.append(memoryview(buf)[start:end])
                pool.release(buf)
            sealed.clear()
        if self._out is not None and self._out_pos > self._out_sent:
            views.append(self._out_mv[self._out_sent:self._out_pos])
            self._out_sent = self._out_pos
        return views

    cpdef long long send_window(self, stream_id):
        cdef PyObject* found = PyDict_GetItem(self._streams, stream_id)
        cdef Stream st
        if found is NULL:
            return 0
        st = <Stream>found
        if st.local_fin:
            return 0
        return st.send_window if st.send_window < self._send_credit else self._send_credit

    cpdef bint session_blocked(self):
        return self._send_credit <= 0

    cpdef object reserve(self, stream_id):
        cdef Stream st = _sending(self, stream_id)
        cdef Py_ssize_t n, start
        if st is None:
            return None
        n = _frame_size(self, st)
        if n <= 0:
            return None
        start = self._out_pos + HEADER_SIZE
        return self._out_mv[start:start + n]

    cpdef commit(self, stream_id, Py_ssize_t nbytes):
        cdef Stream st = <Stream?>self._streams[stream_id]
        if self._out is None or not 0 <= nbytes <= PyByteArray_GET_SIZE(self._out) - self._out_pos - HEADER_SIZE:
            raise ValueError(f"commit of {nbytes} bytes: more than the last reserve() gave")
        _commit(self, st, nbytes)

    cpdef Py_ssize_t send_data(self, stream_id, data) except -1:
        cdef Py_buffer view
        cdef Py_ssize_t sent = 0, n
        cdef Stream st
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            while sent < view.len:
                st = _sending(self, stream_id)
                if st is None:
                    break
                n = _frame_size(self, st)
                if n <= 0:
                    break
                if n > view.len - sent:
                    n = view.len - sent
                memcpy(<unsigned char*>PyByteArray_AS_STRING(self._out) + self._out_pos + HEADER_SIZE,
                       <const unsigned char*>view.buf + sent, n)
                _commit(self, st, n)
                sent += n
        finally:
            PyBuffer_Release(&view)
        return sent

    def accept_stream(self, stream_id):
        if stream_id in self._streams:
            self._send_raw(FRAME_WINDOW_UPDATE, FLAG_ACK, stream_id, NULL, 4, 0)

    def send_fin(self, stream_id):
        cdef Stream st = _sending(self, stream_id)
        if st is None:
            return
        st.local_fin = True
        self._send_raw(FRAME_DATA, FLAG_FIN, stream_id, <const unsigned char*>"", 0, 0)
        if st.remote_fin:
            self._forget(stream_id)

    def send_reset(self, stream_id, uint32_t code):
        if stream_id in self._streams:
            self._forget(stream_id)
            self._send_raw(FRAME_RESET, 0, stream_id, NULL, 4, code)

    cpdef consumed(self, stream_id, Py_ssize_t nbytes):
        cdef PyObject* found = PyDict_GetItem(self._streams, stream_id)
        cdef Stream st
        cdef long long unconsumed, credit, fair, shrink, grow
        if found is NULL:
            return
        st = <Stream>found
        if nbytes > st.unconsumed:
            nbytes = st.unconsumed
        unconsumed = st.unconsumed - nbytes
        st.unconsumed = unconsumed
        if st.unreleased > unconsumed:
            self._credit_session(st.unreleased - unconsumed)
            st.unreleased = unconsumed
        if st.remote_fin:
            return
        credit = st.credit + nbytes
        if self._windows > self.receive_budget and st.window > MIN_WINDOW:
            fair = self.receive_budget // len(self._streams)
            if fair < MIN_WINDOW:
                fair = MIN_WINDOW
            shrink = st.window - fair
            if shrink > credit:
                shrink = credit
            if shrink > self._windows - self.receive_budget:
                shrink = self._windows - self.receive_budget
            if shrink > 0:
                st.window -= shrink
                self._windows -= shrink
                credit -= shrink
        if credit >= (st.window >> 1) or (st.peer_blocked and unconsumed <= 0 < credit):
            if st.peer_blocked and unconsumed <= 0:
                st.peer_blocked = False
                grow = st.window
                if grow > self.max_window - st.window:
                    grow = self.max_window - st.window
                if grow > self.receive_budget - self._windows:
                    grow = self.receive_budget - self._windows
                if grow > 0:
                    st.window += grow
                    self._windows += grow
                    credit += grow
            st.recv_window += credit
            st.credit = 0
            self._send_raw(FRAME_WINDOW_UPDATE, 0, stream_id, NULL, 4, <uint32_t>credit)
        else:
            st.credit = credit

    cpdef released(self, stream_id, Py_ssize_t nbytes):
        cdef PyObject* found = PyDict_GetItem(self._streams, stream_id)
        cdef Stream st
        if found is NULL:
            return
        st = <Stream>found
        if nbytes > st.unreleased:
            nbytes = st.unreleased
        if nbytes > 0:
            st.unreleased -= nbytes
            self._credit_session(nbytes)

    def open_stream(self, uint32_t tunnel_id, info=b""):
        cdef Py_buffer view
        cdef unsigned char* dst
        if 4 + len(info) > self.send_max_frame:
            raise ValueError(f"OPEN info of {len(info)} bytes exceeds the largest frame the peer takes")
        if len(self._streams) >= self.max_streams:
            return 0
        stream_id = self._next_id
        self._next_id += 2
        self._streams[stream_id] = Stream(stream_id, self.window)
        self._windows += self.window
        self.streams_opened += 1
        PyObject_GetBuffer(info, &view, PyBUF_SIMPLE)
        try:
            dst = _room(self, HEADER_SIZE + 4 + view.len)
            put_header(dst, FRAME_OPEN, 0, <uint32_t>stream_id, <uint32_t>(4 + view.len))
            put32(dst + HEADER_SIZE, tunnel_id)
            if view.len:
                memcpy(dst + HEADER_SIZE + 4, view.buf, view.len)
            self._out_pos += HEADER_SIZE + 4 + view.len
        finally:
            PyBuffer_Release(&view)
        return stream_id

    def send_control(self, payload):
        self._send_frame(FRAME_CONTROL, 0, 0, payload)

    def send_go_away(self, uint32_t code, str message=""):
        if not self.go_away_sent:
            self.go_away_sent = True
            self._send_frame(FRAME_GO_AWAY, 0, 0, _u32_bytes(code) + message.encode()[:1024])

    # ------------------------------------------------------------------
    # Time
    # ------------------------------------------------------------------
    def set_keepalive(self, double interval, double timeout, double now):
        self.ping_interval = interval
        self.ping_timeout = timeout
        self._next_ping = now + interval

    def get_timer(self):
        cdef double deadline = self._last_alive + self.ping_timeout
        return self._next_ping if self._next_ping < deadline else deadline

    def handle_timer(self, double now):
        cdef long long frames = self._decoder.frames_received
        cdef unsigned char seq[8]
        cdef uint64_t v
        if frames != self._last_frames:
            self._last_frames = frames
            self._last_alive = now
        elif now - self._last_alive >= self.ping_timeout and not self.timed_out:
            self.timed_out = True
            self._events.append((EV_TIMEOUT, 0, now - self._last_alive, None))
        if now >= self._next_ping:
            self._ping_seq += 1
            v = <uint64_t>self._ping_seq
            put32(seq, <uint32_t>(v >> 32))
            put32(seq + 4, <uint32_t>v)
            self._send_raw(FRAME_PING, 0, 0, seq, 8, 0)
            self._next_ping = now + self.ping_interval

    # ------------------------------------------------------------------
    # Introspection
    # ------------------------------------------------------------------
    @property
    def stream_count(self):
        return len(self._streams)

    def stream_ids(self):
        return list(self._streams)
