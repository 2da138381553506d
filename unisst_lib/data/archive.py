"""Open an archive of satellite SST files (GHRSST / CMEMS L3, L4, CF) as one lazy data set.

:func:`open_archive` takes one file, a list or a glob of files — usually one a
day (an hour for geostationary sensors), or one file of monthly or yearly
means — and returns ``sst (time, latitude, longitude)`` in °C on a regular
time axis, with a ``land`` mask. It runs, in order:

1. :func:`resolve_paths`: the files (a glob that matches nothing is an error);
2. ``_read_layout``: the first file's variables (SST, ``quality_level``,
   ``l2p_flags``, ``sses_bias``, a land mask) and axes;
3. ``_open_files``: :func:`xarray.open_mfdataset` (dask), each file put on
   ``time, latitude, longitude`` (latitude ascending) and its grid checked
   against the first file's;
4. ``_observed_sst``: SST decoded in float64, ``sses_bias`` subtracted if asked,
   kelvin to °C, pixels below ``min_quality`` and the ``l2p_flags`` ice bit removed;
5. :func:`regular_time_axis` (:mod:`unisst_lib.data.cadence`): the cadence and the
   absent dates, which become fully missing frames (never filled from neighbours);
6. ``_scan``: one pass over the data for the land mask and the checks;
7. ``_assemble``: the data set, its attributes and the warnings.
"""

from __future__ import annotations

import glob
import logging
import os
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import xarray as xr

from unisst_lib.core.errors import (
    ArchiveWarning,
    DataFormatError,
    DataNotFoundError,
    GridError,
    LandMaskError,
    MixedGridError,
    QualityError,
    UnisstError,
)
from unisst_lib.data.cadence import TimeAxis, regular_time_axis
from unisst_lib.data.ghrsst import find_sst_name, flag_mask, quality_levels
from unisst_lib.data.io import _KELVIN, _axis_name, _to_celsius, open_netcdf
from unisst_lib.data.landmask import (
    explicit_land_mask,
    land_from_variable,
    mask_variable,
    spacing_deg,
    static_land,
)

log = logging.getLogger(__name__)

#: The grid the bundled model was trained on, degrees.
MODEL_SPACING_DEG = 1 / 12
#: The spatial tile the bundled model fills, pixels.
MODEL_TILE = 64
DEFAULT_MIN_QUALITY = 4


def open_archive(
    paths,
    *,
    variable: str | None = None,
    min_quality: int | None = None,
    apply_bias: bool = False,
    land_mask=None,
    chunks: dict[str, int] | None = None,
) -> xr.Dataset:
    """Open SST files (one, a list or a glob) as one lazy, regular, quality-filtered data set.

    Parameters
    ----------
    paths
        A file, a folder (its ``*.nc``), a glob (``"sst/2018*.nc"``) or a list of files.
    variable
        The SST variable; default ``sea_surface_temperature``, then
        ``adjusted_sea_surface_temperature``, ``analysed_sst``, … or a CF SST ``standard_name``.
    min_quality
        Keep pixels with ``quality_level >= min_quality`` (GHRSST 0..5); default 4
        when the files have a ``quality_level``. An error if given and they have none.
    apply_bias
        Subtract ``sses_bias`` from the SST (the GHRSST convention); an error if absent.
    land_mask
        ``"FILE[:VAR]"`` (a netCDF file, covering the archive's grid) or a boolean
        array / DataArray on the grid (True = land). Default, in order: the land bit
        of ``l2p_flags``, a documented mask variable in the files (``mask``,
        ``land_sea_mask``, a CF ``land_binary_mask``…), else pixels never observed
        in the whole record (with an :class:`ArchiveWarning`).
    chunks
        Dask chunks of the result, by ``time``/``latitude``/``longitude``
        (default: one chunk per file's frame).

    Returns
    -------
    xarray.Dataset
        ``sst (time, latitude, longitude)`` float32 °C, latitude ascending, NaN where missing (land,
        clouds, low quality, ice, absent dates), dask-backed; ``land (latitude,
        longitude)`` bool; ``quality_level`` (0 = no data) and ``l2p_flags``
        when present. ``attrs``: ``cadence`` (ISO 8601, e.g. ``P1D``), ``frames``,
        ``absent_dates_count``, ``absent_dates``, ``quality_filter``
        (and ``min_quality``), ``bias_applied``, ``land_mask_source``,
        ``grid_spacing_deg``, ``source_files``, …

    Raises
    ------
    DataNotFoundError, MixedGridError, CadenceError, QualityError, LandMaskError,
    DataFormatError
        Each message names the problem and what to do.
    """
    files = resolve_paths(paths)
    layout = _read_layout(files[0], variable)
    min_quality = _check_options(layout, min_quality, apply_bias)
    ds, file_of_time = _open_files(files, layout)
    axis = regular_time_axis(ds["time"].values, files=file_of_time)
    raw, sst = _observed_sst(ds, layout, min_quality, apply_bias)
    land, source, scan = _scan(ds, layout, raw, sst, land_mask)
    _check_content(ds, layout, raw, land, source, scan, min_quality)
    out = _assemble(ds, layout, sst, land, axis)
    out.attrs.update(_attrs(out, layout, files, axis, min_quality, apply_bias, source, land, scan))
    _warn_doubtful(out, source)
    return out.chunk(chunks) if chunks else out


# ------------------------------------------------------------------------ files
def resolve_paths(paths) -> list[Path]:
    """The files of ``paths`` (a file, a folder's ``*.nc``, a glob or a list), sorted by name.

    Raises :class:`DataNotFoundError` naming the pattern or the missing file.
    """
    if isinstance(paths, (str, os.PathLike)):
        text = os.path.expanduser(os.fspath(paths))
        if Path(text).is_dir():
            text = os.path.join(text, "*.nc")
        if glob.has_magic(text):
            files = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
            if not files:
                raise DataNotFoundError(
                    f"no file matches {text!r}: check the folder and the pattern "
                    "(e.g. 'sst/*.nc' or 'sst/2018*.nc')"
                )
            return files
        paths = [text]
    files = [Path(os.path.expanduser(os.fspath(p))) for p in paths]
    if not files:
        raise DataNotFoundError("no SST files given: pass a file, a list or a glob like 'sst/*.nc'")
    for f in files:
        if not f.is_file():
            raise DataNotFoundError(f"SST file {f} does not exist")
    return files


@dataclass(frozen=True)
class _Layout:
    """What the first file holds: variable names (None when absent) and axis names."""

    first: Path
    sst: str
    lat: str
    lon: str
    time: str
    quality: str | None
    flags: str | None
    bias: str | None
    mask: str | None

    @property
    def variables(self) -> list[str]:
        found = (self.sst, self.quality, self.flags, self.bias, self.mask)
        return [v for v in found if v is not None]


def _read_layout(first: Path, variable: str | None) -> _Layout:
    with open_netcdf(first) as ds:
        sst = find_sst_name(ds, variable, source=first)
        da = ds[sst]
        axes = {k: _axis_name(da, k) for k in ("latitude", "longitude", "time")}
        for kind, dim in axes.items():
            if dim is None:
                raise GridError(
                    f"{first}: {sst!r} has no {kind} axis (dims {da.dims}); unisst needs "
                    "(time, lat, lon) on a regular latitude/longitude grid."
                )
        mask = mask_variable(ds)
        return _Layout(
            first, sst, axes["latitude"], axes["longitude"], axes["time"],
            quality="quality_level" if "quality_level" in ds else None,
            flags="l2p_flags" if "l2p_flags" in ds else None,
            bias="sses_bias" if "sses_bias" in ds else None,
            mask=mask,
        )  # fmt: skip


def _check_options(layout: _Layout, min_quality, apply_bias: bool) -> int | None:
    """The quality threshold to use (None: no filter); errors for options the files cannot serve."""
    if apply_bias and layout.bias is None:
        raise DataFormatError(
            f"apply_bias=True was given, but {layout.first} has no sses_bias variable: "
            "call open_archive without apply_bias (the SST is used as it is)."
        )
    if layout.quality is None:
        if min_quality is not None:
            raise QualityError(
                f"min_quality={min_quality} was given, but {layout.first} has no quality_level "
                "variable: these files carry no per-pixel quality. Leave min_quality out."
            )
        return None
    if min_quality is None:
        return DEFAULT_MIN_QUALITY
    if isinstance(min_quality, bool) or not isinstance(min_quality, (int, np.integer)):
        raise QualityError(f"min_quality must be an integer 0..5, got {min_quality!r}")
    if not 0 <= min_quality <= 5:
        raise QualityError(
            f"min_quality must be 0..5 (GHRSST quality levels: 0 no_data … 5 best_quality), "
            f"got {min_quality}"
        )
    return int(min_quality)


def _open_files(files: list[Path], layout: _Layout) -> tuple[xr.Dataset, pd.Series]:
    """All files, lazily, on ``time, latitude, longitude``; and the file of each time."""
    records: list[tuple[str, np.ndarray]] = []
    raw = dict.fromkeys(layout.variables, False)  # decoded later, in float64
    prep = partial(_standardise, layout=layout, grid={}, records=records)
    try:
        ds = xr.open_mfdataset(
            [str(f) for f in files], preprocess=prep, combine="nested", concat_dim="time",
            data_vars="minimal", coords="minimal", compat="override", join="override",
            mask_and_scale=raw, chunks={},
        )  # fmt: skip
    except UnisstError:
        raise
    except Exception as err:
        for f in files:  # name the file that cannot be read, with the specific error
            open_netcdf(f).close()
        raise DataFormatError(f"cannot combine the SST files: {err}") from err
    if not np.issubdtype(ds["time"].dtype, np.datetime64):
        raise GridError(
            f"{layout.first}: the time axis could not be decoded to dates "
            f"({ds['time'].dtype}); unisst needs a standard calendar."
        )
    file_of_time = pd.Series(
        [Path(src).name for src, times in records for _ in times],
        index=pd.DatetimeIndex(np.concatenate([t for _, t in records])),
    )
    return ds.sortby("time"), file_of_time.sort_index(kind="stable")


def _standardise(ds: xr.Dataset, *, layout: _Layout, grid: dict, records: list) -> xr.Dataset:
    """One file on ``time, latitude, longitude``, latitude ascending, grid checked."""
    src = ds.encoding.get("source", "?")
    missing = [v for v in layout.variables if v not in ds]
    if missing:
        raise DataFormatError(
            f"{src} has no {', '.join(missing)} but {layout.first.name} has: an archive holds "
            "files of one product; move the odd file out."
        )
    ds = ds[layout.variables].reset_coords(drop=True)
    rename = {layout.lat: "latitude", layout.lon: "longitude", layout.time: "time"}
    ds = ds.rename({k: v for k, v in rename.items() if k != v})
    for dim in set(ds.dims) - {"time", "latitude", "longitude"}:
        if ds.sizes[dim] != 1:
            raise GridError(f"{src}: unexpected dimension {dim!r} of size {ds.sizes[dim]}")
        ds = ds.isel({dim: 0}, drop=True)
    if ds.sizes["latitude"] > 1 and ds["latitude"][0] > ds["latitude"][-1]:
        ds = ds.isel(latitude=slice(None, None, -1))
    _check_grid(ds, Path(src), grid)
    records.append((src, ds["time"].values))
    return ds


def _check_grid(ds: xr.Dataset, src: Path, grid: dict) -> None:
    """Raise :class:`MixedGridError` if ``ds``'s grid differs from the first file's."""
    lat, lon = ds["latitude"].values, ds["longitude"].values
    if not grid:
        grid.update(src=src, lat=lat, lon=lon)
        return
    first = grid["src"].name
    fix = (
        "Keep one product and region per archive, or regrid the files to one grid "
        "(e.g. cdo remapbil or xESMF) first."
    )
    if (lat.size, lon.size) != (grid["lat"].size, grid["lon"].size):
        raise MixedGridError(
            f"{src.name} has a {lat.size}×{lon.size} (lat×lon) grid but {first} has "
            f"{grid['lat'].size}×{grid['lon'].size}. {fix}"
        )
    for name, new, ref in (("latitudes", lat, grid["lat"]), ("longitudes", lon, grid["lon"])):
        step = float(np.median(np.abs(np.diff(ref)))) if ref.size > 1 else 1.0
        diff = float(np.max(np.abs(new.astype(np.float64) - ref)))
        if diff > 1e-3 * step:
            raise MixedGridError(
                f"{src.name}'s {name} differ from {first}'s by up to {diff:.4g}° "
                f"({new.min():.4f}..{new.max():.4f} vs {ref.min():.4f}..{ref.max():.4f}). {fix}"
            )


# -------------------------------------------------------------------------- SST
def _decode64(da: xr.DataArray) -> xr.DataArray:
    """CF-decode a raw (packed) variable in float64: no float32 round-off near 273.15 K.

    A float32 ``scale_factor``/``add_offset`` is read as the shortest decimal it
    stands for (0.01, 273.15), not as its binary value (0.0099999998).
    """
    attrs = dict(da.attrs)
    for key in ("scale_factor", "add_offset"):
        if key in attrs:
            attrs[key] = np.float64(str(np.asarray(attrs[key]).reshape(-1)[0]))
    name = str(da.name)
    decoded = xr.decode_cf(da.assign_attrs(attrs).to_dataset(name=name), decode_times=False)
    return decoded[name].astype(np.float64)


def _observed_sst(ds, layout: _Layout, min_quality, apply_bias) -> tuple:
    """(every observed SST, the SST kept) in °C, float64, lazy."""
    sst = _decode64(ds[layout.sst])
    units = str(sst.attrs.get("units", "")).strip().lower()
    if apply_bias:
        sst = (sst - _decode64(ds[layout.bias])).assign_attrs(sst.attrs)
        log.info("subtracting sses_bias from %s (GHRSST convention)", layout.sst)
    if units in _KELVIN:
        log.info("%s is in kelvin (units %r): converting to °C (minus 273.15)", layout.sst, units)
    sst = _to_celsius(sst, layout.first)
    kept = sst
    if min_quality is not None:
        levels = sorted(quality_levels(ds[layout.quality].attrs))
        log.info(
            "keeping quality_level >= %d (of %d..%d); pass min_quality=... to change it",
            min_quality, levels[0], levels[-1],
        )  # fmt: skip
        kept = kept.where(ds[layout.quality] >= min_quality)
    ice = _flag_bit_set(ds, layout, "ice")
    if ice is not None:
        kept = kept.where(~ice)  # ice is missing, not land
    return sst, kept


def _flags(ds: xr.Dataset, layout: _Layout) -> xr.DataArray:
    """``l2p_flags`` as integers, its fill value (if any) read as no flag set."""
    flags = ds[layout.flags]
    fill = flags.attrs.get("_FillValue")
    return flags if fill is None else flags.where(flags != fill, 0).astype(flags.dtype)


def _flag_bit_set(ds, layout: _Layout, name: str) -> xr.DataArray | None:
    if layout.flags is None:
        return None
    bit = flag_mask(ds[layout.flags].attrs, name)
    return None if bit is None else (_flags(ds, layout) & bit) != 0


# ------------------------------------------------------------------------- land
def _scan(ds, layout: _Layout, raw, kept, land_mask) -> tuple:
    """One pass over the data: (land, its source, per-pixel maps ``observed``/``kept``)."""
    lazy = {"observed": raw.notnull().any("time"), "kept": kept.notnull().any("time")}
    flag_land = _flag_bit_set(ds, layout, "land")
    if flag_land is not None:
        lazy["flags"] = static_land(flag_land)
    in_file = None
    if layout.mask is not None and land_mask is None:
        in_file = land_from_variable(ds[layout.mask], f"variable {layout.mask!r}", explicit=False)
        if in_file is not None:
            lazy["file"] = static_land(in_file[0])
    (scan,) = dask.compute(lazy)
    scan = {k: v.values.astype(bool) for k, v in scan.items()}
    if land_mask is not None:
        land, source = explicit_land_mask(land_mask, ds)
        return land.values.astype(bool), source, scan
    if "flags" in scan and scan["flags"].any():
        bit = flag_mask(ds[layout.flags].attrs, "land")
        return scan["flags"], f"l2p_flags land bit (mask {bit})", scan
    if "flags" in scan:
        log.info("l2p_flags never sets the land bit: not using it as the land mask")
    if in_file is not None:
        return scan["file"], f"variable {layout.mask!r} in the files ({in_file[1]})", scan
    land = ~scan["observed"]
    warnings.warn(
        f"no land mask given or found in the files: {int(land.sum())} pixels never observed "
        f"in the {ds.sizes['time']} frames are taken as land. Pass land_mask='FILE:VAR' (a "
        "netCDF land/sea mask on this grid) or a boolean array to use a real one.",
        ArchiveWarning,
        stacklevel=3,
    )
    return land, "data: pixels never observed in the record", scan


# ----------------------------------------------------------------------- checks
def _check_content(ds, layout: _Layout, raw, land, source, scan, min_quality) -> None:
    """Errors for an all-land domain or nothing left over the sea after filtering."""
    if land.all():
        hint = (
            "the files hold no SST value at all: check the variable, the region and the dates"
            if source.startswith("data")
            else "check that the mask is on this grid and that 1/True means land"
        )
        raise LandMaskError(
            f"every pixel of the {land.shape[0]}×{land.shape[1]} grid is land ({source}): {hint}"
        )
    sea = ~land
    if (scan["kept"] & sea).any():
        return
    if min_quality is not None and (scan["observed"] & sea).any():
        ok = raw.notnull()
        ql = ds[layout.quality]
        counts = dask.compute(*[((ql == k) & ok).sum() for k in range(6)])
        found = ", ".join(f"{k}: {int(c)}" for k, c in enumerate(counts) if int(c))
        best = max(k for k, c in enumerate(counts) if int(c))
        raise QualityError(
            f"nothing left after quality filtering: no sea pixel has quality_level >= "
            f"{min_quality} (pixels per level: {found}). Pass min_quality={best} or lower to "
            "keep the best there is, or check the product."
        )
    raise DataFormatError(
        "no SST value left over the sea in any frame (ice or missing everywhere): check the "
        "region, the dates and the variable"
    )


# --------------------------------------------------------------------- assemble
def _assemble(ds, layout: _Layout, sst, land, axis: TimeAxis) -> xr.Dataset:
    """The output data set on the regular time axis (absent dates as empty frames)."""
    land_da = xr.DataArray(
        land,
        dims=("latitude", "longitude"),
        coords={"latitude": ds["latitude"], "longitude": ds["longitude"]},
        attrs={"long_name": "land mask (True = land)"},
    )
    src_attrs = ds[layout.sst].attrs
    out = xr.Dataset({"sst": sst.where(~land_da).astype(np.float32)})
    out["sst"].attrs = {
        "units": "degrees_C",
        "long_name": "sea surface temperature",
        "standard_name": src_attrs.get("standard_name", "sea_surface_temperature"),
        "source_variable": layout.sst,
    }
    fills = {}
    if layout.quality is not None:
        ql = ds[layout.quality]
        out["quality_level"] = ql.where(ql >= 0, 0).astype(np.int8)
        out["quality_level"].attrs = _flag_attrs(ql.attrs, "0 (no_data) also for absent dates")
        fills["quality_level"] = 0
    if layout.flags is not None:
        out["l2p_flags"] = _flags(ds, layout)
        out["l2p_flags"].attrs = _flag_attrs(ds[layout.flags].attrs, "0 for absent dates")
        fills["l2p_flags"] = 0
    out = out.reindex(time=axis.times, fill_value={"sst": np.nan, **fills})
    out["land"] = land_da
    for name in ("latitude", "longitude"):
        out[name].attrs = {k: v for k, v in ds[name].attrs.items() if k != "_FillValue"}
    return out


def _flag_attrs(attrs: dict, comment: str) -> dict:
    keep = ("long_name", "flag_values", "flag_masks", "flag_meanings", "valid_min", "valid_max")
    return {**{k: attrs[k] for k in keep if k in attrs}, "comment": comment}


def _attrs(out, layout, files, axis: TimeAxis, min_quality, apply_bias, source, land, scan):
    dlat, dlon = spacing_deg(out["latitude"]), spacing_deg(out["longitude"])
    absent = [axis.label(t) for t in axis.absent]
    attrs = {
        "title": "SST archive opened by unisst_lib.data.archive.open_archive",
        "cadence": axis.cadence,
        "frames": len(axis.times),
        "absent_dates_count": len(absent),
        "absent_dates": absent,
        "quality_filter": "none: no quality_level in the files"
        if min_quality is None
        else f"quality_level >= {min_quality}",
        "bias_applied": "yes: sses_bias subtracted" if apply_bias else "no",
        "land_mask_source": source,
        "land_pixels": int(land.sum()),
        "sea_pixels_never_observed": int((~land & ~scan["observed"]).sum()),
        "grid_spacing_deg": float(max(dlat, dlon)),
        "latitude_spacing_deg": dlat,
        "longitude_spacing_deg": dlon,
        "source_files": len(files),
        "source_first_file": files[0].name,
        "source_variable": layout.sst,
    }
    if min_quality is not None:
        attrs["min_quality"] = int(min_quality)
    if absent:
        shown = ", ".join(absent[:20]) + (" …" if len(absent) > 20 else "")
        log.info(
            "%d of %d %s frames absent from the archive, left fully missing (never filled "
            "from neighbours): %s", len(absent), len(axis.times), axis.cadence, shown,
        )  # fmt: skip
    return attrs


def _warn_doubtful(out: xr.Dataset, source: str) -> None:
    """:class:`ArchiveWarning` for a grid far from 1/12°, a tiny domain or mostly land."""
    spacing = out.attrs["grid_spacing_deg"]
    ratio = spacing / MODEL_SPACING_DEG
    if not 1 / 1.5 <= ratio <= 1.5:
        what = "coarser" if ratio > 1 else "finer"
        expect = (
            "fronts and eddies span fewer pixels than the model learned: expect smoother fills "
            "and larger errors"
            if ratio > 1
            else "features span more pixels than the model learned: expect fills that miss "
            "the smallest scales"
        )
        warnings.warn(
            f"grid spacing {spacing:.3g}° is {max(ratio, 1 / ratio):.1f}× {what} than the 1/12° "
            f"(0.083°) grid the bundled model was trained on: {expect}. Regrid to 1/12° or "
            "train on this grid (notebook 03).",
            ArchiveWarning,
            stacklevel=3,
        )
    ny, nx = out.sizes["latitude"], out.sizes["longitude"]
    if ny < MODEL_TILE or nx < MODEL_TILE:
        warnings.warn(
            f"the domain is {ny}×{nx} pixels, smaller than the {MODEL_TILE}×{MODEL_TILE} tiles "
            "the model fills: each tile is padded with missing pixels, so the fill sees little "
            f"context and is less accurate. Choose a region of at least {MODEL_TILE}×{MODEL_TILE}.",
            ArchiveWarning,
            stacklevel=3,
        )
    share = float(out["land"].mean())
    if share > 0.5:
        warnings.warn(
            f"{100 * share:.0f} % of the domain is land ({source}): the model sees little sea "
            "per tile and fills near coasts less well. Choose a region with more sea.",
            ArchiveWarning,
            stacklevel=3,
        )
