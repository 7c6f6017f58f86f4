"""Sans-I/O core of fasttun: frame codec, buffer pool, multiplexer.

Nothing here imports asyncio or socket, or reads a clock.  Each module has a
compiled implementation and a pure-Python twin; ``IMPLEMENTATION`` tells which
one is in use ("c" or "py").  ``FASTTUN_NO_EXTENSIONS=1`` selects the twins.
"""

from . import consts
from .buffers import BufferPool
from .frames import FrameDecoder
from .mux import IMPLEMENTATION, Session, Stream

__all__ = ["IMPLEMENTATION", "BufferPool", "FrameDecoder", "Session", "Stream", "consts"]
