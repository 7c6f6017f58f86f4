"""The inspector page in headless Chromium: its script lists the recorded
requests from the agent API and shows the one asked for, headers and body;
a screenshot is taken and checked."""

from __future__ import annotations

import re

import pytest

from tests.adminsupport import call
from tests.httpsupport import DOMAIN, H11Service, Visitor, http_server
from tests.support import client_for

from .test_admin_browser import png_size
from .test_http_browser import chromium


@pytest.mark.timeout(180)
async def test_inspector_page_lists_requests_and_shows_one(tmp_path):
    async def app(req):  # type: ignore[no-untyped-def]
        body = await req.read()
        return 201, [("Content-Type", "application/json")], b'{"created": "%s"}' % body[:20]

    svc = H11Service(app)
    port = await svc.start()
    async with http_server() as server:
        client = client_for(server, reconnect=False)
        await client.connect()
        host, aport = await client.start_inspector("127.0.0.1", 0)
        await client.expose(port, http=True, subdomain="pets", name="pets")
        v = await Visitor.open(server.http_port)
        for i in range(3):
            await v.request("POST", f"/api/pets?n={i}", f"pets.{DOMAIN}", body=b"<b>rex</b> %d" % i,
                            headers=(("Content-Type", "text/plain"),))
        v.close()
        recs = (await call((host, aport), "GET", "/api/requests", token=None)).json()["requests"]
        assert len(recs) == 3
        url = f"http://{host}:{aport}/?request={recs[1]['id']}"
        dom = await chromium(tmp_path, url, "--virtual-time-budget=3000", "--dump-dom")
        assert re.search(r'id="status">updated ', dom), dom[:2000]
        rows = re.findall(r'<tr class="clickable[^"]*" data-request="(\d+)">(.*?)</tr>', dom, re.S)
        assert [int(i) for i, _ in rows] == [r["id"] for r in recs]
        for (_, cells), r in zip(rows, recs):
            assert f'<td class="path">{r["path"]}</td>' in cells and '<td class="status s2">201</td>' in cells
        assert 'class="clickable selected" data-request="%d"' % recs[1]["id"] in dom
        assert f'<h2 id="detail-title">POST http://pets.{DOMAIN}/api/pets?n=1</h2>' in dom
        # Bodies are text, not markup.
        assert "&lt;b&gt;rex&lt;/b&gt; 1" in dom and "<b>rex</b>" not in dom
        assert '{"created": "&lt;b&gt;rex&lt;/b&gt; 1"}' in dom
        assert re.search(r'<tr data-tunnel="pets"><td>pets</td>', dom)

        shot = tmp_path / "inspector.png"
        await chromium(tmp_path, url, "--virtual-time-budget=3000", f"--screenshot={shot}",
                       "--window-size=1280,720", "--hide-scrollbars")
        png = shot.read_bytes()
        assert png_size(png) == (1280, 720) and len(png) > 20000
        await client.close()
    svc.close()
