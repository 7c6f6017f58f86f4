"""The token proofs of the handshake (docs/spec.md §4.7), shared by both roles."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["auth_mac"]


def auth_mac(token: str, role: bytes, nonce: bytes, binding: bytes = b"") -> str:
    """Proof of the token (docs/spec.md §4.7): HMAC-SHA256 keyed with the token
    over the role (b"client" or b"server"), the other side's nonce and the
    TLS channel binding, in hex."""
    return hmac.new(token.encode(), role + nonce + binding, hashlib.sha256).hexdigest()
