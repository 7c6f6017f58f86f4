# tap_c is tap compiled (see tap_c.pxd): the same names.
from .tap import *  # noqa: F403
