# _console_c is _console compiled (see _console_c.pxd): the same names.
from ._console import *  # noqa: F403
