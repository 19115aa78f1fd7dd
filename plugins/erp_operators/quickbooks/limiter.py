"""Client-side QBO limits per realm, shared across processes through the state store's budgets.

Intuit allows, per realm and minute, 500 requests of which at most 40 may be batch requests, plus
at most 10 concurrent requests. The minute's 500 units are split into two sliding-window buckets:

* ``batch``: ``batch_per_minute`` (40) units; a batch request must take one of these.
* ``single``: ``requests_per_minute - batch_per_minute`` (460) units for every other request.

Together they can never admit more than 500 requests nor more than 40 batches in a window, and
when both kinds of work are queued both channels run full. Every request is also counted in a
``requests`` bucket of ``requests_per_minute`` (taken atomically with its channel's unit), so
processes configured with different limits still share one realm total. A single request may *borrow* a batch
unit when its own bucket is empty and the caller has no batch work waiting (plain reads and
updates do), so a minute without batch work can still use all 500.

A limiter minute is ``60 / time_scale`` seconds (plus ``window_margin``), so a time-scaled sandbox
and the limiter agree. The concurrency cap is per process only (a semaphore per realm of
``concurrent_requests``). Across processes the bound is the Airflow pool ``erp_quickbooks``, which
``streak-erp pools sync`` sizes to one slot: one QBO writer task at a time, whose dispatcher keeps
``concurrent_requests`` in flight. A bigger pool would let parallel tasks together exceed Intuit's
10 concurrent requests (the excess is answered 429 and retried: nothing lost, but over the limit).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

from erp_operators.quickbooks.config import QuickBooksLimits

_SEMAPHORES: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_SEMAPHORES_LOCK = threading.Lock()


class BudgetStore(Protocol):
    """The part of :class:`sync_core.state.StateStore` this module uses."""

    def take_budgets(self, takes: Iterable[tuple[str, int, int]], window_seconds: float) -> float: ...


def _semaphore(realm_id: str, size: int) -> threading.BoundedSemaphore:
    with _SEMAPHORES_LOCK:
        key = (realm_id, size)
        if key not in _SEMAPHORES:
            _SEMAPHORES[key] = threading.BoundedSemaphore(size)
        return _SEMAPHORES[key]


class RealmLimiter:
    """Grants units of the batch and single channels of one realm (see module docstring)."""

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
        self._prepaid = threading.local()
        self._delays: deque[float] = deque(maxlen=50)  # grant-to-send delays of the last 50 requests

    @property
    def window(self) -> float:
        """The counting window: the limit minute, its margin, and twice the longest recent delay
        between a grant and its send (a loaded machine must not carry a request into the next
        minute of Intuit's count); the delay part is capped at 10% of the minute."""
        delay = max(self._delays, default=0.0)
        return self.limits.budget_window + min(2.0 * delay, 0.1 * self.limits.minute)

    @property
    def batch_bucket(self) -> str:
        return f"quickbooks:{self.realm_id}:batch"

    @property
    def single_bucket(self) -> str:
        return f"quickbooks:{self.realm_id}:single"

    @property
    def request_bucket(self) -> str:
        return f"quickbooks:{self.realm_id}:requests"

    @property
    def batch_capacity(self) -> int:
        return min(self.limits.batch_per_minute, self.limits.requests_per_minute)

    @property
    def single_capacity(self) -> int:
        return self.limits.requests_per_minute - self.batch_capacity

    # -- non-blocking -----------------------------------------------------------------------------
    def _take(self, channel_bucket: str, capacity: int) -> float:
        # every request also counts in the realm's total: a process configured with other limits
        # (or an older client) still cannot push the realm past requests_per_minute
        total = (self.request_bucket, 1, self.limits.requests_per_minute)
        return self.store.take_budgets([(channel_bucket, 1, capacity), total], self.window)

    def try_batch(self) -> float:
        """Take one batch unit: 0.0 when granted, else the seconds until one frees (nothing taken)."""
        return self._take(self.batch_bucket, self.batch_capacity)

    def try_single(self, borrow: bool = True) -> float:
        """Take one single-request unit (borrowing a batch unit if ``borrow``); 0.0 or the wait."""
        if self.single_capacity <= 0:  # every unit is a batch unit (a limit set below 40 a minute)
            return self.try_batch() if borrow else self.window
        wait = self._take(self.single_bucket, self.single_capacity)
        if wait <= 0 or not borrow:
            return wait
        return min(wait, self.try_batch())

    def try_take(self, batch: bool, borrow: bool = True) -> float:
        return self.try_batch() if batch else self.try_single(borrow)

    # -- blocking -----------------------------------------------------------------------------
    def take(self, batch: bool) -> float:
        """Wait until a unit of the channel is granted; returns when the granting call began."""
        while True:
            asked = time.time()
            wait = self.try_take(batch)
            if wait <= 0:
                return asked
            self._sleep(wait)

    @contextmanager
    def prepaid(self, asked: float) -> Iterator[None]:
        """The next :meth:`slot` of this thread uses a unit the caller took in a call begun at ``asked``."""
        self._prepaid.value = asked
        try:
            yield
        finally:
            self._prepaid.value = None

    @contextmanager
    def slot(self, batch: bool = False) -> Iterator[None]:
        """Hold one concurrent-request slot after taking a unit of the channel's budget."""
        with self._slots:
            asked = getattr(self._prepaid, "value", None)
            if asked is not None:
                self._prepaid.value = None  # retries of the same call pay again
            else:
                asked = self.take(batch)
            self._delays.append(time.time() - asked)
            yield
