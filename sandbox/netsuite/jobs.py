"""Asynchronous batch jobs: the batch body, one record's write inside a job, and the job resources.

A batch is ``{"items": [...]}`` (or a bare list; the exact body is UNCONFIRMED) of at most 100
records of one type. Each record is written at once and its result kept on the :class:`Job`; the
job reports ``pending`` for its first ``polls_needed`` polls. By default a job has one task whose
result is ``{"items": [...]}`` in input order; with ``per_task`` one task per record.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sandbox.netsuite.errors import NetSuiteError
from sandbox.netsuite.records import Account

BATCH_MAX = 100


@dataclass
class Job:
    """One asynchronous batch job and its per-record results."""

    id: str
    results: list[dict[str, Any]]
    start: str
    end: str
    polls: int = 0
    polls_needed: int = 1
    per_task: bool = False  # one task per record (each result one record) instead of one task per job

    @property
    def task_ids(self) -> list[str]:
        """``["1"]``, or one id per record with ``per_task``."""
        return [str(n) for n in range(1, len(self.results) + 1)] if self.per_task else ["1"]

    @property
    def completed(self) -> bool:
        """True once the job has been polled more than ``polls_needed`` times."""
        return self.polls > self.polls_needed

    def _progress(self) -> str:
        return "succeeded" if self.completed else "pending"

    def body(self, url: str) -> dict[str, Any]:
        """``GET async/v1/job/{id}`` (``url`` is the job's own URL)."""
        return {
            "id": self.id,
            "completed": self.completed,
            "progress": self._progress(),
            "links": [{"rel": "self", "href": url}],
            "task": {"links": [{"rel": "related", "href": f"{url}/task"}]},
        }

    def tasks_body(self, url: str) -> dict[str, Any]:
        """``GET .../task``: the task collection (``url`` is the collection's URL)."""
        tasks = [{"links": [{"rel": "self", "href": f"{url}/{tid}"}]} for tid in self.task_ids]
        return {
            "items": tasks,
            "count": len(tasks),
            "hasMore": False,
            "offset": 0,
            "totalResults": len(tasks),
        }

    def task_body(self, url: str, tid: str) -> dict[str, Any]:
        """``GET .../task/{tid}`` (``url`` is the task's URL)."""
        self._check_task(tid)
        return {
            "id": tid,
            "completed": self.completed,
            "progress": self._progress(),
            "startTime": self.start,
            "endTime": self.end if self.completed else None,
            "links": [{"rel": "self", "href": url}, {"rel": "related", "href": f"{url}/result"}],
        }

    def result_body(self, tid: str) -> dict[str, Any]:
        """``GET .../task/{tid}/result``: the per-record results (a 400 before the job completed)."""
        if not self.completed:
            raise NetSuiteError(400, "JOB_NOT_COMPLETED", f"The job {self.id} has not completed yet.")
        self._check_task(tid)
        if self.per_task:
            return copy.deepcopy(self.results[int(tid) - 1])
        return {"items": copy.deepcopy(self.results), "count": len(self.results), "hasMore": False}

    def _check_task(self, tid: str) -> None:
        if tid not in self.task_ids:
            raise NetSuiteError(404, "NONEXISTENT_ID", f"The task {tid} does not exist.")


def batch_items(raw: Any) -> list[Any]:
    """The records of a batch body, or a 400 (not a list, empty, or over :data:`BATCH_MAX`)."""
    items = raw if isinstance(raw, list) else raw.get("items") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items:
        raise NetSuiteError(
            400, "INVALID_CONTENT", 'A batch body is {"items": [...]} with at least one record.'
        )
    if len(items) > BATCH_MAX:
        raise NetSuiteError(
            400, "INVALID_REQUEST", f"A batch holds at most {BATCH_MAX} records; this one has {len(items)}."
        )
    return items


def write_one(
    account: Account, method: str, rtype: str, item: Any, base: str, with_ids: bool = True
) -> tuple[dict[str, Any], bool]:
    """Write one batch record (``PUT`` upserts by externalId, ``PATCH`` updates by id, ``POST`` creates).

    Returns its result row and whether it was written. A refusal is a row with the status and
    NetSuite's error body; a success carries the id and location unless ``with_ids`` is False.
    """
    ext = item.get("externalId") if isinstance(item, dict) else None
    try:
        if not isinstance(item, dict):
            raise NetSuiteError(400, "INVALID_CONTENT", "Each batch item must be a JSON object.")
        if method == "PUT":
            if not ext:
                raise NetSuiteError(
                    400, "USER_ERROR", "A batch upsert needs an externalId on every record.", "externalId"
                )
            record, _ = account.write(rtype, item, external_id=str(ext))
        elif method == "PATCH":
            record_id = str(item.get("id") or "")
            if not record_id:
                raise NetSuiteError(400, "USER_ERROR", "A batch update needs an id on every record.", "id")
            record, _ = account.write(
                rtype, {k: v for k, v in item.items() if k != "id"}, record_id=record_id
            )
        else:
            record, _ = account.write(rtype, item)
    except NetSuiteError as exc:
        return {
            "status": exc.status,
            "externalId": ext,
            **{k: v for k, v in exc.body().items() if k != "status"},
        }, False
    if not with_ids:
        return {"status": 204, "externalId": record.get("externalId")}, True
    return {
        "status": 204,
        "id": record["id"],
        "externalId": record.get("externalId"),
        "location": f"{base}/record/v1/{rtype}/{record['id']}",
    }, True
