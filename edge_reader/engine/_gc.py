"""Pause CPython's cyclic garbage collector around bulk allocation.

Decoding and compiling a bundle allocate hundreds of thousands of long-lived objects and no
garbage cycles; every allocation threshold crossed meanwhile triggers a collection that
walks them all for nothing. Measured on 10,000 flags: decode 0.44 s → 0.10 s, compile
1.23 s → 0.96 s of CPU with the collector paused.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector inside the block; restore its previous state after."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
