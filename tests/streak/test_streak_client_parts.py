"""The hook's small parts on their own: settings from a connection/params, paginators, rate limiter."""

from __future__ import annotations

import time

import pytest

from streak_hooks.errors import StreakConfigError
from streak_hooks.paging import OffsetPaginator, PageNumberPaginator
from streak_hooks.ratelimit import RateLimiter
from streak_hooks.settings import DEFAULT_BASE_URL, ClientSettings, normalize_base_url


@pytest.mark.parametrize(
    ("host", "port", "schema", "expected"),
    [
        (None, None, None, DEFAULT_BASE_URL),
        ("", None, None, DEFAULT_BASE_URL),
        ("api.streak.com", None, None, "https://api.streak.com/api"),
        ("https://api.streak.com/api/", None, None, "https://api.streak.com/api"),
        ("http://127.0.0.1:8401/api", None, None, "http://127.0.0.1:8401/api"),
        ("127.0.0.1", 8401, "api", "https://127.0.0.1:8401/api"),
        ("http://127.0.0.1:8401", None, None, "http://127.0.0.1:8401/api"),
    ],
)
def test_base_url_normalisation(
    host: str | None, port: int | None, schema: str | None, expected: str
) -> None:
    assert normalize_base_url(host, port, schema) == expected


def test_extras_are_parsed_in_one_place() -> None:
    settings = ClientSettings.build(
        host="api.streak.com",
        api_key="k" * 20,
        extras={
            "timeout": "12.5",
            "max_retries": 3,
            "requests_per_second": "4",
            "verify": "false",
            "junk": 1,
        },
    )
    assert (settings.timeout, settings.max_retries, settings.requests_per_second) == (12.5, 3, 4.0)
    assert settings.verify is False
    assert "k" * 20 not in repr(settings)
    assert (
        ClientSettings.build(host=None, api_key="x" * 8, extras={"verify": "/etc/ca.pem"}).verify
        == "/etc/ca.pem"
    )
    prefixed = ClientSettings.build(host=None, api_key="x" * 8, extras={"extra__streak__max_retries": "1"})
    assert prefixed.max_retries == 1


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(StreakConfigError, match="no API key"):
        ClientSettings.build(host=None, api_key="", source="connection 'streak_default'")
    with pytest.raises(StreakConfigError, match="'timeout' has an invalid value 'soon'"):
        ClientSettings.build(host=None, api_key="secret-key", extras={"timeout": "soon"})
    with pytest.raises(StreakConfigError, match="max_retries"):
        ClientSettings.build(host=None, api_key="secret-key", extras={"max_retries": -1})


def test_page_number_paginator_follows_has_next_page_or_short_pages() -> None:
    paginator = PageNumberPaginator(page_size=2)
    assert paginator.update_request({"sortBy": "x"}) == {"sortBy": "x", "page": 0, "limit": 2}
    assert paginator.update_state({"results": [{"key": "a"}, {"key": "b"}], "hasNextPage": True}) == [
        {"key": "a"},
        {"key": "b"},
    ]
    assert paginator.has_next_page and paginator.update_request({})["page"] == 1
    paginator.update_state({"results": [{"key": "c"}], "hasNextPage": False})
    assert not paginator.has_next_page

    plain = PageNumberPaginator(page_size=2)
    plain.update_state([{"key": "a"}, {"key": "b"}])  # a plain array: a full page means maybe more
    assert plain.has_next_page
    plain.update_state([{"key": "c"}])
    assert not plain.has_next_page
    empty = PageNumberPaginator(page_size=2)
    empty.update_state({"results": [], "hasNextPage": True})  # never loop on empty pages
    assert not empty.has_next_page


def test_offset_paginator_advances_by_items_received() -> None:
    paginator = OffsetPaginator(page_size=3)
    paginator.update_state({"results": [{}, {}, {}], "hasNextPage": True})
    assert paginator.update_request({}) == {"limit": 3, "offset": 3}
    with pytest.raises(ValueError, match="results"):
        paginator.update_state("nope")


def test_rate_limiter_spaces_calls() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    limiter = RateLimiter(10, clock=lambda: now[0], sleep=sleep)
    waits = [limiter.acquire() for _ in range(5)]  # a burst at one instant
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    now[0] += 10  # after a quiet spell the next call goes at once
    assert limiter.acquire() == 0.0
    assert RateLimiter(0).acquire() == 0.0  # 0 disables the limit


def test_rate_limiter_really_sleeps() -> None:
    limiter = RateLimiter(50)
    started = time.monotonic()
    for _ in range(6):
        limiter.acquire()
    assert time.monotonic() - started >= 5 / 50 - 0.005  # five gaps of 20 ms at least
