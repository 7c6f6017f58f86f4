"""Pure-Python buffer pool (the twin of ``buffers_c``).

Rules and theory of operation
-----------------------------
The pool hands out fixed-size ``bytearray`` objects.  The data path lends
slices of them to the event loop as memoryviews: stdlib asyncio copies what
it cannot send at once, but uvloop keeps a reference to the memoryview until
the kernel took the bytes.  A buffer is therefore reused only when nothing
exports it any more.  ``release()`` puts a buffer in the pool unconditionally;
``acquire()`` checks exports before handing one out again and leaves a still
exported buffer waiting (it is retried on later calls).

The check here is the resize probe: CPython refuses to resize a bytearray
with live exports (``BufferError``).  ``buffers_c`` reads ``ob_exports``
directly; both give the same answers.
"""

from __future__ import annotations

__all__ = ["BufferPool", "is_exported"]


def is_exported(buf: bytearray) -> bool:
    """Return True when a memoryview (or another export) of *buf* is alive."""
    try:
        buf.append(0)
    except BufferError:
        return True
    del buf[-1]
    return False


class BufferPool:
    """Fixed-size ``bytearray`` pool that never reuses an exported buffer.

    Args:
        size: size of every buffer, in bytes.
        max_free: at most this many idle buffers are kept.
    """

    def __init__(self, size: int, max_free: int = 32) -> None:
        if size <= 0:
            raise ValueError("buffer size must be positive")
        self.size = size
        self.max_free = max_free
        self._free: list[bytearray] = []
        self.allocated = 0  # buffers created
        self.reused = 0  # acquire() answered from the pool
        self.released = 0  # release() calls
        self.dropped = 0  # released buffers not kept (pool full)

    def acquire(self) -> bytearray:
        """Return a buffer of ``size`` bytes that nothing else exports.

        The caller owns it until it passes it to ``release()``.
        """
        free = self._free
        for i in range(len(free) - 1, -1, -1):
            buf = free[i]
            if not is_exported(buf):
                del free[i]
                self.reused += 1
                return buf
        self.allocated += 1
        buf = bytearray(self.size)
        # Grow the allocation once so that the resize probe never reallocates.
        buf.append(0)
        del buf[-1]
        return buf

    def release(self, buf: bytearray) -> None:
        """Give *buf* back; it may still be exported (it is checked on reuse)."""
        self.released += 1
        if len(self._free) < self.max_free:
            self._free.append(buf)
        else:
            self.dropped += 1

    @property
    def free_count(self) -> int:
        """Number of idle buffers held."""
        return len(self._free)
