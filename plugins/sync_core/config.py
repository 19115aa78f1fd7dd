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
    return SyncConfig(
        pipelines=tuple(rules),
        overlap_minutes=_get(detection, "overlap_minutes", float, f"{src}:detection", 10.0),
        initial_lookback_days=_get(detection, "initial_lookback_days", float, f"{src}:detection", 30.0),
        lease_minutes=_get(detection, "lease_minutes", float, f"{src}:detection", 60.0),
        schedule=_get(data, "schedule", str, src, "*/5 * * * *"),
        deadline_enabled=_get(alerts, "deadline_enabled", bool, f"{src}:alerts", False),
        deadline_minutes=_get(alerts, "deadline_minutes", float, f"{src}:alerts", 30.0),
        quarantine_threshold=_get(alerts, "quarantine_threshold", int, f"{src}:alerts", 10),
        source=src,
    )
