"""The QBO query language subset: parse a statement, then run it over a list of JSON objects.

Grammar (keywords case-insensitive)::

    SELECT * | COUNT(*) | field [, field ...] FROM Entity
      [WHERE cond [AND cond ...]]          cond: field (= | != | < | <= | > | >=) value
                                                 | field IN (value, ...) | field LIKE 'pat%'
      [ORDERBY | ORDER BY field [ASC|DESC] [, ...]]
      [STARTPOSITION n]  [MAXRESULTS n]

Strings are single-quoted with ``\\'`` for a quote; an unescaped quote is a 4000 parse error, as
is OR (QBO has none). Field names may be nested (``PrimaryEmailAddr.Address``,
``Metadata.LastUpdatedTime``) and match case-insensitively; a reference or email object compares
by its ``value`` / ``Address``. Name-list entities return only active rows unless the WHERE
mentions ``Active``. STARTPOSITION is 1-based; MAXRESULTS defaults to 100 and is capped at 1000.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.quickbooks.faults import QboError, query_parse_error
from sandbox.quickbooks.store import COMPANY_TZ

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_CAP = 1000
_MISSING = object()
_KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "in",
    "like",
    "orderby",
    "order",
    "by",
    "asc",
    "desc",
    "startposition",
    "maxresults",
}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][\d:.]+([+-]\d{2}:?\d{2}|Z)?)?$")


@dataclass(frozen=True)
class Token:
    kind: str  # ident | string | number | op | punct | eof
    text: str
    column: int


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # = != < <= > >= in like
    values: tuple[Any, ...]


@dataclass
class Query:
    """A parsed statement."""

    entity: str
    count: bool = False
    fields: list[str] = field(default_factory=list)  # empty means every field
    conditions: list[Condition] = field(default_factory=list)
    order_by: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "'":
            start, i, chars = i, i + 1, []
            while True:
                if i >= len(text):
                    raise query_parse_error(
                        f'Lexical error at line 1, column {len(text) + 1}.  Encountered: <EOF> after : "{text[start:]}"'
                    )
                if text[i] == "\\" and i + 1 < len(text):
                    chars.append(text[i + 1])
                    i += 2
                elif text[i] == "'":
                    i += 1
                    break
                else:
                    chars.append(text[i])
                    i += 1
            tokens.append(Token("string", "".join(chars), start + 1))
        elif ch.isdigit() or (ch == "-" and i + 1 < len(text) and text[i + 1].isdigit()):
            m = re.match(r"-?\d+(\.\d+)?", text[i:])
            assert m is not None
            tokens.append(Token("number", m.group(0), i + 1))
            i += len(m.group(0))
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            m = re.match(r"[A-Za-z_][A-Za-z0-9_.]*", text[i:])
            assert m is not None
            tokens.append(Token("ident", m.group(0), i + 1))
            i += len(m.group(0))
        elif text.startswith(("<=", ">=", "!=", "<>"), i):
            tokens.append(Token("op", "!=" if text[i : i + 2] == "<>" else text[i : i + 2], i + 1))
            i += 2
        elif ch in "=<>":
            tokens.append(Token("op", ch, i + 1))
            i += 1
        elif ch in "*,()":
            tokens.append(Token("punct", ch, i + 1))
            i += 1
        else:
            raise query_parse_error(
                f'Lexical error at line 1, column {i + 1}.  Encountered: "{ch}" ({ord(ch)}), after : ""'
            )
    tokens.append(Token("eof", "<EOF>", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.pos]

    def fail(self, expected: Iterable[str]) -> QboError:
        tok = self.current
        wanted = ", ".join(f'"{e}"' for e in expected)
        return query_parse_error(
            f'Encountered " <{tok.kind.upper()}> "{tok.text} "" at line 1, column {tok.column}. '
            f"Was expecting one of: {wanted}"
        )

    def is_keyword(self, *words: str) -> bool:
        tok = self.current
        return tok.kind == "ident" and tok.text.lower() in words

    def keyword(self, word: str) -> None:
        if not self.is_keyword(word):
            raise self.fail([word])
        self.pos += 1

    def take(self, kind: str, text: str | None = None) -> Token:
        tok = self.current
        if tok.kind != kind or (text is not None and tok.text != text):
            raise self.fail([text or f"<{kind.upper()}>"])
        self.pos += 1
        return tok

    def identifier(self) -> str:
        tok = self.current
        if tok.kind != "ident" or tok.text.lower() in _KEYWORDS:
            raise self.fail(["<IDENTIFIER>"])
        self.pos += 1
        return tok.text

    def value(self) -> Any:
        tok = self.current
        if tok.kind == "string":
            self.pos += 1
            return tok.text
        if tok.kind == "number":
            self.pos += 1
            return float(tok.text)
        if tok.kind == "ident" and tok.text.lower() in ("true", "false"):
            self.pos += 1
            return tok.text.lower() == "true"
        raise self.fail(["<STRING>", "<NUMBER>", "true", "false"])

    def parse(self) -> Query:
        self.keyword("select")
        count, fields = self.select_list()
        self.keyword("from")
        query = Query(entity=self.identifier(), count=count, fields=fields)
        if self.is_keyword("where"):
            self.pos += 1
            query.conditions.append(self.condition())
            while self.is_keyword("and"):
                self.pos += 1
                query.conditions.append(self.condition())
        if self.is_keyword("orderby", "order"):
            if self.current.text.lower() == "order":
                self.pos += 1
                self.keyword("by")
            else:
                self.pos += 1
            query.order_by.append(self.order_term())
            while self.current.kind == "punct" and self.current.text == ",":
                self.pos += 1
                query.order_by.append(self.order_term())
        while self.is_keyword("startposition", "maxresults"):
            word = self.current.text.lower()
            self.pos += 1
            number = int(float(self.take("number").text))
            if word == "startposition":
                query.start_position = max(number, 1)
            else:
                query.max_results = min(max(number, 1), MAX_RESULTS_CAP)
        if self.current.kind != "eof":
            raise self.fail(["and", "orderby", "startposition", "maxresults", "<EOF>"])
        return query

    def select_list(self) -> tuple[bool, list[str]]:
        if self.is_keyword("count"):
            self.pos += 1
            self.take("punct", "(")
            self.take("punct", "*")
            self.take("punct", ")")
            return True, []
        fields: list[str] = []
        star = False
        while True:
            if self.current.kind == "punct" and self.current.text == "*":
                self.pos += 1
                star = True
            else:
                fields.append(self.identifier())
            if not (self.current.kind == "punct" and self.current.text == ","):
                break
            self.pos += 1
        return False, [] if star else fields

    def condition(self) -> Condition:
        name = self.identifier()
        tok = self.current
        if tok.kind == "op":
            self.pos += 1
            return Condition(name, tok.text, (self.value(),))
        if self.is_keyword("in"):
            self.pos += 1
            self.take("punct", "(")
            values = [self.value()]
            while self.current.kind == "punct" and self.current.text == ",":
                self.pos += 1
                values.append(self.value())
            self.take("punct", ")")
            return Condition(name, "in", tuple(values))
        if self.is_keyword("like"):
            self.pos += 1
            tok = self.take("string")
            return Condition(name, "like", (tok.text,))
        raise self.fail(["=", "!=", "<", "<=", ">", ">=", "in", "like"])

    def order_term(self) -> tuple[str, bool]:
        name = self.identifier()
        descending = False
        if self.is_keyword("asc", "desc"):
            descending = self.current.text.lower() == "desc"
            self.pos += 1
        return name, descending


def parse(text: str) -> Query:
    """Parse one statement; raises :class:`QboError` 4000 on a syntax error."""
    return _Parser(text.strip()).parse()


def resolve(obj: dict[str, Any], path: str) -> Any:
    """The value at a dotted, case-insensitive path; refs and emails yield their value/Address."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict):
            return _MISSING
        key = next((k for k in current if k.lower() == part.lower()), None)
        if key is None:
            return _MISSING
        current = current[key]
    if isinstance(current, dict):
        for key in ("value", "Address", "FreeFormNumber"):
            if key in current:
                return current[key]
        return _MISSING
    return current


def _as_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not _DATE_RE.match(value):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=COMPANY_TZ)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def sort_key(value: Any) -> tuple[int, Any]:
    """Order numbers, then dates, then text (case-insensitive); missing values last."""
    if value is _MISSING or value is None:
        return (4, 0)
    if isinstance(value, bool):
        return (0, float(value))
    number = _as_number(value)
    if number is not None:
        return (0, number)
    moment = _as_datetime(value)
    if moment is not None:
        return (1, moment.timestamp())
    return (2, str(value).casefold())


def _compare(actual: Any, literal: Any) -> int | None:
    """-1/0/1 comparing an object's value with a literal, or None when they cannot be compared."""
    if actual is _MISSING or actual is None:
        return None
    if isinstance(literal, bool) or isinstance(actual, bool):
        left = actual if isinstance(actual, bool) else str(actual).lower() == "true"
        right = literal if isinstance(literal, bool) else str(literal).lower() == "true"
        return (left > right) - (left < right)
    pairs = [(_as_number(actual), _as_number(literal)), (_as_datetime(actual), _as_datetime(literal))]
    for left, right in pairs:
        if left is not None and right is not None:
            return (left > right) - (left < right)
    left_text, right_text = str(actual).casefold(), str(literal).casefold()
    return (left_text > right_text) - (left_text < right_text)


def matches(obj: dict[str, Any], cond: Condition) -> bool:
    actual = resolve(obj, cond.field)
    if cond.op == "like":
        if actual is _MISSING or actual is None:
            return False
        pattern = "".join(".*" if ch == "%" else re.escape(ch) for ch in str(cond.values[0]))
        return re.fullmatch(pattern, str(actual), re.IGNORECASE | re.DOTALL) is not None
    if cond.op == "in":
        return any(_compare(actual, v) == 0 for v in cond.values)
    result = _compare(actual, cond.values[0])
    if result is None:
        return False
    return {
        "=": result == 0,
        "!=": result != 0,
        "<": result < 0,
        "<=": result <= 0,
        ">": result > 0,
        ">=": result >= 0,
    }[cond.op]


def _project(obj: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    wanted = {f.split(".")[0].lower() for f in fields}
    out = {k: v for k, v in obj.items() if k.lower() in wanted}
    out.update({"domain": "QBO", "sparse": True})
    return out


def execute(query: Query, entity: str, objects: Iterable[dict[str, Any]], name_list: bool) -> dict[str, Any]:
    """Run ``query`` over ``objects`` (all of ``entity``); returns the ``QueryResponse`` object."""
    conditions = list(query.conditions)
    if name_list and not any(c.field.lower() == "active" for c in conditions):
        conditions.append(Condition("Active", "=", (True,)))
    rows = [o for o in objects if all(matches(o, c) for c in conditions)]
    if query.count:
        return {"totalCount": len(rows)}
    order = query.order_by or [("Id", False)]
    for name, descending in reversed(order):
        rows.sort(key=lambda o, name=name: sort_key(resolve(o, name)), reverse=descending)
    page = rows[query.start_position - 1 : query.start_position - 1 + query.max_results]
    if not page:
        return {}
    if query.fields:
        page = [_project(o, query.fields) for o in page]
    return {entity: page, "startPosition": query.start_position, "maxResults": len(page)}
