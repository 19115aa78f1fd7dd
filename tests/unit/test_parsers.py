"""Unit and property tests of the mapping value parsers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_core.canonical import Address
from sync_core.mapping.parsers import (
    ParseError,
    fit_text,
    join_name,
    parse_address,
    parse_bool,
    parse_date,
    parse_line_items,
    parse_number,
    sanitize_name,
    split_name,
)


@pytest.mark.parametrize(
    ("text", "locale", "fallbacks", "expected"),
    [
        ("$1,234.50", "en_US", (), "1234.50"),
        ("1.234,50", "de_DE", (), "1234.50"),
        ("1.234,50", "en_US", ("de_DE",), "1234.50"),
        ("12", "en_US", (), "12"),
        (" 12.5 ", "en_US", (), "12.5"),
        ("EUR 1.234,50", "de_DE", (), "1234.50"),
        ("(5.00)", "en_US", (), "-5.00"),
        ("-3", "en_US", (), "-3"),
        ("1 234,50", "fr_FR", (), "1234.50"),
        ("1,234", "en_US", ("de_DE",), "1234"),  # the declared locale wins over the fallback
    ],
)
def test_parse_number_reads_locale_formats(
    text: str, locale: str, fallbacks: tuple[str, ...], expected: str
) -> None:
    assert parse_number(text, locale, fallbacks) == Decimal(expected)


@pytest.mark.parametrize("text", ["ten", "", "$", "1.234,50", "12abc", "--"])
def test_parse_number_rejects_text_that_is_not_a_number_in_the_locale(text: str) -> None:
    with pytest.raises(ParseError, match="is not a number"):
        parse_number(text, "en_US")


def test_parse_number_accepts_numbers_and_rejects_booleans() -> None:
    assert parse_number(7) == Decimal(7)
    assert parse_number(2.5) == Decimal("2.5")
    with pytest.raises(ParseError):
        parse_number(True)


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_property_number_round_trips_through_us_and_german_formatting(value: Decimal) -> None:
    from babel.numbers import format_decimal

    us = format_decimal(value, format="#,##0.00", locale="en_US")
    de = format_decimal(value, format="#,##0.00", locale="de_DE")
    assert parse_number(us, "en_US") == value
    assert parse_number(de, "de_DE") == value
    assert parse_number(f"${us}" if value >= 0 else f"-${us[1:]}", "en_US") == value


def test_parse_date_from_epoch_ms_uses_the_configured_zone() -> None:
    moment = 1717203600000  # 2024-06-01T01:00:00Z
    assert parse_date(moment, "UTC") == date(2024, 6, 1)
    assert parse_date(moment, "America/New_York") == date(2024, 5, 31)
    assert parse_date(str(moment), "Asia/Tokyo") == date(2024, 6, 1)


def test_parse_date_from_text() -> None:
    assert parse_date("2024-03-01") == date(2024, 3, 1)
    assert parse_date("2024-03-01T03:00:00Z", "America/New_York") == date(2024, 2, 29)
    assert parse_date("03/01/2024", "UTC", ("%m/%d/%Y",)) == date(2024, 3, 1)
    assert parse_date("01.03.2024", "UTC", ("%m/%d/%Y", "%d.%m.%Y")) == date(2024, 3, 1)
    for bad in ("next tuesday", "", "2024-13-45", True):
        with pytest.raises(ParseError, match="is not a date"):
            parse_date(bad, "UTC", ("%m/%d/%Y",))


@given(
    st.integers(min_value=0, max_value=4_102_444_800_000),
    st.sampled_from(["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Pacific/Auckland"]),
)
def test_property_epoch_ms_gives_the_local_calendar_day(ms: int, zone: str) -> None:
    expected = (
        (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).astimezone(ZoneInfo(zone)).date()
    )
    assert parse_date(ms, zone) == expected
    if ms >= 10**8:  # shorter digit runs are not taken as epoch ms (they could be yyyymmdd)
        assert parse_date(str(ms), zone) == expected


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
def test_property_text_dates_round_trip(day: date) -> None:
    formats = ("%m/%d/%Y", "%d.%m.%Y")
    assert parse_date(day.isoformat(), "Europe/Berlin") == day
    assert parse_date(day.strftime("%m/%d/%Y"), "UTC", formats) == day
    assert parse_date(day.strftime("%d.%m.%Y"), "UTC", formats) == day


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (None, False),
        ("yes", True),
        ("No", False),
        ("x", True),
        ("", False),
        (1, True),
    ],
)
def test_parse_bool_reads_checkbox_values(value: object, expected: bool) -> None:
    assert parse_bool(value) is expected


def test_parse_bool_rejects_other_text() -> None:
    with pytest.raises(ParseError, match="yes/no"):
        parse_bool("maybe")


def test_names_join_and_split() -> None:
    assert join_name("  Zoë ", "Müller-Łukasiewicz") == "Zoë Müller-Łukasiewicz"
    assert join_name("Seán", "") == "Seán"
    assert join_name("Ann", "Lee", separator=", ") == "Ann, Lee"
    assert split_name("Mary Ann O'Brien") == ("Mary Ann", "O'Brien")
    assert split_name("O'Brien, Seán") == ("Seán", "O'Brien")
    assert split_name("Cher") == ("Cher", "")


def test_qbo_limits_are_applied_deterministically() -> None:
    assert sanitize_name("Acme: Sales   Dept", 100, ":") == "Acme- Sales Dept"
    long_name = "Ä" * 150
    fitted = sanitize_name(long_name, 100, ":")
    assert len(fitted) == 100 and fitted == sanitize_name(long_name, 100, ":")
    assert sanitize_name("Ä" * 149 + "B", 100, ":") != fitted  # distinct inputs stay distinct
    doc_number = fit_text("SK-agxzfm1haWxmb29nYWVyMgsLEgRDYXNlGICAgICAgAoM", 21)
    assert len(doc_number) == 21 and doc_number.startswith("SK-agxzfm1haW")
    assert fit_text("SK-short", 21) == "SK-short"


@given(st.text(min_size=0, max_size=300))
def test_property_sanitized_names_respect_limits(text: str) -> None:
    name = sanitize_name(text, 100, ":")
    assert len(name) <= 100 and ":" not in name
    assert name == sanitize_name(text, 100, ":")


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        (
            "123 Main St Apt 4, Springfield, IL 62704",
            "US",
            Address("123 Main St", "Apt 4", "Springfield", "IL", "62704", "US"),
        ),
        (
            "1600 Pennsylvania Avenue NW\nWashington, DC 20500, USA",
            "",
            Address("1600 Pennsylvania Avenue NW", "", "Washington", "DC", "20500", "US"),
        ),
        (
            "Friedrichstraße 123, 10117 Berlin, Germany",
            "US",
            Address("Friedrichstraße 123", "", "Berlin", "", "10117", "DE"),
        ),
        (
            "10 Downing Street, London, SW1A 2AA, United Kingdom",
            "",
            Address("10 Downing Street", "", "London", "", "SW1A 2AA", "GB"),
        ),
        (
            "1 Yonge St, Toronto ON M5E 1W7, Canada",
            "",
            Address("1 Yonge St", "", "Toronto", "ON", "M5E 1W7", "CA"),
        ),
        (
            "ul. Marszałkowska 10, 00-590 Warszawa, Poland",
            "",
            Address("ul. Marszałkowska 10", "", "Warszawa", "", "00-590", "PL"),
        ),
        (
            "12 Rue de l'Église, 75008 Paris, FR",
            "",
            Address("12 Rue de l'Église", "", "Paris", "", "75008", "FR"),
        ),
        ("", "US", Address()),
    ],
)
def test_parse_address_splits_free_text(text: str, default: str, expected: Address) -> None:
    assert parse_address(text, default) == expected


STREETS = ["Main St", "Oak Avenue", "Elm Rd", "Maple Drive", "Cedar Lane", "Washington Blvd"]
CITIES = ["Springfield", "Portland", "Austin", "Denver", "Madison", "Salem"]
STATES = ["IL", "OR", "TX", "CO", "WI", "MA", "NY", "CA"]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 99999),
    st.sampled_from(STREETS),
    st.sampled_from(CITIES),
    st.sampled_from(STATES),
    st.integers(10000, 99999),
)
def test_property_us_addresses_split_into_their_parts(
    number: int, street: str, city: str, state: str, zip_code: int
) -> None:
    address = parse_address(f"{number} {street}, {city}, {state} {zip_code}", "US")
    assert address == Address(f"{number} {street}", "", city, state, str(zip_code), "US")


EU_CITIES = ["Berlin", "München", "Paris", "Lyon", "Madrid", "Wien", "Zürich", "Kraków"]
EU_COUNTRIES = [
    ("Germany", "DE"),
    ("France", "FR"),
    ("Spain", "ES"),
    ("Austria", "AT"),
    ("Netherlands", "NL"),
]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["Hauptstraße", "Rue de la Paix", "Calle Mayor", "Kärntner Ring"]),
    st.integers(1, 300),
    st.sampled_from(EU_CITIES),
    st.integers(1000, 99999),
    st.sampled_from(EU_COUNTRIES),
)
def test_property_european_addresses_use_the_fallback(
    street: str, number: int, city: str, postal: int, country: tuple[str, str]
) -> None:
    address = parse_address(f"{street} {number}, {postal} {city}, {country[0]}", "US")
    assert address == Address(f"{street} {number}", "", city, "", str(postal), country[1])


@given(st.text(max_size=200))
def test_property_address_parser_never_invents_text(text: str) -> None:
    address = parse_address(text, "US")
    for part in (address.line1, address.line2, address.city, address.region, address.postal_code):
        for word in part.replace(",", " ").split():
            assert word in text


def test_line_items_parse_with_optional_description() -> None:
    lines, problems = parse_line_items("WID-1 | 2 | 10.50 | Blue widget\n\nSVC-9|1|$1,200.00\n")
    assert problems == []
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.description) for ln in lines] == [
        ("WID-1", Decimal(2), Decimal("10.50"), "Blue widget"),
        ("SVC-9", Decimal(1), Decimal("1200.00"), ""),
    ]


def test_line_items_report_each_bad_line() -> None:
    lines, problems = parse_line_items("A | ten | 5\n | 1 | 2\nB | 1\nC | 1 | 1,5", locale="en_US")
    assert lines == []
    assert problems == [
        "line 1: quantity 'ten' is not a number",
        "line 2: SKU is missing",
        "line 3 'B | 1' needs 'SKU | quantity | unit price'",
        "line 4: unit price '1,5' is not a number",
    ]


SKUS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", min_size=1, max_size=12)
DESCRIPTIONS = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30
).map(str.strip)


@given(
    st.lists(
        st.tuples(
            SKUS,
            st.decimals(min_value=0, max_value=10**6, places=3),
            st.decimals(min_value=0, max_value=10**7, places=2),
            DESCRIPTIONS,
        ),
        max_size=8,
    ),
    st.sampled_from(["en_US", "de_DE"]),
)
def test_property_line_items_round_trip(rows: list[tuple[str, Decimal, Decimal, str]], locale: str) -> None:
    from babel.numbers import format_decimal

    text = "\n".join(
        f"{sku} | {format_decimal(qty, format='#,##0.###', locale=locale)} | "
        f"{format_decimal(price, format='#,##0.00', locale=locale)}" + (f" | {desc}" if desc else "")
        for sku, qty, price, desc in rows
    )
    lines, problems = parse_line_items(text, locale=locale)
    assert problems == []
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.description) for ln in lines] == [
        (sku, qty, price, desc) for sku, qty, price, desc in rows
    ]
