# console_c is console compiled (see console_c.pxd): the same names.
from .console import *  # noqa: F403
