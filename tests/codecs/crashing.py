"""A decoder that crashes like a C library reading a corrupt stream (for test_isolated)."""

import ctypes


def segfault(data: bytes) -> None:
    """Read memory at address 8: a real segmentation fault."""
    ctypes.string_at(8, len(data))
