"""Loads ``include/sync.yaml``: which pipelines and stages trigger a sync and where deals go.

Cheap to import (PyYAML and dataclasses only): DAG files read it at parse time for the schedule
and the deadline switch. A malformed file fails with the file, the key and what was expected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIG_ENV = "STREAK_ERP_SYNC_CONFIG"
ERPS = ("quickbooks", "netsuite", "syspro", "dynamics_gp", "sage50")


class ConfigError(ValueError):
    """A sync configuration file that does not say what is needed."""


@dataclass(frozen=True, slots=True)
class PipelineRule:
    """One Streak pipeline to watch, by name."""

    name: str
    trigger_stages: tuple[str, ...]
    erp: str
    writeback_field: str = "ERP Invoice #"


@dataclass(frozen=True, slots=True)
class MasterDataConfig:
    """The master-data bulk load (``streak_master_data_sync``): schedule and chunking."""

    schedule: str = "@daily"
    chunk_size: int = 300  # records per mapped task (memory is bounded by this, not by the data)
    page_size: int = 100  # records per Streak list request
    max_chunks: int = 1000  # chunks grow beyond chunk_size rather than exceed this many mapped tasks


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """The whole sync configuration."""

    pipelines: tuple[PipelineRule, ...]
    overlap_minutes: float = 10
    initial_lookback_days: float = 30
    lease_minutes: float = 60
    schedule: str = "*/5 * * * *"
    deadline_enabled: bool = False
    deadline_minutes: float = 30
    quarantine_threshold: int = 10
    alert_email_to: tuple[str, ...] = ()  # alert e-mail recipients (none: no e-mail)
    alert_email_from: str = ""  # sender; empty: the SMTP connection's from_email extra
    smtp_conn_id: str = "smtp_default"  # Airflow SMTP connection used for alert e-mail
    alert_webhook_url: str = ""  # JSON POST of every alert (empty: none)
    master_data: MasterDataConfig = field(default_factory=MasterDataConfig)
    source: str = field(default="", compare=False)

    def rule_for(self, erp: str | None = None) -> PipelineRule:
        """The first pipeline rule (optionally the first one targeting ``erp``)."""
        for rule in self.pipelines:
            if erp is None or rule.erp == erp:
                return rule
        raise ConfigError(f"{self.source}: no pipeline rule targets erp {erp!r}")


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or repo_root() / "include" / "sync.yaml")


def _get(section: dict[str, Any], key: str, kind: type, where: str, default: Any) -> Any:
    if key not in section or section[key] is None:
        return default
    value = section[key]
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind):
        raise ConfigError(f"{where}.{key}: expected {kind.__name__}, got {value!r}")
    return value


def _positive(section: dict[str, Any], key: str, where: str, default: int) -> int:
    value = _get(section, key, int, where, default)
    if isinstance(value, bool) or value < 1:
        raise ConfigError(f"{where}.{key}: expected a whole number >= 1, got {value!r}")
    return value


# Environment overrides of the ``alerts`` section: switch the deadline or the alert channels per
# deployment (or per test) without editing the repo's file. Env wins over the file.
ALERT_ENV = {
    "deadline_enabled": "STREAK_ERP_DEADLINE_ENABLED",
    "deadline_minutes": "STREAK_ERP_DEADLINE_MINUTES",
    "quarantine_threshold": "STREAK_ERP_QUARANTINE_THRESHOLD",
    "email_to": "STREAK_ERP_ALERT_EMAIL",
    "webhook_url": "STREAK_ERP_ALERT_WEBHOOK",
}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _number(text: str, kind: type, expected: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise ValueError(expected) from None


def _env_value(key: str, raw: str) -> Any:
    """One ``alerts`` override from the environment, parsed like the YAML value it replaces."""
    name = ALERT_ENV[key]
    text = raw.strip()
    try:
        if key == "deadline_enabled":
            if text.lower() not in _TRUE + _FALSE:
                raise ValueError("expected true or false")
            return text.lower() in _TRUE
        if key == "deadline_minutes":
            return _number(text, float, "expected a number of minutes")
        if key == "quarantine_threshold":
            return _number(text, int, "expected a whole number")
    except ValueError as exc:
        raise ConfigError(f"${name}: {exc} (got {raw!r})") from exc
    if key == "email_to":
        return [a.strip() for a in text.split(",") if a.strip()]
    return text


def _alert_settings(alerts: Any, where: str) -> dict[str, Any]:
    """The ``alerts`` section (deadline, quarantine threshold, e-mail, webhook) plus env overrides."""
    if not isinstance(alerts, dict):
        raise ConfigError(f"{where}: expected a mapping (deadline_enabled, deadline_minutes, ...)")
    merged = dict(alerts)
    origin = {
        key: f"{where}.{key}"
        for key in ("deadline_minutes", "quarantine_threshold", "email_to", "webhook_url")
    }
    for key, name in ALERT_ENV.items():
        if os.environ.get(name) is not None:
            merged[key] = _env_value(key, os.environ[name])
            origin[key] = f"${name}"
    if isinstance(merged.get("email_to"), str):
        merged["email_to"] = [merged["email_to"]]
    minutes = _get(merged, "deadline_minutes", float, where, 30.0)
    if minutes <= 0:
        raise ConfigError(f"{origin['deadline_minutes']}: expected minutes > 0, got {minutes!r}")
    threshold = _get(merged, "quarantine_threshold", int, where, 10)
    if isinstance(threshold, bool) or threshold < 0:
        raise ConfigError(
            f"{origin['quarantine_threshold']}: expected a whole number >= 0, got {threshold!r}"
        )
    email_to = _get(merged, "email_to", list, where, [])
    if not all(isinstance(a, str) and "@" in a for a in email_to):
        raise ConfigError(f"{origin['email_to']}: expected e-mail addresses, got {email_to!r}")
    webhook = _get(merged, "webhook_url", str, where, "")
    if webhook and not webhook.startswith(("http://", "https://")):
        raise ConfigError(f"{origin['webhook_url']}: expected an http(s) URL, got {webhook!r}")
    return {
        "deadline_enabled": _get(merged, "deadline_enabled", bool, where, False),
        "deadline_minutes": minutes,
        "quarantine_threshold": threshold,
        "alert_email_to": tuple(email_to),
        "alert_email_from": _get(merged, "email_from", str, where, ""),
        "smtp_conn_id": _get(merged, "smtp_conn_id", str, where, "smtp_default"),
        "alert_webhook_url": webhook,
    }


def load_config(path: Path | str | None = None) -> SyncConfig:
    """Read and check the sync configuration (default ``include/sync.yaml``)."""
    path = Path(path) if path else default_config_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read sync configuration: {exc}") from exc
    src = str(path)
    raw_rules = data.get("pipelines")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ConfigError(f"{src}:pipelines: expected a non-empty list of pipeline rules")
    rules = []
    for i, raw in enumerate(raw_rules):
        where = f"{src}:pipelines[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping with name, trigger_stages, erp")
        name = _get(raw, "name", str, where, "")
        stages = _get(raw, "trigger_stages", list, where, [])
        erp = _get(raw, "erp", str, where, "")
        if not name:
            raise ConfigError(f"{where}.name: expected the Streak pipeline name")
        if not stages or not all(isinstance(s, str) and s for s in stages):
            raise ConfigError(f"{where}.trigger_stages: expected a list of stage names, e.g. [Closed-Won]")
        if erp not in ERPS:
            raise ConfigError(f"{where}.erp: expected one of {', '.join(ERPS)}, got {erp!r}")
        writeback = _get(raw, "writeback_field", str, where, "ERP Invoice #")
        rules.append(PipelineRule(name, tuple(stages), erp, writeback))
    detection = data.get("detection") or {}
    alerts = data.get("alerts") or {}
    master = data.get("master_data") or {}
    if not isinstance(master, dict):
        raise ConfigError(
            f"{src}:master_data: expected a mapping (schedule, chunk_size, page_size, max_chunks)"
        )
    master_data = MasterDataConfig(
        schedule=_get(master, "schedule", str, f"{src}:master_data", "@daily"),
        chunk_size=_positive(master, "chunk_size", f"{src}:master_data", 300),
        page_size=_positive(master, "page_size", f"{src}:master_data", 100),
        max_chunks=_positive(master, "max_chunks", f"{src}:master_data", 1000),
    )
    return SyncConfig(
        pipelines=tuple(rules),
        overlap_minutes=_get(detection, "overlap_minutes", float, f"{src}:detection", 10.0),
        initial_lookback_days=_get(detection, "initial_lookback_days", float, f"{src}:detection", 30.0),
        lease_minutes=_get(detection, "lease_minutes", float, f"{src}:detection", 60.0),
        schedule=_get(data, "schedule", str, src, "*/5 * * * *"),
        **_alert_settings(alerts, f"{src}:alerts"),
        master_data=master_data,
        source=src,
    )
