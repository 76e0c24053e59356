"""Skeletons: the ``Skeleton`` value, the precomputed codec, the info and ``vol.skeleton``."""

from voxelio.skeletons.info import SkeletonInfo, VertexAttribute
from voxelio.skeletons.skeleton import Skeleton
from voxelio.skeletons.source import SkeletonSource, open_skeleton_source

PrecomputedSkeleton = Skeleton

__all__ = [
    "PrecomputedSkeleton",
    "Skeleton",
    "SkeletonInfo",
    "SkeletonSource",
    "VertexAttribute",
    "open_skeleton_source",
]
