"""Whether a read's copies into its output array bypass the CPU caches.

voxelio's C copies into an output (``codecs/_boxcopy.c``, ``storage/_boxread.c``) can use
non-temporal stores, which do not read each destination line before writing it. That pays
only where the output is far larger than the caches and its rows fill whole lines: a whole
read of a 512 MiB uint64 volume (rows of 512 bytes) copied its chunks 22% faster. Into an
output that fits the caches, the stores made copies 2x slower, and rows of under 256 bytes
(partial lines) up to 13x slower, so those keep ordinary stores.
"""

from __future__ import annotations

import numpy as np

#: outputs smaller than this stay in ordinary stores (the caches could hold much of them)
MIN_OUTPUT_BYTES = 64 << 20
#: shorter rows stay in ordinary stores (non-temporal stores of partial lines are slow)
MIN_ROW_BYTES = 256


def bypasses_caches(out: np.ndarray) -> bool:
    """Whether copies into ``out`` (a part of a read's output array) should bypass the caches:
    the whole array is at least :data:`MIN_OUTPUT_BYTES` and ``out``'s rows of x at least
    :data:`MIN_ROW_BYTES`."""
    whole = out.base if isinstance(out.base, np.ndarray) else out
    return whole.nbytes >= MIN_OUTPUT_BYTES and out.shape[0] * out.itemsize >= MIN_ROW_BYTES
