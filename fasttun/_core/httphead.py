"""HTTP head fast path: the compiled one when available (see httphead_py for the rules)."""

from typing import Any

from ._select import compiled
from .httphead_py import head_end as head_end_py
from .httphead_py import scan_request as scan_request_py
from .httphead_py import scan_response as scan_response_py
from .httphead_py import scan_response_in as scan_response_in_py

__all__ = ["scan_request", "scan_response", "scan_response_in", "scan_request_c", "scan_response_c",
           "scan_response_in_c", "head_end", "head_end_py", "head_end_c", "FAST_PATH"]

_c: Any = compiled("fasttun._core.httphead_c")
head_end_c = _c.head_end if _c is not None else None
scan_request_c = _c.scan_request if _c is not None else None
scan_response_c = _c.scan_response if _c is not None else None
scan_response_in_c = _c.scan_response_in if _c is not None else None

scan_request = scan_request_c or scan_request_py
scan_response = scan_response_c or scan_response_py
scan_response_in = scan_response_in_c or scan_response_in_py
head_end = head_end_c or head_end_py
FAST_PATH = scan_request_c is not None
