"""The server's admin API (docs/api.md) over real sockets, with a real HTTP
client (urllib) and prometheus-client's parser for /metrics: access, what it
lists, that its counters match the bytes actually sent, closing tunnels and
clients, and hostile input that must not disturb the tunnels."""

from __future__ import annotations

import asyncio
import hashlib

from fasttun.admin.serverapi import AdminApi
from tests.adminsupport import ADMIN_TOKEN, call, sample, samples
from tests.httpsupport import DOMAIN, H11Service, Visitor, http_server
from tests.support import Services, client_for, pattern, roundtrip, wait_for


def admin_server(**kw):  # type: ignore[no-untyped-def]
    kw.setdefault("admin_port", 0)
    kw.setdefault("admin_token", ADMIN_TOKEN)
    return http_server(**kw)


async def test_access_needs_the_token():
    async with admin_server() as server:
        addr = server.admin_address
        r = await call(addr, "GET", "/api/v1/clients", token=None)
        assert r.status == 401 and r.json()["error"].startswith("send the token")
        assert r.headers["www-authenticate"].startswith('Basic realm="fasttun admin"')
        assert (await call(addr, "GET", "/api/v1/clients", token="wrong")).status == 401
        assert (await call(addr, "GET", "/metrics", token=None)).status == 401
        assert (await call(addr, "GET", "/", token=None)).status == 401
        ok = await call(addr, "GET", "/api/v1/clients")
        assert ok.status == 200 and ok.json() == {"clients": []}
        # A browser: basic auth, any user name, the token as password.
        assert (await call(addr, "GET", "/api/v1/clients", token=None, basic=("me", ADMIN_TOKEN))).status == 200
        assert (await call(addr, "GET", "/api/v1/clients", token=None, basic=("me", "nope"))).status == 401
        m = samples((await call(addr, "GET", "/metrics")).body.decode())
        assert sample(m, "fasttun_admin_auth_failures_total") == 5


async def test_clients_tunnels_and_traffic_match_what_was_sent():
    services = Services()
    sink = await services.sink()

    async def app(req):  # type: ignore[no-untyped-def]
        await req.read()
        return (404 if req.target == "/missing" else 200), [("Content-Type", "text/plain")], b"hello"

    web = H11Service(app)
    web_port = await web.start()
    async with admin_server() as server:
        addr = server.admin_address
        client = client_for(server, reconnect=False)
        await client.connect()
        tcp = await client.expose(sink)
        http = await client.expose(web_port, http=True, subdomain="shop")

        data = pattern(3 * 1024 * 1024 + 7)
        answer = await roundtrip(tcp.remote_port, data)
        assert answer == f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode()
        v = await Visitor.open(server.http_port)
        for target in ("/", "/a", "/missing"):
            await v.request("GET", target, f"shop.{DOMAIN}:{server.http_port}")
        v.close()

        clients = (await call(addr, "GET", "/api/v1/clients")).json()["clients"]
        assert len(clients) == 1
        c = clients[0]
        assert c["version"].startswith("fasttun/") and c["address"].startswith("127.0.0.1:")
        assert sorted(c["tunnels"]) == sorted([tcp.tunnel_id, http.tunnel_id])
        assert c["bytes_from_client"] > len(answer) and c["bytes_to_client"] > len(data)

        by_id = {}

        def settled() -> bool:
            return all(t.traffic.open == 0 for s in server._server.sessions for t in s.tunnels.values())

        await wait_for(settled)
        for t in (await call(addr, "GET", "/api/v1/tunnels")).json()["tunnels"]:
            by_id[t["id"]] = t
        t = by_id[tcp.tunnel_id]
        assert t["kind"] == "tcp" and t["port"] == tcp.remote_port and t["public"] == f"127.0.0.1:{tcp.remote_port}"
        assert t["local"] == f"localhost:{sink}" and t["client"] == c["id"]
        assert (t["bytes_in"], t["bytes_out"]) == (len(data), len(answer))  # exact: no frame is in flight
        assert (t["connections_open"], t["connections_total"]) == (0, 1)
        h = by_id[http.tunnel_id]
        assert h["kind"] == "http" and h["name"] == f"shop.{DOMAIN}"
        assert h["urls"] == [f"http://shop.{DOMAIN}:{server.http_port}"]
        assert h["requests"] == {"1xx": 0, "2xx": 2, "3xx": 0, "4xx": 1, "5xx": 0}
        assert h["connections_total"] == 1 and h["bytes_out"] > 3 * len(b"hello")
        one = await call(addr, "GET", f"/api/v1/tunnels/{tcp.tunnel_id}")
        assert one.json()["bytes_in"] == len(data)

        m = samples((await call(addr, "GET", "/metrics")).body.decode())
        tid = str(tcp.tunnel_id)
        assert sample(m, "fasttun_tunnel_bytes_total", tunnel=tid, direction="in") == len(data)
        assert sample(m, "fasttun_tunnel_bytes_total", tunnel=tid, direction="out") == len(answer)
        assert sample(m, "fasttun_tunnel_connections_total", tunnel=tid) == 1
        assert sample(m, "fasttun_clients") == 1
        assert sample(m, "fasttun_tunnels", kind="tcp") == 1 and sample(m, "fasttun_tunnels", kind="http") == 1
        assert sample(m, "fasttun_streams_opened_total") == 2
        hid = str(http.tunnel_id)
        assert sample(m, "fasttun_http_requests_total", tunnel=hid, **{"class": "2xx"}) == 2
        assert sample(m, "fasttun_http_requests_total", tunnel=hid, **{"class": "4xx"}) == 1
        assert sample(m, "fasttun_http_request_duration_seconds_count") == 3
        assert sample(m, "fasttun_http_request_duration_seconds_bucket", le="+Inf") == 3

        names = (await call(addr, "GET", "/api/v1/names")).json()
        assert names == {"domain": DOMAIN, "names": [{"name": f"shop.{DOMAIN}", "state": "held",
                                                     "tunnel": http.tunnel_id, "client": c["id"]}]}
        ports = (await call(addr, "GET", "/api/v1/ports")).json()["ranges"]
        low, high = server.config.ports
        p = tcp.remote_port
        assert ports[0]["first"] == low and ports[0]["last"] == high and ports[0]["in_use"] == [p]
        assert ports[0]["free_count"] == high - low
        assert [p - 1, p + 1] not in ports[0]["free"] and all(not a <= p <= b for a, b in ports[0]["free"])
        info = (await call(addr, "GET", "/api/v1/server")).json()
        assert info["clients"] == 1 and info["tunnels"] == 2 and info["http_port"] == server.http_port
        await client.close()
        await wait_for(lambda: not server._server.sessions)
        assert (await call(addr, "GET", "/api/v1/tunnels")).json() == {"tunnels": []}
        assert (await call(addr, "GET", "/api/v1/names")).json()["names"] == []
    web.close()
    services.close()


async def test_delete_a_tunnel_and_a_client():
    services = Services()
    echo = await services.echo()
    async with admin_server() as server:
        addr = server.admin_address
        closed = []
        client = client_for(server, on_tunnel_closed=lambda t, why: closed.append((t, why)),
                            backoff_min=0.05, backoff_max=0.1)
        await client.connect()
        a = await client.expose(echo)
        b = await client.expose(echo)
        assert await roundtrip(a.remote_port, b"x" * 1000) == b"x" * 1000
        r = await call(addr, "DELETE", f"/api/v1/tunnels/{a.tunnel_id}")
        assert r.status == 200 and r.json() == {"closed": a.tunnel_id}
        await wait_for(lambda: closed)
        assert closed == [(a, "closed by the operator")] and client.tunnels == [b]
        ids = [t["id"] for t in (await call(addr, "GET", "/api/v1/tunnels")).json()["tunnels"]]
        assert ids == [b.tunnel_id]
        try:
            await asyncio.open_connection("127.0.0.1", a.remote_port)
            raise AssertionError("the closed tunnel's port still accepts")
        except ConnectionRefusedError:
            pass
        assert (await call(addr, "DELETE", f"/api/v1/tunnels/{a.tunnel_id}")).status == 404
        assert (await call(addr, "DELETE", "/api/v1/tunnels/abc")).status == 404

        cid = (await call(addr, "GET", "/api/v1/clients")).json()["clients"][0]["id"]
        r = await call(addr, "DELETE", f"/api/v1/clients/{cid}")
        assert r.status == 200 and r.json() == {"disconnected": cid}
        # It reconnects (it may: its token is still good) and gets its port back.
        await wait_for(lambda: any(s.client_id > cid and s.tunnels for s in server._server.sessions))
        clients = (await call(addr, "GET", "/api/v1/clients")).json()["clients"]
        assert len(clients) == 1 and clients[0]["id"] > cid
        assert await roundtrip(b.remote_port, b"y" * 1000) == b"y" * 1000
        assert (await call(addr, "DELETE", f"/api/v1/clients/{cid}")).status == 404
        await client.close()
    services.close()


async def test_hostile_input_gets_errors_and_the_tunnel_carries_on():
    services = Services()
    echo = await services.echo()
    async with admin_server() as server:
        client = client_for(server, reconnect=False)
        await client.connect()
        t = await client.expose(echo)
        admin = AdminApi(server._server, ADMIN_TOKEN, timeout=0.3)  # a second listener, quick to time out
        await admin.start("127.0.0.1", 0)
        addr = admin.address

        r = await call(addr, "GET", "/api/v1/nothing")
        assert r.status == 404 and "error" in r.json()
        r = await call(addr, "POST", "/api/v1/clients", json_body={})
        assert r.status == 405 and r.headers["allow"] == "GET"
        r = await call(addr, "GET", "/api/v1/clients/../../etc/passwd")
        assert r.status == 404
        r = await call(addr, "GET", "/static/../serverapi.py")
        assert r.status == 404
        r = await call(addr, "DELETE", "/api/v1/clients/99999999999999999999999")
        assert r.status == 404

        async def raw(data: bytes) -> bytes:
            rd, wr = await asyncio.open_connection(*addr)
            wr.write(data)
            try:
                async with asyncio.timeout(5):
                    return await rd.read()
            finally:
                wr.close()

        big = f"POST /api/v1/clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n" \
              f"Content-Length: {10 << 20}\r\n\r\n".encode()
        assert (await raw(big)).startswith(b"HTTP/1.1 413 ")
        assert (await raw(b"GARBAGE\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
        assert (await raw(b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 70000 + b"\r\n\r\n")).startswith(b"HTTP/1.1 431")
        # A slow client: half a head, then nothing; closed after the timeout, unanswered.
        assert await raw(b"GET /api/v1/clients HTTP/1.1\r\nHo") == b""
        # Many connections at once, each half a request: the tunnel is not disturbed.
        conns = [await asyncio.open_connection(*addr) for _ in range(50)]
        for _, w in conns:
            w.write(b"GET / HTTP/1.1\r\n")
        data = pattern(1 << 20)
        assert await roundtrip(t.remote_port, data) == data
        for _, w in conns:
            w.close()
        r = await call(addr, "GET", "/api/v1/tunnels")
        assert r.status == 200 and [x["id"] for x in r.json()["tunnels"]] == [t.tunnel_id]
        await admin.close()
        await client.close()
    services.close()


async def test_open_admin_only_for_loopback_requests():
    async with http_server(admin_port=0, admin_open=True) as server:
        addr = server.admin_address
        assert (await call(addr, "GET", "/api/v1/clients", token=None)).status == 200
        r = await call(addr, "GET", "/api/v1/clients", token=None, headers={"Host": "evil.example"})
        assert r.status == 403 and "loopback" in r.json()["error"]
        r = await call(addr, "DELETE", "/api/v1/tunnels/1", token=None,
                       headers={"Origin": "http://evil.example"})
        assert r.status == 403 and "cross-origin" in r.json()["error"]
        page = await call(addr, "GET", "/", token=None)
        assert page.status == 200 and page.headers["content-type"].startswith("text/html")
        assert b"fasttun server" in page.body
        js = await call(addr, "GET", "/static/dashboard.js", token=None)
        assert js.status == 200 and b"/api/v1/tunnels" in js.body


async def test_a_lost_client_leaves_the_api_at_once_and_comes_back():
    services = Services()
    echo = await services.echo()
    async with admin_server() as server:
        addr = server.admin_address
        ups, downs = [], []
        client = client_for(server, on_tunnel=ups.append, on_tunnel_down=lambda t, why: downs.append(why),
                            backoff_min=0.3, backoff_max=0.3)
        await client.connect()
        t = await client.expose(echo)
        old = (await call(addr, "GET", "/api/v1/tunnels")).json()["tunnels"]
        assert [x["port"] for x in old] == [t.remote_port]
        client._client.conn.transport.abort()  # the connection is cut: no goodbye
        await wait_for(lambda: downs)
        assert downs[0].startswith("connection lost") or downs[0]
        await wait_for(lambda: not server._server.sessions)
        assert (await call(addr, "GET", "/api/v1/tunnels")).json() == {"tunnels": []}
        assert (await call(addr, "GET", "/api/v1/clients")).json() == {"clients": []}
        await wait_for(lambda: len(ups) == 2)  # reconnected, the tunnel reopened
        new = (await call(addr, "GET", "/api/v1/tunnels")).json()["tunnels"]
        assert [x["port"] for x in new] == [t.remote_port] and new[0]["client"] > old[0]["client"]
        assert new[0]["id"] != old[0]["id"] and new[0]["bytes_in"] == 0
        assert await roundtrip(t.remote_port, b"again") == b"again"
        await client.close()
    services.close()
