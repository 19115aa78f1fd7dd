"""Throughput at QBO's limits: both channels used, neither budget exceeded, no capacity left idle.

The dispatcher's channel choice is checked on a virtual clock (every window counted exactly); the
connector end to end is checked against the time-scaled sandbox, counting the requests it admitted
in every sliding window from its own recorded decisions (never from how long the test took).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from erp_operators.quickbooks.channels import ChannelDispatcher
from erp_operators.quickbooks.config import QuickBooksLimits
from erp_operators.quickbooks.connector import QuickBooksConnector
from erp_operators.quickbooks.limiter import RealmLimiter
from sync_core.canonical import Customer
from sync_core.state import StateStore
from tests.quickbooks.qbo_admin import REALM, QBOSandbox

WINDOW = 60.0


class VirtualLimiter:
    """The limiter's channel rules on a virtual clock: sliding 60 s windows, sleep moves time on."""

    def __init__(self, requests_per_minute: int, batch_per_minute: int) -> None:
        self.rpm = requests_per_minute
        self.bpm = batch_per_minute
        self.now = 0.0
        self.grants: list[tuple[float, str]] = []  # (time, "batch" | "single" | "borrowed")
        self.lock = threading.Lock()

    def _used(self, kinds: tuple[str, ...]) -> list[float]:
        return [t for t, k in self.grants if k in kinds and t > self.now - WINDOW]

    def _wait(self, times: list[float], capacity: int) -> float:
        return 0.0 if len(times) < capacity else min(times) + WINDOW - self.now

    def try_batch(self, kind: str = "batch") -> float:
        with self.lock:
            wait = self._wait(self._used(("batch", "borrowed")), self.bpm)
            if wait <= 0:
                self.grants.append((self.now, kind))
            return wait

    def try_single(self, borrow: bool = True) -> float:
        with self.lock:
            wait = self._wait(self._used(("single",)), self.rpm - self.bpm)
            if wait <= 0:
                self.grants.append((self.now, "single"))
                return 0.0
        return min(wait, self.try_batch("borrowed")) if borrow else wait

    @contextmanager
    def prepaid(self, asked: float) -> Iterator[None]:
        yield

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds

    def per_window(self) -> list[dict[str, int]]:
        windows: dict[int, dict[str, int]] = {}
        for t, kind in self.grants:
            counts = windows.setdefault(int(t // WINDOW), {"batch": 0, "single": 0, "borrowed": 0})
            counts[kind] += 1
        return [windows[k] for k in sorted(windows)]


def _dispatch(limiter: VirtualLimiter, n: int, batch_size: int) -> list[tuple[list[int], bool]]:
    dispatcher = ChannelDispatcher(
        limiter,  # type: ignore[arg-type]
        batch_size,
        workers=1,
        sleep=limiter.sleep,
        clock=lambda: limiter.now,
    )
    done = dispatcher.run(list(range(n)), lambda chunk: "ok", lambda item: "ok")
    assert done.leftover == [] and all(s.error is None for s in done.sent)
    return [(s.items, s.batch) for s in done.sent]


def test_every_window_runs_both_channels_full_while_work_is_queued() -> None:
    limiter = VirtualLimiter(requests_per_minute=10, batch_per_minute=2)
    sent = _dispatch(limiter, n=50, batch_size=3)  # 2 x 3 + 8 singles = 14 records per window
    windows = limiter.per_window()
    assert windows[:3] == [{"batch": 2, "single": 8, "borrowed": 0}] * 3  # full, never more
    assert windows[3] == {"batch": 2, "single": 2, "borrowed": 0}  # the 8 records left
    assert sorted(i for items, _ in sent for i in items) == list(range(50))  # each record once
    assert all(len(items) == 3 for items, batch in sent if batch)


def test_the_single_channel_is_only_used_when_faster() -> None:
    limiter = VirtualLimiter(requests_per_minute=500, batch_per_minute=40)
    sent = _dispatch(limiter, n=60, batch_size=30)  # two batches hold it all in this window
    assert [(len(items), batch) for items, batch in sent] == [(30, True), (30, True)]
    assert limiter.now == 0.0  # nothing waited


def test_a_lone_record_goes_single_and_may_borrow_a_batch_unit() -> None:
    limiter = VirtualLimiter(requests_per_minute=3, batch_per_minute=1)
    sent = _dispatch(limiter, n=4, batch_size=30)
    # the batch unit takes 30 at once (all 4 here) ...
    assert [(len(items), batch) for items, batch in sent] == [(4, True)]
    limiter2 = VirtualLimiter(requests_per_minute=3, batch_per_minute=1)
    sent2 = _dispatch(limiter2, n=1, batch_size=30)
    # ... while one record never spends a batch unit when a single one is free
    assert sent2 == [([0], False)] and limiter2.per_window() == [{"batch": 0, "single": 1, "borrowed": 0}]
    limiter3 = VirtualLimiter(requests_per_minute=3, batch_per_minute=1)
    for _ in range(2):
        assert limiter3.try_single(borrow=False) == 0.0  # the single channel is used up
    assert _dispatch(limiter3, n=1, batch_size=30) == [([0], False)]
    assert limiter3.per_window() == [{"batch": 0, "single": 2, "borrowed": 1}]  # no wait for the next minute


def test_batch_only_policy_sends_fewest_requests() -> None:
    limiter = VirtualLimiter(requests_per_minute=10, batch_per_minute=2)
    dispatcher = ChannelDispatcher(
        limiter,  # type: ignore[arg-type]
        3,
        workers=1,
        use_singles=False,
        sleep=limiter.sleep,
        clock=lambda: limiter.now,
    )
    done = dispatcher.run(list(range(13)), lambda chunk: "ok", lambda item: "ok")
    assert [(len(s.items), s.batch) for s in done.sent] == [(3, True)] * 4 + [(1, True)]
    assert limiter.per_window() == [{"batch": 2, "single": 0, "borrowed": 0}] * 2 + [
        {"batch": 1, "single": 0, "borrowed": 0}
    ]


def test_limiter_channels_share_the_realm_total(state_url: str) -> None:
    store = StateStore.from_url(state_url)
    limiter = RealmLimiter(REALM, QuickBooksLimits(requests_per_minute=5, batch_per_minute=2), store)
    assert [limiter.try_batch() for _ in range(2)] == [0.0, 0.0]
    assert limiter.try_batch() > 0  # the batch channel is full
    assert [limiter.try_single(borrow=False) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.try_single(borrow=True) > 0  # 5 in the window: nothing left to borrow either
    other = RealmLimiter(REALM, QuickBooksLimits(requests_per_minute=500, batch_per_minute=40), store)
    assert other.try_single() == 0.0  # a client with other limits still counts in the total ...
    assert limiter.try_single() > 0  # ... which the first one respects


def _windows(decisions: list[dict[str, Any]], window: float) -> tuple[int, int]:
    """The most admitted requests and batch requests in any sliding window ending at an admission."""
    admitted = [(d["ts"], d["batch"]) for d in decisions if d["throttled"] is None]
    most = most_batches = 0
    start = 0
    for end, (ts, _) in enumerate(admitted):
        while admitted[start][0] <= ts - window:
            start += 1
        inside = admitted[start : end + 1]
        most = max(most, len(inside))
        most_batches = max(most_batches, sum(1 for _, batch in inside if batch))
    return most, most_batches


@pytest.mark.parametrize("workers", [1, 4])
def test_connector_fills_both_budgets_and_never_exceeds_them(
    qbo: QBOSandbox, state_url: str, workers: int
) -> None:
    rpm, bpm, size, scale = 30, 3, 5, 20.0  # a limit-minute is 3 s; 3 x 5 + 27 = 42 records a minute
    qbo.admin("POST", "limits", {"requests_per_minute": rpm, "batch_per_minute": bpm, "time_scale": scale})
    config = qbo.config(
        requests_per_minute=rpm,
        batch_per_minute=bpm,
        batch_size=size,
        time_scale=scale,
        concurrent_requests=workers,
    )
    conn = QuickBooksConnector(config=config, store=StateStore.from_url(state_url), bulk_lookup_threshold=1)
    customers = [Customer(f"org-{n}", f"Throughput {n}") for n in range(100)]
    receipts = conn.upsert_customers(customers)
    assert [r.status.value for r in receipts] == ["created"] * 100
    state = qbo.state()
    assert state["counters"]["responses_429"] == 0
    assert len(qbo.objects("Customer")) == 100 and state["counters"]["writes"]["Customer"]["create"] == 100
    log = qbo.admin("GET", "requests")
    batches = [r for r in log if r["path"].endswith("/batch")]
    singles = [r for r in log if r["path"].endswith("/customer")]
    assert batches and singles  # both channels carried records
    assert state["counters"]["batch_items"] + len(singles) == 100  # each record sent once
    most, most_batches = _windows(qbo.admin("GET", "limits/decisions"), 60.0 / scale)
    assert most == rpm and most_batches == bpm  # some window ran both budgets full, none went past


def test_later_chunks_read_only_what_changed_in_the_customer_list(qbo: QBOSandbox, state_url: str) -> None:
    from erp_operators.quickbooks import index_cache

    index_cache.clear()
    names = [{"DisplayName": f"Existing {n:04d}"} for n in range(1200)]  # two pages of 1,000
    ids = qbo.admin("POST", "seed", {"Customer": names})["created"]["Customer"]
    qbo.admin("POST", "clock", {"advance_seconds": 60})  # they were last changed a minute before the load
    store = StateStore.from_url(state_url)

    def chunk(start: int) -> list[str]:
        conn = QuickBooksConnector(config=qbo.config(), store=store)
        before = qbo.requests_to("/query")
        receipts = conn.upsert_customers(
            [Customer(f"org-{n}", f"Chunk {n}") for n in range(start, start + 30)]
        )
        assert {r.status.value for r in receipts} == {"created"}
        return [str(qbo.requests_to("/query") - before)]

    assert chunk(0) == ["2"]  # the first chunk pages through the whole list
    assert chunk(30) == ["2"]  # later ones: one delta query and one count, however long the list
    # a person renames one customer and makes another inactive in QuickBooks between two chunks
    client = QuickBooksConnector(config=qbo.config(), store=store).client
    renamed = client.read("Customer", ids[0])
    client.sparse_update(
        "Customer", {"Id": ids[0], "SyncToken": renamed["SyncToken"], "DisplayName": "Chunk 60"}, "rename-1"
    )
    gone = client.read("Customer", ids[1])
    client.sparse_update("Customer", {"Id": ids[1], "SyncToken": gone["SyncToken"], "Active": False}, "off-1")
    conn = QuickBooksConnector(config=qbo.config(), store=store)
    receipts = conn.upsert_customers(
        [Customer("org-60", "Chunk 60"), *[Customer(f"org-{n}", f"Chunk {n}") for n in range(61, 90)]]
    )
    assert receipts[0].status.value == "matched" and receipts[0].erp_id == ids[0]  # found under its new name
    assert conn.client.read("Customer", ids[1])["Active"] is False
    qbo.reset()  # the list shrank (only a sandbox can do that): the count shows it, the list is read again
    fresh = StateStore.from_url(state_url.replace("state.db", "state2.db"))
    fresh.create_all()
    receipts = QuickBooksConnector(config=qbo.config(), store=fresh).upsert_customers(
        [Customer(f"org-{n}", f"Chunk {n}") for n in range(30)]
    )
    assert {r.status.value for r in receipts} == {"created"}  # no stale match from before the reset
    assert sorted(
        c["DisplayName"] for c in qbo.objects("Customer") if c["DisplayName"].startswith("Chunk")
    ) == sorted(f"Chunk {n}" for n in range(30))
    index_cache.clear()


def test_the_benchmark_ceiling_follows_the_documented_limits() -> None:
    from bench.ceiling import QboLimits

    limits = QboLimits()
    assert limits.records_per_minute == 40 * 30 + 460 == QuickBooksLimits().records_per_minute
    assert limits.requests_at_ceiling(1660) == 500  # one full minute: 40 batches + 460 singles
    assert limits.requests_at_ceiling(1200) == 40  # fits the batch channel: no single is faster
    assert limits.requests_at_ceiling(10_000) == 6 * 500 + 2  # 40 records left: two batches
    assert limits.fewest_requests(10_000) == 334
