"""What QBO's documented limits allow: the records-per-minute ceiling and the fewest requests.

Per realm and minute Intuit allows 500 requests, at most 40 of them batch requests of up to 30
items. The fastest way to write N records therefore fills every minute with 40 full batches and
460 single creates (1,660 records a minute); the fewest requests would be batches alone
(``ceil(N / 30)``), which takes about 38% longer for large N.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil


@dataclass(frozen=True)
class QboLimits:
    """Intuit's per-realm limits (the defaults are the documented ones)."""

    requests_per_minute: int = 500
    batch_per_minute: int = 40
    batch_size: int = 30

    @property
    def singles_per_minute(self) -> int:
        return self.requests_per_minute - self.batch_per_minute

    @property
    def records_per_minute(self) -> int:
        """The ceiling: full batches on the batch channel plus one record per other request."""
        return self.batch_per_minute * self.batch_size + self.singles_per_minute

    def fewest_requests(self, records: int) -> int:
        """Batches only: the fewest requests that can carry ``records`` creates."""
        return ceil(records / self.batch_size)

    def requests_at_ceiling(self, records: int) -> int:
        """Requests of the fastest schedule: every minute 40 full batches first, then singles."""
        full, rest = divmod(records, self.records_per_minute)
        batch_records = self.batch_per_minute * self.batch_size
        if rest <= batch_records:
            last = ceil(rest / self.batch_size)
        else:
            last = self.batch_per_minute + rest - batch_records
        return full * self.requests_per_minute + last

    def fastest_minutes(self, records: int) -> float:
        """Limit-minutes at the steady ceiling rate (``records / records_per_minute``)."""
        return records / self.records_per_minute
