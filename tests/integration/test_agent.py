"""The client's agent API and inspector (``expose --inspect``) over real
sockets: what it records of real exchanges (without changing a byte), replay,
tunnels added and removed while running, and what an open loopback API must
refuse."""

from __future__ import annotations

import hashlib

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from tests.adminsupport import call
from tests.httpsupport import DOMAIN, H11Service, Visitor, http_server
from tests.support import Services, client_for, pattern, roundtrip, wait_for


async def test_records_exchanges_untouched_and_replays(impl, loop_kind):
    hits = []

    async def app(req):  # type: ignore[no-untyped-def]
        body = await req.read()
        hits.append(req.target)
        if req.target == "/big":
            return 200, [("Content-Type", "application/octet-stream")], pattern(1 << 20, seed=7)
        if req.target.startswith("/chunked"):
            async def parts():  # type: ignore[no-untyped-def]
                for i in range(3):
                    yield b"part%d;" % i
            return 200, [("Transfer-Encoding", "chunked")], parts()
        return 200, [("Content-Type", "text/plain"), ("X-Hits", str(len(hits)))], \
            b"got %d bytes sha %s" % (len(body), hashlib.sha256(body).hexdigest()[:16].encode())

    svc = H11Service(app)
    port = await svc.start()
    async with http_server() as server:
        client = client_for(server, reconnect=False)
        await client.connect()
        addr = await client.start_inspector("127.0.0.1", 0)
        await client.expose(port, http=True, subdomain="insp", name="web")
        host = f"insp.{DOMAIN}:{server.http_port}"
        v = await Visitor.open(server.http_port)
        status, headers, body = await v.request("POST", "/form?a=1", host, body=b"name=fasttun",
                                                headers=(("Content-Type", "application/x-www-form-urlencoded"),))
        assert status == 200 and headers["x-hits"] == "1"
        upload = pattern(3 << 20, seed=3)
        status, _, body = await v.request("PUT", "/up", host, body=upload)
        assert body == b"got %d bytes sha %s" % (len(upload), hashlib.sha256(upload).hexdigest()[:16].encode())
        status, _, big = await v.request("GET", "/big", host)
        assert big == pattern(1 << 20, seed=7)  # the tap looks, never changes
        status, _, chunked = await v.request("GET", "/chunked", host)
        assert chunked == b"part0;part1;part2;"
        v.close()
        await wait_for(lambda: len(client._agent.capture.records) == 4)

        r = await call(addr, "GET", "/api/requests", token=None)
        assert r.status == 200
        recs = r.json()["requests"]
        assert [x["path"] for x in recs] == ["/chunked", "/big", "/up", "/form?a=1"]  # newest first
        form = recs[3]
        assert form["method"] == "POST" and form["url"] == f"http://{host}/form?a=1" and form["tunnel"] == "web"
        assert form["status"] == 200 and form["duration"] >= 0
        assert ["X-Forwarded-For", "127.0.0.1"] in form["request"]["headers"]
        assert form["request"]["body"] == {"size": 12, "truncated": False, "text": "name=fasttun"}
        assert ["X-Hits", "1"] in form["response"]["headers"]
        up = recs[2]["request"]["body"]
        assert up["size"] == len(upload) and up["truncated"] and "base64" in up
        bigr = recs[1]["response"]["body"]
        assert bigr["size"] == 1 << 20 and bigr["truncated"]
        assert recs[0]["response"]["body"]["text"].endswith("0\r\n\r\n")  # as on the wire

        one = await call(addr, "GET", f"/api/requests/{form['id']}", token=None)
        assert one.json() == form
        # Replay: the local service sees the request again; the new answer is recorded.
        r = await call(addr, "POST", f"/api/requests/{form['id']}/replay", token=None, json_body={})
        assert r.status == 201
        again = r.json()
        assert again["replay_of"] == form["id"] and again["status"] == 200
        assert ["X-Hits", "5"] in again["response"]["headers"] and hits[-1] == "/form?a=1"
        assert again["request"]["body"]["text"] == "name=fasttun"
        r = await call(addr, "POST", f"/api/requests/{recs[2]['id']}/replay", token=None, json_body={})
        assert r.status == 409 and "larger than 65536" in r.json()["error"]
        assert (await call(addr, "POST", "/api/requests/999/replay", token=None, json_body={})).status == 404
        assert (await call(addr, "DELETE", "/api/requests", token=None)).json() == {"cleared": True}
        assert (await call(addr, "GET", "/api/requests", token=None)).json()["requests"] == []
        await client.close()
    svc.close()


async def test_websocket_through_an_inspected_tunnel():
    async def echo(ws):  # type: ignore[no-untyped-def]
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, max_size=None) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        async with http_server() as server:
            async with client_for(server) as client:
                addr = await client.start_inspector("127.0.0.1", 0)
                await client.expose(port, http=True, subdomain="ws")
                uri = f"ws://ws.{DOMAIN}:{server.http_port}/chat"
                async with connect(uri, host="127.0.0.1", port=server.http_port, max_size=None) as ws:
                    for size in (1, 70000, 1 << 20):
                        data = pattern(size, seed=size)
                        await ws.send(data)
                        assert await ws.recv() == data
                recs = (await call(addr, "GET", "/api/requests", token=None)).json()["requests"]
                assert [(x["path"], x["status"]) for x in recs] == [("/chat", 101)]


async def test_tunnels_added_and_removed_through_the_api():
    services = Services()
    echo = await services.echo()

    async def app(req):  # type: ignore[no-untyped-def]
        return 200, [("Content-Type", "text/plain")], b"web app"

    svc = H11Service(app)
    web_port = await svc.start()
    async with http_server() as server:
        client = client_for(server, reconnect=False)
        await client.connect()
        addr = await client.start_inspector("127.0.0.1", 0)
        assert (await call(addr, "GET", "/api/tunnels", token=None)).json() == {"tunnels": []}
        r = await call(addr, "POST", "/api/tunnels", token=None, json_body={"local": str(echo), "remote_port": 0})
        assert r.status == 201
        tcp = r.json()
        assert tcp["kind"] == "tcp" and tcp["name"] == "t1" and tcp["local"] == f"localhost:{echo}"
        data = pattern(1 << 20)
        assert await roundtrip(tcp["remote_port"], data) == data
        r = await call(addr, "POST", "/api/tunnels", token=None,
                       json_body={"local": web_port, "http": True, "subdomain": "added", "name": "site"})
        assert r.status == 201 and r.json()["urls"] == [f"http://added.{DOMAIN}:{server.http_port}"]
        v = await Visitor.open(server.http_port)
        assert (await v.request("GET", "/", f"added.{DOMAIN}"))[2] == b"web app"
        v.close()
        names = [t["name"] for t in (await call(addr, "GET", "/api/tunnels", token=None)).json()["tunnels"]]
        assert names == ["t1", "site"]
        # Mistakes: each a clear JSON error.
        for body, status, text in (
                ({"local": str(web_port), "http": True, "subdomain": "added"}, 409, "already open"),
                ({"local": "nope"}, 400, "has no port"),
                ({"local": "3000", "colour": "red"}, 400, "unknown member"),
                ({"local": "3000", "http": "yes"}, 400, "http: want a bool"),
                ({"local": "3000", "name": "site"}, 409, "named 'site' is open already"),
                ({"local": "3000", "expire": "soon"}, 400, "want a duration"),
                ([1, 2], 400, "want a JSON object")):
            r = await call(addr, "POST", "/api/tunnels", token=None, json_body=body)
            assert r.status == status and text in r.json()["error"], (body, r.status, r.body)
        r = await call(addr, "POST", "/api/tunnels", token=None, body=b"{bad json",
                       headers={"Content-Type": "application/json"})
        assert r.status == 400 and "malformed JSON" in r.json()["error"]
        r = await call(addr, "POST", "/api/tunnels", token=None, body=b'{"local": "1"}',
                       headers={"Content-Type": "text/plain"})
        assert r.status == 415
        r = await call(addr, "DELETE", "/api/tunnels/t1", token=None)
        assert r.status == 200 and r.json() == {"closed": "t1"}
        await wait_for(lambda: tcp["remote_port"] not in server.public_ports)
        assert (await call(addr, "DELETE", "/api/tunnels/t1", token=None)).status == 404
        # The open API refuses what a web page could send it.
        r = await call(addr, "POST", "/api/tunnels", token=None, json_body={"local": "22"},
                       headers={"Origin": "http://evil.example"})
        assert r.status == 403
        r = await call(addr, "GET", "/api/tunnels", token=None, headers={"Host": "rebound.example:4040"})
        assert r.status == 403
        assert [t["name"] for t in (await call(addr, "GET", "/api/tunnels", token=None)).json()["tunnels"]] == \
            ["site"]
        await client.close()
    svc.close()
    services.close()
