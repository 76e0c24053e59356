"""The values of cloud-volume's ``cloudvolume.lib`` that voxelio has, for code that imports
them from there: ``from voxelio.lib import Bbox, Vec``."""

from voxelio.geometry import Bbox, Vec

__all__ = ["Bbox", "Vec"]
