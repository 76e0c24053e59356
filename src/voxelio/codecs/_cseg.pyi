"""Types of the compressed_segmentation C extension (``_cseg.c``); see its docstrings."""

import numpy as np

def decode(
    stream: bytes | bytearray | memoryview,
    out: np.ndarray,
    size: tuple[int, int, int],
    block: tuple[int, int, int],
    origin: tuple[int, int, int],
) -> None: ...
def encode(labels: np.ndarray, block: tuple[int, int, int]) -> bytes: ...
