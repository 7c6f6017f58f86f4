"""Client keys (``fasttun.transports.keys``): generation, the public key's
text form, and a signature that only verifies for its nonce and TLS session."""

from __future__ import annotations

import os
import stat

import pytest

from fasttun.exceptions import ConfigError
from fasttun.transports.keys import (
    generate_key,
    load_private_key,
    parse_public_key,
    public_key_text,
    sign_auth,
    verify_auth,
)


def test_keygen_file_and_public_text(tmp_path):
    path = tmp_path / "client.key"
    pub = generate_key(path)
    assert len(pub) == 44 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    key = load_private_key(path)
    assert public_key_text(key.public_key()) == pub
    with pytest.raises(ConfigError, match="exists already"):
        generate_key(path)
    assert public_key_text(parse_public_key(pub)) == pub
    for bad in ("", "abc", "A" * 44, pub[:-4]):
        with pytest.raises(ConfigError, match="not a public key"):
            parse_public_key(bad)
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(ConfigError, match="not a private key"):
        load_private_key(tmp_path / "junk.pem")


def test_signature_is_bound_to_nonce_and_session(tmp_path):
    key = load_private_key(tmp_path / "k" if generate_key(tmp_path / "k") else "")
    other = load_private_key(tmp_path / "o" if generate_key(tmp_path / "o") else "")
    pub = key.public_key()
    nonce, binding = os.urandom(32), os.urandom(12)
    sig = sign_auth(key, nonce, binding)
    assert verify_auth(pub, sig, nonce, binding)
    assert not verify_auth(pub, sig, os.urandom(32), binding)  # another connection's nonce
    assert not verify_auth(pub, sig, nonce, os.urandom(12))  # another TLS session (a relay)
    assert not verify_auth(other.public_key(), sig, nonce, binding)  # another key
    assert not verify_auth(pub, "not base64!", nonce, binding)
    assert not verify_auth(pub, sig[:-4] + "AAA=", nonce, binding)
