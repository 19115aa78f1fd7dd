"""QBO's per-realm throttles: requests per minute, batch requests per minute, concurrent requests.

Windows slide: a request is admitted when fewer than the limit were admitted in the last window.
``time_scale`` shrinks the minute (``time_scale=60`` makes a limit-minute last one second) so tests
can hit and then outlive a limit quickly. Throttled requests do not use up the budget.

Every decision is recorded (wall-clock ``ts``, realm, batch or not, admitted or the throttle
reason) in :attr:`RealmLimiter.decisions`, so tests and the benchmark can count the requests in
any window from the sandbox's own clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_DECISIONS = 500_000  # admission decisions kept for /__admin/limits/decisions


@dataclass
class LimitConfig:
    """Current limits; ``latency_seconds`` holds every admitted API request that long (to test concurrency)."""

    requests_per_minute: int = 500
    batch_per_minute: int = 40
    concurrent: int = 10
    time_scale: float = 1.0
    enabled: bool = True
    latency_seconds: float = 0.0

    @property
    def window_seconds(self) -> float:
        return 60.0 / self.time_scale

    def update(self, spec: dict[str, Any]) -> None:
        for name in ("requests_per_minute", "batch_per_minute", "concurrent"):
            if name in spec:
                setattr(self, name, int(spec[name]))
        for name in ("time_scale", "latency_seconds"):
            if name in spec:
                setattr(self, name, float(spec[name]))
        if "enabled" in spec:
            self.enabled = bool(spec["enabled"])
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")


@dataclass
class _RealmUsage:
    requests: deque[float] = field(default_factory=deque)
    batches: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    peak_in_flight: int = 0


class RealmLimiter:
    """Admits or throttles API requests per realm; thread-safe."""

    def __init__(self, config: LimitConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._usage: dict[str, _RealmUsage] = {}
        self.throttled: dict[str, int] = {}
        # Bounded so a long-running sandbox (`make up`) does not grow without end; far above one bench run.
        self.decisions: deque[dict[str, Any]] = deque(maxlen=MAX_DECISIONS)

    def reset(self, config: LimitConfig) -> None:
        with self._lock:
            self.config = config
            self._usage.clear()
            self.throttled.clear()
            self.decisions.clear()

    def configure(self, spec: dict[str, Any]) -> None:
        with self._lock:
            self.config.update(spec)

    def acquire(self, realm_id: str, is_batch: bool) -> str | None:
        """Admit one request (remember to :meth:`release`), or return why it is throttled."""
        with self._lock:
            usage = self._usage.setdefault(realm_id, _RealmUsage())
            cfg = self.config
            now = time.monotonic()
            horizon = now - cfg.window_seconds
            for window in (usage.requests, usage.batches):
                while window and window[0] <= horizon:
                    window.popleft()
            reason = None
            if cfg.enabled:
                if usage.in_flight >= cfg.concurrent:
                    reason = "concurrent"
                elif len(usage.requests) >= cfg.requests_per_minute:
                    reason = "requests_per_minute"
                elif is_batch and len(usage.batches) >= cfg.batch_per_minute:
                    reason = "batch_per_minute"
            self.decisions.append(
                {"ts": time.time(), "realm": realm_id, "batch": is_batch, "throttled": reason}
            )
            if reason is not None:
                self.throttled[reason] = self.throttled.get(reason, 0) + 1
                return reason
            usage.requests.append(now)
            if is_batch:
                usage.batches.append(now)
            usage.in_flight += 1
            usage.peak_in_flight = max(usage.peak_in_flight, usage.in_flight)
            return None

    def release(self, realm_id: str) -> None:
        with self._lock:
            self._usage[realm_id].in_flight -= 1

    def decision_log(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The recorded decisions at or after wall-clock ``since``."""
        with self._lock:
            return [d for d in self.decisions if d["ts"] >= since]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "config": asdict(self.config),
                "window_seconds": self.config.window_seconds,
                "throttled": dict(self.throttled),
                "realms": {
                    realm: {
                        "requests_in_window": len(u.requests),
                        "batches_in_window": len(u.batches),
                        "in_flight": u.in_flight,
                        "peak_in_flight": u.peak_in_flight,
                    }
                    for realm, u in self._usage.items()
                },
            }
