"""The tunnel client: dial the server, register tunnels, serve streams.

``TunnelClient`` keeps one tunnel connection (a ``ServerSession``) to the
server.  When it is lost, the client dials again with exponential backoff
(``backoff_min`` doubling to ``backoff_max``, with jitter) and asks for every
tunnel again, with the public port it had before (``prefer``: an
auto-assigned port that is gone is replaced by another one).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
import secrets
import socket
import ssl
import time
from typing import Callable

from .._core.consts import GO_AWAY_AUTH_FAILED, GO_AWAY_REFUSED, GO_AWAY_SHUTDOWN, RESET_REFUSED, RESET_UNKNOWN_TUNNEL
from .._version import __version__
from ..config import ClientConfig, Route
from ..exceptions import AuthenticationError, ConnectError, FasttunError, ProtocolError, TunnelError
from ..transports import tls
from ..transports.keys import load_private_key, public_key_text, sign_auth
from ..transports.proxy import connect_via_proxy, parse_proxy, proxy_from_env
from .auth import auth_mac
from .protocol import SessionProtocol, Traffic, format_size
from .proxyproto import proxy_header
from .relay import StreamProtocol

__all__ = ["TunnelClient", "Tunnel"]

log = logging.getLogger("fasttun")
_random = random.Random()  # our own: the global one belongs to the embedding program
_DIAL_TIMED_OUT = "connect timeout"  # the message of the cancellation by a dial's timer


class Tunnel:
    """A public port, or an HTTP name, on the server that leads to a local service.

    Attributes:
        route: what was asked for (``config.Route``).
        local_host, local_port: the service that public connections reach.
        remote_host: the server's public address as this client knows it.
        remote_port: the public port of a TCP tunnel (it may change after a
            reconnect when it was server-assigned and got taken meanwhile).
        name: the host name of an HTTP tunnel (e.g. ``myapp.example.com``).
        urls: the URLs of an HTTP tunnel, one per port of the server
            (``http://...`` and/or ``https://...``).
    """

    def __init__(self, client: "TunnelClient", route: Route) -> None:
        self.client = client
        self.route = route
        self.local_host = route.local_host
        self.local_port = route.local_port
        self.requested_port = route.remote_port
        self.remote_port = 0
        self.remote_host = client.config.server_host
        self.name = ""
        self.label = ""  # the subdomain the server gave (asked for again after a reconnect)
        self.urls: list[str] = []
        self.tunnel_id = 0
        self.closed = False
        self.closed_reason = ""  # why the server closed it (a limit, the operator)
        self.key = route.name  # its name in the agent API (t1, t2, ... when the route has none)
        self.addresses: list | None = None  # the local service's addresses, resolved once
        self.traffic = Traffic()  # received: from the local service; delivered: to it
        # Limits are the route's; a deadline (wall clock) outlives reconnects.
        self.deadline = time.time() + route.expire if route.expire else 0.0

    @property
    def url(self) -> str:
        """The tunnel's first URL: ``http(s)://name[:port]``, or ``tcp://host:port``."""
        return self.urls[0] if self.urls else f"tcp://{self.public_address}"

    async def resolve(self, loop: asyncio.AbstractEventLoop) -> list:
        """Resolve the local service's host; the result is kept until a dial fails."""
        infos = await loop.getaddrinfo(self.local_host, self.local_port, type=socket.SOCK_STREAM)
        if not infos:
            raise OSError(f"cannot resolve {self.local_host}")
        self.addresses = [(family, sockaddr[:2]) for family, _, _, _, sockaddr in infos]
        return self.addresses

    @property
    def public_address(self) -> str:
        """``host:port`` of a TCP tunnel; the host name of an HTTP tunnel."""
        if self.route.http:
            return self.name
        host = self.remote_host
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{self.remote_port}"

    @property
    def local_address(self) -> str:
        return f"{self.local_host}:{self.local_port}"

    def __repr__(self) -> str:
        return f"<Tunnel {self.url} -> {self.local_address}>"

    async def close(self) -> None:
        """Close the public port (the server frees it at once)."""
        if self.closed:
            return
        self.closed = True
        self.client.tunnels.remove(self)
        conn = self.client.conn
        if conn is not None and self.tunnel_id and not conn.closed.done():
            conn.by_id.pop(self.tunnel_id, None)
            conn.send_control({"op": "unbind", "tunnel": self.tunnel_id})

    def _limits(self) -> dict:
        """The route's limits, as what is left of them after a reconnect."""
        route = self.route
        out: dict = {}
        if route.max_conns:
            out["max_conns"] = route.max_conns
        if route.max_serves:
            out["max_serves"] = max(1, route.max_serves - self.traffic.total)
        if self.deadline:
            out["expire"] = max(0.001, self.deadline - time.time())
        return out

    def bind_message(self, prefer: bool) -> dict:
        """The ``bind`` asking for this tunnel (docs/spec.md §4.7, §9.1)."""
        route = self.route
        if not route.http:
            port = self.remote_port or self.requested_port
            return {"port": port, "local": self.local_address, "prefer": prefer, **self._limits()}
        msg: dict = {"kind": "http", "local": self.local_address, "claim": self.client.claim,
                     "log": self.client.log_mode(), **self._limits()}
        if route.hostname:
            msg["hostname"] = route.hostname
        elif route.subdomain or self.label:
            msg["subdomain"] = route.subdomain or self.label
            msg["prefer"] = not route.subdomain  # a drawn name that is gone may be drawn anew
        if route.basic_auth is not None:
            msg["basic_auth"] = route.basic_auth
        if route.host_header is not None:
            msg["host_header"] = route.host_header
        if route.request_headers:
            msg["request_headers"] = [list(h) for h in route.request_headers]
        if route.rate_limit is not None:
            msg["rate_limit"] = route.rate_limit
        return msg


class ServerSession(SessionProtocol):
    """The client's side of its tunnel connection."""

    def __init__(self, client: "TunnelClient") -> None:
        super().__init__(client=True, ping_interval=5.0, ping_timeout=15.0,
                         buffer_size=client.config.buffer_size)
        self.client = client
        self.ready: asyncio.Future[None] = self.loop.create_future()
        self.by_id: dict[int, Tunnel] = {}
        self.requests: dict[int, asyncio.Future[dict]] = {}
        self._next_req = 1
        self.go_away_code: int | None = None
        self.cnonce = secrets.token_bytes(32)
        self.binding = b""
        self.server_auth = True

    def on_control(self, msg: dict) -> None:
        op = msg.get("op")
        if op == "hello":
            try:
                nonce = bytes.fromhex(str(msg.get("nonce", "")))
            except ValueError:
                nonce = b""
            self.server_auth = bool(msg.get("auth", True))
            self.binding = tls.channel_binding(self.transport)
            auth: dict = {"op": "auth", "cnonce": self.cnonce.hex(), "client": f"fasttun/{__version__}"}
            key = self.client.key
            if key is not None and self.server_auth:  # a key pair, not a token (docs/spec.md §4.7)
                auth["key"] = public_key_text(key.public_key())
                auth["sig"] = sign_auth(key, nonce, self.binding)
            else:
                token = self.client.config.token or ""
                auth["mac"] = auth_mac(token, b"client", nonce, self.binding) if self.server_auth else ""
            self.send_control(auth)
        elif op == "welcome":
            problem = self.client.verify_server(self, msg)
            if problem:
                if not self.ready.done():
                    self.ready.set_exception(AuthenticationError(problem))
                self.close_reason = problem
                self.close(0, "client refused the server")
                return
            interval = float(msg.get("ping_interval", 5.0))
            timeout = float(msg.get("ping_timeout", 15.0))
            self.session.set_keepalive(interval, timeout, self.loop.time())
            self.rearm_timer()
            if not self.ready.done():
                self.ready.set_result(None)
        elif op == "requests":
            on_request = self.client.on_request
            records = msg.get("records")
            if on_request is None or not isinstance(records, list):
                return
            by_id = self.by_id
            # A callback with a `requests_message` method takes each message
            # whole (the console's RequestLog): no dict per request.
            batch = getattr(on_request, "requests_message", None)
            try:
                if batch is not None:
                    batch(by_id, records)
                    return
                for r in records:
                    # [tunnel, method, path, status, bytes, duration, client] (docs/spec.md §9.2)
                    tunnel = by_id.get(r[0])
                    if tunnel is not None:
                        on_request(tunnel, {"method": r[1], "path": r[2], "status": r[3], "bytes": r[4],
                                            "duration": r[5], "client": r[6]})
            except (TypeError, ValueError, IndexError, KeyError) as exc:
                log.debug("ignoring a malformed requests message: %s", exc)
        elif op == "request_lines":
            on_lines = getattr(self.client.on_request, "lines_message", None)
            runs = msg.get("lines")
            if on_lines is None or not isinstance(runs, list):
                return
            try:
                on_lines(self.by_id, runs)
            except (TypeError, ValueError, IndexError, KeyError) as exc:
                log.debug("ignoring a malformed request_lines message: %s", exc)
        elif op in ("bound", "error"):
            fut = self.requests.pop(msg.get("id"), None)  # type: ignore[arg-type]
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif op == "closed":
            tunnel = self.by_id.pop(msg.get("tunnel"), None)  # type: ignore[arg-type]
            if tunnel is not None:
                self.client.tunnel_closed(tunnel, str(msg.get("reason", ""))[:300] or "closed by the server")

    def noise_failed(self, reason: str) -> None:
        """The Noise handshake did not complete (NoiseProtocol tells)."""
        if not self.ready.done():
            self.ready.set_exception(AuthenticationError(
                f"the Noise handshake with the server failed ({reason}): is --noise the key that "
                "fasttun serve --noise printed?"))
        if not self.closed.done():
            self.closed.set_result(reason)

    def on_go_away(self, code: int, message: str) -> None:
        self.go_away_code = code
        self.close_reason = f"server went away: {message}"
        if not self.ready.done():
            if code == GO_AWAY_AUTH_FAILED:
                what = "key" if self.client.key is not None else "token"
                self.ready.set_exception(AuthenticationError(f"the server refused the {what} ({message})"))
            elif code == GO_AWAY_REFUSED:
                self.ready.set_exception(AuthenticationError(f"the server refused this client: {message}"))
            else:
                self.ready.set_exception(ProtocolError(f"the server closed the connection: {message}"))
        self.close()

    def fail(self, code: int, reason: str) -> None:
        if not self.ready.done():
            exc = ProtocolError(reason)
            exc.code = code
            self.ready.set_exception(exc)
        super().fail(code, reason)

    def session_closed(self) -> None:
        if not self.ready.done():
            hint = "" if self.client.config.tls else "; if the server uses TLS, drop --no-tls"
            self.ready.set_exception(ConnectError(f"the server closed the connection ({self.close_reason}){hint}"))
        for fut in self.requests.values():
            if not fut.done():
                fut.set_exception(ConnectError("connection to the server lost"))
        self.requests.clear()
        self.client.bytes_in += self.session.bytes_received
        self.client.bytes_out += self.session.bytes_sent

    async def request_bind(self, tunnel: Tunnel, prefer: bool) -> dict:
        req = self._next_req
        self._next_req += 1
        fut: asyncio.Future[dict] = self.loop.create_future()
        self.requests[req] = fut
        self.send_control({"op": "bind", "id": req, **tunnel.bind_message(prefer)})
        return await fut

    def on_open(self, stream_id: int, tunnel_id: int, info: bytes) -> None:
        tunnel = self.by_id.get(tunnel_id)
        if tunnel is None:
            self.session.send_reset(stream_id, RESET_UNKNOWN_TUNNEL)
            return
        factory = self.client.http_stream if tunnel.route.http else None
        if factory is not None:
            st = factory(self, stream_id, tunnel)
        else:
            st = self.stream_protocol(self, stream_id, tunnel_id)
        st.traffic = tunnel.traffic
        if tunnel.route.proxy_protocol:
            st.prefix = proxy_header(tunnel.route.proxy_protocol, info)
        self.streams[stream_id] = st
        self.client.streams_total += 1
        loop = self.loop
        task = loop.create_task(self._dial(st, tunnel, info))
        # The dial's time limit: a timer that cancels the task (asyncio.timeout
        # costs three getpid() calls and a few Python calls more per connection).
        timer = loop.call_later(self.client.config.connect_timeout, task.cancel, _DIAL_TIMED_OUT)
        task.add_done_callback(lambda _: timer.cancel())

    async def _dial(self, st: StreamProtocol, tunnel: Tunnel, info: bytes) -> None:
        try:
            try:
                addrs = tunnel.addresses or await tunnel.resolve(self.loop)
                for i, (family, addr) in enumerate(addrs):
                    try:
                        # A numeric address: no getaddrinfo (a thread) per connection.
                        await self.loop.create_connection(lambda: st, addr[0], addr[1], family=family)
                        break
                    except OSError:
                        if i == len(addrs) - 1:
                            tunnel.addresses = None  # resolve again next time
                            raise
            except asyncio.CancelledError as exc:
                if exc.args != (_DIAL_TIMED_OUT,):
                    raise
                task = asyncio.current_task(self.loop)
                if task is not None:
                    task.uncancel()  # handled here: the task is no longer being cancelled
                raise TimeoutError from None  # on_open's timer: the dial took too long
        except OSError as exc:  # TimeoutError included
            why = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or exc
            visitor = info.decode(errors="replace").split(" ", 1)[0]
            log.warning("%s: cannot reach %s for %s: %s", tunnel.url, tunnel.local_address,
                        visitor or "a public connection", why)
            if self.streams.get(st.stream_id) is st:
                del self.streams[st.stream_id]
            self.session.send_reset(st.stream_id, RESET_REFUSED)
            self.flush()


class TunnelClient:
    """Connects to a tunnel server and keeps the tunnels open."""

    def __init__(self, config: ClientConfig, on_tunnel: Callable[[Tunnel], None] | None = None,
                 on_request: Callable[[Tunnel, dict], None] | None = None,
                 on_tunnel_closed: Callable[[Tunnel, str], None] | None = None,
                 on_tunnel_down: Callable[[Tunnel, str], None] | None = None) -> None:
        self.config = config.validate()
        self.key = load_private_key(config.key) if config.key else None  # (a ConfigError now, not at dial)
        self.tunnels: list[Tunnel] = []
        self.conn: ServerSession | None = None
        self.on_tunnel = on_tunnel
        self.on_tunnel_closed = on_tunnel_closed  # called with a tunnel the server closed, and why
        self.on_tunnel_down = on_tunnel_down  # called with each tunnel when the server is lost, and why
        # Makes the StreamProtocol of an HTTP tunnel's stream (the inspector's,
        # which records the exchanges); None: the plain relay.
        self.http_stream: Callable[[ServerSession, int, Tunnel], StreamProtocol] | None = None
        self._keys = 0
        self.on_request = on_request  # called with each request an HTTP tunnel answered (docs/spec.md §9.2)
        # Sent with every HTTP bind: the server keeps this client's names for it
        # while it is away, and gives them back only to the same claim.
        self.claim = secrets.token_hex(16)
        self.started = time.monotonic()
        self.streams_total = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self._closing = False
        # A CA file, or the system store when nothing else verifies the server.
        self._verified_by_ca = bool(config.tls and config.ca and not config.fingerprint)
        self._runner: asyncio.Task[None] | None = None
        self.failed: asyncio.Future[BaseException] | None = None

    async def connect(self) -> None:
        """Dial and authenticate; start keeping the connection up.

        Raises:
            ConnectError: the server cannot be reached.
            AuthenticationError: the server refused the token.
            ProtocolError: the server speaks another protocol (version).
        """
        self.failed = asyncio.get_running_loop().create_future()
        self.conn = await self._dial()
        self._runner = asyncio.ensure_future(self._keep())

    def log_mode(self) -> bool | str:
        """A bind's ``log`` (docs/spec.md §9.2): ``"lines"`` when the
        ``on_request`` callback takes the server's console lines (it has a
        ``lines_message`` method, as the console's ``RequestLog``), else
        whether there is a callback (records)."""
        if self.on_request is None:
            return False
        return "lines" if hasattr(self.on_request, "lines_message") else True

    def verify_server(self, conn: "ServerSession", welcome: dict) -> str:
        """Return why the server is not trusted, or "" (docs/security.md)."""
        cfg = self.config
        if not cfg.tls or cfg.noise_key:  # (Noise NK: only the holder of the server's key completes it)
            return ""
        if cfg.fingerprint:
            got = tls.peer_fingerprint(conn.transport)
            want = tls.normalize_fingerprint(cfg.fingerprint)
            if got != want:
                return (f"the server's certificate does not match --fingerprint: expected {want}, "
                        f"the server presented {got}")
            return ""
        if self._verified_by_ca:
            return ""
        # Neither pinned nor CA-verified: the server must prove the token.
        if not conn.server_auth:
            return ("the server accepts any client (--no-auth), so it cannot prove a token: "
                    "pass --fingerprint (printed by fasttun serve) or --ca")
        proof = welcome.get("proof")
        expected = auth_mac(cfg.token or "", b"server", conn.cnonce, conn.binding)
        if not isinstance(proof, str) or not hmac.compare_digest(proof.encode(), expected.encode()):
            return ("the server could not prove that it knows the token over this TLS session; "
                    "it may not be the server you meant (pass --fingerprint to pin its certificate)")
        return ""

    async def _dial(self) -> ServerSession:
        cfg = self.config
        loop = asyncio.get_running_loop()
        target = cfg.ws_url or f"{cfg.server_host}:{cfg.server_port}"
        ssl_ctx = None
        if cfg.tls:
            ssl_ctx = tls.client_context(ca=cfg.ca, verify=self._verified_by_ca)
        hostname = cfg.server_host if self._verified_by_ca else ("" if ssl_ctx else None)
        ws_plain = bool(cfg.ws_url and cfg.ws_url.lower().startswith("ws://"))
        proxy = (parse_proxy(cfg.proxy) if cfg.proxy else
                 proxy_from_env(cfg.server_host, ws_plain) if cfg.proxy is None else None)
        try:
            async with asyncio.timeout(cfg.connect_timeout):
                sock = await connect_via_proxy(proxy, cfg.server_host, cfg.server_port) if proxy else None
                if cfg.noise_key:
                    from ..transports.noiseproto import NoiseProtocol, parse_server_key

                    server_key = parse_server_key(cfg.noise_key)
                    where = {"sock": sock} if sock is not None else {"host": cfg.server_host, "port": cfg.server_port}
                    transport, layer = await loop.create_connection(
                        lambda: NoiseProtocol(ServerSession(self), initiator=True, server_key=server_key,
                                              handshake_timeout=cfg.connect_timeout), **where)
                    conn = layer.app
                elif cfg.ws_url:
                    transport, conn = await self._dial_ws(ssl_ctx, hostname, sock)
                elif sock is not None:
                    transport, conn = await loop.create_connection(
                        lambda: ServerSession(self), sock=sock, ssl=ssl_ctx, server_hostname=hostname)
                else:
                    transport, conn = await loop.create_connection(
                        lambda: ServerSession(self), cfg.server_host, cfg.server_port, ssl=ssl_ctx,
                        server_hostname=hostname)
        except TimeoutError:
            raise ConnectError(f"cannot reach the tunnel server at {target}: timed out") from None
        except ssl.SSLCertVerificationError as exc:
            raise AuthenticationError(f"cannot verify the certificate of {target}: {exc.verify_message}; "
                                      "pass --fingerprint (printed by fasttun serve) or --ca FILE") from None
        except ssl.SSLError as exc:
            raise ConnectError(f"TLS with {target} failed: {exc.reason or exc} "
                               "(if the server runs with --no-tls, pass --no-tls too)") from None
        except ConnectionError as exc:
            if exc.errno is not None:  # refused, reset: the socket's own errors
                raise ConnectError(f"cannot reach the tunnel server at {target}: {exc.strerror or exc}") from None
            raise ConnectError(f"WebSocket to {target}: {exc}") from None
        except OSError as exc:
            raise ConnectError(f"cannot reach the tunnel server at {target}: {exc.strerror or exc}") from None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            async with asyncio.timeout(cfg.connect_timeout):
                await conn.ready
        except TimeoutError:
            transport.abort()
            raise ConnectError(f"the tunnel server at {target} did not complete the handshake") from None
        except FasttunError:
            transport.abort()
            raise
        return conn

    async def _dial_ws(self, ssl_ctx: ssl.SSLContext | None, hostname: str | None, sock: socket.socket | None) -> tuple:
        """The tunnel connection inside a WebSocket (``--server ws://...``)."""
        from ..ws.carrier import open_client  # only clients with a ws:// server load it

        cfg = self.config
        assert cfg.ws_url is not None
        outer = None
        if cfg.ws_url.lower().startswith("wss://"):
            # The reverse proxy's certificate: the system's CAs, and --ca's file too.
            outer = ssl.create_default_context()
            if cfg.ca and cfg.ca != "system":
                outer.load_verify_locations(cfg.ca)
        return await open_client(cfg.ws_url, lambda: ServerSession(self), tls_context=ssl_ctx,
                                 server_hostname=hostname, outer_context=outer, sock=sock,
                                 timeout=cfg.connect_timeout)

    async def expose(self, local_port: int, *, local_host: str = "localhost", remote_port: int = 0,
                     **options: object) -> Tunnel:
        """Open a public port (or, with ``http=True``, an HTTP name) on the
        server leading to ``local_host:local_port``.

        Args:
            local_port: port of the local service.
            local_host: host of the local service.
            remote_port: public port to ask for; 0 lets the server choose.
            **options: other ``Route`` fields: ``http``, ``subdomain``,
                ``hostname``, ``basic_auth``, ``host_header``,
                ``request_headers``, ``rate_limit``, ``proxy_protocol``.

        Returns:
            The open ``Tunnel``.

        Raises:
            TunnelError: the server refused (port or name taken, outside its range).
            ConfigError: an option has a bad value.
        """
        route = Route(local_host, local_port, remote_port, **options)  # type: ignore[arg-type]
        return await self.expose_route(route)

    async def expose_route(self, route: Route) -> Tunnel:
        """Open the tunnel *route* describes; see ``expose``."""
        tunnel = Tunnel(self, route.validate())
        if route.name and any(t.key == route.name for t in self.tunnels):
            raise TunnelError(f"a tunnel named {route.name!r} is open already")
        await self._bind(tunnel, prefer=False)
        if not tunnel.key:
            self._keys += 1
            while any(t.key == f"t{self._keys}" for t in self.tunnels):
                self._keys += 1
            tunnel.key = f"t{self._keys}"
        self.tunnels.append(tunnel)
        return tunnel

    async def _bind(self, tunnel: Tunnel, prefer: bool) -> None:
        conn = self.conn
        if conn is None or conn.closed.done():
            raise ConnectError("not connected to the server")
        msg = await conn.request_bind(tunnel, prefer)
        if msg.get("op") != "bound":
            raise TunnelError(str(msg.get("error", "the server refused the tunnel")))
        tunnel.tunnel_id = int(msg["tunnel"])
        if tunnel.route.http:
            tunnel.name = str(msg.get("name", ""))
            tunnel.label = str(msg.get("label", ""))
            tunnel.urls = [str(u) for u in msg.get("urls", ())]
        else:
            tunnel.remote_port = int(msg["port"])
            host = msg.get("host")
            if host and host not in ("0.0.0.0", "::"):
                tunnel.remote_host = str(host)
        conn.by_id[tunnel.tunnel_id] = tunnel
        if self.on_tunnel is not None:
            self.on_tunnel(tunnel)

    async def _keep(self) -> None:
        cfg = self.config
        while not self._closing:
            conn = self.conn
            assert conn is not None
            reason = await conn.closed
            if self._closing:
                return
            if conn.go_away_code == GO_AWAY_SHUTDOWN:
                reason = "the server is shutting down"
            if self.on_tunnel_down is not None:
                for tunnel in list(self.tunnels):
                    self.on_tunnel_down(tunnel, reason)
            if not cfg.reconnect:
                self._fail(ConnectError(f"lost the tunnel server: {reason}"))
                return
            log.warning("lost the tunnel server (%s); reconnecting", reason)
            delay = cfg.backoff_min
            while not self._closing:
                await asyncio.sleep(delay * _random.uniform(0.8, 1.2))
                try:
                    self.conn = await self._dial()
                except AuthenticationError as exc:
                    self._fail(exc)
                    return
                except FasttunError as exc:
                    log.warning("reconnect failed: %s; next try in %.0f s", exc, min(delay * 2, cfg.backoff_max))
                    delay = min(delay * 2, cfg.backoff_max)
                    continue
                log.warning("reconnected to the tunnel server")
                await self._rebind()
                break

    async def _rebind(self) -> None:
        for tunnel in list(self.tunnels):
            if tunnel.deadline and time.time() >= tunnel.deadline:
                self.tunnel_closed(tunnel, "it expired while the server was away")
                continue
            try:
                await self._bind(tunnel, prefer=not tunnel.requested_port)
            except FasttunError as exc:
                log.error("cannot reopen %s -> %s: %s", tunnel.url, tunnel.local_address, exc)

    def tunnel_closed(self, tunnel: Tunnel, reason: str) -> None:
        """The server closed *tunnel* (a limit, the operator): it is not asked for again."""
        if tunnel.closed:
            return
        tunnel.closed = True
        tunnel.closed_reason = reason
        if tunnel in self.tunnels:
            self.tunnels.remove(tunnel)
        log.warning("%s -> %s closed by the server: %s", tunnel.url, tunnel.local_address, reason)
        if self.on_tunnel_closed is not None:
            self.on_tunnel_closed(tunnel, reason)

    def _fail(self, exc: BaseException) -> None:
        if self.failed is not None and not self.failed.done():
            self.failed.set_result(exc)

    async def close(self) -> None:
        """Unregister every tunnel and disconnect."""
        self._closing = True
        conn = self.conn
        if conn is not None and not conn.closed.done():
            conn.send_control({"op": "bye"})
            conn.close(0, "client closing")
            try:
                await asyncio.wait_for(asyncio.shield(conn.closed), 2)
            except TimeoutError:
                if conn.transport is not None:
                    conn.transport.abort()
        if self._runner is not None:
            self._runner.cancel()
            try:
                await self._runner
            except asyncio.CancelledError:
                pass

    def summary(self) -> str:
        conn = self.conn
        bytes_in = self.bytes_in + (conn.session.bytes_received if conn and not conn.closed.done() else 0)
        bytes_out = self.bytes_out + (conn.session.bytes_sent if conn and not conn.closed.done() else 0)
        uptime = time.monotonic() - self.started
        return (f"uptime {uptime:.0f} s, {self.streams_total} streams, "
                f"{format_size(bytes_in)} from the server, {format_size(bytes_out)} to the server")


