"""Neuroglancer precomputed annotations: read (:class:`AnnotationSource`, cloud-volume's
``PrecomputedAnnotationSource`` API) and write (:class:`AnnotationWriter`), with every
geometry type, typed properties, relationships and sharded or unsharded indices."""

from voxelio.annotations.results import LabelAnnotation, MultiLabelAnnotation
from voxelio.annotations.source import AnnotationSource, read_annotation_info
from voxelio.annotations.writer import AnnotationWriter

#: cloud-volume's name for the reader
PrecomputedAnnotationSource = AnnotationSource

__all__ = [
    "AnnotationSource",
    "AnnotationWriter",
    "LabelAnnotation",
    "MultiLabelAnnotation",
    "PrecomputedAnnotationSource",
    "read_annotation_info",
]
