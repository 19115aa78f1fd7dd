"""Typed, immutable views of Streak API objects.

Each model is built with ``Model.from_api(payload)`` from the JSON Streak returns and keeps the
original payload in ``raw`` so nothing Streak sends is lost. Timestamps stay epoch milliseconds,
as Streak sends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Stage:
    """A pipeline stage (Streak returns stages as a map keyed by stage key)."""

    key: str
    name: str
    raw: JSON = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, payload: JSON) -> Stage:
        return cls(key=str(payload.get("key")), name=str(payload.get("name", "")), raw=payload)


@dataclass(frozen=True, slots=True)
class DropdownOption:
    """One option of a DROPDOWN field: boxes store the option ``key``, people see ``name``."""

    key: str
    name: str


@dataclass(frozen=True, slots=True)
class FieldDefinition:
    """A custom field of a pipeline (TEXT_INPUT, DATE, DROPDOWN, CHECKBOX, TAG, ...)."""

    key: str
    name: str
    type: str
    options: tuple[DropdownOption, ...] = ()
    raw: JSON = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, payload: JSON) -> FieldDefinition:
        items = (payload.get("dropdownSettings") or {}).get("items") or []
        tags = (payload.get("tagSettings") or {}).get("tags") or []
        options = tuple(DropdownOption(str(i["key"]), str(i.get("name", ""))) for i in items)
        options += tuple(DropdownOption(str(t["key"]), str(t.get("tag", ""))) for t in tags)
        return cls(
            key=str(payload["key"]),
            name=str(payload.get("name", "")),
            type=str(payload.get("type", "TEXT_INPUT")),
            options=options,
            raw=payload,
        )

    def option_name(self, option_key: str) -> str | None:
        """Display name of a dropdown/tag option key, or None when the key is unknown."""
        for opt in self.options:
            if opt.key == str(option_key):
                return opt.name
        return None

    def option_key(self, option_name: str) -> str | None:
        """Option key for a display name (case-insensitive), or None."""
        wanted = option_name.strip().casefold()
        for opt in self.options:
            if opt.name.strip().casefold() == wanted:
                return opt.key
        return None


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A Streak pipeline with its stages (in ``stageOrder``) and field definitions."""

    key: str
    name: str
    stages: tuple[Stage, ...] = ()
    fields: tuple[FieldDefinition, ...] = ()
    team_key: str | None = None
    raw: JSON = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, payload: JSON) -> Pipeline:
        stage_map = payload.get("stages") or {}
        order = payload.get("stageOrder") or list(stage_map)
        stages = tuple(Stage.from_api({"key": k, **stage_map[k]}) for k in order if k in stage_map)
        fields = tuple(FieldDefinition.from_api(f) for f in payload.get("fields") or [])
        return cls(
            key=str(payload.get("pipelineKey") or payload.get("key")),
            name=str(payload.get("name", "")),
            stages=stages,
            fields=fields,
            team_key=payload.get("teamKey"),
            raw=payload,
        )

    def stage_by_name(self, name: str) -> Stage | None:
        wanted = name.strip().casefold()
        return next((s for s in self.stages if s.name.strip().casefold() == wanted), None)

    def stage_by_key(self, key: str) -> Stage | None:
        return next((s for s in self.stages if s.key == str(key)), None)

    def field_by_name(self, name: str) -> FieldDefinition | None:
        wanted = name.strip().casefold()
        return next((f for f in self.fields if f.name.strip().casefold() == wanted), None)


@dataclass(frozen=True, slots=True)
class Box:
    """A box (deal) in a pipeline; ``fields`` maps field key to the raw Streak value."""

    key: str
    pipeline_key: str
    name: str
    stage_key: str
    fields: dict[str, Any]
    contact_keys: tuple[str, ...] = ()
    organization_keys: tuple[str, ...] = ()
    notes: str = ""
    creation_ts: int = 0
    last_updated_ts: int = 0
    last_stage_change_ts: int = 0
    raw: JSON = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, payload: JSON) -> Box:
        return cls(
            key=str(payload.get("boxKey") or payload.get("key")),
            pipeline_key=str(payload.get("pipelineKey", "")),
            name=str(payload.get("name", "")),
            stage_key=str(payload.get("stageKey", "")),
            fields=dict(payload.get("fields") or {}),
            contact_keys=tuple(str(c["key"]) for c in payload.get("contacts") or []),
            organization_keys=tuple(str(o["key"]) for o in payload.get("organizations") or []),
            notes=str(payload.get("notes") or ""),
            creation_ts=int(payload.get("creationTimestamp") or 0),
            last_updated_ts=int(payload.get("lastUpdatedTimestamp") or 0),
            last_stage_change_ts=int(payload.get("lastStageChangeTimestamp") or 0),
            raw=payload,
        )


@dataclass(frozen=True, slots=True)
class Contact:
    """A Streak contact (v2): a person with e-mail addresses, phones and addresses."""

    key: str
    given_name: str = ""
    family_name: str = ""
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    title: str = ""
    organization_keys: tuple[str, ...] = ()
    raw: JSON = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, payload: JSON) -> Contact:
        return cls(
            key=str(payload.get("key")),
            given_name=str(payload.get("givenName") or ""),
            family_name=str(payload.get("familyName") or ""),
            emails=tuple(payload.get("emailAddresses") or ()),
            phones=tuple(payload.get("phoneNumbers") or ()),
            addresses=tuple(payload.get("addresses") or ()),
            title=str(payload.get("title") or ""),
            organization_keys=tuple(str(o.get("key", o)) for o in payload.get("organizations") or []),
            raw=payload,
        )


@dataclass(frozen=True, slots=True)
class Organization:
    """A Streak organization (v2): a company with domains, phones and addresses."""

    key: str
    name: str
    domains: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    industry: str = ""
    raw: JSON = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, payload: JSON) -> Organization:
        return cls(
            key=str(payload.get("key")),
            name=str(payload.get("name") or ""),
            domains=tuple(payload.get("domains") or ()),
            phones=tuple(payload.get("phoneNumbers") or ()),
            addresses=tuple(payload.get("addresses") or ()),
            industry=str(payload.get("industry") or ""),
            raw=payload,
        )


# -- added with StreakHook (issue 2): comments and teams ---------------------------------------


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment on a box (v2)."""

    key: str
    box_key: str
    message: str
    creator_key: str = ""
    timestamp: int = 0
    raw: JSON = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, payload: JSON) -> Comment:
        return cls(
            key=str(payload.get("commentKey") or payload.get("key")),
            box_key=str(payload.get("boxKey") or ""),
            message=str(payload.get("message") or ""),
            creator_key=str(payload.get("creatorKey") or ""),
            timestamp=int(payload.get("timestamp") or payload.get("creationTimestamp") or 0),
            raw=payload,
        )


@dataclass(frozen=True, slots=True)
class Team:
    """A Streak team: contacts and organizations belong to a team."""

    key: str
    name: str = ""
    raw: JSON = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, payload: JSON) -> Team:
        return cls(
            key=str(payload.get("teamKey") or payload.get("key")),
            name=str(payload.get("name") or ""),
            raw=payload,
        )
