"""The mapping engine: mapping files (schema + loader), value parsers, Streak reader, engine."""

from __future__ import annotations

from sync_core.mapping.engine import catalogue_items, map_boxes, sku_for
from sync_core.mapping.loader import MappingError, check_files, load_mapping, load_mapping_file
from sync_core.mapping.results import MappingResult, RecordFailure
from sync_core.mapping.schema import Mapping
from sync_core.mapping.streak_reader import map_contact, map_organization

__all__ = [
    "Mapping",
    "MappingError",
    "MappingResult",
    "RecordFailure",
    "catalogue_items",
    "check_files",
    "load_mapping",
    "load_mapping_file",
    "map_boxes",
    "map_contact",
    "map_organization",
    "sku_for",
]
