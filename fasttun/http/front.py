"""The HTTP front of the server: one public port, requests routed by name.

``HttpFront`` listens on ``--http-port`` (and ``--https-port``, where it
terminates TLS) and holds the names of the HTTP tunnels.  Each visitor
connection is a ``VisitorProtocol``: it reads request heads, routes each by
its ``Host`` (and the TLS SNI) to the tunnel holding that name, and carries
the connection over one stream of that tunnel's session, as a TCP tunnel
carries a public connection (docs/spec.md §9 says what the server adds).

The per-request path, and its rules and theory of operation, are in
``visitor_py`` (compiled as ``visitor_c``): ``VisitorProtocol`` is its
``VisitorCore`` made an asyncio protocol, and ``HttpFront`` takes its logs
and metrics from ``FrontCore``.  This module holds what happens once per
tunnel or per connection: the ports, TLS, names and binds.
"""

from __future__ import annotations

import array
import asyncio
import base64
import fnmatch
import logging
import ssl
from typing import Any

from .._core._select import compiled
from ..aio.server import BindError, ClientSession, Tunnel, TunnelServer
from ..config import ServerConfig
from ..exceptions import ConfigError
from . import visitor_py
from ._accesslog import AccessLog
from ._heads import is_token
from ._names import NameRefused, Names
from ._ratelimit import RateLimiter
from .visitor_py import (
    DURATION_BUCKETS,
    LOG_LINES,
    LOG_OFF,
    LOG_RECORDS,
    MAX_HEAD,
    MAX_PIPELINE,
    RECORDS_MESSAGE_MAX,
    SCRATCH_SIZE,
    line_messages,
    record_messages,
)

visitor_c: Any = compiled("fasttun.http.visitor_c")

__all__ = ["HttpFront", "VisitorProtocol", "VisitorProtocolPy", "VisitorProtocolC", "HttpRoute", "MAX_HEAD",
           "MAX_PIPELINE", "RECORDS_MESSAGE_MAX", "record_messages", "line_messages"]

log = logging.getLogger("fasttun")
_now = visitor_py._now


class VisitorProtocolPy(visitor_py.VisitorCore, asyncio.BufferedProtocol):
    """A visitor connection, the pure-Python twin (``visitor_py.VisitorCore``)."""

    __slots__ = ()


VisitorProtocolC: Any = None
if visitor_c is not None:  # pragma: no branch
    class VisitorProtocolC(visitor_c.VisitorCore, asyncio.BufferedProtocol):  # type: ignore[no-redef]
        """A visitor connection, compiled (``visitor_c.VisitorCore``)."""

        __slots__ = ()

VisitorProtocol = VisitorProtocolC or VisitorProtocolPy
_visitor: Any = visitor_c if visitor_c is not None else visitor_py
_FrontCore: Any = _visitor.FrontCore
HttpRoute: Any = _visitor.HttpRoute  # an HTTP tunnel as the front knows it: its name and options


class HttpFront(_FrontCore):
    """The server's HTTP and HTTPS ports and the names of HTTP tunnels.

    ``fasttun.api.Server`` creates it when ``http_port`` or ``https_port`` is
    set and adds it to the ``TunnelServer`` as the front of kind "http".
    """

    kind = "http"
    duration_buckets = DURATION_BUCKETS

    def __init__(self, server: TunnelServer, config: ServerConfig) -> None:
        self.server = server
        self.config = config
        self.loop = asyncio.get_running_loop()
        self.names = Names(config.domain or "", config.http_reserve)
        self.visitors: set[VisitorProtocol] = set()
        self.scratch = memoryview(bytearray(SCRATCH_SIZE))
        self.access_log = AccessLog(config.access_log) if config.access_log else None
        self._listeners: list[asyncio.AbstractServer] = []
        self._sweeper: asyncio.TimerHandle | None = None
        self._records: dict[ClientSession, list] = {}  # request records to send, per client
        self._lines: dict[ClientSession, Any] = {}  # request lines to send, per client (a visitor LineBatch)
        self._lines_timer: asyncio.TimerHandle | None = None  # sends _lines (visitor_py.LINES_DELAY)
        self.http_port = 0  # bound ports (when asked for port 0, what the OS chose)
        self.https_port = 0
        # Makes the protocol of a tunnel client that upgrades on ws_path (set by fasttun.api), or None.
        self.carrier: Any = None
        self.ws_path = config.ws_path.encode()
        # Request durations (s), as a histogram: counts per DURATION_BUCKETS bound, +Inf last
        # (64-bit counters: the compiled visitor counts in C).
        self.durations = array.array("q", bytes(8 * (len(DURATION_BUCKETS) + 1)))
        self.duration_sum = 0.0

    async def start(self) -> None:
        """Open the HTTP and HTTPS ports.

        Raises:
            OSError: a port cannot be listened on.
            ConfigError: the HTTPS certificate or key cannot be used.
        """
        cfg = self.config
        if cfg.http_port is not None:
            srv = await self._listen("http", cfg.http_port, None)
            self.http_port = srv.sockets[0].getsockname()[1]
        if cfg.https_port is not None:
            srv = await self._listen("https", cfg.https_port, self._tls_context())
            self.https_port = srv.sockets[0].getsockname()[1]
        self._sweep()

    async def _listen(self, scheme: str, port: int, ctx: ssl.SSLContext | None) -> asyncio.AbstractServer:
        host = self.config.public_host or None
        try:
            srv = await self.loop.create_server(lambda: VisitorProtocol(self, scheme), host, port, backlog=1024,
                                                reuse_address=True, ssl=ctx,
                                                ssl_handshake_timeout=self.config.http_timeout if ctx else None)
        except OSError as exc:  # name the port in the message (cli prints exc.filename)
            raise OSError(exc.errno, exc.strerror or str(exc), f"{host or '*'}:{port} (--{scheme}-port)") from None
        self._listeners.append(srv)
        return srv

    def _tls_context(self) -> ssl.SSLContext:
        cfg = self.config
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(cfg.https_cert, cfg.https_key)  # type: ignore[arg-type]
        except OSError as exc:
            raise ConfigError(f"--https-cert {cfg.https_cert} / --https-key {cfg.https_key}: "
                              f"{exc.strerror or exc}") from None
        except ssl.SSLError as exc:
            raise ConfigError(f"--https-cert {cfg.https_cert} / --https-key {cfg.https_key}: "
                              f"{exc.reason or exc}") from None
        ctx.set_alpn_protocols(["http/1.1"])

        def remember_sni(ssl_object: Any, server_name: str | None, _ctx: ssl.SSLContext) -> None:
            # The name the visitor asked for in TLS; its requests must be for it.
            if server_name:
                ssl_object.fasttun_sni = server_name.rstrip(".").lower()

        ctx.sni_callback = remember_sni
        return ctx

    def _sweep(self) -> None:
        now = _now()
        timeout = self.config.http_timeout
        for v in list(self.visitors):
            v.check_timeouts(now, timeout)
        if self.access_log is not None:
            self.access_log.flush()
        self._sweeper = self.loop.call_later(min(1.0, timeout / 4), self._sweep)

    async def close(self) -> None:
        """Close the ports and every visitor connection."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._lines_timer is not None:
            self._lines_timer.cancel()
            self._lines_timer = None
        for srv in self._listeners:
            srv.close()
        for v in list(self.visitors):
            v.abort()
        if self.access_log is not None:
            self.access_log.close()

    # -- the front interface (aio.server.Front) -------------------------------
    def urls(self, host: str) -> list[str]:
        """The URLs of a name, one per port (no port shown when it is the default)."""
        out = []
        for scheme, port, default in (("http", self.http_port, 80), ("https", self.https_port, 443)):
            if port:
                out.append(f"{scheme}://{host}" + ("" if port == default else f":{port}"))
        return out

    async def bind(self, owner: ClientSession, tunnel: Tunnel, msg: dict) -> dict:
        subdomain = msg.get("subdomain") or ""
        hostname = msg.get("hostname") or ""
        claim = msg.get("claim")
        if not isinstance(subdomain, str) or not isinstance(hostname, str) or subdomain and hostname:
            raise BindError("ask for a subdomain or a hostname, not both")
        if not isinstance(claim, str) or not 16 <= len(claim) <= 128:
            raise BindError("an HTTP bind needs a claim (16 to 128 characters)")
        options = _options(msg)
        if owner.names:  # its [[clients]] entry lists the names it may take
            allowed = ", ".join(owner.names)
            if not subdomain and not hostname:
                raise BindError(f"this client may take only these names: {allowed}; ask for one of them")
            try:
                host = self.names.host_for(subdomain, hostname)
            except NameRefused as exc:
                raise BindError(str(exc)) from None
            if not _name_allowed(host, owner.names, self.names.domain):
                raise BindError(f"{host} is not among the names this client may take ({allowed})")
        try:
            name = self.names.take(None, claim, _now(), subdomain=subdomain, hostname=hostname,
                                   prefer=bool(msg.get("prefer")))
        except NameRefused as exc:
            raise BindError(str(exc)) from None
        route = HttpRoute(tunnel, name, urls=self.urls(name.host), **options)
        name.holder = route
        tunnel.entry = route
        log.info("client %s: %s -> %s", owner.peer, " ".join(route.urls), tunnel.local)
        return {"name": name.host, "label": name.label, "urls": route.urls}

    def unbind(self, tunnel: Tunnel, gone: bool) -> None:
        route = tunnel.entry
        if not isinstance(route, HttpRoute) or route.tunnel is not tunnel:
            return
        route.tunnel = None
        if gone:
            self.names.release(route.name, _now())
            log.info("http tunnel %s: client gone; the name is kept for it for %g s", route.name.host,
                     self.config.http_reserve)
        else:
            self.names.drop(route.name)
            log.info("http tunnel %s closed", route.name.host)

def _options(msg: dict) -> dict:
    """The HTTP options of a bind (docs/spec.md §9.1), checked."""
    auth = msg.get("basic_auth")
    expected = None
    if auth is not None:
        if not isinstance(auth, str) or ":" not in auth:
            raise BindError("basic_auth: want USER:PASS")
        expected = b"Basic " + base64.b64encode(auth.encode())
    host_header = msg.get("host_header")
    if host_header is not None and (not isinstance(host_header, str) or not _is_field_value(host_header)):
        raise BindError("host_header: not a valid header value")
    pairs = []
    for item in msg.get("request_headers") or ():
        if not isinstance(item, list) or len(item) != 2 or not all(isinstance(x, str) for x in item):
            raise BindError("request_headers: want [[name, value], ...]")
        name, value = item
        if not is_token(name) or not _is_field_value(value):
            raise BindError(f"request_headers: {name!r} is not a valid header")
        pairs.append((name.encode(), value.encode("latin-1")))
    rate = msg.get("rate_limit")
    limiter = None
    if rate is not None:
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 < rate <= 1e6:
            raise BindError("rate_limit: want a positive number of requests per second")
        limiter = RateLimiter(rate)
    return {"auth": expected, "host_header": host_header.encode("latin-1") if host_header else None,
            "set_headers": tuple(pairs), "limiter": limiter, "log_requests": _log_mode(msg.get("log", True))}


def _log_mode(value: object) -> int:
    """A bind's ``log`` (docs/spec.md §9.2): ``"lines"``, or true (records) or false."""
    if value == "lines":
        return LOG_LINES
    return LOG_RECORDS if value else LOG_OFF


def _name_allowed(host: str, patterns: tuple, domain: str) -> bool:
    """Whether *host* matches one of *patterns* (a label alone is a subdomain of *domain*)."""
    for pattern in patterns:
        if "." not in pattern and domain:
            pattern = f"{pattern}.{domain}"
        if fnmatch.fnmatchcase(host, pattern):
            return True
    return False


def _is_field_value(text: str) -> bool:
    return all(c == "\t" or " " <= c <= "~" or "\x80" <= c <= "\xff" for c in text)

