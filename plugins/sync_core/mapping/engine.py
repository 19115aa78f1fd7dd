"""Apply a mapping to Streak boxes: canonical sales documents, their items and customers.

Every problem with a box is collected (not just the first) and reported as a
:class:`RecordFailure` naming the box key and the Streak field; the box then yields no document,
and the rest of the batch goes on.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from streak_hooks.models import Box, Contact, Organization, Pipeline
from sync_core.canonical import Customer, Item, ItemType, Line, SalesDocument
from sync_core.mapping.parsers import ParseError, money, parse_date, parse_line_items, sanitize_name
from sync_core.mapping.results import MappingResult, RecordFailure
from sync_core.mapping.schema import CatalogueEntry, ItemOverrides, ItemRule, Mapping, NumberField
from sync_core.mapping.streak_reader import FieldReader, as_text, map_contact, map_organization

_SKU_CHARS = re.compile(r"[^A-Z0-9]+")


class _Unreadable(enum.Enum):
    """Marks a number field whose value could not be read (the problem is already recorded)."""

    VALUE = 0


UNREADABLE = _Unreadable.VALUE
Number = Decimal | None | Literal[_Unreadable.VALUE]


def _convert(amount: Decimal, rate: Decimal) -> Decimal:
    """An amount in the target currency: times the rate, rounded to cents (unchanged at rate 1)."""
    return money(amount * rate) if rate != 1 else amount


def sku_for(name: str) -> str:
    """A stable SKU for a product known only by name: upper case, runs of other characters to '-'."""
    return _SKU_CHARS.sub("-", name.upper()).strip("-") or "ITEM"


@dataclass(slots=True)
class _Catalogue:
    """The mapping's product catalogue indexed by name and by SKU (case-insensitive)."""

    mapping: Mapping
    by_name: dict[str, tuple[str, CatalogueEntry]] = field(default_factory=dict)
    by_sku: dict[str, tuple[str, CatalogueEntry]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, entry in self.mapping.catalogues.get(self.mapping.items.catalogue, {}).items():
            self.by_name[name.casefold()] = (name, entry)
            self.by_sku[entry.sku.casefold()] = (name, entry)

    def find(self, text: str) -> tuple[str, CatalogueEntry] | None:
        key = text.strip().casefold()
        return self.by_sku.get(key) or self.by_name.get(key)

    def item(self, name: str, entry: CatalogueEntry | None, overrides: ItemOverrides | None) -> Item:
        spec, limit = self.mapping.items, self.mapping.limits.item_name
        sku = entry.sku if entry else sku_for(name)
        item_type = (entry.type if entry else None) or spec.default_type
        account = (entry.income_account_ref if entry else None) or spec.default_income_account_ref
        erp_ref = entry.erp_ref if entry else ""
        display = (entry.name if entry and entry.name else name) or sku
        if overrides is not None:
            sku += overrides.sku_suffix
            item_type = overrides.type or item_type
            account = overrides.income_account_ref if overrides.income_account_ref is not None else account
            erp_ref = overrides.erp_ref if overrides.erp_ref is not None else erp_ref
            if overrides.sku_suffix:
                display = f"{display} ({item_type.value.replace('_', '-')})"
        return Item(
            sku=sku,
            name=sanitize_name(display, limit.max_length, limit.forbidden, limit.replacement),
            type=ItemType(item_type),
            unit_price=entry.unit_price if entry else None,
            income_account_ref=account,
            description=entry.description if entry else "",
            erp_ref=erp_ref,
        )


class _BoxProblems:
    """Collects the problems of one box as record failures."""

    def __init__(self, box: Box) -> None:
        self.box = box
        self.failures: list[RecordFailure] = []

    def add(self, field_name: str, phrase: str, value: Any = None) -> None:
        shown = f" {value!r}" if value is not None else ""
        reason = f"box {self.box.key}: {field_name}{shown} {phrase}"
        self.failures.append(RecordFailure(self.box.key, "deal", field_name, reason, {"box": self.box.raw}))


class _BoxMapper:
    """Maps boxes of one pipeline with one mapping; caches customers and items across the batch."""

    def __init__(
        self,
        mapping: Mapping,
        pipeline: Pipeline,
        contacts: dict[str, Contact],
        orgs: dict[str, Organization],
    ):
        self.mapping, self.pipeline = mapping, pipeline
        self.reader = FieldReader(mapping, pipeline)
        self.catalogue = _Catalogue(mapping)
        self.contacts, self.orgs = contacts, orgs
        self.customers: dict[str, Customer] = {}
        self.items: dict[str, Item] = {}
        self._made: dict[tuple[str, int], Item] = {}
        self.stage_names = {s.key: s.name for s in pipeline.stages}
        self.product_field = mapping.lines.product.field if mapping.lines.product else None
        self.product_def = self.reader.definition(self.product_field) if self.product_field else None
        self.product_is_option = self.product_def is not None and self.product_def.type in ("DROPDOWN", "TAG")
        self.option_products: dict[str, str] = {}  # dropdown option name or derived SKU -> option name
        for option in self.product_def.options if self.product_def else ():
            self.option_products.setdefault(option.name.casefold(), option.name)
            self.option_products.setdefault(sku_for(option.name).casefold(), option.name)
        self.rules: list[tuple[ItemRule, frozenset[str]]] = [  # with the values each condition accepts
            (rule, _wanted(rule.when.equals, rule.when.in_) if rule.when else frozenset())
            for rule in mapping.items.rules
        ]

    def customer(self, box: Box) -> Customer | None:
        for source in self.mapping.customer.sources:
            keys, table = (
                (box.organization_keys, self.orgs)
                if source == "organization"
                else (box.contact_keys, self.contacts)
            )
            for key in keys:
                if key in table:
                    if key not in self.customers:
                        record = table[key]
                        mapper = map_organization if source == "organization" else map_contact
                        self.customers[key] = mapper(self.mapping, record)  # type: ignore[arg-type]
                    return self.customers[key]
        return None

    def overrides(self, box: Box, problems: _BoxProblems) -> ItemOverrides | None:
        for rule, wanted in self.rules:
            if rule.when is None:
                return rule.set
            try:
                value = self.reader.value(box, rule.when.field)
            except ParseError as exc:
                problems.add(rule.when.field, str(exc), self.reader.raw(box, rule.when.field))
                return None
            if value is not None and str(value).strip().casefold() in wanted:
                return rule.set
        return None

    def _item(self, name: str, entry: CatalogueEntry | None, overrides: ItemOverrides | None) -> Item:
        cache_key = (name, id(overrides))
        item = self._made.get(cache_key)
        if item is None:
            item = self.catalogue.item(name, entry, overrides)
            item = self._made[cache_key] = self.items.setdefault(item.sku, item)
        return item

    def _number(self, box: Box, spec: NumberField | None, problems: _BoxProblems) -> Number:
        """The field's number, its declared default when empty (else None), UNREADABLE on bad data."""
        if spec is None:
            return None
        try:
            value = self.reader.value(box, spec.field, "number", spec.locale)
        except ParseError as exc:
            problems.add(spec.field, str(exc), self.reader.raw(box, spec.field))
            return UNREADABLE
        return spec.default if value is None else value

    def lines(self, box: Box, problems: _BoxProblems, rate: Decimal) -> tuple[list[Line], str]:
        spec = self.mapping.lines
        overrides = self.overrides(box, problems)
        text = self.reader.raw(box, spec.line_items.field) if spec.line_items else None
        if spec.line_items and text is not None:
            name = spec.line_items.field
            parsed, errors = parse_line_items(
                str(text), spec.line_items.separator, self.reader.locale, self.reader.fallback_locales
            )
            for error in errors:
                problems.add(name, error)
            lines = []
            for number, row in enumerate(parsed, start=1):
                found = self.catalogue.find(row.sku)
                option = self.option_products.get(row.sku.casefold()) if found is None else None
                if found is None and option is None and self.mapping.items.unknown == "fail":
                    problems.add(name, f"line {number}: product {row.sku!r} is not in the catalogue")
                    continue
                product_name = found[0] if found else (option or row.sku)
                item = self._item(product_name, found[1] if found else None, overrides)
                price = _convert(row.unit_price, rate)
                lines.append(Line(item, row.quantity, price, money(row.quantity * price), row.description))
            if not parsed and not errors:
                problems.add(name, "has no lines")
            return lines, name
        return self._single_line(box, problems, overrides, rate)

    def _single_line(
        self, box: Box, problems: _BoxProblems, overrides: ItemOverrides | None, rate: Decimal
    ) -> tuple[list[Line], str]:
        spec = self.mapping.lines
        product_field = self.product_field or ""
        try:
            product = self.reader.value(box, product_field) if product_field else None
        except ParseError as exc:
            problems.add(product_field, str(exc), self.reader.raw(box, product_field))
            return [], product_field
        if product is None:
            missing = f"{spec.line_items.field} and {product_field}" if spec.line_items else product_field
            problems.add(missing, "are both empty" if spec.line_items else "is missing")
            return [], product_field
        found = self.catalogue.find(product)
        if found is None and not self.product_is_option and self.mapping.items.unknown == "fail":
            problems.add(product_field, "is not in the catalogue", product)
            return [], product_field
        entry = found[1] if found else None
        quantity = self._number(box, spec.quantity, problems)
        if quantity is None:
            quantity = spec.default_quantity
        unit_price = self._number(box, spec.unit_price, problems)
        if unit_price is None and spec.unit_price:
            if entry is not None and entry.unit_price is not None:
                unit_price = entry.unit_price  # the catalogue price stands in for an empty field
            else:
                problems.add(spec.unit_price.field, "is missing")
        if quantity is UNREADABLE or unit_price is UNREADABLE or unit_price is None:
            return [], product_field
        item = self._item(found[0] if found else product, entry, overrides)
        price = _convert(unit_price, rate)
        return [
            Line(item, quantity, price, money(quantity * price), entry.description if entry else "")
        ], product_field

    def lookup(self, box: Box, spec: Any, problems: _BoxProblems, label: str) -> str:
        if spec is None:
            return ""
        key = (
            self.stage_names.get(box.stage_key, box.stage_key)
            if spec.source == "stage"
            else self.pipeline.name
        )
        value = self.mapping.lookups[spec.lookup].get(key)
        if value is None:
            if spec.default is not None:
                return spec.default
            problems.add(label, f"has no entry in lookup table {spec.lookup!r}", key)
            return ""
        return value

    def doc_date(self, box: Box, problems: _BoxProblems) -> date | None:
        spec = self.mapping.document.doc_date
        try:
            value = self.reader.value(box, spec.field, "date") if spec.field else None
        except ParseError as exc:
            problems.add(spec.field or "", str(exc), self.reader.raw(box, spec.field))
            return None
        if value is None and spec.fallback == "stage_change" and box.last_stage_change_ts:
            value = parse_date(box.last_stage_change_ts, self.reader.timezone)
        if value is None:
            problems.add(spec.field or "document date", "is missing and the box has no stage-change date")
        return value

    def doc_number(self, box: Box) -> str:
        spec, limit = self.mapping.document.doc_number, self.mapping.limits.doc_number
        if spec.source == "none":
            return ""
        base = box.key if spec.source == "box_key" else box.name
        return sanitize_name(spec.prefix + base, limit.max_length, limit.forbidden, limit.replacement)

    def document(self, box: Box) -> tuple[SalesDocument | None, list[RecordFailure]]:
        problems = _BoxProblems(box)
        spec, settings = self.mapping.document, self.mapping.settings
        customer = self.customer(box)
        if customer is None:
            problems.add("Organization/Contact", "is missing: the box links no known organization or contact")
        try:
            currency = (
                self.reader.value(box, spec.currency.field) if spec.currency.field else None
            ) or spec.currency.default
        except ParseError as exc:
            problems.add(spec.currency.field or "", str(exc), self.reader.raw(box, spec.currency.field))
            currency = spec.currency.default
        currency = str(currency).strip().upper()
        rate, target = Decimal(1), currency
        if settings.convert_to_home_currency and currency != settings.home_currency:
            target = settings.home_currency
            found_rate = self.mapping.rate(currency, target)
            if found_rate is None:  # a failure: the amounts below are only read for their problems
                problems.add(
                    spec.currency.field or "Currency",
                    f"cannot be converted: no exchange rate {currency}/{target} in the rate table",
                    currency,
                )
            else:
                rate = found_rate
        lines, lines_field = self.lines(box, problems, rate)
        declared = self._number(box, spec.declared_total, problems)
        declared = _convert(declared, rate) if isinstance(declared, Decimal) else None
        doc_date = self.doc_date(box, problems)
        status = self.lookup(box, spec.status, problems, "Stage")
        class_ref = self.lookup(box, spec.class_ref, problems, "Pipeline")
        custom = []
        for field_spec in spec.custom_fields:
            try:
                value = self.reader.value(box, field_spec.streak_field, field_spec.parse)
            except ParseError as exc:
                problems.add(field_spec.streak_field, str(exc), self.reader.raw(box, field_spec.streak_field))
                continue
            if value is not None:
                custom.append((field_spec.erp_field, as_text(value)))
        if problems.failures or customer is None or doc_date is None:
            return None, problems.failures
        due = date.fromordinal(doc_date.toordinal() + spec.due_days) if spec.due_days is not None else None
        document = SalesDocument(
            external_key=box.key,
            customer=customer,
            lines=tuple(lines),
            currency=target,
            doc_date=doc_date,
            kind=settings.document_kind,
            due_date=due,
            doc_number=self.doc_number(box),
            memo=spec.memo.format(box_name=box.name, box_key=box.key, pipeline=self.pipeline.name),
            class_ref=class_ref,
            status=status,
            custom_fields=tuple(custom),
            source_name=box.name,
            declared_total=declared,
            source_currency=currency if target != currency else "",
            lines_field=lines_field,
        )
        return document, []


def _wanted(equals: str | None, in_: list[str] | None) -> frozenset[str]:
    """The casefolded values a rule's condition accepts."""
    return frozenset(w.casefold() for w in ([equals] if equals is not None else (in_ or [])))


def map_boxes(
    mapping: Mapping,
    pipeline: Pipeline,
    boxes: list[Box],
    contacts: dict[str, Contact],
    organizations: dict[str, Organization],
) -> MappingResult:
    """Map boxes to sales documents; boxes with problems become failures, the rest go on."""
    mapper = _BoxMapper(mapping, pipeline, contacts, organizations)
    result = MappingResult()
    used_customers: dict[str, Customer] = {}
    used_items: dict[str, Item] = {}
    for box in boxes:
        document, failures = mapper.document(box)
        if document is None:
            result.failures.extend(failures)
            continue
        result.documents.append(document)
        used_customers.setdefault(document.customer.external_key, document.customer)
        for line in document.lines:
            used_items.setdefault(line.item.sku, line.item)
    result.customers = list(used_customers.values())
    result.items = list(used_items.values())
    return result


def catalogue_items(mapping: Mapping, pipeline: Pipeline) -> list[Item]:
    """Every item the mapping can produce: Product dropdown options and catalogue entries, with rule variants."""
    catalogue = _Catalogue(mapping)
    names: dict[str, CatalogueEntry | None] = {}
    product = mapping.lines.product
    definition = pipeline.field_by_name(product.field) if product else None
    for option in definition.options if definition else ():
        found = catalogue.find(option.name)
        names.setdefault(found[0] if found else option.name, found[1] if found else None)
    for name, entry in mapping.catalogues.get(mapping.items.catalogue, {}).items():
        names.setdefault(name, entry)
    variants: list[ItemOverrides | None] = [None] + [r.set for r in mapping.items.rules if r.set.sku_suffix]
    items: dict[str, Item] = {}
    for name, entry in names.items():
        for overrides in variants:
            item = catalogue.item(name, entry, overrides)
            items.setdefault(item.sku, item)
    return list(items.values())
