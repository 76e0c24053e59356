"""Types of the box-read C extension (``_boxread.c``); see its docstrings."""

import numpy as np

def read_box(
    path: str,
    size: int,
    shape: tuple[int, int, int, int],
    itemsize: int,
    origin: tuple[int, int, int],
    out: np.ndarray,
    scratch: memoryview,
    stream: bool = False,
) -> bool: ...
