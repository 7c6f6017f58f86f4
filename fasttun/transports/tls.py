"""TLS for the tunnel connection (stdlib ``ssl``, TLS 1.3 only).

The server presents either the operator's certificate (``--cert/--key``) or
a self-signed one that it creates on first start and keeps in its state
directory, so that its SHA-256 fingerprint stays the same across restarts.

A client verifies the server in one of three ways (docs/security.md):

* ``--fingerprint``: the certificate's SHA-256 must be the pinned one;
* ``--ca FILE`` or the system trust store: ordinary certificate and host
  name verification (for a real certificate);
* neither: the server must prove that it knows the token, bound to this TLS
  session (HMAC over the session's ``tls-unique`` channel binding, see
  docs/spec.md §4.7), so that a man in the middle without the token is
  caught.  A ``--no-auth`` server has no token: then the client refuses to go
  on without a fingerprint or a CA.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import ssl
from pathlib import Path

from ..exceptions import ConfigError

__all__ = ["default_state_dir", "load_or_create_certificate", "certificate_fingerprint",
           "server_context", "client_context",
           "fingerprint_of", "normalize_fingerprint", "channel_binding", "peer_fingerprint"]

CERT_NAME = "server.crt"
KEY_NAME = "server.key"


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/fasttun``, else ``~/.local/state/fasttun``."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "fasttun"


def fingerprint_of(der: bytes) -> str:
    """SHA-256 of a DER certificate, as 64 lowercase hex digits."""
    return hashlib.sha256(der).hexdigest()


def normalize_fingerprint(text: str) -> str:
    """Accept ``SHA256:AB:CD...``, ``abcd...`` and the like; return 64 hex digits."""
    value = text.strip()
    if value.lower().startswith("sha256:"):
        value = value[7:]
    value = value.replace(":", "").lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ConfigError(f"--fingerprint {text!r}: want the 64 hex digits of a SHA-256 (as fasttun serve prints)")
    return value


def certificate_fingerprint(cert_path: str | Path) -> str:
    """SHA-256 fingerprint of a PEM certificate file (its first certificate)."""
    return fingerprint_of(_der_of(Path(cert_path)))


def load_or_create_certificate(state_dir: Path) -> tuple[Path, Path, str]:
    """Return (cert path, key path, fingerprint), creating a self-signed pair once."""
    cert_path, key_path = state_dir / CERT_NAME, state_dir / KEY_NAME
    if not (cert_path.exists() and key_path.exists()):
        _create_self_signed(state_dir, cert_path, key_path)
    return cert_path, key_path, certificate_fingerprint(cert_path)


def _der_of(cert_path: Path) -> bytes:
    try:
        return ssl.PEM_cert_to_DER_cert(cert_path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the certificate {cert_path}: {exc}") from None


def _create_self_signed(state_dir: Path, cert_path: Path, key_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(f"cannot create the state directory {state_dir}: {exc.strerror}") from None
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fasttun server")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("fasttun")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def server_context(cert: Path | str, key: Path | str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the certificate {cert} / key {key}: {exc}") from None
    return ctx


def client_context(*, ca: str | None, verify: bool) -> ssl.SSLContext:
    """A TLS 1.3 client context; with *verify*, certificates are checked
    against *ca* (or the system store) and the host name; without, the caller
    checks a pinned fingerprint or the token-bound proof."""
    if verify:
        try:
            ctx = ssl.create_default_context(cafile=None if ca in (None, "system") else ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load --ca {ca}: {exc}") from None
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def peer_fingerprint(transport) -> str | None:  # type: ignore[no-untyped-def]
    obj = transport.get_extra_info("ssl_object")
    if obj is None:
        return None
    der = obj.getpeercert(binary_form=True)
    return fingerprint_of(der) if der else None


def channel_binding(transport) -> bytes:  # type: ignore[no-untyped-def]
    """The TLS session's ``tls-unique`` value (b"" without TLS); over Noise,
    the handshake hash (``NoiseProtocol``)."""
    binding = transport.get_extra_info("channel_binding")
    if binding:
        return binding  # type: ignore[no-any-return]
    obj = transport.get_extra_info("ssl_object")
    if obj is None:
        return b""
    return obj.get_channel_binding("tls-unique") or b""
