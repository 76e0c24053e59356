"""Fixtures for the mesh tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from meshes_helpers import make_layer


@pytest.fixture
def layer(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """An empty legacy-mesh segmentation layer on disk: (root, layer info)."""
    return tmp_path, make_layer(tmp_path)
