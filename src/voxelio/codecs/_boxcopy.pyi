"""Types of the box-copy C extension (``_boxcopy.c``); see its docstrings."""

import numpy as np

def copy_box(
    src: np.ndarray, origin: tuple[int, int, int], out: np.ndarray, stream: bool = False
) -> None: ...
