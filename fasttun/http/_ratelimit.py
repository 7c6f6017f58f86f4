"""Requests per second per visitor address: a token bucket per address (sans-I/O)."""

from __future__ import annotations

__all__ = ["RateLimiter"]


class RateLimiter:
    """Allow *rate* requests per second per key, with bursts of up to *rate*.

    Memory stays bounded: beyond ``max_keys`` addresses, those whose bucket
    has refilled (idle for a second or more) are forgotten, and if that is
    not enough, all are.

    Args:
        rate: requests per second (and the burst size, at least 1).
        max_keys: addresses kept at most.
    """

    __slots__ = ("rate", "burst", "max_keys", "_buckets")

    def __init__(self, rate: float, max_keys: int = 65536) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = max(1.0, float(rate))
        self.max_keys = max_keys
        self._buckets: dict[str, list[float]] = {}

    def check(self, key: str, now: float) -> float:
        """Take one request for *key* at time *now*.

        Returns 0 when it is allowed, else the seconds until it would be.
        """
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            self._buckets[key] = [self.burst - 1.0, now]
            return 0.0
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = self.burst / self.rate
        self._buckets = {k: b for k, b in self._buckets.items() if now - b[1] < full}
        if len(self._buckets) >= self.max_keys:
            self._buckets.clear()

    def __len__(self) -> int:
        return len(self._buckets)
