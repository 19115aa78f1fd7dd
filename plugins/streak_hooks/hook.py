"""StreakHook: the Airflow hook for Streak CRM's REST API (connection type ``streak``).

The connection's password is the API key (sent as the Basic-auth username with a blank password)
and its host the base URL (default ``https://api.streak.com/api``). Every method returns the typed
models of :mod:`streak_hooks.models`. Retries, rate limiting and error classification live in
:class:`streak_hooks.http.StreakHttpClient`; the hook only knows endpoints and shapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests
from airflow.sdk import BaseHook

from streak_hooks.errors import StreakError
from streak_hooks.http import StreakHttpClient
from streak_hooks.models import Box, Comment, Contact, FieldDefinition, Organization, Pipeline, Stage, Team
from streak_hooks.paging import OffsetPaginator, PageNumberPaginator, split_page
from streak_hooks.settings import DEFAULT_BASE_URL, ClientSettings

JSON = dict[str, Any]
BOX_CHANGES = {
    "name": "name",
    "notes": "notes",
    "stage_key": "stageKey",
    "stageKey": "stageKey",
    "fields": "fields",
}
SORT_FIELDS = ("lastUpdatedTimestamp", "creationTimestamp")


def _k(key: str) -> str:
    """A key as one safe path segment."""
    return quote(str(key), safe="")


class StreakHook(BaseHook):
    """Read pipelines, boxes, contacts and organizations from Streak; write field values and comments.

    ``StreakHook()`` uses connection ``streak_default``; ``StreakHook.from_params(base_url=...,
    api_key=...)`` needs no Airflow connection (CLI, benchmarks). Nothing is fetched until the
    first call.
    """

    conn_name_attr = "streak_conn_id"
    default_conn_name = "streak_default"
    conn_type = "streak"
    hook_name = "Streak"

    def __init__(
        self,
        streak_conn_id: str = default_conn_name,
        *,
        settings: ClientSettings | None = None,
        logger_name: str | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.streak_conn_id = streak_conn_id
        self._settings = settings
        self._client: StreakHttpClient | None = None

    @classmethod
    def from_params(cls, base_url: str = DEFAULT_BASE_URL, api_key: str = "", **extras: Any) -> StreakHook:
        """A hook configured without an Airflow connection; ``extras`` as in the connection's extra."""
        return cls(settings=ClientSettings.build(host=base_url, api_key=api_key, extras=extras))

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """How the connection form looks in the Airflow UI (declared once, in the provider info)."""
        from erp_operators.provider_info import ui_field_behaviour

        return ui_field_behaviour(cls.conn_type)

    # -- connection ---------------------------------------------------------------------------
    @property
    def settings(self) -> ClientSettings:
        if self._settings is None:
            conn = self.get_connection(self.streak_conn_id)
            self._settings = ClientSettings.build(
                host=conn.host,
                api_key=conn.password or conn.login,
                extras=conn.extra_dejson,
                port=conn.port,
                schema=conn.schema,
                source=f"connection {self.streak_conn_id!r}",
            )
        return self._settings

    @property
    def client(self) -> StreakHttpClient:
        if self._client is None:
            settings = self.settings
            _mask(settings.api_key)
            self._client = StreakHttpClient(settings)
        return self._client

    def get_conn(self) -> requests.Session:
        """The authenticated ``requests.Session`` (built on first use)."""
        return self.client.session

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def test_connection(self) -> tuple[bool, str]:
        """Call ``/v1/users/me``; never raises."""
        try:
            user = self.get_current_user()
        except Exception as exc:  # the UI wants a message, not a traceback
            return False, str(exc)
        return (
            True,
            f"Connected to Streak as {user.get('email') or user.get('displayName') or 'unknown user'}",
        )

    def _get(self, endpoint: str, operation: str, params: JSON | None = None) -> Any:
        return self.client.request("GET", endpoint, operation=operation, params=params)

    def _post(self, endpoint: str, operation: str, body: JSON, **kwargs: Any) -> Any:
        return self.client.request("POST", endpoint, operation=operation, json=body, **kwargs)

    def _iter_pages(
        self, endpoint: str, operation: str, paginator: PageNumberPaginator | OffsetPaginator, params: JSON
    ) -> Iterator[JSON]:
        """Yield items page by page, each once, until the paginator says there is no next page."""
        seen: set[str] = set()
        while paginator.has_next_page:
            items = paginator.update_state(self._get(endpoint, operation, paginator.update_request(params)))
            fresh = [i for i in items if str(i.get("key")) not in seen]
            if items and not fresh:  # the server ignored the page parameter: stop, do not loop
                return
            seen.update(str(i.get("key")) for i in fresh)
            yield from fresh

    # -- users, teams, pipelines -----------------------------------------------------------------
    def get_current_user(self) -> JSON:
        return self._get("/v1/users/me", "get_current_user")

    def get_teams(self) -> list[Team]:
        items, _ = split_page(self._get("/v2/users/me/teams", "get_teams") or [])
        return [Team.from_api(t) for t in items]

    def get_pipelines(self) -> list[Pipeline]:
        return [Pipeline.from_api(p) for p in self._get("/v1/pipelines", "get_pipelines")]

    def get_pipeline(self, pipeline_key: str) -> Pipeline:
        return Pipeline.from_api(self._get(f"/v1/pipelines/{_k(pipeline_key)}", "get_pipeline"))

    def get_stages(self, pipeline_key: str) -> dict[str, Stage]:
        """Stages keyed by stage key, as Streak returns them."""
        stages = self._get(f"/v1/pipelines/{_k(pipeline_key)}/stages", "get_stages")
        return {str(k): Stage.from_api({"key": k, **v}) for k, v in (stages or {}).items()}

    def get_fields(self, pipeline_key: str) -> list[FieldDefinition]:
        return [
            FieldDefinition.from_api(f)
            for f in self._get(f"/v1/pipelines/{_k(pipeline_key)}/fields", "get_fields")
        ]

    # -- boxes ---------------------------------------------------------------------------------
    def iter_boxes(
        self,
        pipeline_key: str,
        sort_by: str = "lastUpdatedTimestamp",
        page_size: int = 100,
        stage_key: str | None = None,
    ) -> Iterator[Box]:
        """All boxes of a pipeline (newest first by ``sort_by``), fetched ``page_size`` at a time."""
        if sort_by not in SORT_FIELDS:
            raise ValueError(f"sort_by must be one of {SORT_FIELDS}, not {sort_by!r}")
        params: JSON = {"sortBy": sort_by}
        if stage_key is not None:
            params["stageKey"] = stage_key
        endpoint = f"/v1/pipelines/{_k(pipeline_key)}/boxes"
        for payload in self._iter_pages(endpoint, "iter_boxes", PageNumberPaginator(page_size), params):
            yield Box.from_api(payload)

    def get_box(self, box_key: str) -> Box:
        return Box.from_api(self._get(f"/v1/boxes/{_k(box_key)}", "get_box"))

    def set_box_field(self, box_key: str, field_key: str, value: Any) -> JSON:
        """Set one field value (dropdowns take the option key); returns Streak's field-value object."""
        endpoint = f"/v1/boxes/{_k(box_key)}/fields/{_k(field_key)}"
        return self._post(endpoint, "set_box_field", {"value": value})

    def update_box(self, box_key: str, **changes: Any) -> Box:
        """Edit ``name``, ``notes``, ``stage_key`` and/or ``fields`` ({field key: value}) of a box."""
        unknown = set(changes) - set(BOX_CHANGES)
        if unknown:
            raise TypeError(
                f"update_box got unknown changes {sorted(unknown)}; allowed: name, notes, stage_key, fields"
            )
        body = {BOX_CHANGES[name]: value for name, value in changes.items()}
        return Box.from_api(self._post(f"/v1/boxes/{_k(box_key)}", "update_box", body))

    # -- contacts and organizations -------------------------------------------------------------
    def get_contact(self, contact_key: str) -> Contact:
        return Contact.from_api(self._get(f"/v2/contacts/{_k(contact_key)}", "get_contact"))

    def get_organization(self, organization_key: str) -> Organization:
        return Organization.from_api(
            self._get(f"/v2/organizations/{_k(organization_key)}", "get_organization")
        )

    def iter_team_contacts(self, team_key: str, page_size: int = 100, offset: int = 0) -> Iterator[Contact]:
        """A team's contacts in list order, ``page_size`` per request, starting at ``offset``."""
        endpoint = f"/v2/teams/{_k(team_key)}/contacts"
        paginator = OffsetPaginator(page_size)
        paginator.offset = offset
        for payload in self._iter_pages(endpoint, "iter_team_contacts", paginator, {}):
            yield Contact.from_api(payload)

    def iter_team_organizations(
        self, team_key: str, page_size: int = 100, offset: int = 0
    ) -> Iterator[Organization]:
        """A team's organizations in list order, ``page_size`` per request, starting at ``offset``."""
        endpoint = f"/v2/teams/{_k(team_key)}/organizations"
        paginator = OffsetPaginator(page_size)
        paginator.offset = offset
        for payload in self._iter_pages(endpoint, "iter_team_organizations", paginator, {}):
            yield Organization.from_api(payload)

    # -- comments ------------------------------------------------------------------------------
    def get_comments(self, box_key: str) -> list[Comment]:
        endpoint = f"/v2/boxes/{_k(box_key)}/comments"
        return [
            Comment.from_api(c) for c in self._iter_pages(endpoint, "get_comments", OffsetPaginator(100), {})
        ]

    def create_comment(self, box_key: str, message: str) -> Comment:
        """Post a comment. A retry first looks for the same message, so a lost answer never doubles it."""

        def already_posted() -> Comment | None:
            return next((c for c in reversed(self.get_comments(box_key)) if c.message == message), None)

        endpoint = f"/v2/boxes/{_k(box_key)}/comments"
        payload = self._post(endpoint, "create_comment", {"message": message}, recover=already_posted)
        return payload if isinstance(payload, Comment) else Comment.from_api(payload)


def _mask(secret: str) -> None:
    """Register the API key with Airflow's secrets masker (task logs and supervisor)."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - older task SDKs
        return
    mask_secret(secret, "streak_api_key")


__all__ = ["StreakError", "StreakHook"]
