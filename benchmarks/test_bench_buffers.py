"""Buffer pool: acquire/release round trips, compiled vs pure."""

from __future__ import annotations

import pytest

from ._micro import classes, impl_params
from .conftest import SIZE_IDS, SIZES


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("impl", impl_params())
def test_pool_get_put(benchmark, impl, size):
    """One acquire + release of a *size*-byte buffer, with the export check."""
    _, _, Pool = classes(impl)
    benchmark.group = f"pool {size}"
    pool = Pool(size, 8)
    acquire, release = pool.acquire, pool.release

    def run():
        buf = acquire()
        release(buf)

    benchmark(run)
    assert pool.allocated == 1
