# _heads_c is _heads compiled (see _heads_c.pxd): the same names.
from ._heads import *  # noqa: F403
from ._heads import _request_from_fast as _request_from_fast
from ._heads import _response_from_fast as _response_from_fast
