"""Deterministic seed data for the Streak sandbox: one team, a "Sales" pipeline, orgs, contacts, boxes.

Everything is built with one seeded :class:`random.Random`, so the same :class:`SeedConfig` gives the
same names, keys, fields and relative timestamps; only the clock anchor (``now_ms``) moves them.
Objects are stored in Streak's wire shapes (plain dicts) so the server returns them as they are.
Seeding 10,000+ boxes takes well under a second: no per-box I/O or expensive work.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

JSON = dict[str, Any]

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

TEAM_KEY = "agxztm000001"
USER_KEY = "agxzus000001"
USER_EMAIL = "sales.ops@example.com"
PIPELINE_KEY = "agxzpl000001"

# Stages of the demo pipeline, in order: (key, name, color).
STAGES: tuple[tuple[str, str, str], ...] = (
    ("5001", "Lead", "#9fc5e8"),
    ("5002", "Proposal", "#ffd966"),
    ("5003", "Closed-Won", "#93c47d"),
    ("5004", "Closed-Lost", "#e06666"),
)
STAGE_KEY = {name: key for key, name, _ in STAGES}

# Products: (option key, name, unit price, "Service"|"Product").
PRODUCTS: tuple[tuple[str, str, str, str], ...] = (
    ("9001", "Consulting Hours", "150.00", "Service"),
    ("9002", "Widget Pro", "499.00", "Product"),
    ("9003", "Widget Lite", "199.00", "Product"),
    ("9004", "Onboarding Package", "2500.00", "Service"),
    ("9005", "Annual Support Plan", "1200.00", "Service"),
    ("9006", "Sensor Kit X2", "349.95", "Product"),
    ("9007", "Installation Service", "850.00", "Service"),
    ("9008", "Training Workshop", "1800.00", "Service"),
)
DEAL_TYPES: tuple[tuple[str, str], ...] = (("9101", "Service"), ("9102", "Product"))
DEAL_TYPE_KEY = {name: key for key, name in DEAL_TYPES}
UNKNOWN_PRODUCT = "Flux Capacitor 3000"

# Custom fields: (key, name, type). Streak has no number type, so amounts are TEXT_INPUT.
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("1001", "Product", "DROPDOWN"),
    ("1002", "Quantity", "TEXT_INPUT"),
    ("1003", "Unit Price", "TEXT_INPUT"),
    ("1004", "Deal Value", "TEXT_INPUT"),
    ("1005", "Line Items", "TEXT_INPUT"),
    ("1006", "Deal Type", "DROPDOWN"),
    ("1007", "Close Date", "DATE"),
    ("1008", "ERP Invoice #", "TEXT_INPUT"),
)
FIELD_KEY = {name: key for key, name, _ in FIELDS}

GIVEN_NAMES = (
    "Zoë", "José", "Siobhán", "Björn", "François", "Ngozi", "Aoife", "Mateus", "Chloé", "Jürgen",
    "Ana", "Liam", "Priya", "Søren", "Émilie", "Kenji", "Olivia", "Rafael", "Ingrid", "Tomás",
    "Fatima", "Noah", "Małgorzata", "Dmitri", "Sarah", "Luca", "Hannah", "Ömer", "Grace", "Pedro",
)  # fmt: skip
FAMILY_NAMES = (
    "O'Brien", "Müller", "D'Angelo", "Núñez", "Østergaard", "Smith", "Nguyễn", "O'Connor", "García",
    "Schröder", "Kowalski", "Dubois", "Rossi", "Okafor", "Tanaka", "Lindqvist", "Fernández",
    "MacDonald", "Brontë", "Çelik", "Johansson", "Patel", "Novák", "Silva", "Williams", "L'Estrange",
    "Żukowski", "Hoang", "Murphy", "Becker",
)  # fmt: skip
CURATED_ORGS = (
    "O'Brien & Sons Plumbing", "Dunkin' Donuts of Springfield", "Müller Maschinenbau GmbH",
    "Zoë's Bakery", "São Paulo Importadora Ltda", "Café Olé S.A.", "Łódź Logistics Sp. z o.o.",
    "Nordström Trading AB", "Acme Widgets, Inc.", "Brontë & Co. Booksellers", "L'Atelier Parisien SARL",
    "Kyōto Precision K.K.", "Reykjavík Fisheries ehf.", "Zürich Data AG", "Mac's Diner",
    "Gödel Analytics Ltd", "Ñandú Outdoor S.L.", "Ørsted Energi A/S",
)  # fmt: skip
ORG_WORDS = (
    "Engineering", "Logistics", "Bakery", "Analytics", "Consulting", "Outfitters", "Medical",
    "Hardware", "Foods", "Design", "Robotics", "Textiles", "Energy", "Dental", "Print",
)  # fmt: skip
ORG_FORMS = ("Ltd", "GmbH", "LLC", "Inc.", "S.A.", "AB", "Pty Ltd", "S.r.l.", "B.V.", "& Co.")
TITLES = ("CFO", "Head of Operations", "Purchasing Manager", "CEO", "Office Manager", "IT Director")
INDUSTRIES = ("Manufacturing", "Food & Beverage", "Retail", "Professional Services", "Healthcare")

# (street template, postal code, city, region, country, phone prefix, address format)
CITIES: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("Königstraße {n}", "70173", "Stuttgart", "", "Germany", "+49 711"),
    ("Rua Augusta {n}", "01305-000", "São Paulo", "SP", "Brazil", "+55 11"),
    ("{n} Main Street", "62701", "Springfield", "IL", "USA", "+1 217"),
    ("{n} Rue de Rivoli", "75001", "Paris", "", "France", "+33 1"),
    ("ul. Piotrkowska {n}", "90-001", "Łódź", "", "Poland", "+48 42"),
    ("{n} O'Connell Street", "D01 F5P2", "Dublin", "", "Ireland", "+353 1"),
    ("Drottninggatan {n}", "111 51", "Stockholm", "", "Sweden", "+46 8"),
    ("Bahnhofstrasse {n}", "8001", "Zürich", "ZH", "Switzerland", "+41 44"),
    ("{n} King Street West", "M5H 1A1", "Toronto", "ON", "Canada", "+1 416"),
    ("Calle Mayor {n}", "28013", "Madrid", "", "Spain", "+34 91"),
)
_TRANSLIT = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "đ": "d"})


@dataclass(frozen=True)
class SeedConfig:
    """How much to seed. ``organizations``/``contacts`` default to a share of ``boxes``."""

    boxes: int = 50
    organizations: int | None = None
    contacts: int | None = None
    won_fraction: float = 0.24
    bad_boxes: int = 3
    won_within_days: int = 5
    seed: int = 7

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> SeedConfig:
        unknown = set(spec) - set(asdict(cls()))
        if unknown:
            raise ValueError(f"unknown seed settings {sorted(unknown)}; known: {sorted(asdict(cls()))}")
        known = {k: spec[k] for k in asdict(cls()) if spec.get(k) is not None}
        config = cls(**known)
        if config.boxes < 0 or (config.organizations or 1) < 1 or (config.contacts or 1) < 1:
            raise ValueError("boxes must be >= 0, organizations and contacts >= 1")
        return config

    @property
    def n_organizations(self) -> int:
        return self.organizations or max(1, self.boxes * 6 // 10)

    @property
    def n_contacts(self) -> int:
        return self.contacts or max(1, self.boxes)


@dataclass
class StreakData:
    """The sandbox's whole state, in wire shapes."""

    user: JSON
    team: JSON
    pipelines: dict[str, JSON]
    boxes: dict[str, JSON]
    contacts: dict[str, JSON]
    organizations: dict[str, JSON]
    comments: dict[str, list[JSON]] = field(default_factory=dict)
    seed_info: JSON = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def next_key(self, tag: str) -> str:
        """A fresh key for a new object (``tag`` is 'bx', 'ct', 'og', 'cm', ...)."""
        self.counters[tag] = self.counters.get(tag, 0) + 1
        return f"agxz{tag}{self.counters[tag]:06d}"


def ascii_slug(text: str, sep: str = "") -> str:
    """``"Zoë O'Brien"`` -> ``"zoeobrien"``: for e-mail addresses and domains."""
    plain = unicodedata.normalize("NFKD", text.translate(_TRANSLIT)).encode("ascii", "ignore").decode()
    words = ["".join(ch for ch in w if ch.isalnum()) for w in plain.lower().split()]
    return sep.join(w for w in words if w)


def build_pipeline(now_ms: int) -> JSON:
    """The demo "Sales" pipeline with its stages and custom fields."""
    field_defs = []
    for key, name, ftype in FIELDS:
        definition: JSON = {"key": key, "name": name, "type": ftype}
        if name == "Product":
            definition["dropdownSettings"] = {"items": [{"key": k, "name": n} for k, n, _, _ in PRODUCTS]}
        elif name == "Deal Type":
            definition["dropdownSettings"] = {"items": [{"key": k, "name": n} for k, n in DEAL_TYPES]}
        field_defs.append(definition)
    return {
        "key": PIPELINE_KEY,
        "pipelineKey": PIPELINE_KEY,
        "creatorKey": USER_KEY,
        "teamKey": TEAM_KEY,
        "name": "Sales",
        "description": "Demo sales pipeline",
        "teamWide": True,
        "fields": field_defs,
        "stages": {key: {"key": key, "name": name, "color": color} for key, name, color in STAGES},
        "stageOrder": [key for key, _, _ in STAGES],
        "aclEntries": [{"email": USER_EMAIL, "isOwner": True}],
        "owner": {"email": USER_EMAIL, "userKey": USER_KEY},
        "creationTimestamp": now_ms - 400 * DAY_MS,
        "lastUpdatedTimestamp": now_ms - 400 * DAY_MS,
    }


def new_box(key: str, pipeline_key: str, name: str, stage_key: str, created_ms: int) -> JSON:
    """An empty box in Streak's wire shape."""
    return {
        "key": key,
        "boxKey": key,
        "pipelineKey": pipeline_key,
        "creatorKey": USER_KEY,
        "name": name,
        "notes": "",
        "stageKey": stage_key,
        "fields": {},
        "creationTimestamp": created_ms,
        "lastUpdatedTimestamp": created_ms,
        "lastStageChangeTimestamp": created_ms,
        "lastSavedTimestamp": created_ms,
        "followerKeys": [USER_KEY],
        "linkedBoxKeys": [],
        "assignedToSharingEntries": [{"displayName": "Sales Ops", "email": USER_EMAIL, "userKey": USER_KEY}],
        "creatorSharingEntry": {"email": USER_EMAIL, "userKey": USER_KEY},
        "contacts": [],
        "organizations": [],
        "emailAddresses": [],
        "commentCount": 0,
        "gmailThreadCount": 0,
        "fileCount": 0,
        "taskTotal": 0,
        "freshness": 1.0,
        "stageHistoryEntries": [{"stageKey": stage_key, "previousStageKey": None, "timestamp": created_ms}],
    }


class _Seeder:
    """Builds one :class:`StreakData` from a config and a clock anchor."""

    def __init__(self, config: SeedConfig, now_ms: int) -> None:
        self.config = config
        self.now = now_ms
        self.rng = random.Random(config.seed)
        pipeline = build_pipeline(now_ms)
        self.data = StreakData(
            user={
                "key": USER_KEY,
                "userKey": USER_KEY,
                "email": USER_EMAIL,
                "lowercaseEmail": USER_EMAIL,
                "displayName": "Sales Ops",
                "isOauthComplete": True,
                "creationTimestamp": now_ms - 500 * DAY_MS,
                "lastUpdatedTimestamp": now_ms - DAY_MS,
                "lastSeenTimestamp": now_ms - HOUR_MS,
            },
            team={"key": TEAM_KEY, "teamKey": TEAM_KEY, "name": "Example Sales Team"},
            pipelines={PIPELINE_KEY: pipeline},
            boxes={},
            contacts={},
            organizations={},
        )
        self.org_contacts: dict[str, list[str]] = {}

    def run(self) -> StreakData:
        self._organizations()
        self._contacts()
        self._boxes()
        return self.data

    # -- organizations and contacts ---------------------------------------------------------
    def _organizations(self) -> None:
        rng, seen = self.rng, set()
        for i in range(self.config.n_organizations):
            if i < len(CURATED_ORGS):
                name = CURATED_ORGS[i]
            else:
                name = f"{rng.choice(FAMILY_NAMES)} {rng.choice(ORG_WORDS)} {rng.choice(ORG_FORMS)}"
            base, n = name, 2
            while name in seen:
                name, n = f"{base} #{n}", n + 1
            seen.add(name)
            street, postal, city, region, country, phone = CITIES[i % len(CITIES)]
            key = self.data.next_key("og")
            created = self.now - rng.randint(100, 400) * DAY_MS
            self.data.organizations[key] = {
                "key": key,
                "teamKey": TEAM_KEY,
                "name": name,
                "domains": [f"{ascii_slug(name, '-')[:40] or 'org'}.example"],
                "phoneNumbers": [f"{phone} {rng.randint(100000, 999999)}"],
                "addresses": [_address(street.format(n=rng.randint(1, 250)), postal, city, region, country)],
                "industry": rng.choice(INDUSTRIES),
                "employeeCount": rng.choice((5, 12, 40, 150, 800)),
                "creationTimestamp": created,
                "lastUpdatedTimestamp": created + rng.randint(0, 90) * DAY_MS,
            }
            self.org_contacts[key] = []

    def _contacts(self) -> None:
        rng = self.rng
        org_keys = list(self.data.organizations)
        for i in range(self.config.n_contacts):
            given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
            # every 10th contact belongs to no organization (a private customer)
            org_key = None if i % 10 == 9 else org_keys[i % len(org_keys)]
            org = self.data.organizations.get(org_key) if org_key else None
            domain = org["domains"][0] if org else "mail.example"
            key = self.data.next_key("ct")
            street, postal, city, region, country, phone = CITIES[rng.randrange(len(CITIES))]
            created = self.now - rng.randint(30, 300) * DAY_MS
            self.data.contacts[key] = {
                "key": key,
                "teamKey": TEAM_KEY,
                "givenName": given,
                "familyName": family,
                "emailAddresses": [f"{ascii_slug(given)}.{ascii_slug(family)}{i}@{domain}"],
                "phoneNumbers": [f"{phone} {rng.randint(100000, 999999)}"],
                "addresses": [_address(street.format(n=rng.randint(1, 250)), postal, city, region, country)],
                "title": rng.choice(TITLES),
                "organizations": [{"key": org_key}] if org_key else [],
                "creationTimestamp": created,
                "lastUpdatedTimestamp": created + rng.randint(0, 20) * DAY_MS,
            }
            if org_key:
                self.org_contacts[org_key].append(key)

    # -- boxes ----------------------------------------------------------------------------------
    def _boxes(self) -> None:
        rng, cfg = self.rng, self.config
        n_won = min(cfg.boxes, round(cfg.boxes * cfg.won_fraction))
        won_slots = set(rng.sample(range(cfg.boxes), n_won))
        bad_reasons = ("missing Unit Price", "non-numeric Quantity", "unknown product")
        won_seen = 0
        won_keys: list[str] = []
        bad: dict[str, str] = {}
        org_keys = list(self.data.organizations)
        loners = [k for k, c in self.data.contacts.items() if not c["organizations"]]
        for i in range(cfg.boxes):
            org_key, contact_keys = self._parties(i, org_keys, loners)
            party = (
                self.data.organizations[org_key]["name"]
                if org_key
                else "{givenName} {familyName}".format(**self.data.contacts[contact_keys[0]])
            )
            key = self.data.next_key("bx")
            created = self.now - rng.randint(10, 120) * DAY_MS
            if i in won_slots:
                stage = "Closed-Won"
                changed = self.now - rng.randint(HOUR_MS, cfg.won_within_days * DAY_MS)
                variant = bad_reasons[won_seen] if won_seen < min(cfg.bad_boxes, 3) else ""
                if variant:
                    style = "lines" if variant == "unknown product" else "single"
                else:
                    style = "lines" if won_seen % 3 == 1 else "single"
                european = won_seen % 4 == 3
                won_seen += 1
            else:
                stage = rng.choice(("Lead", "Lead", "Proposal", "Proposal", "Closed-Lost"))
                changed = rng.randint(created, self.now - HOUR_MS)
                variant, style, european = "", rng.choice(("single", "single", "lines")), rng.random() < 0.2
            box = new_box(key, PIPELINE_KEY, party, STAGE_KEY[stage], created)
            fields, title = self._deal_fields(style, european, variant, changed)
            box["name"] = f"{party} – {title}"
            box["fields"] = fields
            box["notes"] = rng.choice(("", "Met at the trade fair in São Paulo.", "Customer's PO to follow."))
            box["organizations"] = (
                [{"key": org_key, "isStarred": False, "isAutoboxed": False}] if org_key else []
            )
            box["contacts"] = [{"key": c, "isStarred": False, "isAutoboxed": False} for c in contact_keys]
            self._stage_history(box, stage, created, changed)
            self.data.boxes[key] = box
            if stage == "Closed-Won":
                won_keys.append(key)
                if variant:
                    bad[key] = variant
        self.data.seed_info = {
            "config": asdict(cfg),
            "anchor_ms": self.now,
            "won_box_keys": won_keys,
            "bad_box_keys": bad,
        }

    def _parties(self, i: int, org_keys: list[str], loners: list[str]) -> tuple[str | None, list[str]]:
        """Every box has an organization and/or contacts: mostly both, some one of them."""
        rng = self.rng
        org_key = org_keys[rng.randrange(len(org_keys))]
        members = self.org_contacts[org_key]
        if i % 10 == 7 and loners:
            return None, [loners[rng.randrange(len(loners))]]
        if i % 10 == 4 or not members:
            return org_key, []
        return org_key, rng.sample(members, min(len(members), rng.choice((1, 1, 2))))

    def _deal_fields(self, style: str, european: bool, variant: str, changed_ms: int) -> tuple[JSON, str]:
        rng = self.rng
        close_date = changed_ms - changed_ms % DAY_MS
        if style == "lines":
            picks = rng.sample(PRODUCTS, rng.randint(2, 3))
            rows, total, kinds = [], 0.0, set()
            for _, name, price, kind in picks:
                qty = rng.randint(1, 12)
                rows.append(f"{name} | {qty} | {_money(price, european)} | {name} for the project")
                total += qty * float(price)
                kinds.add(kind)
            if variant == "unknown product":
                rows.append(f"{UNKNOWN_PRODUCT} | 1 | {_money('999.00', european)} | Custom item")
                total += 999.0
            deal_type = "Service" if kinds == {"Service"} else "Product"
            fields = {
                FIELD_KEY["Line Items"]: "\n".join(rows),
                FIELD_KEY["Deal Value"]: _money(f"{total:.2f}", european),
                FIELD_KEY["Deal Type"]: DEAL_TYPE_KEY[deal_type],
                FIELD_KEY["Close Date"]: close_date,
            }
            return fields, f"{len(rows)} line items"
        option_key, name, price, kind = rng.choice(PRODUCTS)
        qty: int | float = rng.randint(1, 20)
        if european and kind == "Service":
            qty = rng.randint(2, 40) / 2  # e.g. "2,5" hours
        qty_text = "ten" if variant == "non-numeric Quantity" else _number(qty, european)
        fields = {
            FIELD_KEY["Product"]: option_key,
            FIELD_KEY["Quantity"]: qty_text,
            FIELD_KEY["Unit Price"]: _money(price, european),
            FIELD_KEY["Deal Value"]: _money(f"{qty * float(price):.2f}", european),
            FIELD_KEY["Deal Type"]: DEAL_TYPE_KEY[kind],
            FIELD_KEY["Close Date"]: close_date,
        }
        if variant == "missing Unit Price":
            del fields[FIELD_KEY["Unit Price"]]
        return fields, name

    def _stage_history(self, box: JSON, stage: str, created: int, changed: int) -> None:
        """Lead at creation, maybe Proposal in between, then the final stage at ``changed``."""
        entries = box["stageHistoryEntries"]
        entries[0]["stageKey"] = STAGE_KEY["Lead"]
        previous = STAGE_KEY["Lead"]
        if stage != "Lead":
            if stage != "Proposal":
                mid = created + (changed - created) // 2
                entries.append(
                    {"stageKey": STAGE_KEY["Proposal"], "previousStageKey": previous, "timestamp": mid}
                )
                previous = STAGE_KEY["Proposal"]
            entries.append({"stageKey": STAGE_KEY[stage], "previousStageKey": previous, "timestamp": changed})
        else:
            changed = created
        box["lastStageChangeTimestamp"] = changed
        updated = min(self.now, changed + self.rng.randint(0, 2 * HOUR_MS))
        box["lastUpdatedTimestamp"] = box["lastSavedTimestamp"] = updated


def _address(street: str, postal: str, city: str, region: str, country: str) -> str:
    if country in {"USA", "Canada"}:
        return f"{street}, {city}, {region} {postal}, {country}"
    return f"{street}, {postal} {city}, {country}"


def _number(value: float, european: bool) -> str:
    text = f"{value:g}"
    return text.replace(".", ",") if european else text


def _money(amount: str, european: bool) -> str:
    """``"1200.00"`` -> ``"1.200,00"`` in European notation, else unchanged."""
    if not european:
        return amount
    whole, _, cents = f"{float(amount):,.2f}".partition(".")
    return f"{whole.replace(',', '.')},{cents}"


def build_seed(config: SeedConfig | None = None, now_ms: int = 0) -> StreakData:
    """Build the sandbox state for ``config`` with timestamps relative to ``now_ms``."""
    return _Seeder(config or SeedConfig(), now_ms).run()


def build_synthetic(n: int, now_ms: int = 0, seed: int = 7) -> StreakData:
    """``n`` organizations, ``n`` contacts and ``n`` won boxes (all good data), for the benchmark.

    Like :func:`build_seed` with every box won, except that contact names are made unique (a
    repeated "Zoë Müller" becomes "Zoë Müller 2"), as a real customer list's display names are.
    """
    config = SeedConfig(boxes=n, organizations=n, contacts=n, won_fraction=1.0, bad_boxes=0, seed=seed)
    data = build_seed(config, now_ms)
    seen: dict[tuple[str, str], int] = {}
    for contact in data.contacts.values():
        name = (contact.get("givenName") or "", contact.get("familyName") or "")
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            contact["familyName"] = f"{name[1]} {seen[name]}"
    return data
