"""Read Streak API shapes into canonical values, resolving field NAMES to keys via the pipeline.

No field key is ever written in code or mapping: :class:`FieldReader` looks each name up in the
pipeline's field definitions and decodes the stored value by the field's type (DROPDOWN/TAG option
keys to names, DATE epoch ms to a day, CHECKBOX to bool, TEXT_INPUT as text to parse).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from streak_hooks.models import Box, Contact, FieldDefinition, Organization, Pipeline
from sync_core.canonical import Address, Customer
from sync_core.mapping.parsers import (
    ParseError,
    join_name,
    parse_address,
    parse_bool,
    parse_date,
    parse_number,
    sanitize_name,
    split_name,
)
from sync_core.mapping.schema import Mapping

_KIND_BY_TYPE = {"DATE": "date", "CHECKBOX": "bool"}


class FieldReader:
    """Typed access to a box's custom fields by field name, for one pipeline and one mapping."""

    def __init__(self, mapping: Mapping, pipeline: Pipeline) -> None:
        settings = mapping.settings
        self.timezone = settings.timezone
        self.locale = settings.locale
        self.fallback_locales = tuple(settings.fallback_locales)
        self.date_formats = tuple(settings.date_formats)
        self._by_name: dict[str, FieldDefinition] = {}
        for definition in pipeline.fields:
            self._by_name.setdefault(definition.name.strip().casefold(), definition)
        self._cache: dict[str, FieldDefinition | None] = {}
        self._options = {d.key: {o.key: o.name for o in d.options} for d in pipeline.fields if d.options}

    def definition(self, name: str) -> FieldDefinition | None:
        """The pipeline's field definition for a field name (case-insensitive), or None; memoised."""
        try:
            return self._cache[name]
        except KeyError:
            found = self._cache[name] = self._by_name.get(name.strip().casefold())
            return found

    def raw(self, box: Box, name: str | None) -> Any:
        """The stored value (None when the pipeline has no such field or the box leaves it empty)."""
        if not name:
            return None
        definition = self.definition(name)
        return None if definition is None else self._stored(box, definition)

    @staticmethod
    def _stored(box: Box, definition: FieldDefinition) -> Any:
        value = box.fields.get(definition.key)
        if value is None:
            return None
        kind = value.__class__
        if kind is str:
            return value if value and not value.isspace() else None
        if kind is list and not value:
            return None
        return value

    def value(self, box: Box, name: str | None, parse: str | None = None, locale: str | None = None) -> Any:
        """Decoded value of a field, or None when empty; raises ParseError with a phrase on bad data."""
        definition = self.definition(name) if name else None
        if definition is None:
            return None
        raw = self._stored(box, definition)
        if raw is None:
            return None
        if definition.type in ("DROPDOWN", "TAG"):
            raw = self._option_names(definition, raw)
        kind = parse or _KIND_BY_TYPE.get(definition.type, "text")
        return self.convert(raw, kind, locale)

    def convert(self, raw: Any, kind: str, locale: str | None = None) -> Any:
        """Convert a raw value to ``kind`` (text, number, date, bool) with the mapping's settings."""
        if kind == "number":
            return parse_number(raw, locale or self.locale, () if locale else self.fallback_locales)
        if kind == "date":
            return parse_date(raw, self.timezone, self.date_formats)
        if kind == "bool":
            return parse_bool(raw)
        return raw.strip() if isinstance(raw, str) else str(raw)

    def _option_names(self, definition: FieldDefinition, raw: Any) -> str:
        options = self._options.get(definition.key, {})
        keys = raw if isinstance(raw, list) else [raw]
        names = []
        for key in keys:
            name = options.get(str(key))
            if name is None:
                raise ParseError("is not one of the field's options")
            names.append(name)
        return ", ".join(names)


def _first_text(values: tuple[Any, ...], *keys: str) -> str:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, dict):
            for key in keys:
                if isinstance(value.get(key), str) and value[key].strip():
                    return value[key].strip()
    return ""


def _address(values: tuple[Any, ...], default_country: str) -> Address:
    for value in values:
        if isinstance(value, dict):
            value = ", ".join(str(v) for v in value.values() if isinstance(v, str) and v.strip())
        if isinstance(value, str) and value.strip():
            return parse_address(value, default_country)
    return Address()


def map_organization(mapping: Mapping, org: Organization) -> Customer:
    """A customer from a Streak organization (display name = organization name, ERP-sanitised)."""
    limit = mapping.limits.display_name
    name = " ".join(org.name.split())
    address = _address(org.addresses, mapping.customer.default_country)
    emails = org.raw.get("emailAddresses") or ()
    return Customer(
        external_key=org.key,
        display_name=sanitize_name(name, limit.max_length, limit.forbidden, limit.replacement),
        company_name=name,
        email=_first_text(tuple(emails), "address", "email"),
        phone=_first_text(org.phones, "number", "phoneNumber"),
        billing_address=address,
        shipping_address=address,
        currency=mapping.customer_currency,
        source="organization",
    )


def map_contact(mapping: Mapping, contact: Contact) -> Customer:
    """A customer from a Streak contact (display name = given + family name, else the e-mail)."""
    limit = mapping.limits.display_name
    given, family = contact.given_name.strip(), contact.family_name.strip()
    full = str(contact.raw.get("fullName") or contact.raw.get("name") or "")
    if not given and not family and full:
        given, family = split_name(full)
    email = _first_text(contact.emails, "address", "email")
    display = join_name(given, family, separator=mapping.customer.name_separator) or email
    address = _address(contact.addresses, mapping.customer.default_country)
    return Customer(
        external_key=contact.key,
        display_name=sanitize_name(display, limit.max_length, limit.forbidden, limit.replacement),
        given_name=given,
        family_name=family,
        email=email,
        phone=_first_text(contact.phones, "number", "phoneNumber"),
        billing_address=address,
        shipping_address=address,
        currency=mapping.customer_currency,
        source="contact",
    )


def as_text(value: Any) -> str:
    """Render a decoded field value for an ERP custom field."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
