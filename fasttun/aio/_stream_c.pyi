# _stream_c is _stream compiled (see _stream_c.pxd): the same names.
from ._stream import LEND_MIN as LEND_MIN
from ._stream import SCRATCH_SIZE as SCRATCH_SIZE
from ._stream import WRITE_HIGH_WATER as WRITE_HIGH_WATER
from ._stream import StreamCore as StreamCore
from ._stream import abort_with_rst as abort_with_rst
from ._stream import dispatch as dispatch
from ._stream import write_payloads as write_payloads
