"""One exception hierarchy for voxelio.

The names of cloud-volume's exceptions are kept so that ``except`` clauses written for
cloud-volume keep working. Every message names the path, key or field it is about.
"""

from __future__ import annotations


class VoxelioError(Exception):
    """Base class of every error voxelio raises on purpose."""


class InfoError(VoxelioError, ValueError):
    """An ``info`` file (or a value meant for one) is malformed; the message names the field."""


class InfoUnavailableError(VoxelioError, ValueError):
    """The ``info`` file of a layer could not be found or read."""


class ScaleUnavailableError(VoxelioError, IndexError):
    """A requested mip level or resolution is not among the layer's scales."""


class ProvenanceError(VoxelioError, ValueError):
    """The provenance file is malformed."""


class RedirectError(VoxelioError):
    """Following ``info["redirect"]`` failed."""


class CyclicRedirect(RedirectError):
    """``info["redirect"]`` chains loop back to an earlier path."""


class TooManyRedirects(RedirectError):
    """More ``info["redirect"]`` hops than ``max_redirects`` allows."""


class UnsupportedProtocolError(VoxelioError, ValueError):
    """A cloud path names a protocol or format voxelio does not handle."""


class UnsupportedFormatError(UnsupportedProtocolError):
    """A cloud path names a data format voxelio does not handle."""


class PathError(VoxelioError, ValueError):
    """A cloud path or storage key is malformed or escapes its root."""


class OutOfBoundsError(VoxelioError, ValueError):
    """A requested region lies outside the volume bounds while ``bounded=True``."""


class AlignmentError(VoxelioError, ValueError):
    """A write is not aligned to the chunk grid and ``non_aligned_writes`` is off."""


class EmptyVolumeException(VoxelioError):
    """A chunk inside the requested region is missing and ``fill_missing`` is off."""


class EmptyFileException(EmptyVolumeException):
    """A file that must hold data is missing or empty."""


class DecodingError(VoxelioError, ValueError):
    """Stored bytes (a chunk, shard or mesh) could not be decoded; names the key."""


class EncodingError(VoxelioError, ValueError):
    """An array could not be encoded with the requested encoding; names both."""


class UnsupportedEncodingError(EncodingError):
    """The encoding cannot hold this data type or channel count."""


class MissingCodecError(VoxelioError, ImportError):
    """The library behind an encoding is not installed; the message names the pip extra."""


class ReadOnlyException(VoxelioError):
    """A write was attempted on a read-only store or volume (http, redirected layers)."""


class StorageError(VoxelioError, OSError):
    """A storage backend failed after its retries; names the key and the backend."""


class AuthenticationError(StorageError):
    """The backend refused our credentials (401/403); names the source tried, never the secret."""


class RetryBudgetExceeded(StorageError):
    """Transient faults outlasted the retry budget."""


class WriteConflictError(StorageError):
    """A conditional write lost a race (precondition failed)."""


class Sharding(VoxelioError):
    """Base for sharded-format errors."""


class ShardingError(Sharding, ValueError):
    """A sharding spec is invalid, or a shard/minishard index is corrupt; names the shard."""


class SpatialIndexError(VoxelioError):
    """A spatial index is missing or malformed."""


class UnsupportedOptionError(VoxelioError, NotImplementedError):
    """An option is accepted by the signature but its behaviour is not built yet."""


class SkeletonDecodeError(DecodingError):
    """A skeleton file is malformed; names the segment."""


class MeshDecodeError(DecodingError):
    """A mesh fragment or manifest is malformed; names the segment."""


class MeshMissingError(VoxelioError, ValueError):
    """A requested mesh does not exist (cloud-volume's name)."""


class SkeletonEncodeError(EncodingError):
    """A skeleton could not be encoded (cloud-volume's name)."""


class SpatialIndexGapError(SpatialIndexError):
    """The spatial index does not cover the requested region (cloud-volume's name)."""


class SubvoxelVolumeError(OutOfBoundsError, IndexError):
    """A requested box is empty, or smaller than one voxel at the target resolution (an
    ``IndexError`` too, as numpy would call an empty index)."""


class IndexingError(VoxelioError, IndexError, ValueError):
    """An index expression a volume cannot read (``vol[::-1]``): numpy's ``IndexError`` and
    the ``ValueError`` cloud-volume raises."""


class AnnotationNotFoundError(VoxelioError, KeyError):
    """Requested annotation ids are not in the ``by_id`` index; names them and the dataset."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
