"""A real nginx for tests (apt-get install nginx-light): started on free ports
with a generated configuration, as a reverse proxy in front of fasttun's
WebSocket carrier, with TLS (trustme) when asked."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)

CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  server {{
{server}
  }}
}}
"""

# A reverse proxy in front of fasttun's WebSocket carrier.
WS_PROXY = """
    listen 127.0.0.1:{port}{ssl};
    {certs}
    location {path} {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      proxy_buffering off;
    }}
    location / {{ return 404 "not the tunnel\\n"; }}
"""


def _wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nginx did not listen on {port}")


class Nginx:
    """nginx proxying WebSocket upgrades on *path* to 127.0.0.1:*upstream*,
    or serving the given *server* block (its inside, already formatted).

    ``cert``/``key``: PEM files for a TLS listener (``wss://``).  ``stop()``
    and ``start()`` restart it on the same port."""

    def __init__(self, port: int, upstream: int = 0, path: str = "/.fasttun", cert: str | None = None,
                 key: str | None = None, server: str | None = None) -> None:
        assert NGINX, "nginx is required (apt-get install nginx-light); .ci/run installs it"
        self.port = port
        self.tmp = tempfile.mkdtemp(prefix="fasttun-nginx-")
        os.chmod(self.tmp, 0o755)
        certs = f"ssl_certificate {cert}; ssl_certificate_key {key};" if cert else ""
        self.conf = os.path.join(self.tmp, "nginx.conf")
        if server is None:
            server = WS_PROXY.format(port=port, ssl=" ssl" if cert else "", certs=certs, path=path,
                                     upstream=upstream)
        with open(self.conf, "w") as f:
            f.write(CONF.format(tmp=self.tmp, server=server))
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Nginx":
        self.proc = subprocess.Popen([NGINX, "-c", self.conf, "-p", self.tmp], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        _wait_port(self.port)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # fast shutdown: open connections are cut
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "Nginx":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
