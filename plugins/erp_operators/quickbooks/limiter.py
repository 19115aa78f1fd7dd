"""Client-side QBO limits per realm: requests/minute and batch requests/minute shared across
processes through the state store's ``take_budget``, plus a cap on concurrent requests.

The concurrency cap is per process (a semaphore per realm); across processes it is bounded by
the Airflow pool the QBO tasks run in (``quickbooks`` pool, at most 10 slots). A limiter minute
is ``60 / time_scale`` seconds, so a time-scaled sandbox and the limiter agree.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from erp_operators.quickbooks.config import QuickBooksLimits

_SEMAPHORES: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_SEMAPHORES_LOCK = threading.Lock()


class BudgetStore(Protocol):
    """The part of :class:`sync_core.state.StateStore` this module uses."""

    def take_budget(self, bucket: str, cost: int, capacity: int, window_seconds: float) -> float: ...


def _semaphore(realm_id: str, size: int) -> threading.BoundedSemaphore:
    with _SEMAPHORES_LOCK:
        key = (realm_id, size)
        if key not in _SEMAPHORES:
            _SEMAPHORES[key] = threading.BoundedSemaphore(size)
        return _SEMAPHORES[key]


class RealmLimiter:
    """Blocks until one more request (or batch request) for the realm fits Intuit's limits."""

    def __init__(
        self,
        realm_id: str,
        limits: QuickBooksLimits,
        store: BudgetStore,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.realm_id = realm_id
        self.limits = limits
        self.store = store
        self._sleep = sleep
        self._slots = _semaphore(realm_id, limits.concurrent_requests)

    @property
    def request_bucket(self) -> str:
        return f"quickbooks:{self.realm_id}:requests"

    @property
    def batch_bucket(self) -> str:
        return f"quickbooks:{self.realm_id}:batch"

    def _take(self, bucket: str, capacity: int) -> None:
        while True:
            wait = self.store.take_budget(bucket, 1, capacity, self.limits.budget_window)
            if wait <= 0:
                return
            self._sleep(wait)

    @contextmanager
    def slot(self, batch: bool = False) -> Iterator[None]:
        """Hold one concurrent-request slot after taking a unit of the per-minute budgets."""
        with self._slots:
            self._take(self.request_bucket, self.limits.requests_per_minute)
            if batch:
                self._take(self.batch_bucket, self.limits.batch_per_minute)
            yield
