"""voxelio: fast, safe I/O for Neuroglancer Precomputed data with a cloud-volume compatible API.

``from voxelio import CloudVolume`` is the entry point; ``Bbox``, ``Vec`` and ``VolumeCutout``
are the values it speaks. Importing voxelio has no side effects.
"""

from voxelio.annotations import AnnotationSource, AnnotationWriter
from voxelio.cutout import VolumeCutout
from voxelio.errors import (
    AlignmentError,
    EmptyVolumeException,
    InfoUnavailableError,
    OutOfBoundsError,
    ReadOnlyException,
)
from voxelio.geometry import Bbox, Vec
from voxelio.meshes import Mesh
from voxelio.meta.segment_properties import SegmentProperties
from voxelio.skeletons import Skeleton
from voxelio.volume import CloudVolume, from_cloudpath

PrecomputedSkeleton = Skeleton  # cloud-volume's other name for it

__version__ = "0.1.0"

__all__ = [
    "AlignmentError",
    "AnnotationSource",
    "AnnotationWriter",
    "Bbox",
    "CloudVolume",
    "EmptyVolumeException",
    "InfoUnavailableError",
    "Mesh",
    "OutOfBoundsError",
    "PrecomputedSkeleton",
    "ReadOnlyException",
    "SegmentProperties",
    "Skeleton",
    "Vec",
    "VolumeCutout",
    "from_cloudpath",
]
