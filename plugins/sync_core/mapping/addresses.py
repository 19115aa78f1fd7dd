"""Split one free-text address into line1/line2/city/region/postal code/ISO country.

US addresses go through ``usaddress``; everything else through a small rule-based fallback
(parts separated by commas or new lines; the last part may name a country; a postal code is
found by pattern). The result only ever contains text taken from the input, except the country,
which is normalised to its ISO 3166-1 alpha-2 code with ``pycountry``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from sync_core.canonical import Address

_US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM "
    "NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP".split()
)
_COUNTRY_ALIASES = {
    "usa": "US", "u.s.a.": "US", "u.s.": "US", "united states": "US", "america": "US",
    "uk": "GB", "u.k.": "GB", "england": "GB", "scotland": "GB", "wales": "GB", "great britain": "GB",
    "deutschland": "DE", "россия": "RU", "españa": "ES", "österreich": "AT", "schweiz": "CH",
}  # fmt: skip
_US_TAIL = re.compile(r"\b([A-Z]{2})\s+(\d{5}(?:-\d{4})?)\s*$")
_POSTAL_PATTERNS = (
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b"),  # UK
    re.compile(r"\b[A-Z]\d[A-Z]\s?\d[A-Z]\d\b"),  # Canada
    re.compile(r"\b\d{2}-\d{3}\b"),  # Poland
    re.compile(r"\b\d{3}-\d{4}\b"),  # Japan
    re.compile(r"\b\d{3}\s\d{2}\b"),  # Sweden / Czechia
    re.compile(r"\b\d{4,6}(?:-\d{4})?\b"),  # most others, US ZIP+4
)
_SPLIT = re.compile(r"\s*[\n,;]\s*")


@lru_cache(maxsize=512)
def country_code(text: str) -> str | None:
    """ISO 3166-1 alpha-2 code for a country name or code, or None when it is not a country."""
    import pycountry

    cleaned = text.strip().strip(".")
    if not cleaned or any(ch.isdigit() for ch in cleaned):
        return None
    alias = _COUNTRY_ALIASES.get(cleaned.casefold())
    if alias:
        return alias
    try:
        return pycountry.countries.lookup(cleaned).alpha_2
    except LookupError:
        return None


def _from_usaddress(text: str) -> Address | None:
    import usaddress

    try:
        tagged, kind = usaddress.tag(text)
    except usaddress.RepeatedLabelError:
        return None
    if kind != "Street Address" or "ZipCode" not in tagged or "PlaceName" not in tagged:
        return None
    street_keys = [k for k in tagged if k not in {"PlaceName", "StateName", "ZipCode", "CountryName"}]
    occupancy = {"OccupancyType", "OccupancyIdentifier", "SubaddressType", "SubaddressIdentifier"}
    line1 = " ".join(tagged[k] for k in street_keys if k not in occupancy).strip(" ,")
    line2 = " ".join(tagged[k] for k in street_keys if k in occupancy).strip(" ,")
    return Address(
        line1=line1,
        line2=line2,
        city=tagged["PlaceName"].strip(" ,"),
        region=tagged.get("StateName", "").strip(" ,."),
        postal_code=tagged["ZipCode"].strip(" ,"),
        country="US",
    )


_US_SIMPLE_TAIL = re.compile(r"^(?P<city>[^\d,]+?),?\s+(?P<state>[A-Z]{2})\.?\s+(?P<zip>\d{5}(?:-\d{4})?)$")
_OCCUPANCY = re.compile(
    r"^(?P<street>\d+\w*\s.+?)\s*,?\s+(?P<unit>(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|Rm|Room|Bldg|Building)\.?\s*\S+|#\s*\S+)$",
    re.IGNORECASE,
)
_STREET = re.compile(r"^\d+\w*\s+\S.*$")


def _us_simple(parts: list[str]) -> Address | None:
    """Fast path for the common "street[, unit], city, ST zip" shape; None sends it to usaddress."""
    if len(parts) == 3:
        street, tail = parts[0], f"{parts[1]} {parts[2]}"
    elif len(parts) == 2:
        street, tail = parts
    else:
        return None
    match = _US_SIMPLE_TAIL.match(tail)
    if not match or match.group("state") not in _US_STATES or not _STREET.match(street):
        return None
    unit = _OCCUPANCY.match(street)
    line1, line2 = (unit.group("street"), unit.group("unit")) if unit else (street, "")
    return Address(line1, line2, match.group("city").strip(), match.group("state"), match.group("zip"), "US")


def _find_postal(part: str) -> re.Match[str] | None:
    for pattern in _POSTAL_PATTERNS:
        match = pattern.search(part)
        if match:
            return match
    return None


def _fallback(parts: list[str], country: str) -> Address:
    line1, rest = parts[0], parts[1:]
    city = region = postal = ""
    line2_parts: list[str] = []
    # The locality is the last part holding a postal code, else the last part.
    locality_index = next((i for i in range(len(rest) - 1, -1, -1) if _find_postal(rest[i])), None)
    if locality_index is None and rest:
        locality_index = len(rest) - 1
    if locality_index is not None:
        locality = rest[locality_index]
        before, after = rest[:locality_index], rest[locality_index + 1 :]
        match = _find_postal(locality)
        if match:
            postal = match.group(0)
            locality = (locality[: match.start()] + " " + locality[match.end() :]).strip(" -")
        words = locality.split()
        if len(words) > 1 and len(words[-1]) in (2, 3) and words[-1].isupper() and words[-1].isalpha():
            region, words = words[-1], words[:-1]
        city = " ".join(words)
        if not city and before:
            city = before.pop()
        if after and not region:
            region = after.pop(0)
        line2_parts = before + after
    return Address(
        line1=line1,
        line2=", ".join(line2_parts),
        city=city,
        region=region,
        postal_code=postal,
        country=country,
    )


def parse_address(text: str, default_country: str = "") -> Address:
    """Split a free-text address; never raises, returns an empty Address for blank text."""
    parts = [p for p in _SPLIT.split(text.strip()) if p.strip()]
    parts = [" ".join(p.split()) for p in parts]
    if not parts:
        return Address()
    country = ""
    if len(parts) > 1:
        code = country_code(parts[-1])
        if code:
            country = code
            parts = parts[:-1]
    effective = country or default_country.upper()
    if effective == "US":
        joined = ", ".join(parts)
        if _US_TAIL.search(joined):
            tail = _US_TAIL.search(joined)
            if tail and tail.group(1) in _US_STATES:
                parsed = _us_simple(parts) or _from_usaddress(joined)
                if parsed is not None:
                    return parsed
    address = _fallback(parts, effective)
    return address
