"""HTTP mode in a real browser: headless Chromium loads an app through the
HTTP port (its script runs, its request reaches the app with the visitor's
address) and fasttun's own pages; what Chromium shows is checked, and a
screenshot is taken (apt-get install chromium)."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from tests.httpsupport import DOMAIN, H11Service, http_server
from tests.support import client_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

APP = b"""<!doctype html><html><head><title>tunnelled app</title></head><body>
<h1>Hello through fasttun</h1><p id="out">script did not run</p>
<script>document.getElementById("out").textContent = "script ran at " + location.host;</script>
</body></html>"""


async def chromium(tmp_path, url: str, *args: str) -> str:
    """Run headless Chromium on *url*; return what it printed (--dump-dom: the page's DOM)."""
    assert CHROMIUM, "Chromium is required (apt-get install chromium)"
    profile = tmp_path / f"profile-{len(os.listdir(tmp_path))}"
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", f"--host-resolver-rules=MAP *.{DOMAIN} 127.0.0.1", *args, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0
    return out.decode()


@pytest.mark.timeout(180)
async def test_chromium_loads_an_app_and_fasttuns_pages(tmp_path):
    seen = []

    async def app(req):
        seen.append(req.headers)
        return 200, [("Content-Type", "text/html; charset=utf-8")], APP

    svc = H11Service(app)
    port = await svc.start()
    async with http_server(http_reserve=30) as server:
        client = client_for(server, reconnect=False)
        await client.connect()
        await client.expose(port, http=True, subdomain="app")
        base = f"http://app.{DOMAIN}:{server.http_port}"
        dom = await chromium(tmp_path, base + "/", "--dump-dom")
        assert "Hello through fasttun" in dom and f"script ran at app.{DOMAIN}:{server.http_port}" in dom
        assert seen[0]["x-forwarded-for"] == "127.0.0.1" and "Chrome" in seen[0]["user-agent"]
        shot = tmp_path / "app.png"
        await chromium(tmp_path, base + "/", f"--screenshot={shot}", "--window-size=800,400")
        assert shot.stat().st_size > 2000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        dom = await chromium(tmp_path, f"http://nobody.{DOMAIN}:{server.http_port}/", "--dump-dom")
        assert "<h1>404 Not Found</h1>" in dom and f"No tunnel is registered for nobody.{DOMAIN}." in dom
        shot = tmp_path / "404.png"
        await chromium(tmp_path, f"http://nobody.{DOMAIN}:{server.http_port}/", f"--screenshot={shot}",
                       "--window-size=800,400")
        assert shot.stat().st_size > 2000

        client._client.conn.transport.abort()  # the client is lost: its name is kept, visitors get 502
        await asyncio.sleep(0.1)
        dom = await chromium(tmp_path, base + "/", "--dump-dom")
        assert "<h1>502 Bad Gateway</h1>" in dom and "offline" in dom
        await client.close()
    svc.close()
