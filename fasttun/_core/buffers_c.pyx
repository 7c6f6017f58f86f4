# cython: language_level=3
"""Compiled buffer pool (the twin of ``buffers_py``; read that module first).

The export check reads the bytearray's ``ob_exports`` counter, which CPython
raises for every live memoryview of it; ``buffers_py`` learns the same fact
with a resize probe.
"""

cimport cython

__all__ = ["BufferPool", "is_exported"]


cdef extern from "Python.h":
    ctypedef struct PyByteArrayObject:
        Py_ssize_t ob_exports


cdef bint buffer_exported(bytearray buf):
    return (<PyByteArrayObject*>buf).ob_exports > 0


def is_exported(bytearray buf not None):
    """Return True when a memoryview (or another export) of *buf* is alive."""
    return buffer_exported(buf)


@cython.final
cdef class BufferPool:
    """Fixed-size ``bytearray`` pool that never reuses an exported buffer."""

    def __cinit__(self, Py_ssize_t size, Py_ssize_t max_free=32):
        if size <= 0:
            raise ValueError("buffer size must be positive")
        self.size = size
        self.max_free = max_free
        self._free = []
        self.allocated = 0
        self.reused = 0
        self.released = 0
        self.dropped = 0

    cpdef bytearray acquire(self):
        cdef Py_ssize_t i
        cdef bytearray buf
        for i in range(len(self._free) - 1, -1, -1):
            buf = <bytearray>self._free[i]
            if not buffer_exported(buf):
                del self._free[i]
                self.reused += 1
                return buf
        self.allocated += 1
        return bytearray(self.size)

    cpdef release(self, bytearray buf):
        self.released += 1
        if len(self._free) < self.max_free:
            self._free.append(buf)
        else:
            self.dropped += 1

    @property
    def free_count(self):
        return len(self._free)
