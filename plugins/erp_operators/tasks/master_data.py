"""Task bodies of ``streak_master_data_sync``: plan the chunks, sync one chunk, summarise.

* :func:`plan` pages once through the team's organizations and contacts (one page in memory at a
  time) and cuts the lists into **chunk descriptors**: a list range (``offset``/``limit`` of the
  Streak list, i.e. page tokens) holding about ``chunk_size`` records that become customers, or an
  explicit list of keys (``box_keys``, ``replay_quarantine``), or a slice of the item catalogue.
  Only descriptors travel through XCom, never the records.
* :func:`sync_chunk` (one mapped task instance per descriptor) re-reads its range or keys from
  Streak, maps, validates with Great Expectations (bad records quarantined with key and field),
  and writes the good ones in the ERP's bulk form. The ledger keeps each record's payload hash, so
  unchanged records are not sent again.
* :func:`finish` adds the chunks' small summaries up.

Which organizations and contacts become customers follows the mapping's ``customer.sources``
(the rule deals use: a box's first organization, else its first contact): with
``[organization, contact]`` every organization is a customer and so is every contact that belongs
to no organization; with ``[contact, organization]`` every contact and every organization is.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from erp_operators.contract import ENTITY_CUSTOMER, ENTITY_ITEM
from erp_operators.tasks.common import call_erp, parse_bound, raise_on_unwritten, record, store
from sync_core.alerts import check_quarantine_growth
from sync_core.config import SyncConfig, load_config

if TYPE_CHECKING:
    from streak_hooks.hook import StreakHook
    from streak_hooks.models import Contact, Organization
    from sync_core.canonical import Customer, Item
    from sync_core.mapping import Mapping, RecordFailure
    from sync_core.state import StateStore

log = logging.getLogger(__name__)

ENTITIES = ("all", "customers", "items")
ORGANIZATION, CONTACT, CATALOGUE = "organization", "contact", "catalogue"
FAILURES_KEPT = 20  # failure messages per chunk carried in the summary (the log has them all)


# -- which Streak records become customers -----------------------------------------------------
def customer_rule(mapping: Mapping) -> tuple[bool, bool, bool]:
    """(organizations become customers, contacts do, contacts that belong to an organization do)."""
    sources = list(mapping.customer.sources)
    orgs = ORGANIZATION in sources
    contacts = CONTACT in sources
    members = contacts and (not orgs or sources.index(CONTACT) < sources.index(ORGANIZATION))
    return orgs, contacts, members


def becomes_customer(
    party: Organization | Contact,
    source: str,
    rule: tuple[bool, bool, bool],
    window: tuple[int | None, int | None],
) -> bool:
    """Whether one organization/contact is a customer under the rule and inside the time window."""
    orgs, contacts, members = rule
    if source == ORGANIZATION and not orgs:
        return False
    if source == CONTACT and not (contacts and (members or not party.organization_keys)):  # type: ignore[union-attr]
        return False
    since, until = window
    if since is None and until is None:
        return True
    updated = int(party.raw.get("lastUpdatedTimestamp") or party.raw.get("creationTimestamp") or 0)
    return (since is None or updated >= since) and (until is None or updated <= until)


def _iter_source(hook: StreakHook, source: str, team: str, page_size: int, offset: int = 0) -> Iterator[Any]:
    if source == ORGANIZATION:
        return hook.iter_team_organizations(team, page_size=page_size, offset=offset)
    return hook.iter_team_contacts(team, page_size=page_size, offset=offset)


def _fetch_one(hook: StreakHook, source: str, key: str) -> Organization | Contact | None:
    """One organization or contact by key (``source`` unknown: try both); None when it is gone."""
    from streak_hooks.errors import StreakAPIError

    for kind in (source,) if source in (ORGANIZATION, CONTACT) else (CONTACT, ORGANIZATION):
        try:
            return hook.get_organization(key) if kind == ORGANIZATION else hook.get_contact(key)
        except StreakAPIError as exc:
            if exc.status != 404:
                raise
    log.warning("%s %s no longer exists in Streak; skipped", source, key)
    return None


# -- plan ----------------------------------------------------------------------------------------
def prepare(params: dict[str, Any], *, config: SyncConfig | None = None) -> dict[str, Any]:
    """The run's settings from its Params and include/sync.yaml (the pipeline resolved once)."""
    from streak_hooks.detection import pipeline_to_api, resolve_pipeline
    from streak_hooks.hook import StreakHook

    config = config or load_config()
    entity = params.get("entity") or "all"
    if entity not in ENTITIES:
        raise ValueError(f"param entity={entity!r}: expected one of {', '.join(ENTITIES)}")
    rule = config.rule_for(params.get("erp") or None)
    settings = config.master_data
    return {
        "erp": rule.erp,
        "entity": entity,
        "dry_run": bool(params.get("dry_run")),
        "window": [parse_bound(params.get("since")), parse_bound(params.get("until"), end_of_day=True)],
        "box_keys": list(dict.fromkeys(params.get("box_keys") or ())),
        "replay_quarantine": bool(params.get("replay_quarantine")),
        "chunk_size": settings.chunk_size,
        "page_size": settings.page_size,
        "max_chunks": settings.max_chunks,
        "pipeline_api": pipeline_to_api(resolve_pipeline(StreakHook(), rule.name)),
    }


def plan(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Cut the run's work into chunk descriptors (see the module docstring); no records kept."""
    from streak_hooks.hook import StreakHook
    from streak_hooks.models import Pipeline
    from sync_core.mapping import load_mapping

    mapping = load_mapping(run["erp"])
    hook = StreakHook()
    entity, box_keys, replay = run["entity"], run["box_keys"], run["replay_quarantine"]
    size, window = run["chunk_size"], (run["window"][0], run["window"][1])
    chunks: list[dict[str, Any]] = []
    if entity in ("all", "customers"):
        if box_keys or replay:
            chunks += _explicit_customer_chunks(hook, mapping, run["erp"], box_keys, replay, size)
        else:
            chunks += _scan_chunks(hook, customer_rule(mapping), window, size, run["page_size"])
    if entity in ("all", "items") and (replay or not box_keys):
        pipeline = Pipeline.from_api(run["pipeline_api"])
        chunks += _item_chunks(mapping, pipeline, run["erp"], replay, size)
    chunks = _cap(chunks, run["max_chunks"])
    for i, chunk in enumerate(chunks):
        chunk["label"] = f"{i}: {_describe(chunk)}"
    log.info(
        "plan for %s (%s%s): %d chunk(s), %d record(s)",
        run["erp"],
        entity,
        ", dry run" if run["dry_run"] else "",
        len(chunks),
        sum(c["count"] for c in chunks),
    )
    return chunks


def _describe(chunk: dict[str, Any]) -> str:
    if chunk["source"] == CATALOGUE:
        return f"{chunk['count']} item(s)"
    if "keys" in chunk:
        return f"{chunk['count']} {chunk['source']}(s) by key"
    end = "end" if chunk["limit"] is None else chunk["offset"] + chunk["limit"]
    return f"{chunk['count']} {chunk['source']}(s) at {chunk['offset']}..{end}"


def _scan_chunks(
    hook: StreakHook,
    rule: tuple[bool, bool, bool],
    window: tuple[int | None, int | None],
    size: int,
    page: int,
) -> list[dict[str, Any]]:
    """Range descriptors over every team's organization and contact lists, ~``size`` customers each.

    One pass, one page in memory; per record only one byte (customer or not) is kept until the
    list ends, then the ranges are cut. Consecutive ranges tile the list and the last one reads to
    the end, so a record appended while the run goes on is not missed. A record deleted (or
    inserted) before the end of the list between two chunks' reads shifts the later ranges by one:
    a record can then be read twice (harmless) or skipped by this run (the next full run takes it;
    ``sync_chunk`` logs "list changed since the plan").
    """
    chunks: list[dict[str, Any]] = []
    for team in hook.get_teams():
        for source in (ORGANIZATION, CONTACT):
            if (source == ORGANIZATION and not rule[0]) or (source == CONTACT and not rule[1]):
                continue
            flags = bytearray()
            for party in _iter_source(hook, source, team.key, page):
                flags.append(1 if becomes_customer(party, source, rule, window) else 0)
            chunks += _ranges(source, team.key, flags, size)
    return chunks


def _ranges(source: str, team: str, flags: bytearray, size: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    start, count = 0, 0
    for i, flag in enumerate(flags):
        count += flag
        if count == size:
            out.append(
                {"source": source, "team": team, "offset": start, "limit": i + 1 - start, "count": count}
            )
            start, count = i + 1, 0
    if count:
        out.append({"source": source, "team": team, "offset": start, "limit": None, "count": count})
    elif out:
        out[-1]["limit"] = None  # the last range reads to the end of the list
    return out


def _explicit_customer_chunks(
    hook: StreakHook, mapping: Mapping, erp: str, box_keys: list[str], replay: bool, size: int
) -> list[dict[str, Any]]:
    """Key descriptors: the customers of ``box_keys`` (the deal rule) and the quarantined customers."""
    keys: dict[str, dict[str, None]] = {ORGANIZATION: {}, CONTACT: {}, "any": {}}
    for box_key in box_keys:
        box = hook.get_box(box_key)
        for source in mapping.customer.sources:
            found = box.organization_keys if source == ORGANIZATION else box.contact_keys
            if found:
                keys[source][found[0]] = None
                break
        else:
            log.warning("box %s has no organization or contact: no customer to sync", box_key)
    if replay:
        rows = store().quarantine_list(erp, ENTITY_CUSTOMER)
        log.info("replay: %d quarantined customer(s) for %s", len(rows), erp)
        for row in rows:
            source = str((row.payload.get("record") or {}).get("source") or "any")
            keys[source if source in keys else "any"][row.source_key] = None
    chunks = []
    for source, found in keys.items():
        ordered = list(found)
        for start in range(0, len(ordered), size):
            part = ordered[start : start + size]
            chunks.append({"source": source, "keys": part, "count": len(part)})
    return chunks


def _item_chunks(mapping: Mapping, pipeline: Any, erp: str, replay: bool, size: int) -> list[dict[str, Any]]:
    """SKU descriptors over the catalogue (Product dropdown + mapping catalogue); on a replay only
    the quarantined items."""
    from sync_core.mapping import catalogue_items

    skus = [item.sku for item in catalogue_items(mapping, pipeline)]
    if replay:
        held = {row.source_key for row in store().quarantine_list(erp, ENTITY_ITEM)}
        for sku in sorted(held - set(skus)):
            log.warning("quarantined item %s is no longer in the catalogue; it stays in quarantine", sku)
        skus = [s for s in skus if s in held]
    return [
        {"source": CATALOGUE, "skus": skus[i : i + size], "count": len(skus[i : i + size])}
        for i in range(0, len(skus), size)
    ]


def _cap(chunks: list[dict[str, Any]], max_chunks: int) -> list[dict[str, Any]]:
    """Merge runs of neighbouring chunks of the same kind until there are at most ``max_chunks``
    (Airflow refuses to map more than ``[core] max_map_length`` task instances)."""
    factor = 1
    merged = chunks
    while len(merged) > max_chunks:
        factor += 1
        merged, group = [], 0  # group: how many chunks the last merged one holds
        for chunk in chunks:
            if merged and group < factor and _mergeable(merged[-1], chunk):
                merged[-1], group = _merge(merged[-1], chunk), group + 1
            else:
                merged.append(dict(chunk))
                group = 1
        if factor > len(chunks):
            raise ValueError(f"cannot fit the work into master_data.max_chunks={max_chunks} chunks")
    return merged


def _mergeable(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a["source"] != b["source"] or ("keys" in a) != ("keys" in b) or ("skus" in a) != ("skus" in b):
        return False
    return "offset" not in a or (a["team"] == b["team"] and a["limit"] is not None)


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = {**a, "count": a["count"] + b["count"]}
    for list_key in ("keys", "skus"):
        if list_key in a:
            out[list_key] = a[list_key] + b[list_key]
    if "offset" in a:
        out["limit"] = None if b["limit"] is None else b["offset"] + b["limit"] - a["offset"]
    return out


# -- one chunk -----------------------------------------------------------------------------------
def sync_chunk(
    run: dict[str, Any], chunk: dict[str, Any], *, results_dir: str | None = None
) -> dict[str, Any]:
    """Read, map, validate and write one chunk; returns a small summary (counts + first failures)."""
    from sync_core.mapping import load_mapping

    mapping = load_mapping(run["erp"])
    if chunk["source"] == CATALOGUE:
        return _sync_items(run, chunk, mapping, results_dir)
    return _sync_customers(run, chunk, mapping, results_dir)


def _read_parties(run: dict[str, Any], chunk: dict[str, Any], mapping: Mapping) -> list[Customer]:
    """The chunk's organizations/contacts from Streak (its list range, or its keys), as customers."""
    from streak_hooks.hook import StreakHook
    from sync_core.mapping import map_contact, map_organization

    hook = StreakHook()
    source = chunk["source"]
    if "keys" in chunk:
        parties = [
            (p, _source_of(p)) for k in chunk["keys"] if (p := _fetch_one(hook, source, k)) is not None
        ]
    else:
        rule = customer_rule(mapping)
        window = tuple(run["window"])
        records = _iter_source(hook, source, chunk["team"], run["page_size"], chunk["offset"])
        if chunk["limit"] is not None:
            records = itertools.islice(records, chunk["limit"])
        parties = [(p, source) for p in records if becomes_customer(p, source, rule, window)]  # type: ignore[arg-type]
        if len(parties) != chunk["count"]:
            log.warning(
                "%s list changed since the plan: %d customer(s) in this range, %d planned",
                source,
                len(parties),
                chunk["count"],
            )
    return [
        map_organization(mapping, p) if kind == ORGANIZATION else map_contact(mapping, p)  # type: ignore[arg-type]
        for p, kind in parties
    ]


def _source_of(party: Organization | Contact) -> str:
    from streak_hooks.models import Organization

    return ORGANIZATION if isinstance(party, Organization) else CONTACT


def _sync_customers(
    run: dict[str, Any], chunk: dict[str, Any], mapping: Mapping, results_dir: str | None
) -> dict[str, Any]:
    from pathlib import Path

    from sync_core.validation import validate_batch

    customers = _read_parties(run, chunk, mapping)
    report = validate_batch([], customers, [], mapping, Path(results_dir) if results_dir else None)
    summary = _summary(chunk, len(customers), report.failures)
    shown = [(c.external_key, c.display_name) for c in report.valid_customers]
    return _write_chunk(
        run, summary, report.failures, report.valid_customers, shown, "upsert_customers", ENTITY_CUSTOMER
    )


def _sync_items(
    run: dict[str, Any], chunk: dict[str, Any], mapping: Mapping, results_dir: str | None
) -> dict[str, Any]:
    from pathlib import Path

    from streak_hooks.models import Pipeline
    from sync_core.mapping import catalogue_items
    from sync_core.validation import validate_batch

    wanted = set(chunk["skus"])
    items: list[Item] = [
        i for i in catalogue_items(mapping, Pipeline.from_api(run["pipeline_api"])) if i.sku in wanted
    ]
    report = validate_batch([], [], items, mapping, Path(results_dir) if results_dir else None)
    summary = _summary(chunk, len(items), report.failures)
    shown = [(i.sku, i.name) for i in report.valid_items]
    return _write_chunk(
        run, summary, report.failures, report.valid_items, shown, "resolve_items", ENTITY_ITEM
    )


def _write_chunk(
    run: dict[str, Any],
    summary: dict[str, Any],
    failures: Sequence[RecordFailure],
    valid: Sequence[Any],
    shown: Sequence[tuple[str, str]],
    method: str,
    entity: str,
) -> dict[str, Any]:
    """A validated chunk's writes: quarantine the failures, then ``method`` (a connector bulk call)
    on the valid records; a dry run only logs each valid record's (key, name) from ``shown``."""
    action = method.replace("_", " ")  # "upsert customers", "resolve items"
    if run["dry_run"]:
        for key, name in shown:
            log.info("dry run: would %s: %s %r in %s", action, key, name, run["erp"])
        return summary
    state = store()
    _quarantine(state, run["erp"], failures)
    if valid:
        receipts = call_erp(run["erp"], state, method, valid)
        _after_write(state, run["erp"], entity, receipts, summary)
        raise_on_unwritten(action, receipts)
    return summary


def _summary(chunk: dict[str, Any], read: int, failures: Sequence[RecordFailure]) -> dict[str, Any]:
    for f in failures:
        log.warning("quarantine %s %s: %s", f.entity, f.source_key, f.reason)
    return {
        "chunk": chunk.get("label", ""),
        "source": chunk["source"],
        "read": read,
        "quarantined": sorted({f.source_key for f in failures}),
        "failures": [f.reason for f in failures[:FAILURES_KEPT]],
        "statuses": {},
    }


def _quarantine(state: StateStore, erp: str, failures: Sequence[RecordFailure]) -> None:
    from sync_core.quarantine import quarantine_failures

    if failures:
        quarantine_failures(state, erp, failures)


def _after_write(
    state: StateStore, erp: str, entity: str, receipts: list[Any], summary: dict[str, Any]
) -> None:
    """Ledger + quarantine bookkeeping for one connector call; ERP refusals are quarantined."""
    from erp_operators.receipts import ErrorClass
    from sync_core.mapping.results import RecordFailure

    refused = [
        RecordFailure(r.external_key, entity, "", f"{entity} {r.external_key}: {r.message}")  # type: ignore[arg-type]
        for r in receipts
        if r.error_class == ErrorClass.VALIDATION
    ]
    _quarantine(state, erp, refused)
    record(state, erp, entity, receipts, skip_unchanged=True)
    summary["statuses"] = dict(Counter(r.status.value for r in receipts))
    summary["quarantined"] = sorted({*summary["quarantined"], *(f.source_key for f in refused)})
    summary["failures"] = (summary["failures"] + [f.reason for f in refused])[:FAILURES_KEPT]
    for r in receipts:
        if r.status.value in ("created", "updated"):
            log.info("%s %s: %s %s", entity, r.external_key, r.status.value, r.erp_id)


# -- finish --------------------------------------------------------------------------------------
def finish(run: dict[str, Any], results: Sequence[dict[str, Any]] | None) -> dict[str, Any]:
    """Add the chunks' summaries up and log the run summary."""
    results = [r for r in (results or []) if r]
    statuses: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    quarantined: list[str] = []
    failures: list[str] = []
    for r in results:
        statuses.update(r.get("statuses") or {})
        by_source[r["source"]] += r["read"]
        quarantined += r["quarantined"]
        failures += r["failures"]
    summary = {
        "erp": run["erp"],
        "entity": run["entity"],
        "dry_run": run["dry_run"],
        "chunks": len(results),
        "read": dict(by_source),
        "statuses": dict(statuses),
        "written": statuses.get("created", 0) + statuses.get("updated", 0),
        "quarantined": len(set(quarantined)),
        "failures": failures[:FAILURES_KEPT],
    }
    log.info("run summary: %s", summary)
    if not run["dry_run"]:  # alert if this run grew the quarantine past alerts.quarantine_threshold
        check_quarantine_growth(store(), run["erp"])
    return summary
