"""What a plain tunnel process loads: heavy libraries wait until a feature needs them.

``cryptography`` maps about 7 MiB into a process; a tunnel that uses no key,
no Noise and an existing certificate never needs it (issue #9's memory at rest).
"""

from __future__ import annotations

import subprocess
import sys

PLAIN = "import fasttun, fasttun.cli, fasttun.api, fasttun.aio.server, fasttun.aio.client, fasttun.transports.tls"


def _loaded(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return {name.split(".")[0] for name in out.split()}


def test_a_plain_tunnel_does_not_load_cryptography():
    loaded = _loaded(PLAIN)
    assert "fasttun" in loaded and "asyncio" in loaded  # the probe ran
    assert "cryptography" not in loaded


def test_a_key_loads_it_when_used(tmp_path):
    key = tmp_path / "id.key"
    loaded = _loaded(f"{PLAIN}\nfrom fasttun.transports import keys\nkeys.generate_key({str(key)!r})\n"
                     f"keys.load_private_key({str(key)!r})")
    assert "cryptography" in loaded
    assert key.exists()


def test_a_tcp_server_does_not_load_the_http_front_or_console():
    out = subprocess.run([sys.executable, "-c", f"{PLAIN}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, timeout=60, check=True).stdout.split()
    assert "fasttun.cli" in out  # the probe ran
    assert not [name for name in out if name.startswith("fasttun.http")]
