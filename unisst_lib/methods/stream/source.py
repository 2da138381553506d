"""The input of a streamed fill, opened lazily and read one region at a time.

:func:`open_source` opens one netCDF file (any layout :func:`unisst_lib.methods.fill.fill`
takes) or an L3 archive (:func:`unisst_lib.data.archive.open_archive`) without reading
its values; :meth:`Source.read` reads the frames and pixels one task needs. Absent
dates of the regular time axis read as missing frames (never copied from neighbours),
as in the in-memory fill.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from unisst_lib.data.archive import open_archive, resolve_paths
from unisst_lib.data.io import open_netcdf, select_sst
from unisst_lib.methods.fill import FillError, _land_keyword, _mask_variable, _time_axis

__all__ = ["Source", "first_pass", "open_source"]

log = logging.getLogger(__name__)


@dataclass
class Source:
    """An SST variable on (time, latitude ascending, longitude), read lazily."""

    name: str  # the SST variable's name in the input
    sst: xr.DataArray  # the input's frames (lazy)
    mask: xr.DataArray | None  # 1 where missing (lazy), same dims
    frame_of: np.ndarray  # (frames,) int: sst's frame of each frame of the axis, -1 absent
    times: pd.DatetimeIndex  # the regular time axis (after resample)
    land: np.ndarray | None  # (H, W) bool: given (archive land mask, ``land=``), else None
    original: xr.Dataset  # the opened input, for the output's layout and attributes
    axis: object  # unisst_lib.data.cadence.TimeAxis, or None (a single frame)
    archive: xr.Dataset | None = None  # open_archive's data set (an archive)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.frame_of), self.sst.sizes["latitude"], self.sst.sizes["longitude"])

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the filled values (the input's, at least float32)."""
        return np.result_type(self.sst.dtype, np.float32)

    def read(
        self, frames: np.ndarray, ys: slice, xs: slice, land: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Frames ``frames`` (of the axis) at rows ``ys``, columns ``xs``; (values, missing).

        Missing: NaN, the mask variable 1, an absent date or ``land`` (its ``ys, xs``).
        """
        frames = np.asarray(frames)
        h, w = len(range(*ys.indices(self.shape[1]))), len(range(*xs.indices(self.shape[2])))
        x = np.full((len(frames), h, w), np.nan, dtype=self.dtype)
        missing = np.ones(x.shape, bool)
        idx = self.frame_of[frames]
        have = idx >= 0
        if have.any():
            sel = _as_slice(idx[have])
            x[have] = _values(self.sst.isel(time=sel, latitude=ys, longitude=xs))
            missing[have] = ~np.isfinite(x[have])
            if self.mask is not None:
                missing[have] |= _values(self.mask.isel(time=sel, latitude=ys, longitude=xs)) == 1
        missing |= land[ys, xs][None]
        return x, missing


def _values(da: xr.DataArray) -> np.ndarray:
    """``da``'s values, read here (a dask-backed array is computed in this thread)."""
    if da.chunks is not None:
        da = da.compute(scheduler="synchronous")
    return np.asarray(da.values)


def _as_slice(idx: np.ndarray):
    """``idx`` as a slice when it is evenly spaced and increasing (faster to read), else itself."""
    if len(idx) == 1:
        return slice(int(idx[0]), int(idx[0]) + 1)
    step = np.diff(idx)
    if (step == step[0]).all() and step[0] > 0:
        return slice(int(idx[0]), int(idx[-1]) + 1, int(step[0]))
    return idx


def open_source(
    paths,
    *,
    archive: bool,
    variable: str | None = None,
    mask_variable: str | None = None,
    min_quality: int | None = None,
    apply_bias: bool = False,
    land_mask=None,
    land=None,
) -> Source:
    """Open ``paths`` (a netCDF file, or an archive: a folder, a glob, files) lazily."""
    if archive:
        arch = open_archive(
            paths, variable=variable, min_quality=min_quality, apply_bias=apply_bias,
            land_mask=land_mask,
        )  # fmt: skip
        name, da = select_sst(arch[["sst"]], "sst", source="the archive")
        times = da.get_index("time")
        land = np.asarray(arch["land"].values, bool)
        axis = _time_axis(da["time"].values)
        source_name = str(arch["sst"].attrs["source_variable"])
        return Source(
            source_name, da, None, np.arange(len(times)), times, land, arch[["sst"]], axis, arch
        )
    files = resolve_paths(paths)
    if len(files) != 1:
        raise FillError(f"one netCDF file expected, got {len(files)}: fill them as an archive")
    ds = open_netcdf(files[0])
    name, da = select_sst(ds, variable, source=files[0])
    axis = _time_axis(da["time"].values)
    mask = _mask_variable(ds, mask_variable, da)
    own = da.get_index("time")
    times = pd.DatetimeIndex(axis.times) if axis is not None else own
    frame_of = own.get_indexer(times)
    land_hw = _land_keyword(land, ds[name], da)
    return Source(name, da, mask, frame_of, times, land_hw, ds, axis)


def resampled(src: Source, stride: int) -> Source:
    """``src`` keeping every ``stride``-th frame of its axis (``fill(resample=True)``)."""
    if stride == 1:
        return src
    keep = np.arange(0, len(src.frame_of), stride)
    return Source(
        src.name, src.sst, src.mask, src.frame_of[keep], src.times[keep], src.land,
        src.original, src.axis, src.archive,
    )  # fmt: skip


def first_pass(src: Source, *, chunk: int, chunk_frames: int) -> tuple[np.ndarray, float]:
    """Land (given, or missing in every frame) and the mean of the observed values.

    A dask reduction over the input's frames on the axis, chunk by chunk (the
    scheduler in use: local threads, or the cluster of a client).
    """
    have = src.frame_of[src.frame_of >= 0]
    chunks = {"time": chunk_frames, "latitude": chunk, "longitude": chunk}
    sst = src.sst.isel(time=have).chunk(chunks)
    missing = ~np.isfinite(sst)
    if src.mask is not None:
        missing = missing | (src.mask.isel(time=have).chunk(chunks) == 1)
    if src.land is not None:
        missing = missing | xr.DataArray(src.land, dims=("latitude", "longitude"))
    observed = ~missing
    seen, total, count = (
        xr.Dataset(
            {
                "seen": observed.any("time"),
                "total": sst.astype(np.float64).where(observed).sum(),
                "count": observed.sum(),
            }
        )
        .compute()
        .data_vars.values()
    )
    if int(count) == 0:
        raise FillError(
            f"every value of {src.name!r} is missing (NaN, _FillValue or masked): there is "
            "nothing to fill from. Check the file, the variable and the mask convention "
            "(1 = missing)."
        )
    land = src.land if src.land is not None else ~np.asarray(seen.values, bool)
    return land, float(total) / int(count)
