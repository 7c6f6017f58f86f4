# cython: language_level=3
"""Compiled fast path of HTTP head parsing (read ``httphead_py`` first).

One pass over the head's bytes through a raw pointer; every read is after an
``i < n`` check.  Anything but the plain shape answers None, and the caller
parses the head with h11.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free, malloc
from libc.string cimport memchr, memcmp, memcpy

__all__ = ["scan_request", "scan_response", "scan_response_in", "head_end", "FAST_PATH"]

FAST_PATH = True

DEF BODY_NONE = 0
DEF BODY_LENGTH = 1
DEF BODY_CHUNKED = 2
DEF MAX_DIGITS = 18

cdef unsigned char _TCHAR[256]
cdef unsigned char _VCHAR[256]


cdef void _init_tables():
    cdef int c
    for c in range(256):
        _TCHAR[c] = 0
        _VCHAR[c] = 1 if (0x21 <= c <= 0x7e or c >= 0x80) else 0
    for c in b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
        _TCHAR[c] = 1


_init_tables()


cdef inline unsigned char _lower(unsigned char c) noexcept:
    return c + 32 if 65 <= c <= 90 else c


cdef inline bint _is(const unsigned char* p, Py_ssize_t n, const char* lname, Py_ssize_t ln) noexcept:
    """p[:n], in lower case, equals lname[:ln] (lname is lower case)."""
    cdef Py_ssize_t k
    if n != ln:
        return False
    for k in range(n):
        if _lower(p[k]) != <unsigned char>lname[k]:
            return False
    return True


cdef inline bint _in_drop(const unsigned char* p, Py_ssize_t n, tuple drop):
    cdef bytes name
    for name in drop:
        if _is(p, n, PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name)):
            return True
    return False


cdef inline int _connection_tokens(const unsigned char* p, Py_ssize_t n) noexcept:
    """Bits of the tokens of a Connection value: 1 close, 2 keep-alive, 4 upgrade."""
    cdef Py_ssize_t i = 0, s, e
    cdef int bits = 0
    while i <= n:
        s = i
        while i < n and p[i] != 44:  # ,
            i += 1
        e = i
        while s < e and (p[s] == 32 or p[s] == 9):
            s += 1
        while e > s and (p[e - 1] == 32 or p[e - 1] == 9):
            e -= 1
        if _is(p + s, e - s, b"close", 5):
            bits |= 1
        elif _is(p + s, e - s, b"keep-alive", 10):
            bits |= 2
        elif _is(p + s, e - s, b"upgrade", 7):
            bits |= 4
        i += 1
    return bits


cdef inline long long _digits(const unsigned char* p, Py_ssize_t n) noexcept:
    """The value of n decimal digits, or -1 (none, too many, or not digits)."""
    cdef long long v = 0
    cdef Py_ssize_t k
    if n == 0 or n > MAX_DIGITS:
        return -1
    for k in range(n):
        if not 48 <= p[k] <= 57:
            return -1
        v = v * 10 + (p[k] - 48)
    return v


cdef struct _Framing:
    int cl_count        # Content-Length fields seen
    long long length    # their value
    int te_count        # Transfer-Encoding fields seen
    bint chunked        # ... saying chunked
    int conn            # Connection tokens (_connection_tokens bits)


cdef inline int _framing_field(const unsigned char* name, Py_ssize_t nlen, const unsigned char* v,
                               Py_ssize_t vlen, _Framing* f) noexcept:
    """Note a field that frames the message (requests and responses alike).
    Returns 1 Content-Length, 2 Transfer-Encoding, 3 Connection, 0 another
    field, -1 a value that is not plain (the head goes to h11)."""
    if _is(name, nlen, b"content-length", 14):
        f.cl_count += 1
        f.length = _digits(v, vlen)
        return 1 if f.length >= 0 else -1
    if _is(name, nlen, b"transfer-encoding", 17):
        f.te_count += 1
        if not _is(v, vlen, b"chunked", 7):
            return -1
        f.chunked = True
        return 2
    if _is(name, nlen, b"connection", 10):
        f.conn |= _connection_tokens(v, vlen)
        return 3
    return 0


cdef inline Py_ssize_t _field_line(const unsigned char* p, Py_ssize_t i, Py_ssize_t n,
                                   Py_ssize_t* name_end, Py_ssize_t* vs, Py_ssize_t* ve) noexcept:
    """Read the field line at p[i]; return the index after its CRLF, or -1 if
    it is not plain.  Sets the end of the name and the value's bounds."""
    cdef Py_ssize_t start = i
    cdef unsigned char c
    while i < n and _TCHAR[p[i]]:
        i += 1
    if i == start or i >= n or p[i] != 58:  # :
        return -1
    name_end[0] = i
    i += 1
    while i < n and (p[i] == 32 or p[i] == 9):
        i += 1
    vs[0] = i
    ve[0] = i
    while i < n and p[i] != 13:
        c = p[i]
        if _VCHAR[c]:
            ve[0] = i + 1
        elif c != 32 and c != 9:
            return -1
        i += 1
    if i + 1 >= n or p[i + 1] != 10:
        return -1
    return i + 2


cpdef tuple scan_request(bytes head, tuple drop=(), bytes host_header=None):
    if head is None:
        raise TypeError("head must be bytes, not None")
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(head)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(head)
    cdef Py_ssize_t i = 0, mlen, tstart, tlen, line, name_end = 0, vs = 0, ve = 0, nlen, o = 0, hh = 0
    cdef bint v11, write
    cdef int host_count = 0, kind
    cdef bint has_upgrade = False
    cdef _Framing f
    cdef object authority = None, authorization = None
    cdef list xff = None, fwd = None
    cdef unsigned char* out
    cdef object kept
    # Request line: METHOD SP /target SP HTTP/1.x CRLF
    while i < n and _TCHAR[p[i]]:
        i += 1
    mlen = i
    if mlen == 0 or i >= n or p[i] != 32:
        return None
    if mlen == 7 and memcmp(p, b"CONNECT", 7) == 0:
        return None
    i += 1
    tstart = i
    if i >= n or p[i] != 47:  # / (origin form only)
        return None
    while i < n and 0x21 <= p[i] <= 0x7e:
        i += 1
    tlen = i - tstart
    if i >= n or p[i] != 32 or n - i < 11:
        return None
    i += 1
    if memcmp(p + i, b"HTTP/1.", 7) != 0 or p[i + 8] != 13 or p[i + 9] != 10:
        return None
    if p[i + 7] == 49:
        v11 = True
    elif p[i + 7] == 48:
        v11 = False
    else:
        return None
    i += 10
    line = i
    f.cl_count = f.te_count = f.conn = 0
    f.length = 0
    f.chunked = False
    if host_header is not None:
        hh = PyBytes_GET_SIZE(host_header)
    out = <unsigned char*>malloc(n + hh + 4)
    if out == NULL:
        raise MemoryError()
    try:
        memcpy(out, p, line)
        o = line
        while True:
            if i >= n:
                return None
            if p[i] == 13:  # the empty line: it must end the head
                if i + 2 != n or p[i + 1] != 10:
                    return None
                break
            line = _field_line(p, i, n, &name_end, &vs, &ve)
            if line < 0:
                return None
            nlen = name_end - i
            write = True
            kind = _framing_field(p + i, nlen, p + vs, ve - vs, &f)
            if kind < 0:
                return None
            if kind > 0:  # Content-Length, Transfer-Encoding, Connection: noted in f
                pass
            elif _is(p + i, nlen, b"host", 4):
                host_count += 1
                authority = PyBytes_FromStringAndSize(<const char*>p + vs, ve - vs)
            elif _is(p + i, nlen, b"upgrade", 7):
                has_upgrade = True
            elif _is(p + i, nlen, b"authorization", 13):
                authorization = PyBytes_FromStringAndSize(<const char*>p + vs, ve - vs)
            elif _is(p + i, nlen, b"x-forwarded-for", 15):
                if xff is None:
                    xff = []
                xff.append(PyBytes_FromStringAndSize(<const char*>p + vs, ve - vs))
                write = False
            elif _is(p + i, nlen, b"forwarded", 9):
                if fwd is None:
                    fwd = []
                fwd.append(PyBytes_FromStringAndSize(<const char*>p + vs, ve - vs))
                write = False
            if write and drop and _in_drop(p + i, nlen, drop):
                write = False
            if write:
                memcpy(out + o, p + i, nlen)
                o += nlen
                out[o] = 58
                out[o + 1] = 32
                o += 2
                if host_header is not None and _is(p + i, nlen, b"host", 4):
                    memcpy(out + o, PyBytes_AS_STRING(host_header), hh)
                    o += hh
                elif kind == 2:  # as h11 gives it (coding names are case-insensitive)
                    memcpy(out + o, b"chunked", 7)
                    o += 7
                else:
                    memcpy(out + o, p + vs, ve - vs)
                    o += ve - vs
                out[o] = 13
                out[o + 1] = 10
                o += 2
            i = line
        if host_count != 1 or f.cl_count > 1 or f.te_count > 1 or (f.chunked and (f.cl_count or not v11)):
            return None  # h11 decides (and our checks after it)
        kept = PyBytes_FromStringAndSize(<const char*>out, o)
    finally:
        free(out)
    return (
        PyBytes_FromStringAndSize(<const char*>p, mlen),
        PyBytes_FromStringAndSize(<const char*>p + tstart, tlen),
        b"1.1" if v11 else b"1.0",
        authority,
        (not f.conn & 1) if v11 else bool(f.conn & 2),
        has_upgrade and bool(f.conn & 4),
        BODY_CHUNKED if f.chunked else (BODY_LENGTH if f.length > 0 else BODY_NONE),
        0 if f.chunked else f.length,
        authorization,
        kept,
        b", ".join(xff) if xff is not None else None,
        b", ".join(fwd) if fwd is not None else None,
    )


cpdef tuple scan_response(bytes head):
    if head is None:
        raise TypeError("head must be bytes, not None")
    return _scan_response(<const unsigned char*>PyBytes_AS_STRING(head), PyBytes_GET_SIZE(head))


cpdef tuple scan_response_in(object buf, Py_ssize_t end):
    """``scan_response(bytes(buf[:end]))``, read in place (no copy)."""
    cdef Py_buffer view
    PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
    try:
        if not 0 <= end <= view.len:
            raise ValueError(f"end {end} is outside the buffer")
        return _scan_response(<const unsigned char*>view.buf, end)
    finally:
        PyBuffer_Release(&view)


cdef tuple _scan_response(const unsigned char* p, Py_ssize_t n):
    cdef Py_ssize_t i, line, name_end = 0, vs = 0, ve = 0
    cdef bint v11
    cdef int status
    cdef _Framing f
    cdef unsigned char c
    # Status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF
    if n < 14 or memcmp(p, b"HTTP/1.", 7) != 0 or p[8] != 32:
        return None
    if p[7] == 49:
        v11 = True
    elif p[7] == 48:
        v11 = False
    else:
        return None
    if not (48 <= p[9] <= 57 and 48 <= p[10] <= 57 and 48 <= p[11] <= 57):
        return None
    status = (p[9] - 48) * 100 + (p[10] - 48) * 10 + (p[11] - 48)
    if status < 100:
        return None
    i = 12
    if p[i] == 32:
        i += 1
        while i < n and p[i] != 13:
            c = p[i]
            if not (_VCHAR[c] or c == 32 or c == 9):
                return None
            i += 1
    if i + 1 >= n or p[i] != 13 or p[i + 1] != 10:
        return None
    i += 2
    f.cl_count = f.te_count = f.conn = 0
    f.length = -1
    f.chunked = False
    while True:
        if i >= n:
            return None
        if p[i] == 13:
            if i + 2 != n or p[i + 1] != 10:
                return None
            break
        line = _field_line(p, i, n, &name_end, &vs, &ve)
        if line < 0 or _framing_field(p + i, name_end - i, p + vs, ve - vs, &f) < 0:
            return None
        i = line
    if f.cl_count > 1 or f.te_count > 1:
        return None
    return (status, b"1.1" if v11 else b"1.0", (not f.conn & 1) if v11 else bool(f.conn & 2), f.length, f.chunked)


cpdef Py_ssize_t head_end(object buf, Py_ssize_t pos=0) except -2:
    """Index just after the first empty line (LF CRLF or LF LF) at or after
    *pos* in *buf* (bytes, bytearray or memoryview), or -1 (httphead_py)."""
    cdef Py_buffer view
    cdef const unsigned char* p
    cdef const unsigned char* hit
    cdef Py_ssize_t n, i
    if pos < 0:
        pos = 0
    PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
    try:
        p = <const unsigned char*>view.buf
        n = view.len
        i = pos
        while i < n:
            hit = <const unsigned char*>memchr(p + i, 10, n - i)
            if hit is NULL:
                return -1
            i = hit - p
            if i + 1 < n and p[i + 1] == 10:
                return i + 2
            if i + 2 < n and p[i + 1] == 13 and p[i + 2] == 10:
                return i + 3
            i += 1
        return -1
    finally:
        PyBuffer_Release(&view)

