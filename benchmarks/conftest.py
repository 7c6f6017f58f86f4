"""Benchmarks run only with ``--benchmark-only`` (or ``--benchmark-disable``,
which the smoke test uses to run each once without timing).

After a run, the compiled/pure ratio of each micro-benchmark is printed.
"""

from __future__ import annotations

import os

import pytest

SMOKE = bool(os.environ.get("FASTTUN_BENCH_SMOKE"))
SIZES = [64, 1024, 16384, 65536, 262144]
SIZE_IDS = ["64B", "1KiB", "16KiB", "64KiB", "256KiB"]


def pytest_collection_modifyitems(config, items):
    if config.getoption("benchmark_only", False) or config.getoption("benchmark_disable", False):
        return
    skip = pytest.mark.skip(reason="a benchmark: run with pytest --benchmark-only")
    for item in items:
        if item.nodeid.startswith("benchmarks/"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    by_key: dict = {}
    for bench in session.benchmarks:
        name = bench.name
        if "[c-" in name or "[py-" in name:
            impl = "c" if "[c-" in name else "py"
            key = name.replace("[c-", "[").replace("[py-", "[")
            if bench.stats is not None:
                by_key.setdefault(key, {})[impl] = bench.stats.median
    rows = [(k, v["py"] / v["c"]) for k, v in sorted(by_key.items()) if "c" in v and "py" in v and v["c"]]
    if rows:
        terminalreporter.write_sep("-", "compiled core vs pure-Python twin (median time ratio py/c)")
        for key, ratio in rows:
            terminalreporter.write_line(f"{key:60s} {ratio:6.2f}x")
