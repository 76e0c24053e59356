"""Metadata values: volume info, scales and provenance (pure, no I/O)."""

from voxelio.meta.info import (
    Scale,
    add_scale,
    create_new_info,
    parse_json,
    strip_nulls,
    to_json_bytes,
    validate_info,
    validate_scale,
)
from voxelio.meta.provenance import Provenance, default_provenance, validate_provenance

__all__ = [
    "Scale",
    "add_scale",
    "create_new_info",
    "Provenance",
    "default_provenance",
    "parse_json",
    "strip_nulls",
    "to_json_bytes",
    "validate_info",
    "validate_provenance",
    "validate_scale",
]
