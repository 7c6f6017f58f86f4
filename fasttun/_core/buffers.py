"""Buffer pool: the compiled one when available (see buffers_py for the rules)."""

from typing import Any

from ._select import compiled
from .buffers_py import BufferPool as BufferPoolPy

__all__ = ["BufferPool", "BufferPoolPy", "BufferPoolC"]

_c: Any = compiled("fasttun._core.buffers_c")
BufferPoolC = _c.BufferPool if _c is not None else None

BufferPool = BufferPoolC or BufferPoolPy
