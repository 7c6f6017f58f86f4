# The compiled multiplexer as the other compiled modules see it (cimport):
# the HTTP front's visitor (visitor_c) calls the session's per-request
# methods (send_data, reserve, commit, consumed, ...) as C calls.  mux_c.pyx
# holds the code; the fields and the C methods are declared here.

cimport cython
from libc.stdint cimport uint32_t

from fasttun._core.buffers_c cimport BufferPool
from fasttun._core.frames_c cimport FrameDecoder


@cython.final
cdef class Stream:
    cdef public object stream_id
    cdef public long long send_window   # bytes we may still send
    cdef public long long recv_window   # bytes the peer may still send
    cdef public long long window        # our receive window
    cdef public long long credit        # consumed bytes not yet returned
    cdef public long long unconsumed    # received, not yet consumed
    cdef public long long unreleased    # received, not yet released
    cdef public bint peer_blocked       # the peer sent BLOCKED
    cdef public bint local_fin          # we sent FIN
    cdef public bint remote_fin         # the peer sent FIN


@cython.final
cdef class Session:
    cdef public bint client
    cdef public long long session_window
    cdef public long long _send_credit
    cdef public long long _recv_credit
    cdef public long long _session_credit
    cdef public long long window
    cdef public long long max_window
    cdef public long long receive_budget
    cdef public long long _windows
    cdef public long long max_frame
    cdef public long long send_max_frame
    cdef public long long max_streams
    cdef public double ping_interval
    cdef public double ping_timeout
    cdef public dict _streams
    cdef public long long _next_id
    cdef public long long _peer_max_id
    cdef public list _events
    cdef FrameDecoder _decoder
    cdef BufferPool _pool
    cdef bytearray _out                 # the buffer frames are written into, or None
    cdef object _out_mv                 # memoryview of _out (one for its life)
    cdef public Py_ssize_t _out_pos
    cdef public Py_ssize_t _out_sent
    cdef public list _sealed
    cdef public long long _last_frames
    cdef public double _last_alive
    cdef public double _next_ping
    cdef public long long _ping_seq
    cdef public bint timed_out
    cdef public bint go_away_sent
    cdef public bint go_away_received
    cdef public long long bytes_sent
    cdef public long long bytes_received
    cdef public long long streams_opened

    # receiving
    cdef int _updated(self, Py_ssize_t nbytes) except -1
    cdef int _handle(self, Py_ssize_t stop) except -1
    cdef int _handle_data(self, unsigned int flags, uint32_t stream_id, object mv, const unsigned char* base,
                          Py_ssize_t p, uint32_t n) except -1
    cdef int _handle_window_update(self, unsigned int flags, uint32_t stream_id, const unsigned char* p,
                                   uint32_t n) except -1
    cdef int _handle_open(self, uint32_t stream_id, const unsigned char* p, uint32_t n) except -1
    cdef int _handle_reset(self, uint32_t stream_id, const unsigned char* p, uint32_t n) except -1
    cdef int _forget(self, uint32_t stream_id) except -1
    cdef int _credit_session(self, long long nbytes) except -1
    cdef int _handle_ping(self, unsigned int flags, uint32_t stream_id, const unsigned char* p,
                          uint32_t n) except -1
    cdef int _handle_go_away(self, uint32_t stream_id, const unsigned char* p, uint32_t n) except -1
    # sending
    cdef int _write(self, object data) except -1
    cdef int _send_raw(self, unsigned int ftype, unsigned int flags, uint32_t stream_id, const unsigned char* p,
                       Py_ssize_t n, uint32_t word) except -1
    cdef int _send_frame(self, unsigned int ftype, unsigned int flags, uint32_t stream_id,
                         object payload) except -1
    cdef int _seal(self) except -1
    # what a stream's protocol calls (cpdef: C calls from the compiled visitor)
    cpdef long long send_window(self, stream_id)
    cpdef bint session_blocked(self)
    cpdef object reserve(self, stream_id)
    cpdef commit(self, stream_id, Py_ssize_t nbytes)
    cpdef Py_ssize_t send_data(self, stream_id, data) except -1
    cpdef consumed(self, stream_id, Py_ssize_t nbytes)
    cpdef released(self, stream_id, Py_ssize_t nbytes)
