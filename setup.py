"""Builds voxelio's C extensions: the compressed_segmentation codec, the copy of a decoded
chunk's box into the output, the box reads of local raw chunk files and, where libjpeg-turbo's
and libdeflate's headers are installed, voxelio's jpeg and png decoders of row ranges
(optional: without them, such chunks are decoded whole by the codec libraries). Everything
else about the package is declared in pyproject.toml."""

import sys

from setuptools import Extension, setup

OPTIMIZE = [] if sys.platform == "win32" else ["-O3"]
SHARED = ["src/voxelio/_native.h"]  # argument checks every extension includes

setup(
    ext_modules=[
        Extension(name, [source], depends=SHARED, extra_compile_args=OPTIMIZE)
        for name, source in (
            ("voxelio.codecs._cseg", "src/voxelio/codecs/_cseg.c"),
            ("voxelio.codecs._boxcopy", "src/voxelio/codecs/_boxcopy.c"),
            ("voxelio.storage._boxread", "src/voxelio/storage/_boxread.c"),
        )
    ]
    + [
        Extension(
            f"voxelio.codecs._{name}rows",
            [f"src/voxelio/codecs/_{name}rows.c"],
            libraries=[library],
            depends=[*SHARED, "src/voxelio/codecs/_rows.h"],
            extra_compile_args=OPTIMIZE,
            optional=True,
        )
        for name, library in (("jpeg", "jpeg"), ("png", "deflate"))
    ]
)
