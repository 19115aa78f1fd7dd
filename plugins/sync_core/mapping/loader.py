"""Load and check mapping files; every problem becomes ``file:key: what was expected``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sync_core.config import repo_root
from sync_core.mapping.schema import LookupsFile, Mapping

ENV_MAPPINGS_DIR = "STREAK_ERP_MAPPINGS_DIR"


class MappingError(ValueError):
    """A mapping file is broken; ``problems`` holds one ``file:key: expected`` line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def resolve_mappings_dir(explicit: Path | None = None) -> Path:
    """The mappings folder: the argument, else $STREAK_ERP_MAPPINGS_DIR, else <repo>/include/mappings."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(ENV_MAPPINGS_DIR)
    return Path(env) if env else repo_root() / "include" / "mappings"


def _describe(error: dict[str, Any]) -> str:
    kind, value = error["type"], error.get("input")
    msg = error["msg"].removeprefix("Value error, ")
    for prefix in (
        "Input should be ",
        "Input should ",
        "String should have ",
        "String should be ",
        "List should have ",
    ):
        msg = msg.removeprefix(prefix)
    if kind == "missing":
        return "a value is required here"
    if kind == "extra_forbidden":
        return f"no such key is allowed here (got {value!r})"
    if kind == "value_error" or isinstance(value, dict | list) or value is None:
        return f"expected {msg}"
    return f"expected {msg}, got {value!r}"


def translate(error: ValidationError, file_name: str) -> list[str]:
    """Turn pydantic errors into ``file:key.path: what was expected`` lines."""
    lines = []
    for err in error.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"{file_name}:{loc}: {_describe(err)}")
    return lines


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MappingError([f"{path.name}:(file): the file does not exist"]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise MappingError([f"{path.name}:{where}: valid YAML ({getattr(exc, 'problem', exc)})"]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MappingError(
            [f"{path.name}:(top level): expected a mapping of keys, got {type(data).__name__}"]
        )
    return data


def _cross_check(mapping: Mapping, name: str) -> list[str]:
    problems = []
    for key, ref in (
        ("document.status", mapping.document.status),
        ("document.class_ref", mapping.document.class_ref),
    ):
        if ref is not None and ref.lookup not in mapping.lookups:
            problems.append(
                f"{name}:{key}.lookup: expected one of the lookup tables {sorted(mapping.lookups)}, got {ref.lookup!r}"
            )
    if mapping.items.catalogue not in mapping.catalogues:
        problems.append(
            f"{name}:items.catalogue: expected one of the catalogues {sorted(mapping.catalogues)}, got {mapping.items.catalogue!r}"
        )
    for index, rule in enumerate(mapping.items.rules):
        if rule.when is None and index != len(mapping.items.rules) - 1:
            problems.append(
                f"{name}:items.rules.{index}.when: expected a condition (only the last rule may omit it)"
            )
        if rule.when is not None and (rule.when.equals is None) == (rule.when.in_ is None):
            problems.append(f"{name}:items.rules.{index}.when: expected exactly one of 'equals' or 'in'")
    lines = mapping.lines
    if lines.line_items is None and (lines.product is None or lines.unit_price is None):
        problems.append(f"{name}:lines: expected 'line_items' or both 'product' and 'unit_price'")
    return problems


def load_mapping_file(path: Path) -> Mapping:
    """Load one mapping file with the lookups file it names; raise MappingError listing every problem."""
    path = Path(path)
    data = _read_yaml(path)
    shared: dict[str, Any] = {}
    lookups_name = data.get("lookups_file")
    if isinstance(lookups_name, str):
        lookups_path = path.parent / lookups_name
        if not lookups_path.is_file():
            raise MappingError(
                [f"{path.name}:lookups_file: expected a file next to the mapping, got {lookups_name!r}"]
            )
        try:
            shared = LookupsFile.model_validate(_read_yaml(lookups_path)).model_dump(by_alias=True)
        except ValidationError as exc:
            raise MappingError(translate(exc, lookups_path.name)) from exc
    merged = dict(data)
    for table in ("lookups", "catalogues", "rates"):
        base = dict(shared.get(table) or {})
        local = data.get(table) or {}
        if isinstance(local, dict):
            for key, value in local.items():
                if table != "rates" and isinstance(value, dict) and isinstance(base.get(key), dict):
                    base[key] = {**base[key], **value}
                else:
                    base[key] = value
            merged[table] = base
    try:
        mapping = Mapping.model_validate({**merged, "source": str(path)})
    except ValidationError as exc:
        raise MappingError(translate(exc, path.name)) from exc
    problems = _cross_check(mapping, path.name)
    if problems:
        raise MappingError(problems)
    return mapping


def load_mapping(erp: str, mappings_dir: Path | None = None) -> Mapping:
    """Load ``<mappings_dir>/<erp>.yaml`` (default dir: $STREAK_ERP_MAPPINGS_DIR or <repo>/include/mappings)."""
    folder = resolve_mappings_dir(mappings_dir)
    path = folder / f"{erp}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml") if p.stem != "lookups")
        raise MappingError(
            [f"{erp}.yaml:(file): expected a mapping for ERP {erp!r} in {folder} (found: {known})"]
        )
    return load_mapping_file(path)


def mapping_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into their mapping files (``lookups.yaml`` is checked through the mappings)."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found += sorted(p for p in path.glob("*.y*ml") if p.stem != "lookups")
        else:
            found.append(path)
    return found


def check_files(paths: Iterable[Path]) -> dict[Path, list[str]]:
    """Load each mapping file; return the problems per file (an empty list when it is fine)."""
    report: dict[Path, list[str]] = {}
    for path in mapping_files(paths):
        try:
            load_mapping_file(path)
            report[path] = []
        except MappingError as exc:
            report[path] = exc.problems
    return report
