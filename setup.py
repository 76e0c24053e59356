"""Builds voxelio's C extensions: the compressed_segmentation codec and the box reads of
local raw chunk files. Everything else about the package is declared in pyproject.toml."""

import sys

from setuptools import Extension, setup

OPTIMIZE = [] if sys.platform == "win32" else ["-O3"]

setup(
    ext_modules=[
        Extension(name, [source], extra_compile_args=OPTIMIZE)
        for name, source in (
            ("voxelio.codecs._cseg", "src/voxelio/codecs/_cseg.c"),
            ("voxelio.storage._boxread", "src/voxelio/storage/_boxread.c"),
        )
    ]
)
