# Augmenting declarations: mux_py.py compiled as mux_c (see STYLE, aiohttp's
# reader_c.pxd).  Attributes are typed so that Cython turns the attribute
# arithmetic of the hot paths into C; every one stays visible from Python
# (``public``) because the twin exposes the same names.

cimport cython


@cython.final
cdef class Stream:
    cdef public object stream_id       # u32 id
    cdef public long long send_window  # bytes we may still send
    cdef public long long recv_window  # bytes the peer may still send
    cdef public long long window       # our receive window (grows, shrinks)
    cdef public long long credit       # consumed, not yet returned
    cdef public long long unconsumed   # received, not yet consumed
    cdef public long long unreleased   # received, not yet released
    cdef public bint peer_blocked      # the peer sent BLOCKED
    cdef public bint local_fin         # we sent FIN
    cdef public bint remote_fin        # the peer sent FIN


@cython.final
cdef class Session:
    cdef public bint client
    cdef public long long window          # initial stream window
    cdef public long long max_window      # largest stream receive window
    cdef public long long receive_budget  # cap on the sum of stream windows
    cdef public long long session_window  # stream-0 window
    cdef public long long _send_credit    # session credit we may send
    cdef public long long _recv_credit    # session credit the peer has
    cdef public long long _session_credit # session credit to return
    cdef public long long _windows        # sum of stream receive windows
    cdef public long long max_frame
    cdef public long long send_max_frame
    cdef public long long max_streams
    cdef public double ping_interval
    cdef public double ping_timeout
    cdef public dict _streams             # stream id -> Stream
    cdef public long long _next_id        # next id we open
    cdef public long long _peer_max_id    # highest id the peer opened
    cdef public list _events
    cdef public object _decoder
    cdef public object _pool
    cdef public object _out               # bytearray being filled, or None
    cdef public Py_ssize_t _out_pos       # end of the bytes written into _out
    cdef public Py_ssize_t _out_sent      # end of the bytes of _out handed out
    cdef public list _sealed              # (buffer, start, end) not handed out yet
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

    @cython.locals(st=Stream, n=Py_ssize_t)
    cpdef _handle_data(self, int flags, unsigned int stream_id, object payload)

    @cython.locals(st=Stream, n=Py_ssize_t, window=cython.longlong, credit=cython.longlong,
                   old=cython.longlong, delta=cython.longlong)
    cpdef _handle_window_update(self, int flags, unsigned int stream_id, object payload)

    @cython.locals(st=Stream, n=Py_ssize_t, room=Py_ssize_t, pos=Py_ssize_t, out=bytearray)
    cpdef object reserve(self, unsigned int stream_id)

    @cython.locals(st=Stream, pos=Py_ssize_t, window=cython.longlong)
    cpdef commit(self, unsigned int stream_id, Py_ssize_t nbytes)

    @cython.locals(st=Stream, unconsumed=cython.longlong, credit=cython.longlong, fair=cython.longlong,
                   shrink=cython.longlong, grow=cython.longlong)
    cpdef consumed(self, unsigned int stream_id, Py_ssize_t nbytes)

    @cython.locals(st=Stream)
    cpdef released(self, unsigned int stream_id, Py_ssize_t nbytes)

    @cython.locals(credit=cython.longlong)
    cpdef _credit_session(self, long long nbytes)

    @cython.locals(st=Stream, window=cython.longlong)
    cpdef long long send_window(self, unsigned int stream_id)

    cpdef _handle_frame(self, int ftype, int flags, unsigned int stream_id, object payload)

    @cython.locals(n=Py_ssize_t, pos=Py_ssize_t, out=bytearray)
    cpdef _send_frame(self, int ftype, int flags, unsigned int stream_id, object payload)
