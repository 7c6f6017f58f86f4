"""The tunnel server: control listener, public listeners, tunnel registry.

A client connects, proves it knows the token (HMAC of a server nonce,
docs/spec.md §4.7), then asks for public ports with ``bind``.  Every public
connection accepted on a tunnel's port becomes a stream of that client's
session.  A port belongs to at most one client at a time; it is freed when
the client unbinds, disconnects, goes silent past the heartbeat timeout, or
the server stops.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
import secrets
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .._core.consts import GO_AWAY_AUTH_FAILED, GO_AWAY_LIMIT, GO_AWAY_PROTOCOL_ERROR, GO_AWAY_REFUSED, GO_AWAY_SHUTDOWN
from .._version import __version__
from ..config import ServerConfig
from ..hooks import Hooks
from ..transports import tls
from ..transports.keys import parse_public_key, verify_auth
from .auth import auth_mac
from .protocol import SessionProtocol, StreamEnd, Traffic, format_address, format_size
from .relay import StreamProtocol, abort_with_rst

__all__ = ["TunnelServer", "ClientSession", "Tunnel", "Front", "BindError"]

log = logging.getLogger("fasttun")
_random = random.Random()  # our own: the global one belongs to the embedding program


@dataclass
class Tunnel:
    """A public port, or a front's entry (an HTTP name), bound for one client."""

    tunnel_id: int
    port: int  # the public port (0 for a front's tunnel)
    local: str
    owner: "ClientSession"
    server: asyncio.AbstractServer | None  # the port's listener (None for a front's tunnel)
    kind: str = "tcp"  # "tcp", or the kind of the front that holds it ("http")
    entry: object = None  # the front's record of it (an HTTP name)
    pending: int = 0  # public connections whose stream the client has not accepted yet
    refused: int = 0  # public connections refused because too many were pending
    logged_at: float = float("-inf")  # when a refusal was last logged
    traffic: Traffic = field(default_factory=Traffic)  # counted by its streams
    statuses: list[int] = field(default_factory=lambda: [0] * 6)  # HTTP answers by status class (1xx at [1])
    created: float = field(default_factory=time.time)  # wall clock, for the admin API
    max_conns: int = 0  # concurrent connections allowed (0: no limit)
    max_serves: int = 0  # connections served before the tunnel closes (0: no limit)
    expires: float = 0.0  # wall-clock deadline when the tunnel closes (0: none)
    closing: str = ""  # why the server is closing it (max_serves, expire, the operator)
    timer: asyncio.TimerHandle | None = None  # the expiry timer

    @property
    def public(self) -> str:
        """The public address (``host:port``) or, for a front's tunnel, the URLs."""
        if self.kind == "tcp":
            return format_address((self.owner.server.config.public_host or "0.0.0.0", self.port))
        urls = getattr(self.entry, "urls", None)
        return " ".join(urls) if urls else ""


class BindError(Exception):
    """A bind the server refuses; the message goes to the client."""


class Front(Protocol):
    """What the server asks of a front: a public listener that is not a port
    of its own per tunnel (the HTTP front: one port, names).  Fronts are
    added by the API layer (``fasttun.api``), so this package never imports
    them."""

    kind: str

    async def bind(self, owner: "ClientSession", tunnel: Tunnel, msg: dict) -> dict:
        """Register *tunnel* as *msg* (a ``bind``) asks; return the members to
        add to ``bound``, or raise ``BindError``."""

    def unbind(self, tunnel: Tunnel, gone: bool) -> None:
        """Forget *tunnel*; *gone*: its client was lost (not an ``unbind``)."""


class ClientSession(SessionProtocol):
    """The server's side of one client's tunnel connection."""

    def __init__(self, server: "TunnelServer") -> None:
        cfg = server.config
        super().__init__(client=False, ping_interval=cfg.ping_interval, ping_timeout=cfg.ping_timeout,
                         max_streams=cfg.max_streams, buffer_size=cfg.buffer_size, max_frame=cfg.max_frame)
        self.server = server
        self.nonce = secrets.token_bytes(32)
        self.authed = False
        self.name = ""
        self.tunnels: dict[int, Tunnel] = {}
        self._handshake_timer: asyncio.TimerHandle | None = None
        self.account: str | None = None  # name of the [[clients]] entry that matched
        self.token: str | None = None  # the token this client proved
        self.ports = cfg.ports  # the range this client may open
        self.names: tuple[str, ...] = ()  # the HTTP names it may take (empty: any)
        self.host = ""  # the peer's address, without the port
        self.leaving = False  # the client said "bye": it left on purpose
        self.client_id = 0  # given when it authenticates (the admin API names clients by it)
        self.connected_at = 0.0  # wall clock, when it authenticated

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        cfg = self.server.config
        self.host = host = self.peer.rpartition(":")[0]
        if self.server.is_blocked(host):
            log.warning("refused %s: too many failed authentications from %s", self.peer, host)
            self.server.refused["blocked"] += 1
            self.close_reason = "address blocked"
            transport.abort()
            return
        if len(self.server.sessions) >= cfg.max_clients:
            log.warning("refused %s: %d clients connected already (--max-clients)", self.peer, cfg.max_clients)
            self.server.refused["max_clients"] += 1
            self.close_reason = "server full"
            self.close(GO_AWAY_LIMIT, f"server full: {cfg.max_clients} clients connected already")
            return
        self.server.sessions.add(self)
        self.send_control({"op": "hello", "nonce": self.nonce.hex(), "auth": cfg.auth,
                           "server": f"fasttun/{__version__}"})
        self._handshake_timer = self.loop.call_later(cfg.handshake_timeout, self._handshake_expired)

    def _handshake_expired(self) -> None:
        if not self.authed:
            self.fail(GO_AWAY_PROTOCOL_ERROR, f"{self.peer} did not authenticate within "
                      f"{self.server.config.handshake_timeout:g} s")

    def on_control(self, msg: dict) -> None:
        op = msg.get("op")
        if not self.authed:
            if op != "auth":
                self.fail(GO_AWAY_PROTOCOL_ERROR, f"{self.peer} sent {op!r} before authenticating")
                return
            self._handle_auth(msg)
        elif op == "bind":
            self._handle_bind(msg)
        elif op == "unbind":
            tunnel = self.tunnels.get(msg.get("tunnel"))  # type: ignore[arg-type]
            if tunnel is not None:
                self.server.unbind(tunnel, reason="the client closed it")
        elif op == "bye":
            self.close_reason = "the client said goodbye"
            self.leaving = True
        else:
            log.debug("session %s: ignoring CONTROL op %r", self.peer, op)

    def _handle_auth(self, msg: dict) -> None:
        cfg = self.server.config
        binding = tls.channel_binding(self.transport)
        if cfg.auth:
            if "key" in msg:
                entry, why = self._key_entry(msg, binding)
                if entry is None:
                    log.warning("authentication failed from %s: %s", self.peer, why)
                    self.server.auth_failed(self.host)
                    self.close_reason = f"authentication failed: {why}"
                    self.close(GO_AWAY_AUTH_FAILED, why)
                    return
                self.account, self.token, self.ports, self.names = entry.name, None, entry.ports, entry.names
            else:
                got = msg.get("mac")
                got_b = got.encode() if isinstance(got, str) else b""
                # Check every token (in constant time each): which client is this?
                candidates = [(None, cfg.token, cfg.ports, ())] if cfg.token else []
                candidates += [(c.name, c.token, c.ports, c.names) for c in cfg.clients if c.token]
                match = None
                for name, token, ports, names in candidates:
                    if hmac.compare_digest(got_b, auth_mac(token, b"client", self.nonce, binding).encode()):
                        match = (name, token, ports, names)
                if match is None:
                    log.warning("authentication failed from %s", self.peer)
                    self.server.auth_failed(self.host)
                    self.close_reason = "authentication failed"
                    self.close(GO_AWAY_AUTH_FAILED, "invalid token")
                    return
                self.account, self.token, self.ports, self.names = match
        self.client_id = self.server.new_client_id()
        self.name = str(msg.get("client", ""))[:100]
        if self.server.hooks.on_login is not None:
            self.loop.create_task(self._login_hook(msg, binding))
            return
        self._welcome(msg, binding)

    def _key_entry(self, msg: dict, binding: bytes) -> tuple[Any, str]:
        """The ``[[clients]]`` entry whose key signed this ``auth``, or (None, why not)."""
        key, sig = msg.get("key"), msg.get("sig")
        if not isinstance(key, str) or not isinstance(sig, str):
            return None, "malformed key authentication"
        entry = next((c for c in self.server.config.clients if c.key == key), None)
        if entry is None:
            return None, f"unknown key {key[:44]}"
        if not verify_auth(parse_public_key(key), sig, self.nonce, binding):
            return None, "the key's signature does not verify"
        return entry, ""

    async def _login_hook(self, msg: dict, binding: bytes) -> None:
        reason = await self.server.hooks.call("login", {
            "event": "login", "client": self.client_id, "address": self.peer, "version": self.name,
            "account": self.account})
        if self.transport is None or self.transport.is_closing():
            return
        if reason is not None:
            log.warning("client %s refused by the login hook: %s", self.peer, reason)
            self.server.refused["hook_login"] += 1
            self.close_reason = f"refused by the login hook: {reason}"
            self.close(GO_AWAY_REFUSED, reason[:200])
            return
        self._welcome(msg, binding)

    def _welcome(self, msg: dict, binding: bytes) -> None:
        cfg = self.server.config
        self.authed = True
        self.connected_at = time.time()
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
        welcome = {"op": "welcome", "ping_interval": cfg.ping_interval, "ping_timeout": cfg.ping_timeout}
        cnonce = msg.get("cnonce")
        if cfg.auth and self.token is not None and isinstance(cnonce, str) and len(cnonce) <= 128:
            try:  # the server's proof of the token, bound to this TLS session
                welcome["proof"] = auth_mac(self.token or "", b"server", bytes.fromhex(cnonce), binding)
            except ValueError:
                pass
        self.send_control(welcome)
        log.info("client %s connected (%s%s)", self.peer, self.name or "unnamed",
                 f", account {self.account}" if self.account else "")

    def _handle_bind(self, msg: dict) -> None:
        req = msg.get("id")
        kind = msg.get("kind", "tcp")
        try:
            limits = _limits(msg)
        except BindError as exc:
            self.send_control({"op": "error", "id": req, "error": str(exc)})
            return
        if kind != "tcp":
            front = self.server.fronts.get(kind) if isinstance(kind, str) else None
            if front is None:
                what = "HTTP port (fasttun serve --http-port)" if kind == "http" else f"tunnels of kind {kind!r}"
                self.send_control({"op": "error", "id": req, "error": f"this server has no {what}"})
                return
            asyncio.ensure_future(self._bind_front(req, front, msg, limits))
            return
        port = msg.get("port", 0)
        local = str(msg.get("local", ""))[:300]
        prefer = bool(msg.get("prefer", False))
        if not isinstance(port, int) or not 0 <= port <= 65535:
            self.send_control({"op": "error", "id": req, "error": f"bad port {port!r}"})
            return
        asyncio.ensure_future(self._bind(req, port, local, prefer, limits))

    async def _tunnel_hook(self, req: object, msg: dict, limits: dict) -> bool:
        """Ask the tunnel hook about a bind; False (and the client told) when it refuses."""
        if self.server.hooks.on_tunnel is None:
            return True
        kind = msg.get("kind", "tcp")
        event = {"event": "tunnel", "client": self.client_id, "address": self.peer, "account": self.account,
                 "kind": kind, "local": str(msg.get("local", ""))[:300], "limits": limits}
        if kind == "tcp":
            event["port"] = msg.get("port", 0)
        else:
            event["subdomain"] = msg.get("subdomain") or None
            event["hostname"] = msg.get("hostname") or None
        reason = await self.server.hooks.call("tunnel", event)
        if reason is None:
            return True
        self.server.refused["hook_tunnel"] += 1
        log.warning("client %s: tunnel refused by the hook: %s", self.peer, reason)
        self.send_control({"op": "error", "id": req, "error": f"refused by the server: {reason}"[:300]})
        return False

    async def _bind(self, req: object, port: int, local: str, prefer: bool, limits: dict) -> None:
        if not await self._tunnel_hook(req, {"port": port, "local": local}, limits):
            return
        try:
            tunnel = await self.server.bind(self, port, local, prefer)
        except BindError as exc:
            self.send_control({"op": "error", "id": req, "error": str(exc)})
            log.warning("client %s: %s", self.peer, exc)
            return
        if self.transport is None or self.transport.is_closing():
            self.server.unbind(tunnel)
            return
        self.server.apply_limits(tunnel, limits)
        self.send_control({"op": "bound", "id": req, "tunnel": tunnel.tunnel_id, "port": tunnel.port,
                           "host": self.server.config.public_host})
        log.info("client %s: public port %d -> %s", self.peer, tunnel.port, local)

    async def _bind_front(self, req: object, front: Front, msg: dict, limits: dict) -> None:
        if not await self._tunnel_hook(req, msg, limits):
            return
        local = str(msg.get("local", ""))[:300]
        tunnel = Tunnel(self.server.new_tunnel_id(), 0, local, self, None, kind=front.kind)
        try:
            extra = await front.bind(self, tunnel, msg)
        except BindError as exc:
            self.send_control({"op": "error", "id": req, "error": str(exc)})
            log.warning("client %s: %s", self.peer, exc)
            return
        if self.transport is None or self.transport.is_closing():
            front.unbind(tunnel, True)
            return
        self.tunnels[tunnel.tunnel_id] = tunnel
        self.server.apply_limits(tunnel, limits)
        self.send_control({"op": "bound", "id": req, "tunnel": tunnel.tunnel_id, **extra})

    def on_open(self, stream_id: int, tunnel_id: int, info: bytes) -> None:
        self.fail(GO_AWAY_PROTOCOL_ERROR, f"{self.peer} opened stream {stream_id}, "
                  "but only the server opens streams (docs/spec.md §4.3)")

    def accept_public(self, st: StreamProtocol) -> bool:
        tunnel = self.tunnels.get(st.tunnel_id)
        if tunnel is None:  # unbound meanwhile
            return False
        transport = st.transport
        info = b""
        if transport is not None:
            info = f"{format_address(transport.get_extra_info('peername'))} " \
                   f"{format_address(transport.get_extra_info('sockname'))}".encode()
        if self.server.hooks.on_connect is not None:
            if tunnel.pending >= self.server.config.max_pending:
                return self.open_public_stream(st, tunnel, info)  # refused there, and counted
            st.held = True  # no stream yet: what it reads is held (StreamProtocol._hold)
            tunnel.pending += 1
            self.loop.create_task(self._connect_hook(st, tunnel, info))
            return True
        return self.open_public_stream(st, tunnel, info)

    async def _connect_hook(self, st: StreamProtocol, tunnel: Tunnel, info: bytes) -> None:
        visitor = info.decode().split(" ", 1)[0]
        reason = await self.server.hooks.call("connect", {
            "event": "connect", "client": self.client_id, "tunnel": tunnel.tunnel_id, "kind": tunnel.kind,
            "public": tunnel.public, "visitor": visitor})
        tunnel.pending -= 1
        st.held = False
        if st.transport is None or st._closed:
            return
        if reason is None and self.open_public_stream(st, tunnel, info):
            st.window_opened()  # what it held goes out; reading resumes
            return
        if reason is not None:
            self.server.refused["hook_connect"] += 1
            log.info("client %s: %s refused by the connect hook: %s", self.peer, visitor, reason)
        st._closed = True
        abort_with_rst(st.transport)

    def open_public_stream(self, st: StreamEnd, tunnel: Tunnel, info: bytes) -> bool:
        """Open a stream of *tunnel* for the public connection *st* (its
        protocol); *info* is the OPEN's text (docs/spec.md §4.3).  Returns
        False when it must be refused (the session is closing, too many
        connections wait for the local service, or too many streams)."""
        if self.transport is None or self.transport.is_closing() or tunnel.closing:
            return False
        traffic = tunnel.traffic
        if tunnel.max_conns and traffic.open >= tunnel.max_conns:
            self.server.refused["max_conns"] += 1
            return False
        limit = self.server.config.max_pending
        if tunnel.pending >= limit:
            tunnel.refused += 1
            now = self.loop.time()
            if now - tunnel.logged_at >= 1.0:  # at most a line a second under a flood
                tunnel.logged_at = now
                where = f"public port {tunnel.port}" if tunnel.port else f"tunnel {tunnel.tunnel_id}"
                log.warning("client %s: %s has %d connections waiting for the local service "
                            "(--max-pending %d); refused %d so far", self.peer, where, tunnel.pending,
                            limit, tunnel.refused)
            self.server.refused["max_pending"] += 1
            return False
        sid = self.session.open_stream(tunnel.tunnel_id, info)
        if not sid:
            log.warning("client %s: stream limit reached, refusing a public connection", self.peer)
            self.server.refused["max_streams"] += 1
            return False
        st.stream_id = sid
        st.pending_in = tunnel
        st.traffic = traffic
        traffic.open += 1
        traffic.total += 1
        tunnel.pending += 1
        self.streams[sid] = st  # type: ignore[assignment]
        self.schedule_flush()
        self.server.streams_total += 1
        if tunnel.max_serves and traffic.total >= tunnel.max_serves:
            self.loop.call_soon(self.server.close_tunnel, tunnel,
                                f"it served {traffic.total} connections (max_serves)")
        return True

    def session_closed(self) -> None:
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
        for tunnel in list(self.tunnels.values()):
            # A client that said goodbye gives everything up; one that was
            # lost may come back for it (a front may keep it reserved).
            self.server.unbind(tunnel, gone=not self.leaving,
                               reason="the client left" if self.leaving else "the client was lost")
        self.server.sessions.discard(self)
        self.server.bytes_in += self.session.bytes_received
        self.server.bytes_out += self.session.bytes_sent
        if self.authed:
            log.info("client %s disconnected: %s", self.peer, self.close_reason)


class TunnelServer:
    """Accepts tunnel clients and opens public ports for them."""

    def __init__(self, config: ServerConfig, hooks: Hooks | None = None) -> None:
        self.config = config.validate()
        self.hooks = hooks or Hooks()  # the operator's callbacks (fasttun.hooks)
        self.sessions: set[ClientSession] = set()
        self.tunnels: dict[int, Tunnel] = {}  # by public port
        self._next_tunnel = 1
        self._control: asyncio.AbstractServer | None = None
        self.started = time.monotonic()
        self.streams_total = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.fingerprint: str | None = None  # SHA-256 of the certificate presented
        self.ssl_context: ssl.SSLContext | None = None  # the tunnel's TLS (None: --no-tls), once started
        self.noise_public: str | None = None  # the Noise public key clients pin (--noise), once started
        self.self_signed = False
        self.fronts: dict[str, Front] = {}  # kind -> front (added by fasttun.api)
        self.refused: Counter[str] = Counter()  # refused connections by reason (for /metrics)
        self.auth_failures = 0
        self._next_client = 1
        self._failures: dict[str, list[float]] = {}  # address -> times of failed authentications
        self._blocked: dict[str, float] = {}  # address -> blocked until

    def new_tunnel_id(self) -> int:
        """A tunnel id never given before (OPEN frames name it)."""
        tid = self._next_tunnel
        self._next_tunnel += 1
        return tid

    def new_client_id(self) -> int:
        """A client id never given before."""
        cid = self._next_client
        self._next_client += 1
        return cid

    def apply_limits(self, tunnel: Tunnel, limits: dict) -> None:
        """Set a new tunnel's limits (``max_conns``, ``max_serves``, ``expire``
        in seconds from now; docs/spec.md §4.7) and arm its expiry."""
        tunnel.max_conns = limits.get("max_conns", 0)
        tunnel.max_serves = limits.get("max_serves", 0)
        expire = limits.get("expire")
        if expire:
            tunnel.expires = time.time() + expire
            tunnel.timer = asyncio.get_running_loop().call_later(
                expire, self.close_tunnel, tunnel, "it expired (expire)")

    def close_tunnel(self, tunnel: Tunnel, reason: str) -> None:
        """Close *tunnel* on the server's initiative (a limit, the operator);
        its client is told why (``closed``, docs/spec.md §4.7).  Connections
        already open go on; their names and ports are freed now."""
        owner = tunnel.owner
        if owner.tunnels.get(tunnel.tunnel_id) is not tunnel or tunnel.closing:
            return
        tunnel.closing = reason
        if owner.transport is not None and not owner.transport.is_closing():
            owner.send_control({"op": "closed", "tunnel": tunnel.tunnel_id, "reason": reason})
        log.info("client %s: tunnel %d (%s) closed: %s", owner.peer, tunnel.tunnel_id, tunnel.public, reason)
        self.unbind(tunnel, reason=reason)

    def find_tunnel(self, tunnel_id: int) -> Tunnel | None:
        """The open tunnel of that id, whichever client holds it."""
        for s in self.sessions:
            tunnel = s.tunnels.get(tunnel_id)
            if tunnel is not None:
                return tunnel
        return None

    def auth_failed(self, host: str) -> None:
        """Count a failed authentication; block *host* after too many."""
        self.auth_failures += 1
        cfg = self.config
        now = time.monotonic()
        times = [t for t in self._failures.get(host, ()) if now - t < cfg.auth_window] + [now]
        self._failures[host] = times
        if len(times) >= cfg.auth_failures:
            self._blocked[host] = now + cfg.auth_window
            del self._failures[host]
            log.warning("blocking %s for %.0f s after %d failed authentications", host, cfg.auth_window, len(times))
        if len(self._failures) > 10000:  # bounded memory under a flood of addresses
            self._failures.clear()

    def is_blocked(self, host: str) -> bool:
        until = self._blocked.get(host)
        if until is None:
            return False
        if time.monotonic() >= until:
            del self._blocked[host]
            return False
        return True

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config
        ssl_ctx = None
        if cfg.noise:
            from ..transports.noiseproto import NoiseProtocol, load_or_create_key

            state = Path(cfg.state_dir) if cfg.state_dir else tls.default_state_dir()
            key, self.noise_public = load_or_create_key(state)
            self._control = await loop.create_server(
                lambda: NoiseProtocol(ClientSession(self), initiator=False, static=key,
                                      handshake_timeout=cfg.handshake_timeout),
                cfg.listen_host or None, cfg.listen_port, backlog=1024)
            self.started = time.monotonic()
            return
        if cfg.tls:
            if cfg.cert and cfg.key:
                cert, key = cfg.cert, cfg.key
                self.fingerprint = tls.certificate_fingerprint(cert)
            else:
                state = Path(cfg.state_dir) if cfg.state_dir else tls.default_state_dir()
                cert_path, key_path, self.fingerprint = tls.load_or_create_certificate(state)
                cert, key = str(cert_path), str(key_path)
                self.self_signed = True
            ssl_ctx = tls.server_context(cert, key)
        self.ssl_context = ssl_ctx
        self._control = await loop.create_server(lambda: ClientSession(self), cfg.listen_host or None,
                                                 cfg.listen_port, backlog=1024, ssl=ssl_ctx,
                                                 ssl_handshake_timeout=cfg.handshake_timeout if ssl_ctx else None)
        self.started = time.monotonic()

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) of the control listener."""
        assert self._control is not None
        sockname = self._control.sockets[0].getsockname()
        return sockname[0], sockname[1]

    async def bind(self, owner: ClientSession, port: int, local: str, prefer: bool) -> Tunnel:
        low, high = owner.ports
        if port and not low <= port <= high:
            if not prefer:
                raise BindError(f"port {port} is outside the range this server allows this client ({low}-{high})")
            port = 0
        if port:
            held = self.tunnels.get(port)
            if held is not None:
                if held.owner is owner:
                    raise BindError(f"port {port} is already open for this client")
                if not prefer:
                    raise BindError(f"port {port} is in use by another client")
                port = 0
        candidates = [port] if port else self._free_ports(low, high)
        last_error: OSError | None = None
        for candidate in candidates:
            if candidate in self.tunnels:
                continue
            tid = self.new_tunnel_id()
            try:
                server = await self._listen(owner, tid, candidate)
            except OSError as exc:
                last_error = exc
                if port and prefer:  # the old port is gone: any port will do
                    return await self.bind(owner, 0, local, False)
                continue
            if candidate in self.tunnels:  # raced with another bind while awaiting
                server.close()
                continue
            tunnel = Tunnel(tid, candidate, local, owner, server)
            self.tunnels[candidate] = tunnel
            owner.tunnels[tid] = tunnel
            return tunnel
        if port:
            why = last_error.strerror if last_error else ""
            raise BindError(f"port {port} is not available on this server ({why})")
        raise BindError(f"no free port left in {low}-{high}")

    def _free_ports(self, low: int, high: int) -> list[int]:
        ports = [p for p in range(low, high + 1) if p not in self.tunnels]
        if len(ports) > 64:  # try a random sample first; a full scan would be slow
            ports = _random.sample(ports, 64)
        else:
            _random.shuffle(ports)
        return ports

    async def _listen(self, owner: ClientSession, tunnel_id: int, port: int) -> asyncio.AbstractServer:
        loop = asyncio.get_running_loop()
        factory = owner.stream_protocol
        return await loop.create_server(lambda: factory(owner, 0, tunnel_id), self.config.public_host or None,
                                        port, backlog=1024, reuse_address=True)

    def unbind(self, tunnel: Tunnel, gone: bool = False, reason: str = "") -> None:
        """Close *tunnel*'s public port (or tell its front); *gone*: its client
        was lost; *reason* goes to the close hook."""
        if tunnel.owner.tunnels.pop(tunnel.tunnel_id, None) is not None and self.hooks.on_close is not None:
            asyncio.get_running_loop().create_task(self.hooks.call("close", {
                "event": "close", "client": tunnel.owner.client_id, "tunnel": tunnel.tunnel_id,
                "kind": tunnel.kind, "public": tunnel.public, "reason": reason or "closed"}))
        if tunnel.timer is not None:
            tunnel.timer.cancel()
            tunnel.timer = None
        if tunnel.kind != "tcp":
            front = self.fronts.get(tunnel.kind)
            if front is not None:
                front.unbind(tunnel, gone)
            return
        if self.tunnels.get(tunnel.port) is tunnel:
            del self.tunnels[tunnel.port]
        if tunnel.server is not None:
            tunnel.server.close()
        log.info("public port %d closed", tunnel.port)

    async def close(self) -> None:
        """Stop: tell every client we are going away, free every port."""
        if self._control is not None:
            self._control.close()
        for s in list(self.sessions):
            s.close_reason = "server shutting down"
            s.close(GO_AWAY_SHUTDOWN, "server shutting down")
        for tunnel in list(self.tunnels.values()):
            self.unbind(tunnel, reason="the server is shutting down")
        waits = [s.closed for s in self.sessions]
        if waits:
            await asyncio.wait(waits, timeout=2)
        for s in list(self.sessions):
            if s.transport is not None:
                s.transport.abort()

    def summary(self) -> str:
        uptime = time.monotonic() - self.started
        bytes_in = self.bytes_in + sum(s.session.bytes_received for s in self.sessions)
        bytes_out = self.bytes_out + sum(s.session.bytes_sent for s in self.sessions)
        return (f"uptime {uptime:.0f} s, {self.streams_total} streams, "
                f"{format_size(bytes_out)} to clients, {format_size(bytes_in)} from clients")


def _limits(msg: dict) -> dict:
    """The limits a ``bind`` asks for (docs/spec.md §4.7), checked."""
    out: dict = {}
    for key in ("max_conns", "max_serves"):
        value = msg.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1 << 31:
            raise BindError(f"{key}: want a whole number of connections")
        out[key] = value
    expire = msg.get("expire")
    if expire is not None:
        if not isinstance(expire, (int, float)) or isinstance(expire, bool) or not 0 < expire <= 10 * 365 * 86400:
            raise BindError("expire: want a positive number of seconds")
        out["expire"] = float(expire)
    return out
