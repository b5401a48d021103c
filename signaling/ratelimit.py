"""Token buckets, clock injected: per-connection message limits and login throttling."""

from __future__ import annotations


class TokenBucket:
    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last = now

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def take(self, now: float, cost: float = 1.0) -> bool:
        self._refill(now)
        if self._tokens < cost:
            return False
        self._tokens -= cost
        return True

    def available(self, now: float) -> float:
        self._refill(now)
        return self._tokens

    def wait_s(self, now: float, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are there again."""
        return max(0.0, (cost - self.available(now)) / self.rate)


class LoginThrottle:
    """Failed logins drain a bucket per key (a user name, an address); an empty bucket refuses.

    Only failures cost: a clinician who types the password right is never slowed down, while a
    guesser gets ``burst`` tries and then one per ``1 / rate`` seconds, per name and per address.
    """

    MAX_KEYS = 10_000

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}

    def retry_after(self, key: str, now: float) -> float:
        """0 when ``key`` may try now, else the seconds it must wait."""
        bucket = self._buckets.get(key)
        return bucket.wait_s(now) if bucket is not None else 0.0

    def failed(self, key: str, now: float) -> None:
        if len(self._buckets) >= self.MAX_KEYS:
            self._forget_full(now)
        bucket = self._buckets.setdefault(key, TokenBucket(self.rate, self.burst, now))
        bucket.take(now)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: they carry no memory of failures any more."""
        for key in [k for k, b in self._buckets.items() if b.available(now) >= b.burst]:
            del self._buckets[key]
