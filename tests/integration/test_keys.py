"""Key-based clients (``fasttun keygen``, ``expose --key``, ``[[clients]] key``)
over real sockets and real processes: a key opens only its own ports and
names, tokens and keys mix, and an unknown key is refused clearly on both
sides and counts as a failed authentication."""

from __future__ import annotations

import pytest

import fasttun
from fasttun.config import ClientAccess
from fasttun.exceptions import AuthenticationError, ConfigError, TunnelError
from fasttun.transports.keys import generate_key
from tests.httpsupport import DOMAIN
from tests.support import Services, free_port, free_range, roundtrip

from .test_cli import Proc, echo_service, echo_through, run


async def test_keys_and_tokens_mixed(tmp_path, caplog):
    laptop_pub = generate_key(tmp_path / "laptop.key")
    generate_key(tmp_path / "stranger.key")
    ports_key, ports_token = free_range(10), free_range(10)
    clients = (ClientAccess("laptop", None, ports_key, key=laptop_pub, names=("app", "*.dev." + DOMAIN)),
               ClientAccess("ci", "ci-token", ports_token))
    services = Services()
    echo = await services.echo()
    async with fasttun.Server(listen_host="127.0.0.1", listen_port=0, public_host="127.0.0.1", token=None,
                              clients=clients, http_port=0, domain=DOMAIN) as server:
        addr = "%s:%d" % server.address
        fp = server._server.fingerprint
        async with fasttun.Client(addr, key=str(tmp_path / "laptop.key"), fingerprint=fp, reconnect=False) as c:
            t = await c.expose(echo)
            assert ports_key[0] <= t.remote_port <= ports_key[1]
            assert await roundtrip(t.remote_port, b"by key") == b"by key"
            with pytest.raises(TunnelError, match="outside the range"):
                await c.expose(echo, remote_port=ports_token[0])
            assert (await c.expose(echo, http=True, subdomain="app")).name == f"app.{DOMAIN}"
            assert (await c.expose(echo, http=True, hostname=f"x.dev.{DOMAIN}")).name == f"x.dev.{DOMAIN}"
            with pytest.raises(TunnelError, match="not among the names this client may take"):
                await c.expose(echo, http=True, subdomain="other")
            with pytest.raises(TunnelError, match="may take only these names"):
                await c.expose(echo, http=True)
            session = next(iter(server._server.sessions))
            assert session.account == "laptop"
        async with fasttun.Client(addr, token="ci-token", fingerprint=fp, reconnect=False) as c:
            t = await c.expose(echo)
            assert ports_token[0] <= t.remote_port <= ports_token[1]
        with pytest.raises(AuthenticationError, match="the server refused the key .unknown key"):
            await fasttun.Client(addr, key=str(tmp_path / "stranger.key"), fingerprint=fp, reconnect=False).connect()
        assert server._server.auth_failures == 1
        assert "authentication failed from 127.0.0.1" in caplog.text and "unknown key" in caplog.text
        with pytest.raises(ConfigError, match="--key needs --fingerprint"):
            fasttun.Client(addr, key=str(tmp_path / "laptop.key"))
        with pytest.raises(ConfigError, match="--key or --token"):
            fasttun.Client(addr, key=str(tmp_path / "laptop.key"), token="t", fingerprint=fp)
    services.close()


def test_keygen_and_expose_key_from_the_command_line(tmp_path):
    r = run(["keygen", "--out", str(tmp_path / "laptop.key")])
    assert r.returncode == 0 and "private key written to" in r.stderr
    pub = r.stdout.strip()
    assert len(pub) == 44 and run(["keygen", "--public", str(tmp_path / "laptop.key")]).stdout.strip() == pub
    stranger = run(["keygen", "--out", str(tmp_path / "stranger.key")]).stdout.strip()
    assert stranger != pub
    r = run(["keygen", "--out", str(tmp_path / "laptop.key")])
    assert r.returncode == 2 and "exists already" in r.stderr
    ports = free_range(10)
    config = tmp_path / "serve.toml"
    config.write_text(f'[[clients]]\nname = "laptop"\nkey = "{pub}"\nports = "{ports[0]}-{ports[1]}"\n')
    svc_port, svc = echo_service()
    ctrl = free_port()
    with Proc(["serve", "--listen", f"127.0.0.1:{ctrl}", "--public-host", "127.0.0.1", "--config", str(config)],
              {}) as srv:
        fp = srv.wait_line(r"^certificate SHA-256 .*: ([0-9a-f]{64})$").group(1)
        base = ["expose", str(svc_port), "--server", f"127.0.0.1:{ctrl}", "--fingerprint", fp, "--inspect", "off"]
        with Proc(base + ["--key", str(tmp_path / "laptop.key")], {}) as client:
            public = int(client.wait_line(r"^tcp://127\.0\.0\.1:(\d+) -> ").group(1))
            assert ports[0] <= public <= ports[1]
            assert echo_through(public, b"keyed" * 1000) == b"keyed" * 1000
            client.stop()
        r = run(base + ["--key", str(tmp_path / "stranger.key")])
        assert r.returncode == 1 and "the server refused the key (unknown key" in r.stderr
        assert "Traceback" not in r.stderr
        srv.wait_line(r"authentication failed from 127\.0\.0\.1:\d+: unknown key", stream="err")
        r = run(base + ["--key", str(tmp_path / "missing.key")])
        assert r.returncode == 2 and "--key" in r.stderr and "Traceback" not in r.stderr
        srv.stop()
    bad = tmp_path / "bad.toml"
    bad.write_text('[[clients]]\nname = "x"\nkey = "nope"\nports = "20000-20010"\n')
    r = run(["serve", "--config", str(bad)])
    assert r.returncode == 2 and "not a public key" in r.stderr
    bad.write_text(f'[[clients]]\nname = "x"\nkey = "{pub}"\ntoken = "t"\nports = "20000-20010"\n')
    r = run(["serve", "--config", str(bad)])
    assert r.returncode == 2 and "give a token or a key" in r.stderr
    svc.close()
