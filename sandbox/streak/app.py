"""The Streak sandbox: Streak's v1/v2 REST API in its wire shapes, on a real loopback HTTP server.

Paths live under ``/api`` (a hook's base URL is ``http://127.0.0.1:PORT/api``). Auth is HTTP Basic
with the API key as username and a blank password. Timestamps are epoch ms from the sandbox clock,
which is real time plus an offset that ``POST /__admin/clock`` can advance.

Admin routes (no auth), besides the shared ``/__admin/state|requests|reset|faults``:

* ``POST /__admin/seed`` ``{"boxes": N, "organizations": .., "contacts": .., "seed": ..}`` re-seeds;
* ``POST /__admin/boxes`` ``{"name", "stage", "fields": {field NAME: value}, "organization_keys",
  "contact_keys"}`` creates a box (dropdown values by option name or key);
* ``POST /__admin/boxes/{boxKey}/stage`` ``{"stage": "Closed-Won"}`` moves a box as a user would;
* ``GET|POST /__admin/clock`` ``{"advance_ms": N}`` or ``{"now_ms": T}``.

Contacts and organizations (v2) are listed per team with ``limit``/``offset`` (``{results,
hasNextPage}``), read, updated (``POST /v2/contacts/{key}``, ``POST /v2/organizations/{key}``: the
properties sent replace the stored ones) and created (``POST /v2/teams/{teamKey}/contacts``,
``.../organizations``, with ``?getIfExisting=true``); a duplicate e-mail is error 801 as in Streak.
``DELETE /v1/boxes/{key}`` deletes a box (and its comments).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import threading
import time
from typing import Any
from urllib.parse import parse_qs

from sandbox.common.httpd import Fault, Request, Response, SandboxApp
from sandbox.streak.seed import FIELD_KEY, TEAM_KEY, USER_KEY, SeedConfig, StreakData, build_seed, new_box

JSON = dict[str, Any]
DEFAULT_API_KEY = "sandbox-api-key"
DEFAULT_PAGE_SIZE = 100
SORT_KEYS = ("lastUpdatedTimestamp", "creationTimestamp")


class ApiError(Exception):
    """Raised by a handler; rendered as Streak's ``{"error": ..., "success": false}``."""

    def __init__(self, status: int, message: str, error_code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code


def error(status: int, message: str, error_code: int | None = None) -> Response:
    body: JSON = {"error": message, "success": False}
    if error_code is not None:
        body["errorCode"] = error_code
    return Response(status, body)


class SandboxClock:
    """Wall-clock epoch ms plus an adjustable offset (thread-safe)."""

    def __init__(self) -> None:
        self._offset_ms = 0
        self._lock = threading.Lock()
        self._last = 0

    def now_ms(self) -> int:
        """Strictly increasing, so two edits never share a timestamp."""
        with self._lock:
            now = max(int(time.time() * 1000) + self._offset_ms, self._last + 1)
            self._last = now
            return now

    def advance(self, ms: int) -> int:
        with self._lock:
            self._offset_ms += ms
        return self.now_ms()

    def set(self, now_ms: int) -> int:
        with self._lock:
            self._offset_ms = now_ms - int(time.time() * 1000)
            self._last = 0
        return self.now_ms()


class StreakSandbox(SandboxApp):
    """A faithful local Streak: pipelines, stages, fields, boxes, contacts, orgs, comments, teams."""

    name = "streak"

    def __init__(self, api_key: str = DEFAULT_API_KEY, seed: SeedConfig | None = None) -> None:
        super().__init__()
        self.api_key = api_key
        self.clock = SandboxClock()
        self.seed_config = seed or SeedConfig()
        self.data: StreakData = build_seed(self.seed_config, self.clock.now_ms())
        self._sorted_cache: dict[str, list[JSON]] = {}
        self._register_routes()

    # -- SandboxApp hooks -------------------------------------------------------------------
    def reset(self) -> None:
        self.reseed(self.seed_config)

    def reseed(self, config: SeedConfig) -> StreakData:
        with self.lock:
            self.seed_config = config
            self.data = build_seed(config, self.clock.now_ms())
            self._sorted_cache.clear()
            return self.data

    def authorize(self, request: Request) -> Response | None:
        header = request.header("authorization") or ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return error(401, "Authentication required: use HTTP Basic auth with your API key as username")
        try:
            username, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return error(401, "Malformed Authorization header")
        if username != self.api_key or password:
            return error(401, "Invalid API key")
        return None

    def fault_response(self, status: int, request: Request, fault: Fault) -> Response:
        messages = {
            429: "Too many requests, slow down",
            500: "Internal server error",
            503: "Service unavailable",
        }
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        return Response(
            status, {"error": messages.get(status, f"Server error {status}"), "success": False}, headers
        )

    def dispatch(self, request: Request) -> Response:
        """Handle under the state lock and serialise there, so no write races the JSON encoding."""
        with self.lock:
            try:
                response = super().dispatch(request)
            except ApiError as exc:
                response = error(exc.status, exc.message, exc.error_code)
            if response.body is not None and not isinstance(response.body, bytes | str):
                payload = json.dumps(response.body, ensure_ascii=False).encode("utf-8")
                response = Response(
                    response.status, payload, response.headers, "application/json; charset=utf-8"
                )
            return response

    def state_snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(
                {
                    "clock_ms": self.clock.now_ms(),
                    "user": self.data.user,
                    "team": self.data.team,
                    "pipelines": list(self.data.pipelines.values()),
                    "boxes": list(self.data.boxes.values()),
                    "comments": self.data.comments,
                    "contacts": list(self.data.contacts.values()),
                    "organizations": list(self.data.organizations.values()),
                    "seed": self.data.seed_info,
                }
            )

    # -- routes -----------------------------------------------------------------------------
    def _register_routes(self) -> None:
        r = self.route
        r("GET", "/api/v1/users/me", lambda req: Response(200, self.data.user))
        r("GET", "/api/v1/pipelines", lambda req: Response(200, list(self.data.pipelines.values())))
        r("GET", "/api/v1/pipelines/{pipelineKey}", lambda req: Response(200, self._pipeline(req)))
        r(
            "GET",
            "/api/v1/pipelines/{pipelineKey}/stages",
            lambda req: Response(200, self._pipeline(req)["stages"]),
        )
        r(
            "GET",
            "/api/v1/pipelines/{pipelineKey}/fields",
            lambda req: Response(200, self._pipeline(req)["fields"]),
        )
        r("GET", "/api/v1/pipelines/{pipelineKey}/boxes", self._list_boxes_v1)
        r("GET", "/api/v2/pipelines/{pipelineKey}/boxes", self._list_boxes_v2)
        r("GET", "/api/v1/boxes/{boxKey}", lambda req: Response(200, self._box(req)))
        r("POST", "/api/v1/boxes/{boxKey}", self._edit_box)
        r("DELETE", "/api/v1/boxes/{boxKey}", self._delete_box)
        r("GET", "/api/v1/boxes/{boxKey}/fields", self._box_fields)
        r("POST", "/api/v1/boxes/{boxKey}/fields/{fieldKey}", self._set_box_field)
        r("GET", "/api/v2/boxes/{boxKey}/comments", self._list_comments)
        r("POST", "/api/v2/boxes/{boxKey}/comments", self._create_comment)
        r("GET", "/api/v2/contacts/{contactKey}", lambda req: Response(200, self._get(req, "contacts")))
        r(
            "GET",
            "/api/v2/organizations/{organizationKey}",
            lambda req: Response(200, self._get(req, "organizations")),
        )
        r("POST", "/api/v2/contacts/{contactKey}", lambda req: self._edit_party(req, "contacts"))
        r(
            "POST",
            "/api/v2/organizations/{organizationKey}",
            lambda req: self._edit_party(req, "organizations"),
        )
        r("POST", "/api/v2/teams/{teamKey}/contacts", lambda req: self._create_party(req, "contacts"))
        r(
            "POST",
            "/api/v2/teams/{teamKey}/organizations",
            lambda req: self._create_party(req, "organizations"),
        )
        r("GET", "/api/v2/users/me/teams", lambda req: Response(200, {"results": [self.data.team]}))
        r("GET", "/api/v2/teams/{teamKey}/contacts", lambda req: self._team_list(req, "contacts"))
        r("GET", "/api/v2/teams/{teamKey}/organizations", lambda req: self._team_list(req, "organizations"))
        r("POST", "/__admin/seed", self._admin_seed)
        r("POST", "/__admin/boxes", self._admin_create_box)
        r("POST", "/__admin/boxes/{boxKey}/stage", self._admin_move_stage)
        r("GET", "/__admin/clock", lambda req: Response(200, {"now_ms": self.clock.now_ms()}))
        r("POST", "/__admin/clock", self._admin_clock)

    # -- lookups --------------------------------------------------------------------------------
    def _pipeline(self, request: Request) -> JSON:
        pipeline = self.data.pipelines.get(request.params["pipelineKey"])
        if pipeline is None:
            raise ApiError(404, f"Pipeline not found: {request.params['pipelineKey']}")
        return pipeline

    def _box(self, request: Request) -> JSON:
        box = self.data.boxes.get(request.params["boxKey"])
        if box is None:
            raise ApiError(404, f"Box not found: {request.params['boxKey']}")
        return box

    def _get(self, request: Request, kind: str) -> JSON:
        key = next(iter(request.params.values()))
        found = getattr(self.data, kind).get(key)
        if found is None:
            raise ApiError(404, f"{kind[:-1].capitalize()} not found: {key}")
        return found

    def _field_def(self, pipeline_key: str, field_key: str) -> JSON:
        for definition in self.data.pipelines[pipeline_key]["fields"]:
            if definition["key"] == field_key:
                return definition
        raise ApiError(400, f"Field {field_key} does not exist in this box's pipeline")

    # -- boxes --------------------------------------------------------------------------------
    def _sorted_boxes(self, pipeline_key: str, sort_by: str) -> list[JSON]:
        """Boxes of a pipeline, newest first by ``sort_by``; cached until the next write."""
        cache_key = f"{pipeline_key}:{sort_by}"
        if cache_key not in self._sorted_cache:
            boxes = [b for b in self.data.boxes.values() if b["pipelineKey"] == pipeline_key]
            boxes.sort(key=lambda b: (b[sort_by], b["key"]), reverse=True)
            self._sorted_cache[cache_key] = boxes
        return self._sorted_cache[cache_key]

    def _filtered_boxes(self, request: Request) -> list[JSON]:
        pipeline = self._pipeline(request)
        sort_by = request.arg("sortBy") or "lastUpdatedTimestamp"
        if sort_by not in SORT_KEYS:
            raise ApiError(400, f"Invalid sortBy {sort_by!r}: use one of {', '.join(SORT_KEYS)}")
        boxes = self._sorted_boxes(pipeline["key"], sort_by)
        stage_keys = request.query.get("stageKey")
        if stage_keys:
            for stage_key in stage_keys:
                if stage_key not in pipeline["stages"]:
                    raise ApiError(400, f"Invalid stageKey {stage_key!r} for this pipeline")
            boxes = [b for b in boxes if b["stageKey"] in stage_keys]
        return boxes

    def _list_boxes_v1(self, request: Request) -> Response:
        boxes = self._filtered_boxes(request)
        if request.arg("page") is None and request.arg("limit") is None:
            return Response(200, boxes)
        limit = _int_arg(request, "limit", DEFAULT_PAGE_SIZE, minimum=1)
        page = _int_arg(request, "page", 0, minimum=0)
        chunk = boxes[page * limit : (page + 1) * limit]
        return Response(200, {"results": chunk, "hasNextPage": (page + 1) * limit < len(boxes)})

    def _list_boxes_v2(self, request: Request) -> Response:
        return Response(200, _offset_page(request, self._filtered_boxes(request)))

    def _insert_box(self, pipeline_key: str, name: str, stage_key: str) -> JSON:
        key = self.data.next_key("bx")
        box = new_box(key, pipeline_key, name, stage_key, self.clock.now_ms())
        self.data.boxes[key] = box
        self._sorted_cache.clear()
        return box

    def _edit_box(self, request: Request) -> Response:
        box = self._box(request)
        body = _body(request)
        unknown = set(body) - {
            "name",
            "notes",
            "stageKey",
            "fields",
            "assignedToSharingEntries",
            "key",
            "boxKey",
        }
        if unknown:
            raise ApiError(400, f"Unknown box properties: {', '.join(sorted(unknown))}")
        fields = body.get("fields") or {}
        if not isinstance(fields, dict):
            raise ApiError(400, "fields must be an object of {fieldKey: value}")
        coerced = {str(k): self._coerce_value(box["pipelineKey"], str(k), v) for k, v in fields.items()}
        if "stageKey" in body:
            self._move(box, str(body["stageKey"]))
        for name in ("name", "notes"):
            if name in body:
                box[name] = str(body[name] or "")
        if "assignedToSharingEntries" in body:
            box["assignedToSharingEntries"] = list(body["assignedToSharingEntries"] or [])
        self._apply_fields(box, coerced)
        self._touch(box)
        return Response(200, box)

    def _delete_box(self, request: Request) -> Response:
        box = self._box(request)
        del self.data.boxes[box["key"]]
        self.data.comments.pop(box["key"], None)
        self._sorted_cache.clear()
        return Response(200, {"success": True})

    def _move(self, box: JSON, stage_key: str) -> None:
        """Move a box to a stage; a real change stamps lastStageChangeTimestamp and the history."""
        pipeline = self.data.pipelines[box["pipelineKey"]]
        if stage_key not in pipeline["stages"]:
            raise ApiError(400, f"Invalid stageKey {stage_key!r} for this pipeline")
        if stage_key == box["stageKey"]:
            return
        now = self.clock.now_ms()
        box["stageHistoryEntries"].append(
            {"stageKey": stage_key, "previousStageKey": box["stageKey"], "timestamp": now}
        )
        box["stageKey"] = stage_key
        box["lastStageChangeTimestamp"] = now

    def _touch(self, box: JSON) -> None:
        box["lastUpdatedTimestamp"] = box["lastSavedTimestamp"] = self.clock.now_ms()
        self._sorted_cache.clear()

    def _coerce_value(self, pipeline_key: str, field_key: str, value: Any) -> Any:
        """Validate a value for a field the way Streak stores it (None clears the field)."""
        definition = self._field_def(pipeline_key, field_key)
        if value is None or value == "":
            return None
        ftype = definition["type"]
        if ftype == "DROPDOWN":
            options = [item["key"] for item in definition.get("dropdownSettings", {}).get("items", [])]
            if str(value) not in options:
                raise ApiError(
                    400,
                    f"Invalid dropdown value {value!r} for field {definition['name']!r}: use an option key",
                )
            return str(value)
        if ftype == "DATE":
            try:
                return int(value)
            except (TypeError, ValueError):
                raise ApiError(
                    400, f"Invalid date {value!r} for field {definition['name']!r}: use epoch ms"
                ) from None
        if ftype == "CHECKBOX":
            if not isinstance(value, bool):
                raise ApiError(400, f"Invalid checkbox value {value!r}: use true or false")
            return value
        if isinstance(value, dict | list):
            raise ApiError(400, f"Invalid text value for field {definition['name']!r}")
        return str(value)

    @staticmethod
    def _apply_fields(box: JSON, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if value is None:
                box["fields"].pop(key, None)
            else:
                box["fields"][key] = value

    def _box_fields(self, request: Request) -> Response:
        box = self._box(request)
        return Response(200, [self._field_value(box, key) for key in box["fields"]])

    def _set_box_field(self, request: Request) -> Response:
        box = self._box(request)
        body = _body(request)
        if "value" not in body:
            raise ApiError(400, "Missing parameters: value")
        field_key = request.params["fieldKey"]
        self._apply_fields(box, {field_key: self._coerce_value(box["pipelineKey"], field_key, body["value"])})
        self._touch(box)
        return Response(200, self._field_value(box, field_key))

    def _field_value(self, box: JSON, field_key: str) -> JSON:
        return {
            "key": field_key,
            "boxKey": box["key"],
            "value": box["fields"].get(field_key),
            "lastUpdatedTimestamp": box["lastUpdatedTimestamp"],
        }

    # -- comments, contacts, orgs, teams ------------------------------------------------------
    def _list_comments(self, request: Request) -> Response:
        box = self._box(request)
        return Response(200, _offset_page(request, self.data.comments.get(box["key"], [])))

    def _create_comment(self, request: Request) -> Response:
        box = self._box(request)
        message = _body(request).get("message")
        if not isinstance(message, str) or not message.strip():
            raise ApiError(400, "Missing parameters: message")
        key = self.data.next_key("cm")
        now = self.clock.now_ms()
        comment = {
            "key": key,
            "commentKey": key,
            "boxKey": box["key"],
            "message": message,
            "creatorKey": USER_KEY,
            "timestamp": now,
            "creationTimestamp": now,
        }
        self.data.comments.setdefault(box["key"], []).append(comment)
        box["commentCount"] = len(self.data.comments[box["key"]])
        return Response(200, comment)

    def _team_list(self, request: Request, kind: str) -> Response:
        self._check_team(request)
        return Response(200, _offset_page(request, list(getattr(self.data, kind).values())))

    def _edit_party(self, request: Request, kind: str) -> Response:
        """Update a contact or organization: the properties sent replace the stored ones."""
        party = self._get(request, kind)
        changes = self._party_changes(kind, _body(request), exclude=party["key"])
        party.update(changes)
        party["lastUpdatedTimestamp"] = self.clock.now_ms()
        return Response(200, party)

    def _create_party(self, request: Request, kind: str) -> Response:
        """Create a contact or organization in the team (``?getIfExisting=true`` returns a match)."""
        self._check_team(request)
        body = _body(request)
        if (request.arg("getIfExisting") or "").lower() == "true":
            existing = self._find_party(kind, self._party_changes(kind, body, exclude=None, unique=False))
            if existing is not None:
                return Response(200, existing)
        changes = self._party_changes(kind, body, exclude=None)
        if kind == "contacts" and not (changes.get("emailAddresses") or changes.get("givenName")):
            raise ApiError(400, "Insufficient params for TeamContact")
        if kind == "organizations" and not changes.get("name"):
            raise ApiError(400, "Insufficient params for TeamOrganization: name")
        key = self.data.next_key("ct" if kind == "contacts" else "og")
        now = self.clock.now_ms()
        party: JSON = {"key": key, "teamKey": TEAM_KEY, **PARTY_DEFAULTS[kind], **changes}
        party["creationTimestamp"] = party["lastUpdatedTimestamp"] = now
        getattr(self.data, kind)[key] = party
        return Response(200, party)

    def _find_party(self, kind: str, wanted: JSON) -> JSON | None:
        if kind == "contacts":
            emails = {e.casefold() for e in wanted.get("emailAddresses") or []}
            return next(
                (
                    c
                    for c in self.data.contacts.values()
                    if emails & {e.casefold() for e in c["emailAddresses"]}
                ),
                None,
            )
        name = str(wanted.get("name") or "").casefold()
        return next((o for o in self.data.organizations.values() if o["name"].casefold() == name), None)

    def _party_changes(self, kind: str, body: JSON, exclude: str | None, unique: bool = True) -> JSON:
        """The properties of a contact/organization body, checked (``unique``: e-mails not taken)."""
        allowed = PARTY_FIELDS[kind]
        unknown = set(body) - set(allowed) - {"key", "teamKey"}
        if unknown:
            raise ApiError(400, f"Unknown {kind[:-1]} properties: {', '.join(sorted(unknown))}")
        changes: JSON = {}
        for name, value in body.items():
            if name in ("key", "teamKey"):
                continue
            kind_of = allowed[name]
            if kind_of is list:
                if not isinstance(value, list) or not all(isinstance(v, str | dict) for v in value):
                    raise ApiError(400, f"{name} must be an array")
                if name == "emailAddresses" and not all(isinstance(v, str) for v in value):
                    raise ApiError(400, f"{name} must be an array of strings")
            elif kind_of is int:
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                    raise ApiError(400, f"{name} must be a number")
            elif value is not None and not isinstance(value, str):
                raise ApiError(400, f"{name} must be a string")
            changes[name] = value
        if unique and kind == "contacts" and changes.get("emailAddresses"):
            taken = {
                e.casefold(): c["key"]
                for c in self.data.contacts.values()
                if c["key"] != exclude
                for e in c["emailAddresses"]
                if isinstance(e, str)
            }
            clash = [e for e in changes["emailAddresses"] if isinstance(e, str) and e.casefold() in taken]
            if clash:
                raise ApiError(
                    400, f"Contacts can't have duplicate emails: {', '.join(clash)}", error_code=801
                )
        return changes

    def _check_team(self, request: Request) -> None:
        if request.params["teamKey"] != TEAM_KEY:
            raise ApiError(404, f"Team not found: {request.params['teamKey']}")

    # -- admin --------------------------------------------------------------------------------
    def _admin_seed(self, request: Request) -> Response:
        try:
            config = SeedConfig.from_dict(_body(request))
        except (TypeError, ValueError) as exc:
            raise ApiError(400, f"Bad seed spec: {exc}") from None
        data = self.reseed(config)
        counts = {k: len(getattr(data, k)) for k in ("boxes", "contacts", "organizations")}
        return Response(200, {**counts, "won": len(data.seed_info["won_box_keys"]), "seed": data.seed_info})

    def _admin_create_box(self, request: Request) -> Response:
        body = _body(request)
        pipeline = self.data.pipelines.get(str(body.get("pipeline_key") or next(iter(self.data.pipelines))))
        if pipeline is None or not body.get("name"):
            raise ApiError(400, "Need a name (and a valid pipeline_key if given)")
        stage_key = self._stage_key(pipeline, str(body.get("stage") or pipeline["stageOrder"][0]))
        by_name = {d["name"].casefold(): d for d in pipeline["fields"]}
        values: dict[str, Any] = {}
        for name, value in (body.get("fields") or {}).items():
            definition = by_name.get(str(name).casefold()) or next(
                (d for d in pipeline["fields"] if d["key"] == str(name)), None
            )
            if definition is None:
                raise ApiError(400, f"Unknown field {name!r}")
            if definition["type"] == "DROPDOWN":
                items = definition.get("dropdownSettings", {}).get("items", [])
                value = next(
                    (i["key"] for i in items if i["name"].casefold() == str(value).casefold()), value
                )
            values[definition["key"]] = value
        for kind, body_key in (("organizations", "organization_keys"), ("contacts", "contact_keys")):
            for key in body.get(body_key) or []:
                if key not in getattr(self.data, kind):
                    raise ApiError(400, f"Unknown {kind[:-1]} {key!r}")
        coerced = {k: self._coerce_value(pipeline["key"], k, v) for k, v in values.items()}
        box = self._insert_box(pipeline["key"], str(body["name"]), stage_key)
        self._apply_fields(box, coerced)
        box["notes"] = str(body.get("notes") or "")
        box["organizations"] = [
            {"key": k, "isStarred": False, "isAutoboxed": False} for k in body.get("organization_keys") or []
        ]
        box["contacts"] = [
            {"key": k, "isStarred": False, "isAutoboxed": False} for k in body.get("contact_keys") or []
        ]
        self._touch(box)
        return Response(200, box)

    def _admin_move_stage(self, request: Request) -> Response:
        box = self._box(request)
        stage = (_body(request) or {}).get("stage")
        if not stage:
            raise ApiError(400, 'Need {"stage": <stage name or key>}')
        self._move(box, self._stage_key(self.data.pipelines[box["pipelineKey"]], str(stage)))
        self._touch(box)
        return Response(200, box)

    @staticmethod
    def _stage_key(pipeline: JSON, stage: str) -> str:
        if stage in pipeline["stages"]:
            return stage
        for key, definition in pipeline["stages"].items():
            if definition["name"].casefold() == stage.casefold():
                return key
        raise ApiError(400, f"Unknown stage {stage!r}")

    def _admin_clock(self, request: Request) -> Response:
        body = _body(request)
        try:
            if "now_ms" in body:
                return Response(200, {"now_ms": self.clock.set(int(body["now_ms"]))})
            return Response(200, {"now_ms": self.clock.advance(int(body.get("advance_ms", 0)))})
        except (TypeError, ValueError):
            raise ApiError(400, 'Need {"advance_ms": <int>} or {"now_ms": <epoch ms>}') from None


# Writable properties of contacts and organizations (v2) and their JSON kinds.
PARTY_FIELDS: dict[str, dict[str, type]] = {
    "contacts": {
        "givenName": str,
        "familyName": str,
        "emailAddresses": list,
        "title": str,
        "phoneNumbers": list,
        "addresses": list,
        "organizations": list,
        "other": str,
    },
    "organizations": {
        "name": str,
        "domains": list,
        "employeeCount": int,
        "industry": str,
        "phoneNumbers": list,
        "addresses": list,
        "other": str,
    },
}
PARTY_DEFAULTS: dict[str, JSON] = {
    "contacts": {
        "givenName": "",
        "familyName": "",
        "emailAddresses": [],
        "phoneNumbers": [],
        "addresses": [],
        "title": "",
        "organizations": [],
    },
    "organizations": {"name": "", "domains": [], "phoneNumbers": [], "addresses": []},
}


def _int_arg(request: Request, name: str, default: int, minimum: int) -> int:
    raw = request.arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid {name} {raw!r}: expected an integer") from None
    if value < minimum:
        raise ApiError(400, f"Invalid {name} {value}: must be >= {minimum}")
    return value


def _offset_page(request: Request, items: list[JSON]) -> JSON:
    """A v2 list page: ``limit`` + ``offset`` -> ``{results, hasNextPage}``."""
    limit = _int_arg(request, "limit", DEFAULT_PAGE_SIZE, minimum=1)
    offset = _int_arg(request, "offset", 0, minimum=0)
    return {"results": items[offset : offset + limit], "hasNextPage": offset + limit < len(items)}


def _body(request: Request) -> JSON:
    """A JSON object body, or the legacy forms: ``json=<JSON>`` form field or plain form fields."""
    if not request.body:
        return {}
    ctype = (request.header("content-type") or "").lower()
    text = request.body.decode("utf-8", errors="replace")
    if "application/x-www-form-urlencoded" in ctype and not text.lstrip().startswith("{"):
        form = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
        if "json" in form:
            text = form["json"]
        else:
            if "fields" in form:
                form["fields"] = _loads(form["fields"])  # type: ignore[assignment]
            return form
    payload = _loads(text)
    if not isinstance(payload, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return payload


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ApiError(400, "Missing parameters: body is not valid JSON") from None


__all__ = ["DEFAULT_API_KEY", "FIELD_KEY", "TEAM_KEY", "StreakSandbox"]
