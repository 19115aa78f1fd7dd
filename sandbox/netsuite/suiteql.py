"""The SuiteQL subset the sandbox answers: one table, a WHERE clause, ORDER BY.

``SELECT col, ... | * FROM customer|item|transaction [WHERE expr] [ORDER BY col [ASC|DESC]]`` where
``expr`` combines ``AND`` / ``OR`` / ``NOT`` / parentheses over comparisons (``= != <> < <= > >=``),
``IN (...)``, ``IS [NOT] NULL`` and ``LIKE``; an operand is a column, ``LOWER(col)`` / ``UPPER(col)``
or a literal (``'text'`` with ``''`` for a quote, numbers). Column names are case-insensitive and
rows come back with lower-case keys, as NetSuite returns them. Anything else is a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><=|>=|<>|!=|=|<|>|\(|\)|,|\*)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "LIKE",
}


class SuiteQLError(ValueError):
    """A query outside the subset (the message says where)."""


@dataclass
class Query:
    """One parsed ``SELECT``: columns, table, conditions and order."""

    columns: list[str]  # ["*"] for all
    table: str
    where: Callable[[dict[str, Any]], bool]
    order_by: str | None = None
    descending: bool = False


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip().rstrip(";")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SuiteQLError(f"Invalid search query: unexpected text at {text[pos : pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "word" and value.upper() in KEYWORDS:
            tokens.append(("kw", value.upper()))
        elif kind == "str":
            tokens.append(("str", value[1:-1].replace("''", "'")))
        else:
            tokens.append((kind, value))
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else ("end", "")

    def take(self, kind: str | None = None, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if (kind and token[0] != kind) or (value and token[1].upper() != value):
            raise SuiteQLError(f"Invalid search query: expected {value or kind}, found {token[1] or 'end'!r}")
        self.pos += 1
        return token

    def accept(self, kind: str, value: str) -> bool:
        if self.peek()[0] == kind and self.peek()[1].upper() == value:
            self.pos += 1
            return True
        return False

    def query(self) -> Query:
        self.take("kw", "SELECT")
        columns: list[str] = []
        while True:
            if self.accept("op", "*"):
                columns.append("*")
            else:
                columns.append(self.take("word")[1].lower())
            if not self.accept("op", ","):
                break
        self.take("kw", "FROM")
        table = self.take("word")[1].lower()
        where = self.expr() if self.accept("kw", "WHERE") else _always
        order_by, descending = None, False
        if self.accept("kw", "ORDER"):
            self.take("kw", "BY")
            order_by = self.take("word")[1].lower()
            if self.accept("kw", "DESC"):
                descending = True
            else:
                self.accept("kw", "ASC")
        if self.peek()[0] != "end":
            raise SuiteQLError(f"Invalid search query: unexpected {self.peek()[1]!r}")
        return Query(columns, table, where, order_by, descending)

    def expr(self) -> Callable[[dict[str, Any]], bool]:
        parts = [self.term()]
        while self.accept("kw", "OR"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def term(self) -> Callable[[dict[str, Any]], bool]:
        parts = [self.factor()]
        while self.accept("kw", "AND"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def factor(self) -> Callable[[dict[str, Any]], bool]:
        if self.accept("kw", "NOT"):
            inner = self.factor()
            return lambda row: not inner(row)
        if self.peek() == ("op", "("):
            self.take()
            inner = self.expr()
            self.take("op", ")")
            return inner
        left = self.operand()
        if self.accept("kw", "IS"):
            negate = self.accept("kw", "NOT")
            self.take("kw", "NULL")
            return lambda row: (left(row) in (None, "")) != negate
        negate = self.accept("kw", "NOT")
        if self.accept("kw", "IN"):
            self.take("op", "(")
            values = [self.operand()]
            while self.accept("op", ","):
                values.append(self.operand())
            self.take("op", ")")
            return lambda row: any(_eq(left(row), v(row)) for v in values) != negate
        if self.accept("kw", "LIKE"):
            pattern = self.operand()
            return lambda row: _like(left(row), pattern(row)) != negate
        op = self.take("op")[1]
        right = self.operand()
        compare = _COMPARE.get(op)
        if compare is None:
            raise SuiteQLError(f"Invalid search query: unknown operator {op!r}")
        return lambda row: compare(left(row), right(row))

    def operand(self) -> Callable[[dict[str, Any]], Any]:
        kind, value = self.take()
        if kind == "str":
            return lambda row: value
        if kind == "num":
            return lambda row: value
        if kind == "word":
            if self.peek() == ("op", "("):
                self.take()
                inner = self.operand()
                fn = value.upper()
                if fn in ("TO_TIMESTAMP", "TO_DATE"):
                    self.take("op", ",")
                    self.operand()  # the format: the sandbox reads ISO-like text whatever it says
                    self.take("op", ")")
                    return lambda row: _timestamp(inner(row))
                self.take("op", ")")
                if fn == "LOWER":
                    return lambda row: None if inner(row) is None else str(inner(row)).lower()
                if fn == "UPPER":
                    return lambda row: None if inner(row) is None else str(inner(row)).upper()
                raise SuiteQLError(f"Invalid search query: function {value} is not supported here")
            column = value.lower()
            return lambda row: row.get(column)
        raise SuiteQLError(f"Invalid search query: unexpected {value!r}")


def _timestamp(value: Any) -> str | None:
    """``2026-11-27 05:40:00`` / ``2026-11-27`` -> ``2026-11-27T05:40:00Z`` (how records store times)."""
    if value is None:
        return None
    text = str(value).strip().replace(" ", "T").rstrip("Z")
    if len(text) == 10:
        text += "T00:00:00"
    return text + "Z"


def _always(row: dict[str, Any]) -> bool:
    return True


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    return str(a) == str(b)


def _order(a: Any, b: Any) -> int | None:
    if a is None or b is None:
        return None
    na, nb = _num(a), _num(b)
    if na is not None and nb is not None:
        return (na > nb) - (na < nb)
    return (str(a) > str(b)) - (str(a) < str(b))


def _like(value: Any, pattern: Any) -> bool:
    if value is None or pattern is None:
        return False
    regex = "^" + re.escape(str(pattern)).replace("%", ".*").replace("_", ".") + "$"
    return re.match(regex, str(value), re.DOTALL) is not None


def _cmp(test: Callable[[int], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        result = _order(a, b)
        return result is not None and test(result)

    return compare


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": _eq,
    "!=": lambda a, b: a is not None and b is not None and not _eq(a, b),
    "<>": lambda a, b: a is not None and b is not None and not _eq(a, b),
    "<": _cmp(lambda r: r < 0),
    "<=": _cmp(lambda r: r <= 0),
    ">": _cmp(lambda r: r > 0),
    ">=": _cmp(lambda r: r >= 0),
}


def parse(text: str) -> Query:
    if not text or not text.strip():
        raise SuiteQLError("Invalid search query: the q property is empty")
    return _Parser(tokenize(text)).query()


def execute(query: Query, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Filter, order and project ``rows`` (lower-case keys)."""
    matched = [row for row in rows if query.where(row)]
    if query.order_by:
        column = query.order_by
        matched.sort(
            key=lambda r: (r.get(column) is None, _num(r.get(column)) or 0, str(r.get(column))),
            reverse=query.descending,
        )
    if query.columns == ["*"]:
        return [dict(r) for r in matched]
    return [{c: r.get(c) for c in query.columns} for r in matched]
