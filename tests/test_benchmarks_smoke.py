"""Every benchmark still runs (once, untimed, with small sizes)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_benchmarks_run():
    r = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "--benchmark-disable", "-q", "-x",
                        "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "FASTTUN_BENCH_SMOKE": "1"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert " passed" in r.stdout


def test_httpbench_summary_gives_the_ratios_of_pairs():
    """httpbench also gives each TCP run's ratio to the HTTP run right after
    it: a pair that ran while the machine was slow moves both halves alike."""
    sys.path.insert(0, ROOT)
    try:
        from benchmarks.httpbench import summary
    finally:
        sys.path.remove(ROOT)

    def run(rps, p99):
        return {"rps": rps, "p99_ms": p99}

    results = {"args": {"bulk_bytes": 1 << 30}, "bulk": {}, "memory": None,
               "rps": {"tcp": [run(100, 1.0), run(50, 2.0), run(100, 1.0)],
                       "http": [run(90, 1.1), run(45, 2.4), run(80, 1.3)]}}
    text = summary(results).splitlines()
    assert text[0] == ("keep-alive rps (median of 3): TCP 100, HTTP 80 -> 0.80x; "
                       "p99 TCP 1.00 ms, HTTP 1.30 ms -> 1.30x")
    assert text[1] == "  per pair: rps 0.90, 0.90, 0.80x (median 0.90x); p99 1.10, 1.20, 1.30x (median 1.20x)"
