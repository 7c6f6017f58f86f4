"""The head reader in use: ``_heads_c`` (``_heads`` compiled, see
``_heads_c.pxd``) unless ``FASTTUN_NO_EXTENSIONS`` is set or it was not
built; then ``_heads``.  The visitor and the inspector's tap take their head
functions from here; ``HeadError`` is one class for both (``_errors``)."""

from typing import Any

from .._core._select import compiled
from . import _heads as heads_py
from ._errors import HeadError

__all__ = ["HeadError", "RequestHead", "DEFAULT_DROP", "find_head_end", "head_end_from", "forward", "forward_drop",
           "read_request", "read_response", "response_framing", "heads_py", "heads_c"]

heads_c: Any = compiled("fasttun.http._heads_c")

_best = heads_c or heads_py
DEFAULT_DROP = heads_py.DEFAULT_DROP
RequestHead = _best.RequestHead
find_head_end = _best.find_head_end
forward_drop = _best.forward_drop
head_end_from = _best.head_end_from
forward = _best.forward
read_request = _best.read_request
read_response = _best.read_response
response_framing = _best.response_framing
