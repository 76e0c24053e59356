"""Precomputed layer metadata: fetching ``info`` (following redirects) and ``provenance``.

:class:`PrecomputedMetadata` holds the layer's store, its ``info`` dict (editable in place, as
in cloud-volume) and provenance, and answers per-mip questions (scale, bounds, chunk size). It
does I/O only in the explicit ``fetch``/``commit``/``refresh`` methods.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from voxelio.errors import (
    CyclicRedirect,
    InfoError,
    InfoUnavailableError,
    ReadOnlyException,
    ScaleUnavailableError,
    TooManyRedirects,
)
from voxelio.geometry import Bbox, Vec
from voxelio.meta import (
    Provenance,
    Scale,
    parse_json,
    to_json_bytes,
    validate_info,
    validate_provenance,
)
from voxelio.paths import CloudPath, parse
from voxelio.storage import Store
from voxelio.storage.jsonfile import JSON_OPTIONS

StoreOpener = Callable[[CloudPath], Store]


def fetch_info(
    path: CloudPath, open_store: StoreOpener, max_redirects: int
) -> tuple[dict[str, Any], CloudPath, Store]:
    """Read ``info`` at ``path``, following ``redirect`` up to ``max_redirects`` hops.

    Returns the info, the path it was finally read from and that path's store. Raises
    :class:`InfoUnavailableError`, :class:`CyclicRedirect` or :class:`TooManyRedirects`.
    """
    visited: list[str] = []
    current = path
    while True:
        store = open_store(current)
        raw = store.get("info")
        if raw is None:
            raise InfoUnavailableError(f"{current.url}/info: no info file found")
        info = parse_json(raw, f"{current.url}/info")
        visited.append(current.url)
        target = info.get("redirect") if isinstance(info, dict) else None
        if not target or max_redirects <= 0:
            validate_info(info, f"{current.url}/info")
            return info, current, store
        if not isinstance(target, str):
            raise InfoError(f"{current.url}/info: redirect must be a path, got {target!r}")
        nxt = _parse_redirect(target, current)
        if nxt.url in visited:
            raise CyclicRedirect(f"{path.url}: redirect cycle {' -> '.join(visited + [nxt.url])}")
        if len(visited) > max_redirects:
            raise TooManyRedirects(
                f"{path.url}: more than max_redirects={max_redirects} hops ({' -> '.join(visited)})"
            )
        current = nxt


def _parse_redirect(target: str, current: CloudPath) -> CloudPath:
    if "://" in target:
        return parse(target)
    return current.join(target)


class PrecomputedMetadata:
    """The ``info`` and provenance of one layer, with per-mip accessors (voxels, nm)."""

    def __init__(
        self,
        path: CloudPath,
        store: Store,
        info: dict[str, Any],
        provenance: dict[str, Any] | None = None,
        redirected: bool = False,
    ) -> None:
        self.path = path
        self.store = store
        self.info = info
        # None until first asked for: opening a layer costs no provenance request
        self._provenance: Provenance | None = (
            None if provenance is None else validate_provenance(provenance)
        )
        self.redirected = redirected
        # mip -> (a copy of the scale dict, its parsed Scale); re-parsed when the dict changes
        self._scales: dict[int, tuple[dict[str, Any], Scale]] = {}

    # ---- I/O ----------------------------------------------------------------------------

    def commit_info(self) -> None:
        """Validate and write ``info`` (no ``null`` keys, unknown keys kept)."""
        self._check_writable("info")
        validate_info(self.info, f"{self.path.url}/info")
        self.store.put("info", to_json_bytes(self.info), JSON_OPTIONS)

    @property
    def provenance(self) -> Provenance:
        """The provenance, read on first use (a default one when absent or unreadable)."""
        if self._provenance is None:
            try:
                self.fetch_provenance()
            except Exception:  # a missing or odd provenance must not stop data access
                self._provenance = validate_provenance({})
        assert self._provenance is not None
        return self._provenance

    @provenance.setter
    def provenance(self, value: dict[str, Any] | str) -> None:
        self._provenance = validate_provenance(value)

    def fetch_provenance(self) -> Provenance:
        """Read ``provenance`` (a default one when absent)."""
        raw = self.store.get("provenance")
        if raw is None:
            self.provenance = validate_provenance({})
        else:
            where = f"{self.path.url}/provenance"
            self.provenance = validate_provenance(parse_json(raw, where), where)
        return self.provenance

    def commit_provenance(self) -> None:
        """Validate and write ``provenance``."""
        self._check_writable("provenance")
        self.provenance = validate_provenance(self.provenance, f"{self.path.url}/provenance")
        self.store.put("provenance", to_json_bytes(self.provenance), JSON_OPTIONS)

    def _check_writable(self, key: str) -> None:
        if self.redirected:
            raise ReadOnlyException(f"{self.path.url}/{key}: layer was reached by a redirect")
        if self.store.read_only:
            raise ReadOnlyException(f"{self.path.url}/{key}: store is read-only")

    # ---- per-mip values -----------------------------------------------------------------

    @property
    def num_mips(self) -> int:
        """Number of scales."""
        return len(self.info["scales"])

    def scale(self, mip: int) -> Scale:
        """The typed scale of ``mip`` (negative: counted from the last, as cloud-volume)."""
        if -self.num_mips <= mip < 0:
            mip += self.num_mips
        if not 0 <= mip < self.num_mips:
            raise ScaleUnavailableError(
                f"{self.path.url}: mip {mip} not available (mips 0..{self.num_mips - 1})"
            )
        raw = self.info["scales"][mip]
        cached = self._scales.get(mip)
        if cached is not None and cached[0] == raw:  # users may edit info in place
            return cached[1]
        scale = Scale.from_json(raw, f"{self.path.url}/info scales[{mip}]")
        self._scales[mip] = (copy.deepcopy(raw), scale)
        return scale

    def to_mip(self, mip: int | Sequence[float]) -> int:
        """A mip level from a level or a resolution triple in nm."""
        if isinstance(mip, (int, np.integer)) and not isinstance(mip, bool):
            self.scale(int(mip))  # checks it; -1 is the last scale
            return int(mip) % self.num_mips
        try:
            target = np.asarray(list(mip), dtype=np.float64)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            target = np.empty(0)
        if target.shape != (3,):
            raise ScaleUnavailableError(
                f"{self.path.url}: mip must be a level or a resolution [x, y, z] in nm, got {mip!r}"
            )
        for i, scale in enumerate(self.info["scales"]):
            if np.allclose(scale["resolution"], target):
                return i
        raise ScaleUnavailableError(f"{self.path.url}: no scale with resolution {list(target)}")

    def resolution(self, mip: int) -> Vec:
        """nm per voxel at ``mip``: integers unless the info writes a value as a float (as
        cloud-volume: ``[4, 4, 40]`` gives ``Vec(4, 4, 40)``, ``[4.0, 4, 40]`` floats)."""
        scale = self.scale(mip)
        floats = any(isinstance(r, float) for r in self.info["scales"][mip]["resolution"])
        return Vec(*scale.resolution, dtype=float if floats else np.int64)

    def bounds(self, mip: int) -> Bbox:
        """Voxel bounds at ``mip``."""
        return self.scale(mip).bounds

    # cloud-volume's per-mip accessors of ``vol.meta`` (Igneous-style code calls them)

    def bbox(self, mip: int) -> Bbox:
        """The 4-D bounds at ``mip``: x, y, z and the channels."""
        b = self.bounds(mip)
        return Bbox((*b.minpt.tolist(), 0), (*b.maxpt.tolist(), self.num_channels))

    def voxel_offset(self, mip: int) -> Vec:
        """Where the scale starts, in its voxels."""
        return Vec(*self.scale(mip).voxel_offset)

    def volume_size(self, mip: int) -> Vec:
        """The scale's size (x, y, z) in voxels."""
        return Vec(*self.scale(mip).size)

    def chunk_size(self, mip: int) -> Vec:
        """The scale's chunk size in voxels."""
        return Vec(*self.scale(mip).chunk_size)

    def key(self, mip: int) -> str:
        """The scale's key (its directory)."""
        return self.scale(mip).key

    def encoding(self, mip: int) -> str:
        """The scale's chunk encoding."""
        return self.scale(mip).encoding

    def shape(self, mip: int) -> Vec:
        """``Vec(x, y, z, channels)`` at ``mip``."""
        return Vec(*self.scale(mip).size, self.num_channels)

    @property
    def num_channels(self) -> int:
        """Channels per voxel."""
        return int(self.info["num_channels"])

    @property
    def data_type(self) -> str:
        """The info's ``data_type`` (``"uint8"``)."""
        return str(self.info["data_type"])

    @property
    def dtype(self) -> np.dtype:
        """``data_type`` as a numpy dtype."""
        return np.dtype(self.data_type)

    @property
    def layer_type(self) -> str:
        """``"image"`` or ``"segmentation"``."""
        return str(self.info["type"])

    @property
    def cloudpath(self) -> str:
        """The layer's cloud path."""
        return self.path.cloudpath

    def downsample_ratio(self, mip: int) -> Vec:
        """Resolution of ``mip`` divided by that of mip 0."""
        return Vec(*(np.asarray(self.resolution(mip)) / np.asarray(self.resolution(0))))
