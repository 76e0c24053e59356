"""Types of the png codec (``_pngrows.c``); see its docstrings."""

import numpy as np

def decode_rows(
    data: bytes | bytearray | memoryview,
    out: np.ndarray,
    size: tuple[int, int, int],
    origin: tuple[int, int, int],
) -> bool: ...
def encode(chunk: np.ndarray, level: int) -> bytes: ...
