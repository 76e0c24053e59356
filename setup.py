"""Builds voxelio's C extensions: the compressed_segmentation codec, the box reads of local
raw chunk files and, where libjpeg-turbo's headers are installed, the jpeg decoder of row
ranges (optional: without it, jpeg chunks are decoded whole by simplejpeg). Everything else
about the package is declared in pyproject.toml."""

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
    + [
        Extension(
            "voxelio.codecs._jpegrows",
            ["src/voxelio/codecs/_jpegrows.c"],
            libraries=["jpeg"],
            extra_compile_args=OPTIMIZE,
            optional=True,
        )
    ]
)
