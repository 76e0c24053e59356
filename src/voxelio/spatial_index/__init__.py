"""The spatial index of mesh and skeleton layers (``.spatial`` files) and its SQL copies."""

from voxelio.spatial_index.index import SpatialIndex, parse_index_file
from voxelio.spatial_index.sql import DbUrl, parse_db_url

__all__ = ["DbUrl", "SpatialIndex", "parse_db_url", "parse_index_file"]
