"""Test helpers for the web APIs: a real HTTP client (the standard library's
urllib, run in a thread so the event loop keeps serving), and the metrics
parser of prometheus-client."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

ADMIN_TOKEN = "admin-test-token"


class Answer:
    def __init__(self, status: int, headers: dict, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):  # type: ignore[no-untyped-def]
        return json.loads(self.body)


def _call(url: str, method: str, body: bytes | None, headers: dict) -> Answer:
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return Answer(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Answer(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


async def call(address: tuple[str, int], method: str, path: str, *, token: str | None = ADMIN_TOKEN,
               basic: tuple[str, str] | None = None, json_body: object = None, body: bytes | None = None,
               headers: dict | None = None) -> Answer:
    """One request to the API at *address*; *token* as a bearer token (None: none)."""
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    if basic is not None:
        hdrs["Authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
    if json_body is not None:
        body = json.dumps(json_body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    host, port = address
    return await asyncio.to_thread(_call, f"http://{host}:{port}{path}", method, body, hdrs)


def samples(text: str) -> dict:
    """{(name, frozenset(labels.items())): value} of a /metrics answer."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def sample(parsed: dict, name: str, **labels: str) -> float:
    """The value of one sample whose labels include *labels*."""
    found = [v for (n, ls), v in parsed.items() if n == name and set(labels.items()) <= set(ls)]
    assert len(found) == 1, (name, labels, found)
    return found[0]
