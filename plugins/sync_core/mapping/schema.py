"""The mapping file format (``include/mappings/<erp>.yaml``) as pydantic models, checked at load.

A mapping names Streak fields (never field keys), says how each value is parsed and where it
goes in the canonical model, and carries lookup tables, item catalogues and exchange rates
(inline or from a shared file such as ``lookups.yaml``). Every problem is reported as
``file:key: what was expected``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveInt, field_validator

from sync_core.canonical import DocumentKind, ItemType

ValueKind = Literal["text", "number", "date", "bool"]
_PAIR = re.compile(r"^[A-Z]{3}/[A-Z]{3}$")


class Strict(BaseModel):
    """Base: unknown keys are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_currency(code: str) -> str:
    """Return ``code`` when it is an ISO-4217 currency code, else raise ValueError."""
    if not is_iso_currency(code):
        raise ValueError(f"an ISO-4217 currency code such as 'USD', got {code!r}")
    return code


Currency = Annotated[str, AfterValidator(check_currency)]


class NamedField(Strict):
    """A Streak field named by the mapping, read as the field's type says (e.g. the product dropdown)."""

    field: str = Field(min_length=1)


class NumberField(NamedField):
    """A number read from one Streak field by name (in ``locale``), ``default`` when the field is empty."""

    parse: Literal["number"] | None = None
    locale: str | None = None
    default: Decimal | None = None


class Settings(Strict):
    """Parsing context shared by every field."""

    timezone: str = "UTC"
    locale: str = "en_US"
    fallback_locales: list[str] = []
    date_formats: list[str] = ["%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y"]
    home_currency: Currency = "USD"
    convert_to_home_currency: bool = True
    document_kind: DocumentKind = DocumentKind.INVOICE

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"an IANA time zone such as 'America/New_York', got {value!r}") from exc
        return value

    @field_validator("locale", "fallback_locales")
    @classmethod
    def _known_locale(cls, value: str | list[str]) -> str | list[str]:
        from babel import Locale, UnknownLocaleError

        for name in [value] if isinstance(value, str) else value:
            try:
                Locale.parse(name)
            except (UnknownLocaleError, ValueError) as exc:
                raise ValueError(f"a locale such as 'en_US' or 'de_DE', got {name!r}") from exc
        return value


class TextLimit(Strict):
    """An ERP text limit: maximum length and characters that must be replaced."""

    max_length: PositiveInt
    forbidden: str = ""
    replacement: str = "-"


class Limits(Strict):
    """Text limits of the target ERP (QBO: display name 100 chars without ':', doc number 21)."""

    display_name: TextLimit = TextLimit(max_length=100, forbidden=":")
    item_name: TextLimit = TextLimit(max_length=100, forbidden=":")
    doc_number: TextLimit = TextLimit(max_length=21)


class CustomerSpec(Strict):
    """How a customer is built from the box's first organization, else its first contact."""

    sources: list[Literal["organization", "contact"]] = Field(
        default=["organization", "contact"], min_length=1
    )
    name_separator: str = " "
    default_country: str = ""
    currency: Currency | None = None  # default: settings.home_currency


class DocNumberSpec(Strict):
    """Document number: ``prefix`` + the box key (or name), fitted to the ERP limit with a hash."""

    prefix: str = ""
    source: Literal["box_key", "box_name", "none"] = "box_key"


class DocDateSpec(Strict):
    """Document date: a DATE (or text) field, else the box's last stage change."""

    field: str | None = "Close Date"
    fallback: Literal["stage_change", "none"] = "stage_change"


class CurrencySpec(Strict):
    """Document currency: a field holding an ISO code, else ``default``."""

    field: str | None = None
    default: Currency = "USD"


class LookupValue(Strict):
    """A value found by looking the stage or pipeline name up in a named lookup table."""

    lookup: str
    source: Literal["stage", "pipeline"] = Field(alias="from")
    default: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CustomFieldSpec(Strict):
    """Pass a Streak custom field through to an ERP custom field (id or name)."""

    streak_field: str
    erp_field: str
    parse: ValueKind | None = None


class DocumentSpec(Strict):
    """Header of the sales document made from a box."""

    doc_number: DocNumberSpec = DocNumberSpec()
    doc_date: DocDateSpec = DocDateSpec()
    due_days: Annotated[int, Field(ge=0)] | None = None
    currency: CurrencySpec = CurrencySpec()
    memo: str = "{box_name}"
    status: LookupValue | None = None
    class_ref: LookupValue | None = None
    declared_total: NumberField | None = None
    write_back_field: str | None = None
    custom_fields: list[CustomFieldSpec] = []


class LineItemsSpec(Strict):
    """The multi-line text field: one ``SKU | quantity | unit price | description`` per line."""

    field: str
    separator: str = Field(default="|", min_length=1)


class LinesSpec(Strict):
    """Where lines come from: ``line_items`` when that field is filled, else the single-product fields."""

    line_items: LineItemsSpec | None = None
    product: NamedField | None = None
    quantity: NumberField | None = None
    unit_price: NumberField | None = None
    default_quantity: Decimal = Decimal("1")


class Condition(Strict):
    """``field`` equals ``equals`` (or is one of ``in``), compared without case."""

    field: str
    equals: str | None = None
    in_: list[str] | None = Field(default=None, alias="in")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ItemOverrides(Strict):
    """Item attributes a rule sets."""

    type: ItemType | None = None
    income_account_ref: str | None = None
    erp_ref: str | None = None
    sku_suffix: str = ""


class ItemRule(Strict):
    """A conditional: when ``when`` holds (or always, when it is absent) apply ``set``; first match wins."""

    when: Condition | None = None
    set: ItemOverrides


class ItemsSpec(Strict):
    """How products become items: a catalogue lookup, conditionals, defaults for ERP-required fields."""

    catalogue: str = "products"
    unknown: Literal["fail", "create"] = "fail"
    rules: list[ItemRule] = []
    default_type: ItemType = ItemType.NON_INVENTORY
    default_income_account_ref: str = ""


class CatalogueEntry(Strict):
    """One product of a catalogue, keyed by its display name (the Streak dropdown option name)."""

    sku: str = Field(min_length=1)
    name: str | None = None
    type: ItemType | None = None
    unit_price: Annotated[Decimal, Field(ge=0)] | None = None
    income_account_ref: str | None = None
    erp_ref: str = ""
    description: str = ""


class RequiredFields(Strict):
    """Canonical fields that must be present, per record kind (drives the validation suites)."""

    customer: list[str] = ["display_name"]
    item: list[str] = ["sku", "name"]
    document: list[str] = ["customer_key", "currency", "doc_date"]


class ValidationSpec(Strict):
    """Validation options derived into the Great Expectations suites."""

    required: RequiredFields = RequiredFields()
    email_pattern: str = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    tolerance: Decimal = Decimal("0.01")


class ERPDefaults(Strict):
    """ERP internal ids written on every record of a kind, and ERP-specific choices.

    NetSuite: ``customer: {subsidiary: "1"}``, ``document: {subsidiary, location, department}``,
    ``inventory_item: {assetAccount, cogsAccount}``, ``currencies: {USD: "1"}`` (ISO code -> currency
    internal id), ``invoice_from_order`` (transform each sales order into an invoice).
    """

    customer: dict[str, str] = {}
    item: dict[str, str] = {}
    inventory_item: dict[str, str] = {}
    document: dict[str, str] = {}
    currencies: dict[Currency, str] = {}
    invoice_from_order: bool = False


class LookupsFile(Strict):
    """A shared lookups file: lookup tables, product catalogues and exchange rates."""

    lookups: dict[str, dict[str, str]] = {}
    catalogues: dict[str, dict[str, CatalogueEntry]] = {}
    rates: dict[str, Annotated[Decimal, Field(gt=0)]] = {}

    @field_validator("rates")
    @classmethod
    def _pairs(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for pair in value:
            if not _PAIR.match(pair):
                raise ValueError(f"currency pairs written 'EUR/USD', got {pair!r}")
            for code in pair.split("/"):
                check_currency(code)
        return value


class Mapping(LookupsFile):
    """A whole mapping file, with the shared lookups it names merged in (local entries win)."""

    version: Literal[1] = 1
    erp: str = Field(min_length=1)
    lookups_file: str | None = None
    settings: Settings = Settings()
    limits: Limits = Limits()
    customer: CustomerSpec = CustomerSpec()
    document: DocumentSpec = DocumentSpec()
    lines: LinesSpec = LinesSpec()
    items: ItemsSpec = ItemsSpec()
    validation: ValidationSpec = ValidationSpec()
    erp_defaults: ERPDefaults = ERPDefaults()
    source: str = Field(default="", exclude=True)

    @property
    def customer_currency(self) -> str:
        return self.customer.currency or self.settings.home_currency

    def rate(self, source: str, target: str) -> Decimal | None:
        """Rate to multiply an amount in ``source`` by to get ``target``; None when not declared."""
        if source == target:
            return Decimal(1)
        direct = self.rates.get(f"{source}/{target}")
        if direct is not None:
            return direct
        inverse = self.rates.get(f"{target}/{source}")
        return (Decimal(1) / inverse) if inverse else None


_ISO_CURRENCIES: frozenset[str] | None = None


def iso_currencies() -> frozenset[str]:
    """All ISO-4217 alphabetic codes (pycountry)."""
    global _ISO_CURRENCIES
    if _ISO_CURRENCIES is None:
        import pycountry

        _ISO_CURRENCIES = frozenset(c.alpha_3 for c in pycountry.currencies)
    return _ISO_CURRENCIES


def is_iso_currency(code: Any) -> bool:
    return isinstance(code, str) and code in iso_currencies()
