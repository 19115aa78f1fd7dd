"""Value parsers used by the mapping engine: numbers, dates, booleans, names, line items, ERP limits.

Every parser raises :class:`ParseError` with a short phrase ("is not a number") that the engine
turns into a record failure naming the box and the Streak field.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import ZoneInfo

from sync_core.mapping.addresses import parse_address

__all__ = [
    "LineItemText",
    "ParseError",
    "fit_text",
    "join_name",
    "money",
    "parse_address",
    "parse_bool",
    "parse_date",
    "parse_line_items",
    "parse_number",
    "sanitize_name",
    "split_name",
]

CENT = Decimal("0.01")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_CURRENCY_NOISE = re.compile(r"[\$€£¥₹₩₽₺₪฿]|\b[A-Z]{3}\b")
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009]+")
_DIGITS_ONLY = re.compile(r"-?\d{9,}")


class ParseError(ValueError):
    """A value could not be read; the message completes "<Field> '<value>' ..."."""


def money(value: Decimal) -> Decimal:
    """Round to cents, half up (the rounding invoices use)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@lru_cache(maxsize=64)
def _locale_symbols(locale: str) -> tuple[str, str]:
    from babel.numbers import get_decimal_symbol, get_group_symbol

    return get_decimal_symbol(locale), get_group_symbol(locale)


@lru_cache(maxsize=64)
def _locale_pattern(locale: str) -> tuple[re.Pattern[str], str, str]:
    """A strict pattern for the locale's usual form: groups of three, then the decimal symbol."""
    decimal_sym, group_sym = _locale_symbols(locale)
    group = r"[\s\u00a0\u202f]" if _SPACES.fullmatch(group_sym) else re.escape(group_sym)
    pattern = re.compile(rf"(\d{{1,3}}(?:{group}\d{{3}})+|\d+)(?:{re.escape(decimal_sym)}(\d+))?")
    return pattern, decimal_sym, group_sym


def _parse_in_locale(text: str, locale: str) -> Decimal:
    from babel.numbers import NumberFormatError, parse_decimal

    pattern, _decimal_sym, group_sym = _locale_pattern(locale)
    match = pattern.fullmatch(text)
    if match:  # the common case, without babel's slower general parser
        whole = re.sub(r"\D", "", match.group(1))
        return Decimal(f"{whole}.{match.group(2)}" if match.group(2) else whole)
    if _SPACES.fullmatch(group_sym) or group_sym in "\u00a0\u202f":
        text = _SPACES.sub("", text)
    try:
        return parse_decimal(text, locale=locale, strict=True)
    except (NumberFormatError, ValueError, InvalidOperation) as exc:
        raise ParseError("is not a number") from exc


def _is_plain(text: str, locale: str) -> bool:
    """Digits with at most a "." fraction, and "." is not the declared locale's grouping
    (in de_DE "1.250" is one thousand two hundred and fifty)."""
    return bool(_PLAIN_NUMBER.fullmatch(text)) and ("." not in text or _locale_pattern(locale)[1] == ".")


def parse_number(value: object, locale: str = "en_US", fallback_locales: tuple[str, ...] = ()) -> Decimal:
    """Read a number from Streak text: "$1,234.50", "1.234,50" (declared locale), "12", "(5.00)".

    The declared ``locale`` is tried first, strictly (grouping must be right), then each of
    ``fallback_locales`` in order; the first strict match wins, so the result never depends on luck.
    """
    if isinstance(value, bool):
        raise ParseError("is not a number")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if not isinstance(value, str):
        raise ParseError("is not a number")
    text = value.strip()
    if _is_plain(text, locale):
        return Decimal(text)
    negative = text.startswith("(") and text.endswith(")")
    if negative:
        text = text[1:-1]
    text = _CURRENCY_NOISE.sub("", text).strip()
    if text.startswith("-"):
        negative, text = not negative, text[1:].strip()
    if not text or not any(ch.isdigit() for ch in text):
        raise ParseError("is not a number")
    if _is_plain(text, locale):
        number = Decimal(text)
    else:
        number = None
        for candidate in (locale, *fallback_locales):
            try:
                number = _parse_in_locale(text, candidate)
                break
            except ParseError:
                continue
        if number is None:
            raise ParseError("is not a number")
    return -number if negative else number


@lru_cache(maxsize=32)
def _zone(name: str) -> tzinfo:
    return ZoneInfo(name)


def parse_date(value: object, timezone: str = "UTC", formats: tuple[str, ...] = ()) -> date:
    """Read a date from epoch milliseconds (Streak DATE fields) or text, as a day in ``timezone``.

    Text may be ISO-8601 (a date, or a date-time whose offset is honoured) or match one of
    ``formats`` (strptime patterns); a long run of digits is taken as epoch milliseconds.
    """
    zone = _zone(timezone)
    if isinstance(value, bool):
        raise ParseError("is not a date")
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=zone)
        return moment.astimezone(zone).date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, UTC).astimezone(zone).date()
        except (OverflowError, OSError, ValueError) as exc:
            raise ParseError("is not a date") from exc
    if not isinstance(value, str) or not value.strip():
        raise ParseError("is not a date")
    text = value.strip()
    if _DIGITS_ONLY.fullmatch(text):
        return parse_date(int(text), timezone)
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return parse_date(datetime.fromisoformat(text.replace("Z", "+00:00")), timezone)
    except ValueError:
        pass
    for pattern in formats:
        try:
            return parse_date(datetime.strptime(text, pattern), timezone)
        except ValueError:
            continue
    raise ParseError("is not a date")


_TRUE = {"true", "yes", "y", "1", "x", "checked", "on"}
_FALSE = {"false", "no", "n", "0", "", "unchecked", "off"}


def parse_bool(value: object) -> bool:
    """Read a CHECKBOX value (true/false) or common text spellings; absent means unchecked."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().casefold()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ParseError("is not a yes/no value")


def join_name(*parts: str, separator: str = " ") -> str:
    """Concatenate name parts, skipping blanks and collapsing whitespace."""
    return separator.join(" ".join(p.split()) for p in parts if p and p.strip())


def split_name(full_name: str) -> tuple[str, str]:
    """Split a person's full name into (given, family); "Family, Given" is understood too."""
    text = " ".join(full_name.split())
    if "," in text:
        family, _, given = text.partition(",")
        return given.strip(), family.strip()
    given, _, family = text.rpartition(" ")
    return (given, family) if given else (family, "")


def fit_text(text: str, max_length: int) -> str:
    """Shorten ``text`` to ``max_length`` deterministically, keeping distinct inputs distinct.

    Text that fits is returned as is; longer text keeps its head and ends with ``~`` plus a
    6-hex-digit hash of the whole input.
    """
    if len(text) <= max_length:
        return text
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]
    head = text[: max(0, max_length - 7)].rstrip()
    return f"{head}~{digest}"[:max_length]


def sanitize_name(text: str, max_length: int, forbidden: str = "", replacement: str = "-") -> str:
    """Make a display name an ERP accepts: forbidden characters replaced, spaces collapsed, fitted."""
    for ch in forbidden:
        text = text.replace(ch, replacement)
    return fit_text(" ".join(text.split()), max_length)


@dataclass(frozen=True, slots=True)
class LineItemText:
    """One parsed line of the ``Line Items`` text field."""

    sku: str
    quantity: Decimal
    unit_price: Decimal
    description: str = ""


def parse_line_items(
    text: str, separator: str = "|", locale: str = "en_US", fallback_locales: tuple[str, ...] = ()
) -> tuple[list[LineItemText], list[str]]:
    """Parse ``SKU | quantity | unit price | description`` lines (description optional).

    Returns the lines that parsed and, for the others, phrases such as
    "line 2: quantity 'ten' is not a number". Blank lines are ignored.
    """
    lines: list[LineItemText] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        parts = [p.strip() for p in raw.split(separator, 3)]
        if len(parts) < 3:
            problems.append(
                f"line {number} {raw.strip()!r} needs 'SKU {separator} quantity {separator} unit price'"
            )
            continue
        sku, qty_text, price_text = parts[0], parts[1], parts[2]
        description = parts[3] if len(parts) > 3 else ""
        line_problems = []
        if not sku:
            line_problems.append(f"line {number}: SKU is missing")
        quantity = unit_price = None
        try:
            quantity = parse_number(qty_text, locale, fallback_locales)
        except ParseError as exc:
            line_problems.append(f"line {number}: quantity {qty_text!r} {exc}")
        try:
            unit_price = parse_number(price_text, locale, fallback_locales)
        except ParseError as exc:
            line_problems.append(f"line {number}: unit price {price_text!r} {exc}")
        if line_problems or quantity is None or unit_price is None:
            problems.extend(line_problems)
            continue
        lines.append(LineItemText(sku, quantity, unit_price, description))
    return lines, problems
