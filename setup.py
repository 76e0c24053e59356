"""Builds voxelio's C extension, the compressed_segmentation codec. Everything else about the
package is declared in pyproject.toml."""

import sys

from setuptools import Extension, setup

OPTIMIZE = [] if sys.platform == "win32" else ["-O3"]

setup(
    ext_modules=[
        Extension(
            "voxelio.codecs._cseg",
            sources=["src/voxelio/codecs/_cseg.c"],
            extra_compile_args=OPTIMIZE,
        )
    ]
)
