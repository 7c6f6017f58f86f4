"""Buffer pool: the compiled one when available (see buffers_py for the rules)."""

from ._select import NO_EXTENSIONS
from .buffers_py import BufferPool as BufferPoolPy

__all__ = ["BufferPool", "BufferPoolPy", "BufferPoolC"]

BufferPoolC = None
if not NO_EXTENSIONS:  # pragma: no branch
    try:
        from .buffers_c import BufferPool as BufferPoolC  # type: ignore[no-redef]
    except ImportError:  # pragma: no cover - not built
        pass

BufferPool = BufferPoolC or BufferPoolPy
