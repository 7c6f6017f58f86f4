"""HTTP mode from the command line and with real clients: curl over HTTP and
HTTPS (SNI), request lines on the console, the access log, --config routes,
and PROXY protocol headers read by a real nginx."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from tests.httpsupport import DOMAIN, H11Service, echo_handler, http_server, issue_cert, parse_echo
from tests.integration.test_cli import Proc
from tests.nginxsupport import Nginx
from tests.support import client_for, free_port, free_range, thread_service

TOKEN = "http-cli-token"
CURL = shutil.which("curl")


def curl(*args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    assert CURL, "curl is required (apt-get install curl)"
    return subprocess.run([CURL, "-sS", "--max-time", str(timeout), *args], capture_output=True, text=True,
                          timeout=timeout + 5)


def hello_service() -> tuple[int, socket.socket]:
    """A blocking keep-alive HTTP/1.1 service answering "hello <path> from <X-Forwarded-For>"."""

    def handle(conn: socket.socket) -> None:
        buf = b""
        with conn, contextlib.suppress(ConnectionError):
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                fields = dict(line.split(": ", 1) for line in lines[1:])
                body = f"hello {lines[0].split()[1]} from {fields.get('X-Forwarded-For')} " \
                       f"proto {fields.get('X-Forwarded-Proto')}\n".encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    return thread_service(handle)


def start_pair(server_args: list[str], client_args: list[str], env: dict | None = None):  # type: ignore[no-untyped-def]
    ctrl = free_port()
    low, high = free_range(4)
    server = Proc(["serve", "--listen", f"127.0.0.1:{ctrl}", "--public-host", "127.0.0.1", "--ports",
                   f"{low}-{high}", "--token", TOKEN, "--no-tls", *server_args], env or {})
    server.wait_line("listening for clients")
    client = Proc(["expose", "--server", f"127.0.0.1:{ctrl}", "--token", TOKEN, "--no-tls", *client_args], env or {})
    return server, client


@pytest.mark.parametrize("env", [pytest.param({}, id="c-uvloop"),
                                 pytest.param({"FASTTUN_NO_EXTENSIONS": "1", "FASTTUN_LOOP": "asyncio"},
                                              id="py-asyncio")])
def test_expose_http_with_curl_request_lines_and_access_log(tmp_path, env):
    port, srv = hello_service()
    http_port = free_port()
    access = tmp_path / "access.jsonl"
    server, client = start_pair(["--http-port", str(http_port), "--domain", DOMAIN, "--access-log", str(access)],
                                [str(port), "--http", "--subdomain", "web"], env)
    with server, client:
        server.wait_line(f"HTTP tunnels on http://\\*.{DOMAIN}:{http_port}")
        url = f"http://web.{DOMAIN}:{http_port}"
        client.wait_line(f"^{url} -> localhost:{port}$")
        resolve = f"web.{DOMAIN}:{http_port}:127.0.0.1"
        for i in range(3):
            r = curl("--resolve", resolve, f"{url}/page{i}?q=1")
            assert r.returncode == 0 and r.stdout == f"hello /page{i}?q=1 from 127.0.0.1 proto http\n", r
        r = curl("-o", "/dev/null", "-w", "%{http_code}", "--resolve", f"nope.{DOMAIN}:{http_port}:127.0.0.1",
                 f"http://nope.{DOMAIN}:{http_port}/")
        assert r.stdout == "404"
        for i in range(3):  # one console line per request: time, method, path, status, size, duration
            client.wait_line(rf"^\d\d:\d\d:\d\d  GET /page{i}\?q=1  200  \d+ B  \d+\.\d ms$")
        assert server.stop() == 0
        client.stop()
    records = [json.loads(line) for line in access.read_text().splitlines()]
    assert [(r["host"], r["path"], r["status"]) for r in records] == \
        [(f"web.{DOMAIN}", f"/page{i}?q=1", 200) for i in range(3)] + [(f"nope.{DOMAIN}", "/", 404)]
    for r in records:
        assert r["method"] == "GET" and r["client"].startswith("127.0.0.1:") and r["bytes_in"] > 0
        assert r["bytes_out"] > 0 and r["duration"] >= 0 and r["time"] > time.time() - 60
    assert records[0]["tunnel"] == f"web.{DOMAIN}" and records[-1]["tunnel"] is None
    srv.close()


def test_quiet_silences_request_lines_and_config_routes(tmp_path):
    port, srv = hello_service()
    http_port = free_port()
    config = tmp_path / "expose.toml"
    config.write_text(f'[[routes]]\nlocal = "{port}"\nhttp = true\nsubdomain = "cfg"\n'
                      f'request_headers = ["X-From-Config: yes"]\n')
    server, client = start_pair(["--http-port", str(http_port), "--domain", DOMAIN],
                                ["--config", str(config), "-q", "-r", f"{port}-http:flag"])
    with server, client:
        for name in ("cfg", "flag"):
            client.wait_line(f"^http://{name}.{DOMAIN}:{http_port} -> localhost:{port}$")
            r = curl("--resolve", f"{name}.{DOMAIN}:{http_port}:127.0.0.1", f"http://{name}.{DOMAIN}:{http_port}/")
            assert r.stdout.startswith("hello / from 127.0.0.1")
        time.sleep(0.3)
        client.stop()
        assert not [line for line in client.out if " GET " in line]  # -q: no request lines
        server.stop()
    srv.close()


def test_serve_http_options_from_config_file(tmp_path):
    port, srv = hello_service()
    http_port = free_port()
    config = tmp_path / "serve.toml"
    config.write_text(f'http_port = {http_port}\ndomain = "{DOMAIN}"\nhttp_timeout = 30\n')
    server, client = start_pair(["--config", str(config)], [str(port), "--http", "--subdomain", "conf"])
    with server, client:
        client.wait_line(f"^http://conf.{DOMAIN}:{http_port} -> ")
        r = curl("--resolve", f"conf.{DOMAIN}:{http_port}:127.0.0.1", f"http://conf.{DOMAIN}:{http_port}/x")
        assert r.stdout == "hello /x from 127.0.0.1 proto http\n"
        client.stop()
        server.stop()
    srv.close()


def test_serve_unusable_https_certificate(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    for cert in (str(tmp_path / "missing.pem"), str(bad)):
        with Proc(["serve", "--listen", "127.0.0.1:0", "--token", "t", "--https-port", "0", "--https-cert", cert,
                   "--https-key", cert], {}) as p:
            assert p.p.wait(10) == 2
            p.wait_line(f"error: --https-cert {cert}", stream="err")
            assert not any("Traceback" in line for line in p.err)


@pytest.mark.parametrize("args, message", [
    (["--http-port", "99999"], "--http-port: 99999 is not a valid port"),
    (["--https-port", "0"], "--https-port needs --https-cert and --https-key"),
    (["--domain", "bad_domain!"], "is not a valid domain name"),
    (["--http-timeout", "0"], "--http-timeout 0.0: want a positive number"),
])
def test_serve_bad_http_flags(args, message):
    with Proc(["serve", "--listen", "127.0.0.1:0", "--token", "t", *args], {}) as p:
        assert p.p.wait(10) == 2
        p.wait_line(message, stream="err")
        assert not any("Traceback" in line for line in p.err)


@pytest.mark.parametrize("args, message", [
    (["3000", "--subdomain", "x"], "need --http"),
    (["3000", "--http", "--remote-port", "8080"], "an HTTP tunnel has a name, not a remote port"),
    (["3000", "--http", "--subdomain", "a", "--hostname", "b.c"], "not both"),
    (["3000", "--http", "--basic-auth", "nopass"], "--basic-auth: want USER:PASS"),
    (["3000", "--http", "--request-header", "NoColon"], "want \"Name: value\""),
    (["3000", "--http", "--proxy-protocol", "v2"], "--proxy-protocol is for TCP tunnels"),
    (["3000", "--proxy-protocol", "v3"], "want v1 or v2"),
    (["3000", "--rate-limit", "5"], "are for HTTP tunnels"),
    (["-r", "3000-http:bad_name"], "letters, digits and inner hyphens"),
])
def test_expose_bad_http_flags(args, message):
    with Proc(["expose", "--server", "127.0.0.1:1", *args], {}) as p:
        assert p.p.wait(10) == 2
        p.wait_line(message, stream="err")
        assert not any("Traceback" in line for line in p.err)


def test_expose_name_held_by_another_client_one_clear_line():
    port, srv = hello_service()
    http_port = free_port()
    server, first = start_pair(["--http-port", str(http_port), "--domain", DOMAIN], [str(port), "--http",
                                                                                       "--subdomain", "taken"])
    with server, first:
        first.wait_line(f"^http://taken.{DOMAIN}")
        ctrl = next(a for a in server.p.args if a.startswith("127.0.0.1:"))
        with Proc(["expose", "--server", ctrl, "--token", TOKEN, "--no-tls", str(port), "--http", "--subdomain",
                   "taken"], {}) as second:
            assert second.p.wait(10) == 1
            assert [line for line in second.err if "error" in line] == \
                [f"fasttun expose: error: taken.{DOMAIN} is in use by another client"]
        first.stop()
        server.stop()
    srv.close()


def wildcard_cert(tmp_path) -> tuple[str, str, str]:
    return issue_cert(tmp_path, f"*.{DOMAIN}")


def test_https_port_with_curl(tmp_path):
    cert, key, ca = wildcard_cert(tmp_path)
    port, srv = hello_service()
    https_port = free_port()
    server, client = start_pair(["--https-port", str(https_port), "--https-cert", cert, "--https-key", key,
                                 "--domain", DOMAIN], [str(port), "--http", "--subdomain", "secure"])
    with server, client:
        url = f"https://secure.{DOMAIN}:{https_port}"
        client.wait_line(f"^{url} -> localhost:{port}$")
        r = curl("--cacert", ca, "--resolve", f"secure.{DOMAIN}:{https_port}:127.0.0.1", f"{url}/tls")
        assert r.returncode == 0 and r.stdout == "hello /tls from 127.0.0.1 proto https\n", r
        client.wait_line(r"GET /tls  200")
        client.stop()
        server.stop()
    srv.close()


async def test_https_routes_by_sni_then_host(tmp_path, loop_kind):
    cert, key, ca = wildcard_cert(tmp_path)
    svc = H11Service(echo_handler)
    port = await svc.start()
    async with http_server(http_port=None, https_port=0, https_cert=cert, https_key=key) as server:
        async with client_for(server) as client:
            a = await client.expose(port, http=True, subdomain="a")
            await client.expose(port, http=True, subdomain="b")
            assert a.urls == [f"https://a.{DOMAIN}:{server.https_port}"]
            ctx = ssl.create_default_context(cafile=ca)

            async def ask(sni: str, host: str) -> bytes:
                r, w = await asyncio.open_connection("127.0.0.1", server.https_port, ssl=ctx, server_hostname=sni)
                w.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                data = await r.read()
                w.close()
                return data

            answer = await ask(f"a.{DOMAIN}", f"a.{DOMAIN}")
            assert answer.startswith(b"HTTP/1.1 200")
            assert ("X-Forwarded-Proto", "https") in parse_echo(answer.partition(b"\r\n\r\n")[2].decode())[1]
            assert (await ask(f"a.{DOMAIN}", f"b.{DOMAIN}")).startswith(b"HTTP/1.1 421")  # SNI and Host differ
            assert (await ask(f"b.{DOMAIN}", f"b.{DOMAIN}")).startswith(b"HTTP/1.1 200")
    svc.close()


# nginx reading the PROXY header: it answers with the address it carried.
NGINX_PROXY_PROTOCOL = """
    listen 127.0.0.1:{port} proxy_protocol;
    location / {{ return 200 "visitor $proxy_protocol_addr:$proxy_protocol_port via $remote_addr\\n"; }}
"""


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_proxy_protocol_read_by_nginx(version):
    port = free_port()
    with Nginx(port, server=NGINX_PROXY_PROTOCOL.format(port=port)):
        server, client = start_pair([], [str(port), "--proxy-protocol", version])
        with server, client:
            public = int(client.wait_line(r"^tcp://127\.0\.0\.1:(\d+) ->").group(1))
            with socket.create_connection(("127.0.0.1", public)) as visitor:
                visitor.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = b""
                while data := visitor.recv(65536):
                    answer += data
                local_port = visitor.getsockname()[1]
            assert answer.startswith(b"HTTP/1.1 200")
            # nginx saw the visitor's own address and port, not the tunnel client's.
            assert answer.rstrip().endswith(f"visitor 127.0.0.1:{local_port} via 127.0.0.1".encode()), answer
            client.stop()
            server.stop()
