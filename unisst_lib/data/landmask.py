"""Land masks for SST archives: a user's mask (file or array) or a documented mask variable.

A mask variable's meaning is read from its attributes — ``flag_masks`` or
``flag_values`` with a ``land`` meaning (e.g. OSTIA's ``mask``: water, land,
lake, sea ice), or a CF ``standard_name`` (``land_binary_mask``,
``sea_binary_mask``, ``land_area_fraction``, ``sea_area_fraction``). A mask
with a time axis is land where it is land in at least half the frames.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import xarray as xr

from unisst_lib.core.errors import LandMaskError
from unisst_lib.data.ghrsst import flag_mask, quality_levels
from unisst_lib.data.io import _axis_name, open_netcdf

log = logging.getLogger(__name__)

#: Land-mask variables looked for in the files (used only when their meaning is documented).
MASK_NAMES = ("mask", "land_sea_mask", "lsm", "landmask", "land_mask", "lsmask")
MASK_STANDARD_NAMES = (
    "land_binary_mask",
    "sea_binary_mask",
    "land_area_fraction",
    "sea_area_fraction",
)


def mask_variable(ds: xr.Dataset) -> str | None:
    """The first land-mask-like variable of ``ds`` (by name or CF standard_name), or None."""
    for name, var in ds.data_vars.items():
        if name in MASK_NAMES or var.attrs.get("standard_name") in MASK_STANDARD_NAMES:
            return str(name)
    return None


def land_from_variable(da: xr.DataArray, source: str, *, explicit: bool):
    """(land, meaning) from a mask variable's documented meaning; None if undocumented."""
    attrs, std = da.attrs, da.attrs.get("standard_name", "")
    percent = str(attrs.get("units", "")).strip() in ("%", "percent")
    half = 50 if percent else 0.5
    if "flag_masks" in attrs and "flag_meanings" in attrs:
        bit = flag_mask(attrs, "land")
        if bit is not None:
            return (da.fillna(0).astype(np.int64) & bit) != 0, f"flag 'land' (mask {bit})"
    if "flag_values" in attrs and "flag_meanings" in attrs:
        values = [v for v, m in quality_levels(attrs).items() if "land" in m.lower().split("_")]
        if values:
            return da.isin(values), f"flag 'land' (value {', '.join(map(str, values))})"
    rules = {
        "land_binary_mask": (lambda v: v >= 0.5, "1 = land"),
        "sea_binary_mask": (lambda v: v < 0.5, "0 = land"),
        "land_area_fraction": (lambda v: v >= half, "land fraction >= 50 %"),
        "sea_area_fraction": (lambda v: v < half, "sea fraction < 50 %"),
    }
    if std in rules:
        rule, meaning = rules[std]
        return rule(da), f"{std}: {meaning}"
    if da.dtype == bool:
        return da, "True = land"
    if explicit:
        values = np.unique(da.values[np.isfinite(da.values)])
        if set(values.tolist()) <= {0, 1}:
            log.info("%s has 0/1 values and no flag attributes: reading 1 as land", source)
            return da == 1, "1 = land"
        raise LandMaskError(
            f"{source}: cannot tell land from sea: no flag_masks/flag_values with a 'land' "
            f"meaning, no CF standard_name ({', '.join(MASK_STANDARD_NAMES)}) and values "
            f"other than 0/1 ({values[:5].tolist()}…). Give a 0/1 or boolean variable (1 = land)."
        )
    log.info("ignoring %s as a land mask: its meaning is not documented", source)
    return None


def static_land(land: xr.DataArray) -> xr.DataArray:
    """A land mask with a time axis: land where it is land in at least half the frames."""
    return land.mean("time") >= 0.5 if "time" in land.dims else land


def explicit_land_mask(land_mask, ds: xr.Dataset) -> tuple[xr.DataArray, str]:
    """The user's land mask on the archive's grid (bool, latitude ascending)."""
    if isinstance(land_mask, (str, os.PathLike)):
        path, var = _split_mask_spec(os.fspath(land_mask))
        with open_netcdf(path) as mds:
            if var is None:
                var = mask_variable(mds) or next(iter(mds.data_vars), "")
            if var not in mds.data_vars:
                raise LandMaskError(
                    f"land mask file {path} has no variable {var!r}; it has: "
                    f"{', '.join(map(str, mds.data_vars))}. Pass land_mask='FILE:VAR'."
                )
            da = on_grid(mds[var].load(), ds, f"{path}:{var}")
            found = land_from_variable(da, f"{path}:{var}", explicit=True)
        return static_land(found[0]), f"file {path}:{var} ({found[1]})"
    da = land_mask if isinstance(land_mask, xr.DataArray) else xr.DataArray(np.asarray(land_mask))
    if da.dtype != bool:
        raise LandMaskError(
            f"land_mask must be boolean (True = land), got {da.dtype}: pass mask.astype(bool) "
            "or a 'FILE:VAR' string"
        )
    return static_land(on_grid(da, ds, "land_mask")), "land_mask argument"


def _split_mask_spec(spec: str) -> tuple[str, str | None]:
    """``"FILE[:VAR]"`` -> (FILE, VAR or None)."""
    if Path(spec).is_file() or ":" not in spec:
        return spec, None
    path, var = spec.rsplit(":", 1)
    return path, var or None


def on_grid(da: xr.DataArray, ds: xr.Dataset, source: str) -> xr.DataArray:
    """``da`` on the archive's latitude/longitude (by coordinates, or by shape for a bare array)."""
    lat, lon = _axis_name(da, "latitude"), _axis_name(da, "longitude")
    ny, nx = ds.sizes["latitude"], ds.sizes["longitude"]
    if lat is None or lon is None or lat not in da.coords or lon not in da.coords:
        if da.shape[-2:] != (ny, nx):
            raise LandMaskError(
                f"{source} has shape {da.shape}, not the archive's (latitude, longitude) = "
                f"({ny}, {nx}): give it on the grid, latitude ascending, or with coordinates"
            )
        spatial = {da.dims[-2]: ds["latitude"].values, da.dims[-1]: ds["longitude"].values}
        return da.rename(
            dict(zip(da.dims[-2:], ("latitude", "longitude"), strict=True))
        ).assign_coords(latitude=spatial[da.dims[-2]], longitude=spatial[da.dims[-1]])
    da = da.rename({lat: "latitude", lon: "longitude"})
    tol = 0.5 * max(spacing_deg(ds["latitude"]), spacing_deg(ds["longitude"]))
    try:
        return da.sel(
            latitude=ds["latitude"], longitude=ds["longitude"], method="nearest", tolerance=tol
        ).assign_coords(latitude=ds["latitude"], longitude=ds["longitude"])
    except KeyError as err:
        raise LandMaskError(
            f"{source} does not cover the archive's grid ({float(ds.latitude.min()):.3f}.."
            f"{float(ds.latitude.max()):.3f}°N, {float(ds.longitude.min()):.3f}.."
            f"{float(ds.longitude.max()):.3f}°E) within half a grid step: give a mask on the "
            "same grid"
        ) from err


def spacing_deg(coord: xr.DataArray) -> float:
    values = np.asarray(coord.values, dtype=np.float64)
    return float(np.median(np.abs(np.diff(values)))) if values.size > 1 else float("nan")
