"""End to end through real fasttun processes, next to a direct connection.

Each test records its figures in ``extra_info`` (see ``--benchmark-json``)
and prints them; the timing columns of pytest-benchmark are the wall time of
the whole measurement.  FASTTUN_BENCH_SMOKE=1 shrinks every size (smoke test).
"""

from __future__ import annotations

import pytest

from . import e2e
from .conftest import SMOKE

MiB = 1 << 20
BULK = (8 if SMOKE else 512) * MiB
RTTS = 50 if SMOKE else 2000
CONNRATE_S = 0.5 if SMOKE else 5
CONC = 20 if SMOKE else 1000
CONC_BYTES = (64 << 10) if SMOKE else MiB
IDLE = 20 if SMOKE else 1000


@pytest.fixture(scope="module")
def tunnel():
    with e2e.setup() as t:
        yield t


def measure(benchmark, capsys, title, run) -> dict:
    """Time one call of *run*; record and print the figures (a dict) it returns."""
    figures: dict = {}
    benchmark.pedantic(lambda: figures.update(run()), rounds=1, iterations=1)
    benchmark.extra_info.update(figures)
    with capsys.disabled():
        print(f"\n  {title}: " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                          for k, v in figures.items()))
    return figures


@pytest.mark.parametrize("direction", ["up", "down"])
def test_bulk(benchmark, capsys, tunnel, direction):
    """Single-stream throughput, MB/s, tunnel vs direct."""
    svc, public, _ = tunnel
    measure(benchmark, capsys, f"bulk {direction} MB/s",
            lambda: {"direct": e2e.bulk(svc, BULK, direction), "tunnel": e2e.bulk(public, BULK, direction)})


def test_rtt(benchmark, capsys, tunnel):
    """64-byte request/response round trip p50, microseconds."""
    svc, public, _ = tunnel
    measure(benchmark, capsys, "rtt p50",
            lambda: {"direct_us": e2e.rtt(svc, RTTS), "tunnel_us": e2e.rtt(public, RTTS)})


def test_connrate(benchmark, capsys, tunnel):
    """New connections per second, and tunnel CPU per connection."""
    svc, public, pids = tunnel

    def run():
        direct = e2e.connrate(svc, CONNRATE_S)[0]
        per_s, cpu_us = e2e.connrate(public, CONNRATE_S, pids)
        return {"direct_per_s": direct, "tunnel_per_s": per_s, "tunnel_cpu_us_per_conn": cpu_us}

    measure(benchmark, capsys, "connrate", run)


def test_concurrent(benchmark, capsys, tunnel):
    """1000 connections at once, each echoing 1 MiB: errors, MB/s, peak memory."""
    svc, public, pids = tunnel

    def run():
        d = e2e.concurrent(svc, CONC, CONC_BYTES)
        t = e2e.concurrent(public, CONC, CONC_BYTES, pids)
        return dict(direct_MBps=d["MBps"], tunnel_MBps=t["MBps"], tunnel_errors=t["errors"],
                    direct_errors=d["errors"], tunnel_peak_MiB=t["peak_MiB"])

    result = measure(benchmark, capsys, f"{CONC} concurrent", run)
    assert result["tunnel_errors"] == 0


def test_idle_memory(benchmark, capsys):
    """Tunnel memory per idle open stream, KiB (on a fresh tunnel: memory freed
    by earlier tests would hide the growth)."""
    with e2e.setup() as (_, public, pids):
        measure(benchmark, capsys, "idle", lambda: {"KiB_per_stream": e2e.idle_kib_per_stream(public, IDLE, pids)})


@pytest.mark.parametrize("streams", [1, 16])
def test_far_link(benchmark, capsys, streams):
    """Through a delay line (25 ms each way, 400 Mbit/s): throughput vs the line rate."""
    rate_mbit = 400.0
    nbytes = (4 if SMOKE else 256) * MiB // streams
    with e2e.setup(delay_ms=25, rate_mbit=rate_mbit) as (_, public, _pids):
        def run():
            mbps = e2e.bulk_parallel(public, streams, nbytes, "down") * 8
            return dict(streams=streams, Mbit_per_s=mbps, line_Mbit=rate_mbit, fraction=mbps / rate_mbit)

        measure(benchmark, capsys, f"far link, {streams} stream(s)", run)
