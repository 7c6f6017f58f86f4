"""The sans-I/O half of fasttun's small web APIs (the admin API, the agent API).

A ``Request`` goes in, a ``Response`` comes out; nothing here touches a socket
or a clock.  ``App`` routes by method and path pattern, checks access, and
turns errors into JSON (``{"error": "..."}``) with the right status.  The
asyncio half (``_server.py``) parses HTTP with h11 and calls ``App.handle``.

Access (docs/api.md, "Access"):

* with a token: ``Authorization: Bearer TOKEN``, or HTTP basic auth with the
  token as the password (any user name; a browser prompts for it), compared
  in constant time;
* open (no token): only on a loopback address, and only for requests whose
  ``Host`` names a loopback address (so that a web page cannot reach the API
  through DNS rebinding), and every state-changing request must be JSON from
  the same origin (no cross-site form can post to it).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from ..aio.protocol import dumps, loads
from ..config import is_loopback

__all__ = ["Request", "Response", "App", "HttpError", "json_response", "static_file", "int_param"]

MAX_BODY = 1 << 20  # bytes of a request body the APIs accept


class HttpError(Exception):
    """Answer with *status* and ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: tuple = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


@dataclass
class Request:
    """One parsed request.  ``headers``: lower-case names, last value wins."""

    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)  # filled by the router from the path pattern

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.target).path)

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.target).query).items()}

    def json(self) -> Any:
        """The body as JSON; ``HttpError(400/415)`` when it is not."""
        ctype = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise HttpError(415, "send the body as application/json")
        try:
            return loads(self.body or b"null")
        except ValueError as exc:
            raise HttpError(400, f"malformed JSON: {exc}") from None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple = ()


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(status, dumps(obj) + b"\n")


Handler = Callable[..., "Response | Awaitable[Response]"]


def _host_of(value: str) -> str:
    """The host of a ``Host`` header value (``[::1]:80`` -> ``::1``)."""
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class App:
    """Routes requests to handlers, after the access check.

    Args:
        token: the token (None: open; the caller allows that only on loopback).
        realm: the basic-auth realm a browser shows.
    """

    def __init__(self, token: str | None, realm: str) -> None:
        self.token = token.encode() if token is not None else None
        self.realm = realm
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.auth_failures = 0

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Serve *method* on paths matching *pattern* (``{name}`` takes one segment)."""
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$"
        self.routes.append((method, re.compile(regex), handler))

    def pages(self, index: str) -> None:
        """Serve the package's *index* page at ``/`` and its files at ``/static/``."""
        self.route("GET", "/", lambda req: static_file(index))
        self.route("GET", "/static/{file}", lambda req: static_file(req.params["file"]))

    def check_access(self, req: Request) -> None:
        """Raise ``HttpError(401/403)`` unless *req* may be served."""
        if self.token is None:
            host = req.headers.get("host", "")
            if not is_loopback(_host_of(host)):
                raise HttpError(403, "this API is open only to requests for a loopback address "
                                f"(Host: {host[:100]!r})")
            if req.method not in ("GET", "HEAD"):
                origin = req.headers.get("origin")
                if origin is not None and urlsplit(origin).netloc != host:
                    raise HttpError(403, "cross-origin requests may not change anything here")
            return
        got = _credential(req.headers.get("authorization", ""))
        if got is None or not hmac.compare_digest(got, self.token):
            self.auth_failures += 1
            raise HttpError(401, "send the token: Authorization: Bearer TOKEN (or basic auth, token as password)",
                            (("WWW-Authenticate", f'Basic realm="{self.realm}", charset="UTF-8"'),))

    async def handle(self, req: Request) -> Response:
        """The answer to *req* (never raises)."""
        try:
            self.check_access(req)
            path = req.path
            allowed = []
            for method, regex, handler in self.routes:
                m = regex.match(path)
                if m is None:
                    continue
                if method != req.method and not (method == "GET" and req.method == "HEAD"):
                    allowed.append(method)
                    continue
                req.params = m.groupdict()
                out = handler(req)
                if not isinstance(out, Response):
                    out = await out
                return out
            if allowed:
                raise HttpError(405, f"{req.method} is not allowed here (allowed: {', '.join(sorted(set(allowed)))})",
                                (("Allow", ", ".join(sorted(set(allowed)))),))
            raise HttpError(404, f"no such path: {path[:200]}")
        except HttpError as exc:
            resp = json_response({"error": exc.message}, exc.status)
            resp.headers = exc.headers
            return resp


def _credential(value: str) -> bytes | None:
    """The token in an ``Authorization`` value (bearer, or basic's password)."""
    scheme, _, rest = value.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return rest.strip().encode()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(rest.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        return decoded.partition(b":")[2]
    return None


def int_param(req: Request, name: str) -> int:
    """A path parameter that must be a whole number; 404 otherwise."""
    value = req.params.get(name, "")
    if not value.isdigit() or len(value) > 18:
        raise HttpError(404, f"no such {name}: {value[:40]!r}")
    return int(value)


_STATIC = {  # the files of the package's static folder, and their content types
    "dashboard.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "inspector.html": "text/html; charset=utf-8",
    "inspector.js": "text/javascript; charset=utf-8",
    "common.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


def static_file(name: str) -> Response:
    """A file of the package's ``static`` folder (only those listed)."""
    ctype = _STATIC.get(name)
    if ctype is None:
        raise HttpError(404, f"no such file: {name[:100]}")
    data = resources.files(__package__).joinpath("static", name).read_bytes()
    return Response(200, data, ctype)
