"""Keep freed memory for reuse instead of handing it back to the system at once (glibc).

PyTorch on the CPU allocates and frees its large convolution buffers (tens to
hundreds of MB) at every forward pass. glibc serves blocks that large with ``mmap``
and returns them with ``munmap``, so every pass faults all their pages in again: on
the 2-core machine this kit is built on, the fill's model ran 2.9× slower for it
(1.03 s instead of 2.95 s for one 256² chunk of 24 frames, most of it system time).
:func:`tune_allocator` asks glibc to serve every block from its heap
(``M_MMAP_MAX = 0``) and to keep up to 1 GB free at its top (``M_TRIM_THRESHOLD``),
so the buffers are reused. The process' peak memory is about the same; memory freed
after a peak is kept for reuse rather than returned.

Called by the ``unisst`` command and in the streamed fill's workers; a no-op outside
glibc (macOS, musl) or with ``UNISST_TUNE_MALLOC=0`` in the environment.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

__all__ = ["tune_allocator"]

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_TRIM_BYTES = 1 << 30
_done = False


def tune_allocator() -> bool:
    """Serve large blocks from the heap and keep them (glibc ``mallopt``); True if applied."""
    global _done
    if _done:
        return True
    if os.environ.get("UNISST_TUNE_MALLOC", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        log.debug("no glibc mallopt here: the allocator is left as it is")
        return False
    _done = bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_BYTES)) and bool(mallopt(_M_MMAP_MAX, 0))
    return _done
