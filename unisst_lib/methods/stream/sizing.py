"""Whether an input is too big for the in-memory fill: :func:`too_big_for_memory`."""

from __future__ import annotations

import logging

import psutil

from unisst_lib.data.archive import resolve_paths
from unisst_lib.data.io import open_netcdf, select_sst

__all__ = ["BYTES_PER_VALUE", "in_memory_bytes", "too_big_for_memory"]

log = logging.getLogger(__name__)

#: Peak memory of the in-memory fill per input value (measured: a 512 x 512 x 96 file
#: peaks at 1.7-2.4 GB, i.e. 70-95 bytes a value; the upper end is used).
BYTES_PER_VALUE = 95


def in_memory_bytes(inputs: list[str], *, archive: bool, variable: str | None = None) -> int:
    """An estimate of the in-memory fill's peak memory for ``inputs`` (the CLI's INPUT)."""
    files = resolve_paths(inputs[0] if len(inputs) == 1 else inputs)
    with open_netcdf(files[0]) as ds:
        _, da = select_sst(ds, variable, source=files[0])
        frames, h, w = da.shape
    if archive:
        frames *= len(files)
    return int(frames) * int(h) * int(w) * BYTES_PER_VALUE


def too_big_for_memory(inputs: list[str], *, archive: bool, variable: str | None = None) -> bool:
    """Whether the in-memory fill of ``inputs`` would need more than half the free memory."""
    need = in_memory_bytes(inputs, archive=archive, variable=variable)
    free = psutil.virtual_memory().available
    if need <= free / 2:
        return False
    log.info(
        "the in-memory fill would need about %.1f GB (%.1f GB free): filling chunk by chunk "
        "(streamed)", need / 1e9, free / 1e9,
    )  # fmt: skip
    return True
