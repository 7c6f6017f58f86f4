"""Exceptions raised by fasttun.

The hierarchy::

    FasttunError
    ├── ProtocolError          the peer broke docs/spec.md (a malformed frame,
    │   │                      an unknown type, a window overflow, ...)
    │   └── VersionError       the peer speaks another protocol version
    ├── AuthenticationError    the server refused the token
    ├── TunnelError            the server refused a tunnel (port taken, out of range)
    ├── ConfigError            a bad option value given by the user
    └── ConnectError           the server could not be reached

A ``ProtocolError`` closes only the session on which it was raised; the
adapter logs its message and sends a GO_AWAY carrying ``code``.
"""

from __future__ import annotations

__all__ = [
    "FasttunError",
    "ProtocolError",
    "VersionError",
    "AuthenticationError",
    "TunnelError",
    "ConfigError",
    "ConnectError",
]


class FasttunError(Exception):
    """Base class of every fasttun error."""


class ProtocolError(FasttunError):
    """The peer sent something docs/spec.md does not allow."""

    code = 1  # consts.GO_AWAY_PROTOCOL_ERROR


class VersionError(ProtocolError):
    """The peer speaks a protocol version this fasttun does not."""

    code = 4  # consts.GO_AWAY_UNSUPPORTED_VERSION


class AuthenticationError(FasttunError):
    """The server refused this client's token."""


class TunnelError(FasttunError):
    """The server refused to open a tunnel."""


class ConfigError(FasttunError):
    """An option has a value fasttun cannot use."""


class ConnectError(FasttunError):
    """The tunnel server could not be reached."""
