"""fasttun's own answers to visitors: short HTML pages with the right status.

They name what went wrong in words a visitor can act on, and nothing of the
inside: no local addresses, versions or error details.  Every page closes
the connection (``Connection: close``), so that the front never has to skip
a request body it will not forward.
"""

from __future__ import annotations

import html

__all__ = ["page", "REASONS"]

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    421: "Misdirected Request",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}"
          "h1{font-size:1.4em}p{line-height:1.5}small{color:#777}")


def page(status: int, message: str, *, headers: tuple[tuple[str, str], ...] = (), head_only: bool = False) -> bytes:
    """Return a whole HTTP/1.1 response: status line, head and HTML body.

    Args:
        status: the status code (a key of ``REASONS``).
        message: one sentence for the visitor (plain text; it is escaped).
        headers: more header fields, e.g. ``(("Retry-After", "2"),)``.
        head_only: answer a HEAD request (no body, same Content-Length).
    """
    reason = REASONS.get(status, "Error")
    title = f"{status} {reason}"
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<style>{_STYLE}</style></head><body><h1>{title}</h1><p>{html.escape(message)}</p>'
            f"<hr><small>fasttun</small></body></html>\n").encode()
    lines = [f"HTTP/1.1 {title}", "Content-Type: text/html; charset=utf-8", f"Content-Length: {len(body)}",
             "Cache-Control: no-store", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return out if head_only else out + body
