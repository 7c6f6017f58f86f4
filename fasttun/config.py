"""Configuration of the two roles, as validated frozen dataclasses."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field

from .exceptions import ConfigError

__all__ = ["ServerConfig", "ClientConfig", "Route", "ClientAccess", "load_server_file",
           "DEFAULT_CONTROL_PORT", "DEFAULT_PORTS",
           "parse_hostport", "parse_local", "parse_route", "parse_ports", "parse_header", "parse_proxy_protocol",
           "load_client_file", "ROUTE_KEYS", "parse_duration", "parse_server", "is_loopback"]

DEFAULT_CONTROL_PORT = 7000
DEFAULT_PORTS = (10000, 19999)
DEFAULT_BUFFER_KIB = 256


@dataclass(frozen=True)
class ClientAccess:
    """One client a server config file lets in: its token and its port range."""

    name: str
    token: str | None
    ports: tuple[int, int]
    key: str | None = None
    """The client's public key (``fasttun keygen``), instead of a token."""
    names: tuple[str, ...] = ()
    """HTTP names it may take (patterns: ``app``, ``*.dev.example.com``; a label
    alone is a subdomain of --domain); empty: any."""


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
    noise: bool = False
    """Encrypt tunnel connections with Noise (NK, AES-GCM) instead of TLS (``--noise``)."""
    cert: str | None = None
    """PEM certificate (chain) to present; a self-signed one when None."""
    key: str | None = None
    """PEM private key of ``cert``."""
    state_dir: str | None = None
    """Where the self-signed certificate is kept (default ~/.local/state/fasttun)."""
    # HTTP mode (docs/spec.md §9)
    http_port: int | None = None
    """Port where HTTP requests are routed by name to HTTP tunnels (None: off; 0: any free port)."""
    https_port: int | None = None
    """Like ``http_port``, over TLS terminated by the server with ``https_cert``."""
    https_cert: str | None = None
    """PEM certificate (chain) for ``https_port``, typically a wildcard for ``*.domain``."""
    https_key: str | None = None
    """PEM private key of ``https_cert``."""
    domain: str = ""
    """The zone subdomains live under: a tunnel named ``myapp`` is ``myapp.domain``."""
    http_timeout: float = 60.0
    """Seconds a visitor has to send a request head, and the local service to start its answer."""
    http_reserve: float = 300.0
    """Seconds a disconnected client's HTTP names stay reserved for it (visitors get 502 meanwhile)."""
    access_log: str | None = None
    """File to append a JSON line per HTTP request to."""
    ws_listen_host: str = ""
    """Address of the WebSocket carrier listener (for a reverse proxy in front)."""
    ws_listen_port: int | None = None
    """Port of the WebSocket carrier listener (None: off; 0: any free port)."""
    ws_path: str = "/.fasttun"
    """Path where tunnel clients upgrade to a WebSocket (the listener's and the HTTP ports')."""
    # The control plane (docs/api.md)
    admin_host: str = "127.0.0.1"
    """Address of the admin API, metrics and dashboard."""
    admin_port: int | None = None
    """Port of the admin API (None: off; 0: any free port)."""
    admin_token: str | None = None
    """Token the admin API asks for (bearer, or the password of basic auth)."""
    admin_open: bool = False
    """Serve the admin API without a token (only on a loopback address)."""
    hook_url: str | None = None
    """Post logins, tunnels, connections and closes there as JSON; its answer may refuse them."""
    hook_timeout: float = 3.0
    """Seconds the hook has to answer; then the event is refused."""

    def validate(self) -> "ServerConfig":
        """Return self, or raise ConfigError naming the bad value."""
        _check_port(self.listen_port, "--listen port", allow_zero=True)
        _check_ports(*self.ports, f"--ports {self.ports[0]}-{self.ports[1]}")
        if self.auth and not self.token and not self.clients:
            raise ConfigError("a token is required (or --no-auth to accept every client)")
        tokens = [c.token for c in self.clients if c.token] + ([self.token] if self.token else [])
        if len(set(tokens)) != len(tokens):
            raise ConfigError("two clients (or a client and --token) share a token")
        keys = [c.key for c in self.clients if c.key]
        if len(set(keys)) != len(keys):
            raise ConfigError("two clients share a key")
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
        if self.noise and (self.cert or not self.tls):
            raise ConfigError("--noise replaces TLS: not with --cert/--key or --no-tls")
        for port, what in ((self.http_port, "--http-port"), (self.https_port, "--https-port")):
            if port is not None:
                _check_port(port, what, allow_zero=True)
        if self.https_port is not None and not (self.https_cert and self.https_key):
            raise ConfigError("--https-port needs --https-cert and --https-key")
        if (self.https_cert or self.https_key) and self.https_port is None:
            raise ConfigError("--https-cert/--https-key need --https-port")
        if self.domain and not _valid_domain(self.domain):
            raise ConfigError(f"--domain {self.domain!r} is not a valid domain name")
        if not self.http_timeout > 0:
            raise ConfigError(f"--http-timeout {self.http_timeout}: want a positive number of seconds")
        if self.http_reserve < 0:
            raise ConfigError(f"--http-reserve {self.http_reserve}: want 0 or more seconds")
        if self.admin_port is not None:
            _check_port(self.admin_port, "--admin port", allow_zero=True)
            if self.admin_open and self.admin_token:
                raise ConfigError("--admin-open and --admin-token: choose one")
            if not self.admin_open and not self.admin_token:
                raise ConfigError("--admin needs --admin-token (or --admin-open, on a loopback address only)")
            if self.admin_open and not is_loopback(self.admin_host):
                raise ConfigError(f"--admin-open serves without a token, so only on a loopback address "
                                  f"(127.0.0.1, ::1), not {self.admin_host or '*'}")
        elif self.admin_open or self.admin_token:
            raise ConfigError("--admin-token/--admin-open need --admin HOST:PORT")
        if self.ws_listen_port is not None:
            _check_port(self.ws_listen_port, "--ws-listen port", allow_zero=True)
        if not self.ws_path.startswith("/") or any(c in self.ws_path for c in " ?#\r\n"):
            raise ConfigError(f"--ws-path {self.ws_path!r}: want a path such as /.fasttun")
        if not 0 < self.hook_timeout <= 60:
            raise ConfigError(f"--hook-timeout {self.hook_timeout:g}: want 0 to 60 seconds")
        if self.hook_url is not None and not re.match(r"https?://[^/?#]+", self.hook_url):
            raise ConfigError(f"--hook-url {self.hook_url!r}: want http://HOST[:PORT]/PATH or https://...")
        return self

    def replace(self, **changes: object) -> "ServerConfig":
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Route:
    """One mapping: the local service, and the public port or HTTP name asked for.

    A TCP tunnel asks for ``remote_port`` (0: any).  An HTTP tunnel
    (``http=True``) asks for ``subdomain`` or ``hostname`` (neither: a random
    subdomain) and may carry options the server applies to its requests.
    """

    local_host: str
    local_port: int
    remote_port: int = 0
    # HTTP tunnels (docs/spec.md §9)
    http: bool = False
    """Route HTTP requests for a name on the server's HTTP port here."""
    subdomain: str = ""
    """The name asked for, under the server's domain."""
    hostname: str = ""
    """A whole host name asked for instead of a subdomain."""
    basic_auth: str | None = None
    """``USER:PASS`` visitors must give (the server answers 401 otherwise)."""
    host_header: str | None = None
    """``Host`` value the local service receives instead of the visitor's."""
    request_headers: tuple[tuple[str, str], ...] = ()
    """Header fields to set on each request; an empty value removes the field."""
    rate_limit: float | None = None
    """Requests per second per visitor address; more get 429."""
    # TCP tunnels
    proxy_protocol: int = 0
    """Send a PROXY protocol header (version 1 or 2) to the local service first; 0: off."""
    # Limits the server enforces (any tunnel)
    max_conns: int = 0
    """Visitor connections open at once (more are refused); 0: no limit."""
    max_serves: int = 0
    """Connections served, after which the tunnel closes; 0: no limit."""
    expire: float = 0.0
    """Seconds after which the tunnel closes; 0: never."""
    name: str = ""
    """What the client's agent API calls the tunnel ("": t1, t2, ... in order)."""

    @property
    def local(self) -> str:
        return f"{self.local_host}:{self.local_port}"

    def validate(self) -> "Route":
        """Return self, or raise ConfigError naming the bad value."""
        what = f"route {self.local}"
        _check_port(self.local_port, f"local port of {self.local}")
        _check_port(self.remote_port, "remote port", allow_zero=True)
        http_options = (self.subdomain or self.hostname or self.basic_auth is not None or self.host_header is not None
                        or self.request_headers or self.rate_limit is not None)
        if not self.http:
            if http_options:
                raise ConfigError(f"{what}: --subdomain, --hostname, --basic-auth, --host-header, "
                                  "--request-header and --rate-limit need --http")
        else:
            if self.remote_port:
                raise ConfigError(f"{what}: an HTTP tunnel has a name, not a remote port")
            if self.proxy_protocol:
                raise ConfigError(f"{what}: --proxy-protocol is for TCP tunnels (HTTP tunnels get "
                                  "X-Forwarded-For and Forwarded)")
        if self.subdomain and self.hostname:
            raise ConfigError(f"{what}: --subdomain or --hostname, not both")
        if self.subdomain and not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", self.subdomain.lower()):
            raise ConfigError(f"--subdomain {self.subdomain!r}: letters, digits and inner hyphens, at most 63")
        if self.hostname and not _valid_domain(self.hostname):
            raise ConfigError(f"--hostname {self.hostname!r} is not a valid host name")
        if self.basic_auth is not None and (":" not in self.basic_auth or self.basic_auth.startswith(":")):
            raise ConfigError("--basic-auth: want USER:PASS")
        if self.rate_limit is not None and not 0 < self.rate_limit <= 1e6:
            raise ConfigError(f"--rate-limit {self.rate_limit:g}: want a positive number of requests per second")
        if self.name and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.name):
            raise ConfigError(f"{what}: name {self.name!r}: letters, digits, '_', '.', '-' (at most 64)")
        if self.max_conns < 0 or self.max_serves < 0:
            raise ConfigError(f"{what}: --max-conns and --max-serves want 0 (no limit) or more")
        if self.expire < 0:
            raise ConfigError(f"{what}: --expire wants a positive duration")
        if self.proxy_protocol not in (0, 1, 2):
            raise ConfigError(f"--proxy-protocol: want v1 or v2, not {self.proxy_protocol!r}")
        for name, value in self.request_headers:
            if not name or not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name):
                raise ConfigError(f"--request-header {name!r}: not a valid header name")
            if any(c in value for c in "\r\n\0"):
                raise ConfigError(f"--request-header {name}: the value may not hold line breaks")
        return self


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
    ws_url: str | None = None
    """``ws://`` or ``wss://`` URL: carry the tunnel connection in a WebSocket
    there (``server_host``/``server_port`` are then the URL's)."""
    key: str | None = None
    """Private key file (``fasttun keygen``) to authenticate with instead of a token."""
    noise_key: str | None = None
    """The server's Noise public key (``fasttun serve --noise`` prints it): Noise instead of TLS."""
    proxy: str | None = None
    """``http://[user:pass@]host:port`` CONNECT proxy to reach the server through
    (None: the environment's ``https_proxy``/``all_proxy``...; "": none)."""

    def validate(self) -> "ClientConfig":
        """Return self, or raise ConfigError naming the bad value."""
        _check_port(self.server_port, "--server port")
        for r in self.routes:
            r.validate()
        if self.backoff_min <= 0 or self.backoff_max < self.backoff_min:
            raise ConfigError("backoff: want 0 < min <= max")
        if not self.connect_timeout > 0:
            raise ConfigError(f"--connect-timeout {self.connect_timeout}: want a positive number of seconds")
        _check_buffer(self.buffer_size)
        if self.noise_key:
            from .transports.noiseproto import parse_server_key

            parse_server_key(self.noise_key)
            if self.fingerprint or self.ca or not self.tls or self.ws_url:
                raise ConfigError("--noise replaces TLS and pins the server by its key: not with --fingerprint, "
                                  "--ca, --no-tls or a ws:// server")
        if self.key:
            if self.token:
                raise ConfigError("--key or --token: a client proves one of them")
            if self.tls and not (self.fingerprint or self.ca or self.noise_key):
                raise ConfigError("--key needs --fingerprint (printed by fasttun serve) or --ca: with a key, the "
                                  "server has no token to prove itself with")
        if self.proxy:
            from .transports.proxy import parse_proxy

            parse_proxy(self.proxy)
        wss = bool(self.ws_url and self.ws_url.lower().startswith("wss://"))
        if not self.tls and (self.fingerprint or (self.ca and not wss)):
            # (with wss://, --ca verifies the WebSocket server's certificate)
            raise ConfigError("--fingerprint/--ca make no sense with --no-tls")
        return self


def _valid_domain(text: str) -> bool:
    labels = text.strip(".").lower().split(".")
    return all(re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", label) for label in labels) and len(text) <= 253


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


def parse_server(text: str) -> tuple[str, int, str | None]:
    """``--server``: (host, port, WebSocket URL or None).

    ``HOST:PORT`` and ``tcp://HOST:PORT`` are the direct connection;
    ``ws://HOST[:PORT]/PATH`` and ``wss://...`` carry it in a WebSocket.
    """
    text = text.strip()
    lower = text.lower()
    if lower.startswith(("ws://", "wss://")):
        from urllib.parse import urlsplit

        parts = urlsplit(text)
        try:
            port = parts.port or (443 if parts.scheme.lower() == "wss" else 80)
        except ValueError:
            raise ConfigError(f"--server {text!r}: the port is not a number") from None
        if not parts.hostname:
            raise ConfigError(f"--server {text!r}: a host is required")
        if parts.username or parts.password:
            raise ConfigError(f"--server {text!r}: credentials go in --token, not in the URL")
        return parts.hostname, port, text
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme.lower() != "tcp":
            raise ConfigError(f"--server {text!r}: want HOST:PORT, tcp://HOST:PORT, ws://HOST/PATH or wss://HOST/PATH")
        text = rest.rstrip("/")
    host, port = parse_hostport(text, "", "--server", DEFAULT_CONTROL_PORT)
    return host, port, None


def parse_local(text: str) -> tuple[str, int]:
    """Parse the LOCAL argument of ``fasttun expose``: ``PORT`` or ``HOST:PORT``."""
    host, port = parse_hostport(text, "localhost", "LOCAL")
    _check_port(port, f"LOCAL {text!r}")
    return host, port


def parse_route(text: str) -> Route:
    """Parse ``LOCAL-REMOTE``: REMOTE is a public port (``localhost:8080-8080``;
    0 is server-assigned) or an HTTP name: ``http`` (a random subdomain),
    ``http:NAME`` (a subdomain) or ``http:HOST.NAME`` (a whole host name)."""
    local, sep, remote = text.rpartition("-")
    at = text.find("-http")
    while at > 0:  # an HTTP name may hold hyphens: split at the first "-http" that starts REMOTE
        rest = text[at + 1 :]
        if rest == "http" or rest.startswith("http:"):
            local, sep, remote = text[:at], "-", rest
            break
        at = text.find("-http", at + 1)
    if not sep or not local:
        raise ConfigError(f"--route {text!r}: want LOCAL-REMOTE, e.g. localhost:8080-8080 or 3000-http:myapp")
    host, port = parse_local(local)
    if remote == "http" or remote.startswith("http:"):
        name = remote[5:]
        route = Route(host, port, http=True, hostname=name if "." in name else "",
                      subdomain=name if "." not in name else "")
        return route.validate()
    rport = _int(remote, f"--route {text!r} remote port")
    _check_port(rport, f"--route {text!r} remote port", allow_zero=True)
    return Route(host, port, rport)


def parse_header(text: str) -> tuple[str, str]:
    """Parse ``"Name: value"`` (an empty value: remove the field)."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ConfigError(f"--request-header {text!r}: want \"Name: value\" (an empty value removes the field)")
    return name.strip(), value.strip()


def parse_proxy_protocol(text: str) -> int:
    """Parse ``v1``/``v2`` (or ``1``/``2``) for ``--proxy-protocol``."""
    version = text.lower().lstrip("v")
    if version not in ("1", "2"):
        raise ConfigError(f"--proxy-protocol {text!r}: want v1 or v2")
    return int(version)


def parse_ports(text: str) -> tuple[int, int]:
    """Parse ``LOW-HIGH`` (or a single port)."""
    low_text, sep, high_text = text.partition("-")
    low = _int(low_text, "--ports")
    high = _int(high_text, "--ports") if sep else low
    _check_ports(low, high, f"--ports {text}")
    return low, high


def _read_toml(path: str) -> dict:
    import tomllib

    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"--config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: not valid TOML: {exc}") from None


def _typed(where: str, key: str, value: object, expected: type) -> object:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected in (int, float) and isinstance(value, bool)):
        raise ConfigError(f"{where}: {key} = {value!r}: want a {expected.__name__}")
    return value


def _options_of(path: str, data: dict, known: dict, types: dict, tables: tuple[str, ...]) -> dict:
    values: dict = {}
    for key, value in data.items():
        if key in tables:
            continue
        if key not in known:
            raise ConfigError(f"--config {path}: unknown option {key!r} "
                              f"(known: {', '.join(sorted(known) + list(tables))})")
        default = known[key]
        if key == "ports" and isinstance(value, list) and len(value) == 2:
            value = f"{value[0]}-{value[1]}"
        expected = types.get(key) or (type(default) if default is not None else
                                      (float if key.endswith("timeout") else str))
        values[key] = _typed(f"--config {path}", key, value, expected)
    return values


def load_server_file(path: str, known: dict, types: dict | None = None) -> tuple[dict, tuple[ClientAccess, ...]]:
    """Read a ``fasttun serve --config`` TOML file.

    Returns the options it sets (keys of *known*, with the types of their
    defaults, or of *types* where given) and the ``[[clients]]`` entries.

    Raises:
        ConfigError: the file cannot be read, or a key or value is wrong.
    """
    data = _read_toml(path)
    values = _options_of(path, data, known, types or {}, ("clients",))
    clients: list[ClientAccess] = []
    if "clients" in data:
        if not isinstance(data["clients"], list):
            raise ConfigError(f"--config {path}: 'clients' must be an array of tables ([[clients]])")
        for i, entry in enumerate(data["clients"]):
            clients.append(_client_entry(path, i, entry))
    return values, tuple(clients)


# Keys of a [[routes]] table of `fasttun expose --config`, and their types.
ROUTE_KEYS: dict[str, type] = {
    "local": str, "remote_port": int, "http": bool, "subdomain": str, "hostname": str, "basic_auth": str,
    "host_header": str, "request_headers": list, "rate_limit": float, "proxy_protocol": str,
    "max_conns": int, "max_serves": int, "expire": str, "type": str, "name": str,
}


def load_client_file(path: str, known: dict, types: dict | None = None) -> tuple[dict, tuple[Route, ...]]:
    """Read a ``fasttun expose --config`` TOML file.

    Returns the options it sets (keys of *known*) and its ``[[routes]]``,
    each a table with ``local`` and any of ``ROUTE_KEYS``.

    Raises:
        ConfigError: the file cannot be read, or a key or value is wrong.
    """
    data = _read_toml(path)
    values = _options_of(path, data, known, types or {}, ("tunnels", "routes"))
    routes: list[Route] = []
    table = "tunnels" if "tunnels" in data else "routes"  # [[routes]]: the older name
    if "tunnels" in data and "routes" in data:
        raise ConfigError(f"--config {path}: [[tunnels]] and [[routes]] are the same; use [[tunnels]]")
    entries = data.get(table, [])
    if not isinstance(entries, list):
        raise ConfigError(f"--config {path}: '{table}' must be an array of tables ([[{table}]])")
    for i, entry in enumerate(entries):
        where = f"--config {path}: {table}[{i}]"
        if not isinstance(entry, dict) or "local" not in entry:
            raise ConfigError(f"{where}: want a table with at least local = \"PORT\" or \"HOST:PORT\"")
        fields: dict = {}
        for key, value in entry.items():
            if key not in ROUTE_KEYS:
                raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(ROUTE_KEYS)})")
            if key in ("local", "expire") and isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)
            fields[key] = _typed(where, key, value, ROUTE_KEYS[key])
        host, port = parse_local(fields.pop("local"))
        headers = tuple(parse_header(h) if isinstance(h, str) else _bad_header(where, h)
                        for h in fields.pop("request_headers", ()))
        pp = fields.pop("proxy_protocol", None)
        expire = fields.pop("expire", None)
        kind = fields.pop("type", None)
        if kind not in (None, "tcp", "http"):
            raise ConfigError(f"{where}: type = {kind!r}: want \"tcp\" or \"http\"")
        if kind == "http":
            fields["http"] = True
        try:
            route = Route(host, port, request_headers=headers, proxy_protocol=parse_proxy_protocol(pp) if pp else 0,
                          expire=parse_duration(expire, "expire") if expire else 0.0, **fields)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        try:
            routes.append(route.validate())
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return values, tuple(routes)


def parse_duration(text: str, what: str = "--expire") -> float:
    """Seconds in ``90``, ``90s``, ``15m``, ``2h``, ``1d`` (or ``1h30m``)."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ConfigError(f"{what} {text!r}: want a duration such as 90s, 15m, 2h or 1d")
        seconds = sum(float(n) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[u] for n, u in parts)
    if not 0 < seconds <= 10 * 365 * 86400:
        raise ConfigError(f"{what} {text!r}: want a positive duration (at most ten years)")
    return seconds


def _bad_header(where: str, value: object) -> tuple[str, str]:
    raise ConfigError(f"{where}: request_headers: want strings \"Name: value\", not {value!r}")


def _client_entry(path: str, i: int, entry: object) -> ClientAccess:
    where = f"--config {path}: clients[{i}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: want a table with name, token, ports")
    unknown = set(entry) - {"name", "token", "key", "ports", "names"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: name, token, key, ports, "
                          "names)")
    name = entry.get("name", f"client{i + 1}")
    token = entry.get("token")
    key = entry.get("key")
    ports = entry.get("ports")
    if (token is None) == (key is None):
        raise ConfigError(f"{where}: give a token or a key (a public key from fasttun keygen), one of them")
    if token is not None and (not isinstance(token, str) or not token):
        raise ConfigError(f"{where}: the token must be a non-empty string")
    if key is not None:
        from .transports.keys import parse_public_key

        if not isinstance(key, str):
            raise ConfigError(f"{where}: key = \"...\" (the public key fasttun keygen prints)")
        parse_public_key(key, f"{where}: key")
    names = entry.get("names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{where}: names = [\"app\", \"*.dev.example.com\"] (the HTTP names it may take)")
    if isinstance(ports, list) and len(ports) == 2:
        ports = f"{ports[0]}-{ports[1]}"
    if not isinstance(ports, str):
        raise ConfigError(f"{where}: ports = \"LOW-HIGH\" is required")
    return ClientAccess(str(name), token, parse_ports(ports), key=key, names=tuple(n.lower() for n in names))


def is_loopback(host: str) -> bool:
    """Whether *host* (an address, maybe in brackets, or ``localhost``) is this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
