"""The console's line functions in use: ``_console_c`` (``_console``
compiled, see ``_console_c.pxd``) unless ``FASTTUN_NO_EXTENSIONS`` is set or
it was not built; then ``_console``.  The client's ``RequestLog`` and the
server's visitors (for clients that ask for lines) take them from here."""

from typing import Any

from .._core._select import compiled
from . import _console as console_py

__all__ = ["MAX_PATH", "request_line", "request_lines", "console_py", "console_c"]

console_c: Any = compiled("fasttun.http._console_c")

_best = console_c or console_py
MAX_PATH = console_py.MAX_PATH
request_line = _best.request_line
request_lines = _best.request_lines
