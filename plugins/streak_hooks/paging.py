"""Paginators for Streak list endpoints, in the style of dlt's: ``update_request`` then ``update_state``.

A loop asks the paginator for the next request's query parameters, sends it, hands the decoded
payload back, yields the items, and stops when ``has_next_page`` turns false.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


def split_page(payload: Any) -> tuple[list[JSON], bool | None]:
    """Items and ``hasNextPage`` (None when unknown) of a plain array or a ``{results, ...}`` object."""
    if isinstance(payload, list):
        return payload, None
    if isinstance(payload, dict):
        more = payload.get("hasNextPage")
        return list(payload.get("results") or []), (bool(more) if more is not None else None)
    raise ValueError(f"expected a list or an object with 'results', got {type(payload).__name__}")


class _Paginator:
    def __init__(self, page_size: int) -> None:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        self.page_size = page_size
        self.has_next_page = True

    def _more(self, items: list[JSON], more: bool | None) -> bool:
        """Trust ``hasNextPage`` when given, else a full page means "maybe more"; empty means done."""
        if not items:
            return False
        return more if more is not None else len(items) >= self.page_size


class PageNumberPaginator(_Paginator):
    """v1 lists: ``page`` (0-based) and ``limit``."""

    def __init__(self, page_size: int = 100) -> None:
        super().__init__(page_size)
        self.page = 0

    def update_request(self, params: JSON) -> JSON:
        return {**params, "page": self.page, "limit": self.page_size}

    def update_state(self, payload: Any) -> list[JSON]:
        items, more = split_page(payload)
        self.page += 1
        self.has_next_page = self._more(items, more)
        return items


class OffsetPaginator(_Paginator):
    """v2 lists: ``limit`` and ``offset``."""

    def __init__(self, page_size: int = 100) -> None:
        super().__init__(page_size)
        self.offset = 0

    def update_request(self, params: JSON) -> JSON:
        return {**params, "limit": self.page_size, "offset": self.offset}

    def update_state(self, payload: Any) -> list[JSON]:
        items, more = split_page(payload)
        self.offset += len(items)
        self.has_next_page = self._more(items, more)
        return items
