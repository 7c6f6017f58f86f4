# mux_c is mux_py.py compiled: the same API.
from .mux_py import Session as Session
from .mux_py import Stream as Stream
