"""Key pairs that identify clients (``fasttun keygen``, ``expose --key``).

A client's private key is an Ed25519 key in a PEM file (mode 0600); its
public key is the base64 of the raw 32 bytes, one line, as ``wg pubkey``
prints WireGuard's: the string a server's ``[[clients]] key = "..."`` takes.
No shared secret travels or is kept on the server.

How the key proves itself (docs/spec.md §4.7): the client signs, with
``cryptography``'s Ed25519, the server's fresh nonce and the TLS session's
channel binding (``tls-unique``), under a fixed context string.  This is what
a TLS client certificate's CertificateVerify does; it is done in the CONTROL
handshake because Python's ``ssl`` module cannot accept a self-signed client
certificate by its public key (it has no verification callback).  The
binding ties the signature to this one TLS session: a relay between client
and server cannot reuse it on its own session with the server.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..exceptions import ConfigError

if TYPE_CHECKING:  # cryptography is imported when a key is used: it costs a process ~7 MiB
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["generate_key", "load_private_key", "public_key_text", "parse_public_key", "sign_auth", "verify_auth",
           "CONTEXT"]

CONTEXT = b"fasttun key authentication v1\x00"


def generate_key(path: str | Path) -> str:
    """Write a new private key to *path* (mode 0600; never over an existing
    file); return its public key text."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists already; choose another --out (a key is never overwritten)") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return public_key_text(key.public_key())


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file *path*; ``ConfigError`` if it is not one."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"--key {path}: {exc.strerror or exc}") from None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--key {path}: not a private key fasttun can read ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"--key {path}: not an Ed25519 key (make one with fasttun keygen)")
    return key


def public_key_text(key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_bytes(text: str) -> bytes | None:
    """The 32 bytes of a key printed as base64 (44 characters), or None."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def parse_public_key(text: str, what: str = "key") -> Ed25519PublicKey:
    """A public key as ``fasttun keygen`` prints it; ``ConfigError`` otherwise."""
    raw = key_bytes(text)
    if raw is None:
        raise ConfigError(f"{what} {text[:60]!r}: not a public key (44 characters of base64, as fasttun keygen "
                          "prints it)")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(raw)


def _message(nonce: bytes, binding: bytes) -> bytes:
    return CONTEXT + len(nonce).to_bytes(2, "big") + nonce + binding


def sign_auth(key: Ed25519PrivateKey, nonce: bytes, binding: bytes) -> str:
    """The client's signature over the server's *nonce* and the channel *binding* (base64)."""
    return base64.b64encode(key.sign(_message(nonce, binding))).decode()


def verify_auth(key: Ed25519PublicKey, signature: str, nonce: bytes, binding: bytes) -> bool:
    """Whether *signature* (base64) is *key*'s over *nonce* and *binding*."""
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(base64.b64decode(signature, validate=True), _message(nonce, binding))
        return True
    except (InvalidSignature, binascii.Error, ValueError):
        return False
