"""``GET /metrics``: the server's state in the Prometheus text format.

Nothing is observed on the data path for it: at each scrape, the families
are built from the counters the server keeps anyway (``Traffic`` per tunnel,
the session byte counts, the HTTP front's duration histogram), with
prometheus-client's metric families and its text encoder.  A tunnel's series
last as long as the tunnel does.
"""

from __future__ import annotations

from typing import Any, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from ..aio.server import ClientSession, Tunnel, TunnelServer

__all__ = ["render_metrics"]


class _Snapshot(Collector):
    def __init__(self, server: TunnelServer, clients: list[ClientSession], tunnels: list[Tunnel],
                 admin_failures: int) -> None:
        self.server = server
        self.clients = clients
        self.tunnels = tunnels
        self.admin_failures = admin_failures

    def collect(self) -> Iterable[Any]:
        srv = self.server
        yield GaugeMetricFamily("fasttun_clients", "Tunnel clients connected (authenticated).",
                                value=len(self.clients))
        kinds = GaugeMetricFamily("fasttun_tunnels", "Tunnels open, by kind.", labels=["kind"])
        for kind in ("tcp", "http"):
            kinds.add_metric([kind], sum(1 for t in self.tunnels if t.kind == kind))
        yield kinds
        yield GaugeMetricFamily("fasttun_streams_open", "Streams (public connections) open now.",
                                value=sum(len(s.streams) for s in self.clients))
        yield CounterMetricFamily("fasttun_streams_opened", "Streams opened since the server started.",
                                  value=srv.streams_total)
        sessions = CounterMetricFamily("fasttun_session_bytes", "Bytes on tunnel connections (frames included), "
                                       "by direction: in = from clients, out = to clients.", labels=["direction"])
        live_in = sum(s.session.bytes_received for s in srv.sessions)
        live_out = sum(s.session.bytes_sent for s in srv.sessions)
        sessions.add_metric(["in"], srv.bytes_in + live_in)
        sessions.add_metric(["out"], srv.bytes_out + live_out)
        yield sessions
        labels = ["tunnel", "client", "kind", "public"]
        tbytes = CounterMetricFamily("fasttun_tunnel_bytes", "Bytes a tunnel carried, by direction: "
                                     "in = from visitors to the local service, out = back.",
                                     labels=labels + ["direction"])
        conns_open = GaugeMetricFamily("fasttun_tunnel_connections_open", "Connections open on a tunnel.",
                                       labels=labels)
        conns = CounterMetricFamily("fasttun_tunnel_connections", "Connections a tunnel served.", labels=labels)
        requests = CounterMetricFamily("fasttun_http_requests", "HTTP requests answered, by tunnel and status "
                                       "class.", labels=labels + ["class"])
        for t in self.tunnels:
            values = [str(t.tunnel_id), str(t.owner.client_id), t.kind, t.public]
            tr = t.traffic
            tbytes.add_metric(values + ["in"], tr.received)
            tbytes.add_metric(values + ["out"], tr.delivered)
            conns_open.add_metric(values, tr.open)
            conns.add_metric(values, tr.total)
            if t.kind == "http":
                for i in range(1, 6):
                    requests.add_metric(values + [f"{i}xx"], t.statuses[i])
        yield tbytes
        yield conns_open
        yield conns
        yield requests
        http = srv.fronts.get("http")
        if http is not None:
            bounds = http.duration_buckets  # type: ignore[attr-defined]
            counts = http.durations  # type: ignore[attr-defined]
            cumulative = []
            total = 0
            for bound, n in zip(list(bounds) + [float("inf")], counts):
                total += n
                cumulative.append(("+Inf" if bound == float("inf") else repr(bound), total))
            yield HistogramMetricFamily("fasttun_http_request_duration_seconds",
                                        "Time from a request's head to the end of its answer.",
                                        buckets=cumulative, sum_value=http.duration_sum)  # type: ignore[attr-defined]
        yield CounterMetricFamily("fasttun_auth_failures", "Failed authentications of tunnel clients.",
                                  value=srv.auth_failures)
        yield CounterMetricFamily("fasttun_admin_auth_failures", "Requests to the admin API without the token.",
                                  value=self.admin_failures)
        refused = CounterMetricFamily("fasttun_refused_connections", "Connections refused, by reason.",
                                      labels=["reason"])
        for reason in sorted(srv.refused):
            refused.add_metric([reason], srv.refused[reason])
        yield refused


def render_metrics(server: TunnelServer, clients: list[ClientSession], tunnels: list[Tunnel],
                   admin_failures: int) -> tuple[bytes, str]:
    """The body and content type of a ``/metrics`` answer."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(server, clients, tunnels, admin_failures))
    return generate_latest(registry), CONTENT_TYPE_LATEST
