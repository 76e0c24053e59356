"""cloud-volume's ``cloudvolume.exceptions`` names, for code that imports them from there:
``from voxelio.exceptions import EmptyVolumeException``. They are the classes of
:mod:`voxelio.errors`."""

from voxelio.errors import (
    AlignmentError,
    AuthenticationError,
    CyclicRedirect,
    DecodingError,
    EmptyFileException,
    EmptyVolumeException,
    EncodingError,
    InfoError,
    InfoUnavailableError,
    MeshDecodeError,
    MeshMissingError,
    OutOfBoundsError,
    ReadOnlyException,
    RedirectError,
    ScaleUnavailableError,
    SpatialIndexGapError,
    SubvoxelVolumeError,
    TooManyRedirects,
    UnsupportedFormatError,
    UnsupportedProtocolError,
)

__all__ = [
    "AlignmentError",
    "AuthenticationError",
    "CyclicRedirect",
    "DecodingError",
    "EmptyFileException",
    "EmptyVolumeException",
    "EncodingError",
    "InfoError",
    "InfoUnavailableError",
    "MeshDecodeError",
    "MeshMissingError",
    "OutOfBoundsError",
    "ReadOnlyException",
    "RedirectError",
    "ScaleUnavailableError",
    "SpatialIndexGapError",
    "SubvoxelVolumeError",
    "TooManyRedirects",
    "UnsupportedFormatError",
    "UnsupportedProtocolError",
]
