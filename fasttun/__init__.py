"""fasttun: a fast reverse TCP tunnel with a Cython core."""

from ._core import IMPLEMENTATION
from ._version import __version__
from .api import Client, ExposedTunnel, Server, Tunnel, expose
from .config import ClientConfig, Route, ServerConfig
from .exceptions import (
    AuthenticationError,
    ConfigError,
    ConnectError,
    FasttunError,
    ProtocolError,
    TunnelError,
    VersionError,
)
from .hooks import Hooks, Refused

__all__ = [
    "IMPLEMENTATION",
    "__version__",
    "Client",
    "Server",
    "Tunnel",
    "expose",
    "ExposedTunnel",
    "ClientConfig",
    "ServerConfig",
    "Route",
    "FasttunError",
    "ProtocolError",
    "VersionError",
    "AuthenticationError",
    "TunnelError",
    "ConfigError",
    "ConnectError",
    "Hooks",
    "Refused",
]
