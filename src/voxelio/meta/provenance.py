"""The layer ``provenance`` file: a JSON object describing how the data came to be.

cloud-volume's shape is kept: ``description`` (str), ``owners`` (list of str), ``sources``
(list of str), ``processing`` (list of objects); unknown keys are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voxelio.errors import ProvenanceError


def default_provenance() -> dict[str, Any]:
    """An empty provenance document."""
    return {"sources": [], "owners": [], "processing": [], "description": ""}


def validate_provenance(prov: Any, where: str = "provenance") -> dict[str, Any]:
    """Check and complete a provenance document; raises :class:`ProvenanceError`."""
    if isinstance(prov, str):
        prov = {"description": prov}
    if not isinstance(prov, Mapping):
        raise ProvenanceError(f"{where}: must be a JSON object, got {type(prov).__name__}")
    out = default_provenance()
    out.update(prov)
    for name in ("sources", "owners", "processing"):
        if not isinstance(out[name], list):
            raise ProvenanceError(f"{where}: {name!r} must be a list, got {out[name]!r}")
    if not isinstance(out["description"], str):
        raise ProvenanceError(f"{where}: 'description' must be a string")
    return out
