cdef class BufferPool:
    cdef readonly Py_ssize_t size       # bytes in every buffer
    cdef readonly Py_ssize_t max_free   # idle buffers kept at most
    cdef list _free                     # idle buffers, maybe still exported
    cdef public Py_ssize_t allocated    # buffers created
    cdef public Py_ssize_t reused       # acquire() answered from the pool
    cdef public Py_ssize_t released     # release() calls
    cdef public Py_ssize_t dropped      # released buffers not kept (pool full)

    cpdef bytearray acquire(self)
    cpdef release(self, bytearray buf)

cdef bint buffer_exported(bytearray buf)
