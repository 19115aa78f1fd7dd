"""Sends queued creates through QBO's two channels at the realm's limits.

The batch channel carries up to ``batch_size`` records per request (40 requests a minute); the
single channel carries one record per request (the rest of the 500 a minute). The dispatcher takes
a unit of the batch channel whenever two or more records are queued and one is free, else a unit
of the single channel; it sleeps only when neither channel has a unit left, so no capacity stays
unused while work is queued. A unit is taken only when a worker is free (at most ``workers``
requests in flight), so it is counted shortly before its request leaves; the limiter widens its
window by the recent grant-to-send delays (:attr:`RealmLimiter.window`) to cover that gap.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from erp_operators.quickbooks.limiter import RealmLimiter

T = TypeVar("T")


@dataclass
class Sent(Generic[T]):
    """One request: the records it carried, its channel, and its answer or the error it raised."""

    items: list[T]
    batch: bool
    asked: float = 0.0  # when the call that granted its unit began (time.time())
    result: Any = None
    error: BaseException | None = None


@dataclass
class Dispatched(Generic[T]):
    """Every request sent, in the order admitted, plus the records left unsent after a stop."""

    sent: list[Sent[T]] = field(default_factory=list)
    leftover: list[T] = field(default_factory=list)
    stopped_by: BaseException | None = None


class ChannelDispatcher:
    """Runs ``send_batch``/``send_single`` over a queue within the limiter's budgets."""

    def __init__(
        self,
        limiter: RealmLimiter,
        batch_size: int,
        workers: int,
        stop_on: tuple[type[BaseException], ...] = (),
        tolerate: tuple[type[BaseException], ...] = (Exception,),
        use_singles: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limiter = limiter
        self.batch_size = batch_size
        self.workers = max(1, workers)
        self.stop_on = stop_on  # errors after which nothing more is sent
        self.tolerate = tolerate  # errors that fail only their own request; any other one stops too
        self.use_singles = use_singles  # False: batches only (fewest requests, about 28% less throughput)
        self._sleep = sleep
        self._clock = clock

    def run(
        self,
        items: Sequence[T],
        send_batch: Callable[[list[T]], Any],
        send_single: Callable[[T], Any],
    ) -> Dispatched[T]:
        queue: deque[T] = deque(items)
        out: Dispatched[T] = Dispatched()
        in_flight = threading.BoundedSemaphore(self.workers)
        stop = threading.Event()
        batch_free_at = 0.0  # monotonic time before which the batch channel is known to be full

        def work(sent: Sent[T]) -> None:
            try:
                with self.limiter.prepaid(sent.asked):
                    sent.result = send_batch(sent.items) if sent.batch else send_single(sent.items[0])
            except BaseException as exc:  # handed to the caller with the records it concerns
                sent.error = exc
                if isinstance(exc, self.stop_on) or not isinstance(exc, self.tolerate):
                    out.stopped_by = out.stopped_by or exc
                    stop.set()
            finally:
                in_flight.release()

        futures: list[Future[None]] = []
        with ThreadPoolExecutor(self.workers, thread_name_prefix="qbo-send") as pool:

            def submit(chunk: list[T], batch: bool, asked: float) -> None:
                sent = Sent(chunk, batch, asked=asked)
                out.sent.append(sent)
                futures.append(pool.submit(work, sent))

            while queue and not stop.is_set():
                if not in_flight.acquire(timeout=0.5):
                    continue
                if stop.is_set():
                    in_flight.release()
                    break
                waiting = len(queue)
                wait_batch = 0.0
                now = self._clock()
                if (waiting >= 2 or not self.use_singles) and now >= batch_free_at:
                    asked = time.time()
                    wait_batch = self.limiter.try_batch()
                    if wait_batch <= 0:
                        submit([queue.popleft() for _ in range(min(self.batch_size, waiting))], True, asked)
                        continue
                    batch_free_at = now + wait_batch
                elif waiting >= 2 or not self.use_singles:
                    wait_batch = batch_free_at - now
                if not self.use_singles:
                    in_flight.release()
                    self._sleep(wait_batch)
                    continue
                # a lone record may borrow a batch unit; with more queued, batch units stay for batches
                asked = time.time()
                wait_single = self.limiter.try_single(borrow=waiting < 2)
                if wait_single <= 0:
                    submit([queue.popleft()], False, asked)
                    continue
                in_flight.release()
                self._sleep(min(wait_single, wait_batch) if waiting >= 2 else wait_single)
        for future in futures:
            future.result()
        out.leftover = list(queue)
        return out
