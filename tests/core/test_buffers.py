"""Buffer pool: exported buffers are never handed out again."""

from __future__ import annotations

import pytest

from fasttun._core.buffers import BufferPoolC, BufferPoolPy


@pytest.fixture(params=[pytest.param(BufferPoolPy, id="py"), pytest.param(BufferPoolC, id="c")])
def Pool(request):
    if request.param is None:
        pytest.skip("compiled core not built")
    return request.param


def test_reuse_only_unexported(Pool):
    pool = Pool(1024, 4)
    a = pool.acquire()
    assert len(a) == 1024
    view = memoryview(a)[10:20]
    pool.release(a)
    b = pool.acquire()
    assert b is not a  # still exported through `view`
    del view
    c = pool.acquire()
    assert c is a
    assert (pool.allocated, pool.reused) == (2, 1)


def test_max_free(Pool):
    pool = Pool(64, 2)
    bufs = [pool.acquire() for _ in range(4)]
    for b in bufs:
        pool.release(b)
    assert pool.free_count == 2 and pool.dropped == 2
