# mux_c is the compiled twin of mux_py.py: the same API.
from .mux_py import Session as Session
from .mux_py import Stream as Stream
