"""``GET record/v1/{type}?q=...``: NetSuite's record collection filter (a subset).

Conditions ``field OPERATOR value`` joined by ``AND`` / ``OR`` (``AND`` binds tighter; no
parentheses). String operators ``IS, IS_NOT, CONTAIN, CONTAIN_NOT, START_WITH, START_WITH_NOT,
END_WITH (ENDWITH), END_WITH_NOT`` compare without case; ``EQUAL, GREATER, GREATER_OR_EQUAL, LESS,
LESS_OR_EQUAL`` compare numbers; ``ANY_OF`` takes a comma-separated list of ids. A value is
``"quoted"`` or a bare word. Reference fields compare their id.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sandbox.netsuite.errors import NetSuiteError

_CONDITION = re.compile(
    r'\s*(?P<field>[A-Za-z_][A-Za-z0-9_.]*)\s+(?P<op>[A-Z_]+)\s+(?P<value>"(?:[^"\\]|\\.)*"|[^\s"]+)\s*'
)
_JOIN = re.compile(r"\s*(AND|OR)\s+")


def _text(record: dict[str, Any], field: str) -> str:
    value: Any = record
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, dict):
        value = value.get("id")
    return "" if value is None else str(value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


_STRING_OPS: dict[str, Callable[[str, str], bool]] = {
    "IS": lambda a, b: a == b,
    "CONTAIN": lambda a, b: b in a,
    "START_WITH": lambda a, b: a.startswith(b),
    "END_WITH": lambda a, b: a.endswith(b),
    "ENDWITH": lambda a, b: a.endswith(b),
}
_NUMBER_OPS: dict[str, Callable[[float, float], bool]] = {
    "EQUAL": lambda a, b: a == b,
    "GREATER": lambda a, b: a > b,
    "GREATER_OR_EQUAL": lambda a, b: a >= b,
    "LESS": lambda a, b: a < b,
    "LESS_OR_EQUAL": lambda a, b: a <= b,
}


def _condition(field: str, op: str, raw: str) -> Callable[[dict[str, Any]], bool]:
    value = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
    negate = op.endswith("_NOT")
    base = op[: -len("_NOT")] if op.endswith("_NOT") else op
    if base in _STRING_OPS:
        test = _STRING_OPS[base]
        return lambda r: test(_text(r, field).casefold(), value.casefold()) != negate
    if op in _NUMBER_OPS:
        number = _number(value)
        if number is None:
            raise NetSuiteError(
                400, "INVALID_PARAMETER", f"Invalid query: {value!r} is not a number for {op}"
            )
        compare = _NUMBER_OPS[op]
        return lambda r: (n := _number(_text(r, field))) is not None and compare(n, number)
    if op == "ANY_OF":
        wanted = {v.strip() for v in value.split(",")}
        return lambda r: _text(r, field) in wanted
    raise NetSuiteError(400, "INVALID_PARAMETER", f"Invalid query: unknown operator {op}")


def parse(q: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate over stored records for the ``q`` parameter (400 when outside the subset)."""
    alternatives: list[list[Callable[[dict[str, Any]], bool]]] = [[]]
    pos = 0
    text = q.strip()
    while True:
        m = _CONDITION.match(text, pos)
        if not m:
            raise NetSuiteError(400, "INVALID_PARAMETER", f"Invalid query at {text[pos : pos + 30]!r}")
        alternatives[-1].append(_condition(m["field"], m["op"], m["value"]))
        pos = m.end()
        if pos >= len(text):
            break
        join = _JOIN.match(text, pos)
        if not join:
            raise NetSuiteError(400, "INVALID_PARAMETER", f"Invalid query at {text[pos : pos + 30]!r}")
        if join.group(1) == "OR":
            alternatives.append([])
        pos = join.end()
    return lambda r: any(all(c(r) for c in group) for group in alternatives)
