"""The layer ``provenance`` file: a JSON object describing how the data came to be.

cloud-volume's shape is kept: ``description`` (str), ``owners`` (list of str), ``sources``
(list of str), ``processing`` (list of objects); unknown keys are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voxelio.errors import ProvenanceError
from voxelio.meta.info import to_json_bytes


def _field(name: str, doc: str) -> property:
    """The document's ``name`` entry as an attribute."""

    def get(self: dict[str, Any]) -> Any:
        return self[name]

    def put(self: dict[str, Any], value: Any) -> None:
        self[name] = value

    return property(get, put, doc=doc)


class Provenance(dict):  # type: ignore[type-arg]
    """A provenance document: a dict whose four fields are also attributes, as cloud-volume's
    ``DataLayerProvenance`` (``vol.provenance.processing.append({...})``)."""

    description = _field("description", "What the layer holds (str).")
    owners = _field("owners", "Who to ask about the layer, e.g. email addresses (list of str).")
    processing = _field("processing", "The steps that made the layer, oldest first (list).")
    sources = _field("sources", "The layers it was made from (list of str).")

    def serialize(self) -> str:
        """The document as JSON text."""
        return to_json_bytes(self).decode()

    def validate(self) -> None:
        """Raise :class:`ProvenanceError` if a field has the wrong type."""
        validate_provenance(self)


def default_provenance() -> Provenance:
    """An empty provenance document."""
    return Provenance(sources=[], owners=[], processing=[], description="")


def validate_provenance(prov: Any, where: str = "provenance") -> Provenance:
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
