"""Configuration of the two roles, as validated frozen dataclasses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .exceptions import ConfigError

__all__ = ["ServerConfig", "ClientConfig", "Route", "ClientAccess", "load_server_file",
           "DEFAULT_CONTROL_PORT", "DEFAULT_PORTS",
           "parse_hostport", "parse_local", "parse_route", "parse_ports"]

DEFAULT_CONTROL_PORT = 7000
DEFAULT_PORTS = (10000, 19999)
DEFAULT_BUFFER_KIB = 256


@dataclass(frozen=True)
class ClientAccess:
    """One client a server config file lets in: its token and its port range."""

    name: str
    token: str
    ports: tuple[int, int]


@dataclass(frozen=True)
class ServerConfig:
    """Settings of ``fasttun serve``."""

    listen_host: str = "0.0.0.0"
    """Address where tunnel clients connect."""
    listen_port: int = DEFAULT_CONTROL_PORT
    """Port where tunnel clients connect (0: any free port)."""
    public_host: str = ""
    """Address public listeners bind to ("" is every interface)."""
    ports: tuple[int, int] = DEFAULT_PORTS
    """Inclusive range of public ports clients may open."""
    token: str | None = None
    """Shared secret clients must prove they know; None only with ``auth=False``."""
    auth: bool = True
    """False accepts every client (``--no-auth``)."""
    ping_interval: float = 5.0
    """Seconds between heartbeats, sent both ways."""
    ping_timeout: float = 15.0
    """Seconds of silence after which a client is dropped and its ports freed."""
    handshake_timeout: float = 10.0
    """Seconds a new connection has to authenticate."""
    max_streams: int = 65536
    """Streams one client may have open at once."""
    max_clients: int = 256
    """Tunnel connections (authenticated or not) open at once."""
    max_pending: int = 1024
    """Public connections per tunnel still waiting for the client to reach its local service."""
    max_frame: int = 262144
    """Largest frame payload accepted from a client (at least 256 KiB)."""
    auth_failures: int = 5
    """Failed authentications from one address within ``auth_window``..."""
    auth_window: float = 60.0
    """...after which that address is refused for ``auth_window`` seconds."""
    clients: tuple[ClientAccess, ...] = ()
    """Clients with their own tokens and port ranges (besides ``token``/``ports``)."""
    buffer_size: int = DEFAULT_BUFFER_KIB * 1024
    """Size of the I/O buffers of a tunnel connection, in bytes."""
    tls: bool = True
    """Encrypt tunnel connections (TLS 1.3); False only with ``--no-tls``."""
    cert: str | None = None
    """PEM certificate (chain) to present; a self-signed one when None."""
    key: str | None = None
    """PEM private key of ``cert``."""
    state_dir: str | None = None
    """Where the self-signed certificate is kept (default ~/.local/state/fasttun)."""

    def validate(self) -> "ServerConfig":
        """Return self, or raise ConfigError naming the bad value."""
        _check_port(self.listen_port, "--listen port", allow_zero=True)
        _check_ports(*self.ports, f"--ports {self.ports[0]}-{self.ports[1]}")
        if self.auth and not self.token and not self.clients:
            raise ConfigError("a token is required (or --no-auth to accept every client)")
        tokens = [c.token for c in self.clients] + ([self.token] if self.token else [])
        if len(set(tokens)) != len(tokens):
            raise ConfigError("two clients (or a client and --token) share a token")
        for c in self.clients:
            _check_ports(*c.ports, f"client {c.name!r}: ports {c.ports[0]}-{c.ports[1]}")
        _check_timing(self.ping_interval, self.ping_timeout)
        _check_buffer(self.buffer_size)
        if self.max_clients < 1 or self.max_streams < 1 or self.max_pending < 1:
            raise ConfigError("--max-clients, --max-streams and --max-pending must be at least 1")
        if not 262144 <= self.max_frame <= 1 << 24:
            raise ConfigError(f"--max-frame {self.max_frame}: want 262144 (256 KiB) to 16777216")
        if self.handshake_timeout <= 0:
            raise ConfigError("--handshake-timeout must be positive")
        if bool(self.cert) != bool(self.key):
            raise ConfigError("--cert and --key go together")
        if self.cert and not self.tls:
            raise ConfigError("--cert/--key make no sense with --no-tls")
        return self

    def replace(self, **changes: object) -> "ServerConfig":
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Route:
    """One mapping: the local service and the public port asked for (0: any)."""

    local_host: str
    local_port: int
    remote_port: int = 0

    @property
    def local(self) -> str:
        return f"{self.local_host}:{self.local_port}"


@dataclass(frozen=True)
class ClientConfig:
    """Settings of ``fasttun expose``."""

    server_host: str = "127.0.0.1"
    """Host of the tunnel server."""
    server_port: int = DEFAULT_CONTROL_PORT
    """Control port of the tunnel server."""
    token: str | None = None
    """The server's token (None for a ``--no-auth`` server)."""
    routes: tuple[Route, ...] = field(default_factory=tuple)
    """Services to expose."""
    reconnect: bool = True
    """Reconnect with backoff when the server is lost."""
    backoff_min: float = 1.0
    """First reconnect delay, in seconds; doubled after each failure."""
    backoff_max: float = 30.0
    """Longest reconnect delay, in seconds."""
    connect_timeout: float = 10.0
    """Seconds to reach and authenticate with the server, and to reach a local service."""
    buffer_size: int = DEFAULT_BUFFER_KIB * 1024
    """Size of the I/O buffers of the tunnel connection, in bytes."""
    tls: bool = True
    """Use TLS 1.3; False only with ``--no-tls`` (the server must agree)."""
    fingerprint: str | None = None
    """SHA-256 of the server's certificate to pin (64 hex digits)."""
    ca: str | None = None
    """CA bundle to verify the server's certificate with (else the system's,
    when neither this nor a fingerprint is given the token proves the server)."""

    def validate(self) -> "ClientConfig":
        """Return self, or raise ConfigError naming the bad value."""
        _check_port(self.server_port, "--server port")
        for r in self.routes:
            _check_port(r.local_port, f"local port of {r.local}")
            _check_port(r.remote_port, "remote port", allow_zero=True)
        if self.backoff_min <= 0 or self.backoff_max < self.backoff_min:
            raise ConfigError("backoff: want 0 < min <= max")
        if not self.connect_timeout > 0:
            raise ConfigError(f"--connect-timeout {self.connect_timeout}: want a positive number of seconds")
        _check_buffer(self.buffer_size)
        if not self.tls and (self.fingerprint or self.ca):
            raise ConfigError("--fingerprint/--ca make no sense with --no-tls")
        return self


def _check_port(port: int, what: str, allow_zero: bool = False) -> None:
    if not (0 if allow_zero else 1) <= port <= 65535:
        raise ConfigError(f"{what}: {port} is not a valid port")


def _check_ports(low: int, high: int, what: str) -> None:
    if not (1 <= low <= high <= 65535):
        raise ConfigError(f"{what}: want LOW-HIGH with 1 <= LOW <= HIGH <= 65535")


def _check_timing(interval: float, timeout: float) -> None:
    if interval <= 0 or timeout <= interval:
        raise ConfigError(f"heartbeat: want 0 < interval ({interval}) < timeout ({timeout})")


def _check_buffer(size: int) -> None:
    if not 16 * 1024 <= size <= 64 * 1024 * 1024:
        raise ConfigError(f"--buffer-size: {size // 1024} KiB is outside 16..65536 KiB")


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not a number") from None


def parse_hostport(text: str, default_host: str, what: str, default_port: int | None = None) -> tuple[str, int]:
    """Parse ``HOST:PORT``, ``[V6]:PORT``, ``PORT`` or (with a default port) ``HOST``."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ConfigError(f"{what}: {text!r} lacks a closing ']'")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif text.isdigit():
        host, port_text = default_host, text
    else:
        host, port_text = text, ""
    if not port_text:
        if default_port is None:
            raise ConfigError(f"{what}: {text!r} has no port (want HOST:PORT)")
        port = default_port
    else:
        port = _int(port_text, what)
    _check_port(port, what, allow_zero=True)
    return host or default_host, port


def parse_local(text: str) -> tuple[str, int]:
    """Parse the LOCAL argument of ``fasttun expose``: ``PORT`` or ``HOST:PORT``."""
    host, port = parse_hostport(text, "localhost", "LOCAL")
    _check_port(port, f"LOCAL {text!r}")
    return host, port


def parse_route(text: str) -> Route:
    """Parse ``LOCAL-REMOTE`` (``localhost:8080-8080``; REMOTE 0 is server-assigned)."""
    local, sep, remote = text.rpartition("-")
    if not sep or not local:
        raise ConfigError(f"--route {text!r}: want LOCAL-REMOTE, e.g. localhost:8080-8080")
    host, port = parse_local(local)
    rport = _int(remote, f"--route {text!r} remote port")
    _check_port(rport, f"--route {text!r} remote port", allow_zero=True)
    return Route(host, port, rport)


def parse_ports(text: str) -> tuple[int, int]:
    """Parse ``LOW-HIGH`` (or a single port)."""
    low_text, sep, high_text = text.partition("-")
    low = _int(low_text, "--ports")
    high = _int(high_text, "--ports") if sep else low
    _check_ports(low, high, f"--ports {text}")
    return low, high


def load_server_file(path: str, known: dict) -> tuple[dict, tuple[ClientAccess, ...]]:
    """Read a ``fasttun serve --config`` TOML file.

    Returns the options it sets (keys of *known*, with the same types) and the
    ``[[clients]]`` entries.

    Raises:
        ConfigError: the file cannot be read, or a key or value is wrong.
    """
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"--config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: not valid TOML: {exc}") from None
    values: dict = {}
    clients: list[ClientAccess] = []
    for key, value in data.items():
        if key == "clients":
            if not isinstance(value, list):
                raise ConfigError(f"--config {path}: 'clients' must be an array of tables ([[clients]])")
            for i, entry in enumerate(value):
                clients.append(_client_entry(path, i, entry))
            continue
        if key not in known:
            raise ConfigError(f"--config {path}: unknown option {key!r} (known: {', '.join(sorted(known))}, clients)")
        default = known[key]
        if key == "ports" and isinstance(value, list) and len(value) == 2:
            value = f"{value[0]}-{value[1]}"
        expected = type(default) if default is not None else (float if key.endswith("timeout") else str)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"--config {path}: {key} = {value!r}: want a {expected.__name__}")
        values[key] = value
    return values, tuple(clients)


def _client_entry(path: str, i: int, entry: object) -> ClientAccess:
    where = f"--config {path}: clients[{i}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: want a table with name, token, ports")
    unknown = set(entry) - {"name", "token", "ports"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: name, token, ports)")
    name = entry.get("name", f"client{i + 1}")
    token = entry.get("token")
    ports = entry.get("ports")
    if not isinstance(token, str) or not token:
        raise ConfigError(f"{where}: a non-empty token is required")
    if isinstance(ports, list) and len(ports) == 2:
        ports = f"{ports[0]}-{ports[1]}"
    if not isinstance(ports, str):
        raise ConfigError(f"{where}: ports = \"LOW-HIGH\" is required")
    return ClientAccess(str(name), token, parse_ports(ports))
