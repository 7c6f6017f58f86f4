"""The dashboard in a real browser: headless Chromium opens it with the token
as basic-auth credentials, its script polls the admin API, and what it shows
is checked against the API; a screenshot is taken and checked."""

from __future__ import annotations

import re
import struct

import pytest

from tests.adminsupport import ADMIN_TOKEN, call
from tests.httpsupport import DOMAIN, H11Service, Visitor, http_server
from tests.support import Services, client_for, pattern, roundtrip

from .test_http_browser import chromium


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.timeout(180)
async def test_dashboard_shows_what_the_api_says(tmp_path):
    services = Services()
    echo = await services.echo()

    async def app(req):  # type: ignore[no-untyped-def]
        await req.read()
        return (500 if req.target == "/boom" else 200), [("Content-Type", "text/plain")], b"hi"

    web = H11Service(app)
    web_port = await web.start()
    async with http_server(admin_port=0, admin_token=ADMIN_TOKEN) as server:
        client = client_for(server, reconnect=False)
        await client.connect()
        tcp = await client.expose(echo)
        http = await client.expose(web_port, http=True, subdomain="shop")
        data = pattern(2 << 20)
        assert await roundtrip(tcp.remote_port, data) == data
        v = await Visitor.open(server.http_port)
        for target in ("/", "/x", "/boom"):
            await v.request("GET", target, f"shop.{DOMAIN}:{server.http_port}")
        host, port = server.admin_address
        url = f"http://admin:{ADMIN_TOKEN}@{host}:{port}/"
        dom = await chromium(tmp_path, url, "--virtual-time-budget=3000", "--dump-dom")
        assert re.search(r'id="status">updated ', dom), dom[:3000]
        tunnels = (await call(server.admin_address, "GET", "/api/v1/tunnels")).json()["tunnels"]
        assert [t["id"] for t in tunnels] == [tcp.tunnel_id, http.tunnel_id]
        for t in tunnels:
            row = re.search(rf'<tr data-tunnel="{t["id"]}">(.*?)</tr>', dom, re.S)
            assert row, dom[:3000]
            cells = row.group(1)
            assert f'<td class="public">{t["urls"][0] if t["kind"] == "http" else t["public"]}</td>' in cells
            assert f'title="{t["bytes_in"]} bytes"' in cells and f'title="{t["bytes_out"]} bytes"' in cells
            assert f'<td class="num total">{t["connections_total"]}</td>' in cells
        assert t["requests"]["2xx"] == 2 and t["requests"]["5xx"] == 1
        assert "2xx 2</span>" in dom and "5xx 1</span>" in dom
        clients = (await call(server.admin_address, "GET", "/api/v1/clients")).json()["clients"]
        row = re.search(rf'<tr data-client="{clients[0]["id"]}">(.*?)</tr>', dom, re.S)
        assert row and f'<td class="address">{clients[0]["address"]}</td>' in row.group(1)
        assert '<div class="value" id="n-tunnels">2</div>' in dom
        assert '<div class="value" id="n-clients">1</div>' in dom

        shot = tmp_path / "dashboard.png"
        await chromium(tmp_path, url, "--virtual-time-budget=3000", f"--screenshot={shot}",
                       "--window-size=1280,640", "--hide-scrollbars")
        png = shot.read_bytes()
        assert png_size(png) == (1280, 640) and len(png) > 20000  # a blank or error page is far smaller

        # Without the token the browser gets the 401 and its prompt, not the data.
        dom = await chromium(tmp_path, f"http://{host}:{port}/", "--dump-dom")
        assert "fasttun server" not in dom and str(tcp.remote_port) not in dom
        v.close()
        await client.close()
    web.close()
    services.close()
