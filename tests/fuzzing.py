"""Byte mutations for the fuzz tests (hypothesis strategies and their application)."""

from __future__ import annotations

from hypothesis import strategies as st

# (kind, where as a fraction of the length, argument)
mutation = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(1, 255)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=24)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 40)),
    st.tuples(st.just("duplicate"), st.floats(0, 1), st.integers(1, 200)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
)


def mutate(data: bytes, mutations) -> bytes:
    """Apply *mutations* (drawn from ``mutation``) to *data*, in order."""
    out = bytearray(data)
    for m in mutations:
        pos = min(len(out), int(m[1] * len(out)))
        if m[0] == "flip" and pos < len(out):
            out[pos] ^= m[2]
        elif m[0] == "insert":
            out[pos:pos] = m[2]
        elif m[0] == "delete":
            del out[pos : pos + m[2]]
        elif m[0] == "duplicate":
            out[pos:pos] = out[pos : pos + m[2]]
        elif m[0] == "truncate":
            del out[pos:]
    return bytes(out)
