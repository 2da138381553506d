"""Gap-fill an L3 archive and write it back file by file: :func:`fill_archive`.

``unisst fill 'sst/*.nc' filled/`` opens the daily (hourly, …) GHRSST/CMEMS files
with :func:`unisst_lib.data.archive.open_archive` (quality filter, regular time
axis, land mask), fills the SST with :func:`unisst_lib.methods.fill.fill` and
writes one file per input file, under the input's name, in the input's own
layout:

* the SST variable keeps its name, dims and their order, latitude direction,
  units (kelvin), dtype, packing (``scale_factor``/``add_offset``/``_FillValue``)
  and attributes. A pixel that was *not* reconstructed keeps its packed integer
  from the input, bit for bit (observations, land); a reconstructed one —
  cloud, below ``min_quality``, ice, sea never observed — gets the fill, packed;
* every other variable (``quality_level``, ``l2p_flags``, ``sses_bias``, …) is
  copied unchanged, so ``quality_level`` still says what was *observed*;
* ``<sst>_filled_mask`` (int8, 1 where reconstructed) is added, with the global
  attributes ``history``, ``unisst_method``, ``unisst_checkpoint_sha256``,
  ``unisst_version``, ``unisst_min_quality``, ``unisst_apply_bias`` and
  ``unisst_land_mask``.

Absent dates (no input file) are filled as fully missing frames; with
``all_days=True`` each gets a file too, named after the nearest input file
(its date stamp replaced), with ``quality_level`` 0, ``l2p_flags`` the land bit
only, other time-dependent variables at their fill value and every sea pixel
flagged reconstructed.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import xarray as xr

from unisst_lib.core.errors import UnisstError
from unisst_lib.core.paths import atomic_path
from unisst_lib.data.archive import open_archive, resolve_paths
from unisst_lib.data.ghrsst import flag_mask
from unisst_lib.data.io import _CELSIUS, _KELVIN, _axis_name, open_netcdf
from unisst_lib.methods.archive_ensemble import add_ensemble_variables
from unisst_lib.methods.fill import fill
from unisst_lib.methods.fill_output import flag_variable, global_attributes

__all__ = [
    "FLAG_SUFFIX",
    "ArchiveFillError",
    "OutputExistsError",
    "absent_file_name",
    "count_filled",
    "fill_archive",
]

log = logging.getLogger(__name__)

FLAG_SUFFIX = "_filled_mask"
#: Date stamps looked for in a file name, in order, to name an absent date's file after it.
NAME_STAMPS = ("%Y%m%d%H%M%S", "%Y%m%dT%H%M%S", "%Y%m%d", "%Y-%m-%d", "%Y_%m_%d", "%Y%j")
#: Global attributes giving a file's time coverage, and the formats they are read in.
_TIME_ATTRS = ("start_time", "stop_time", "time_coverage_start", "time_coverage_end")
_TIME_ATTR_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y%m%dT%H%M%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
_TIME_UNITS = {
    "seconds": "s", "second": "s", "secs": "s", "sec": "s", "s": "s",
    "minutes": "min", "minute": "min", "mins": "min", "min": "min",
    "hours": "h", "hour": "h", "hrs": "h", "hr": "h", "h": "h",
    "days": "D", "day": "D", "d": "D",
}  # fmt: skip


class ArchiveFillError(UnisstError, ValueError):
    """An archive fill that cannot be written as asked (output folder, names, time units)."""


class OutputExistsError(UnisstError, FileExistsError):
    """Output files exist and ``overwrite`` was not given."""


def fill_archive(
    paths,
    out_dir: str | os.PathLike[str],
    *,
    method: str = "unisst",
    checkpoint: str | os.PathLike[str] | None = None,
    variable: str | None = None,
    min_quality: int | None = None,
    apply_bias: bool = False,
    land_mask=None,
    all_days: bool = False,
    overwrite: bool = False,
    device: str = "cpu",
    progress: bool = False,
    history: str | None = None,
    members: int = 1,
    keep_members: bool = False,
    calibration: str | float = "auto",
    seed: int = 0,
) -> list[Path]:
    """Fill the gaps of an archive of L3 files and write one filled file per input file.

    Parameters
    ----------
    paths
        A file, a folder (its ``*.nc``), a glob (``"sst/2018*.nc"``) or a list of files,
        as :func:`unisst_lib.data.archive.open_archive` takes them.
    out_dir
        The folder the filled files are written to (created if missing), under the
        inputs' names; it may not be a folder holding input files.
    method, checkpoint, device, progress
        As in :func:`unisst_lib.methods.fill.fill`.
    variable, min_quality, apply_bias, land_mask
        As in :func:`unisst_lib.data.archive.open_archive` (``min_quality`` default 4
        when the files have a ``quality_level``). Pixels below ``min_quality`` are
        missing: they are replaced by the fill and flagged. With ``apply_bias``
        the fill estimates ``SST - sses_bias``; observed pixels keep their input value.
    all_days
        Also write a file for each absent date of the regular time axis.
    members, keep_members, calibration, seed
        An ensemble, as in :func:`unisst_lib.methods.fill.fill`: the SST is the members'
        mean, ``<sst>_error`` its predicted standard deviation (and ``<sst>_members``),
        :mod:`unisst_lib.methods.archive_ensemble`.
    overwrite
        Replace existing output files (never an input file).
    history
        The line added to each file's ``history`` (default: the call).

    Returns
    -------
    list of Path
        The files written, in time order.

    Raises
    ------
    ArchiveFillError, OutputExistsError, and the errors of ``open_archive`` and ``fill``
        Each names the problem and what to do. Nothing is written when an output
        file exists without ``overwrite``.

    Notes
    -----
    The archive is read lazily, but the filled SST (float32) and its flag of the
    whole period and region are held in memory before the files are written. An
    archive larger than memory is filled chunk by chunk by
    :func:`unisst_lib.methods.stream.run.fill_streamed` (``unisst fill … --chunk``,
    ``--workers N``; the command line switches to it by itself when memory would not do).
    """
    files = resolve_paths(paths)
    out = _check_out_dir(out_dir, files)
    arch = open_archive(
        files, variable=variable, min_quality=min_quality, apply_bias=apply_bias,
        land_mask=land_mask,
    )  # fmt: skip
    name = str(arch["sst"].attrs["source_variable"])
    targets = _targets(files, arch, out, name=name, all_days=all_days)
    _check_targets(targets, files, overwrite=overwrite)
    ensemble = {"members": members, "keep_members": keep_members, "calibration": calibration,
                "seed": seed}  # fmt: skip
    filled = _fill(
        arch, name, method=method, checkpoint=checkpoint, device=device, progress=progress,
        history=history or _default_history(method, arch), ensemble=ensemble,
    )  # fmt: skip
    for target in targets:
        ds = _absent_dataset(target, filled) if target.absent else _present_dataset(target, filled)
        _write(ds, target.path, target.source)
        log.debug("wrote %s", target.path)
    n_absent = sum(t.absent for t in targets)
    log.info("wrote %d filled files to %s (%d for absent dates)", len(targets), out, n_absent)
    return [t.path for t in targets]


def count_filled(paths) -> int:
    """The reconstructed values (``*_filled_mask`` = 1) in the files ``paths``."""
    total = 0
    for path in paths:
        with open_netcdf(path, decode_cf=False) as ds:
            total += sum(
                int((ds[v].values == 1).sum()) for v in ds.data_vars if str(v).endswith(FLAG_SUFFIX)
            )
    return total


# ----------------------------------------------------------------- plan
@dataclass(frozen=True)
class _Target:
    """One file to write: where, after which input file, and its frames."""

    path: Path
    source: Path  # the input file whose layout (and, if present, data) it takes
    times: pd.DatetimeIndex
    absent: bool = False
    source_time: pd.Timestamp | None = None  # absent: the first time of ``source``


def _check_out_dir(out_dir, files: list[Path]) -> Path:
    """``out_dir`` as a Path, refused if it is a file or holds input files."""
    out = Path(os.path.expanduser(os.fspath(out_dir)))
    if out.exists() and not out.is_dir():
        raise ArchiveFillError(
            f"{out} is a file: the output of an archive fill is a folder (one filled file "
            "per input file, under the input's name). Give a folder."
        )
    held = [f for f in files if f.resolve().parent == out.resolve()]
    if held:
        raise ArchiveFillError(
            f"the output folder {out} holds input files ({held[0].name}"
            f"{', …' if len(held) > 1 else ''}): the filled files take the inputs' names and "
            f"would replace them. Choose another folder, e.g. {out.parent / (out.name + '_filled')}"
        )
    dup = [n for n, c in Counter(f.name for f in files).items() if c > 1]
    if dup:
        same = [str(f) for f in files if f.name == dup[0]]
        raise ArchiveFillError(
            f"{len(same)} input files are named {dup[0]} ({', '.join(same[:3])}): their filled "
            "files would have one name in the output folder. Fill them in separate runs."
        )
    return out


def _targets(files, arch: xr.Dataset, out: Path, *, name: str, all_days: bool) -> list[_Target]:
    """The files to write: one per input file, and one per absent date if ``all_days``."""
    present = [_Target(out / f.name, f, _file_times(f, name)) for f in files]
    present.sort(key=lambda t: t.times[0])
    if not all_days:
        return present
    seen = pd.DatetimeIndex(np.concatenate([t.times.as_unit("ns") for t in present]))
    axis = arch.get_index("time").as_unit("ns")
    starts = pd.DatetimeIndex([t.times[0] for t in present]).as_unit("ns")
    absent = []
    for time in axis.difference(seen):
        # the nearest input file, the earlier one on a tie
        near = present[int(np.argmin(np.abs((starts - time).asi8)))]
        fname = absent_file_name(near.source.name, near.times[0], time)
        absent.append(
            _Target(out / fname, near.source, pd.DatetimeIndex([time]), True, near.times[0])
        )
    return sorted(present + absent, key=lambda t: t.times[0])


def _file_times(path: Path, name: str) -> pd.DatetimeIndex:
    """The decoded times of ``path``'s frames (of its SST variable ``name``)."""
    with open_netcdf(path) as ds:
        return pd.DatetimeIndex(ds[_axis_name(ds[name], "time")].values).as_unit("ns")


def absent_file_name(name: str, file_time, time) -> str:
    """``name`` (a file of ``file_time``) with its date stamp set to ``time``.

    The stamp is the first of :data:`NAME_STAMPS` that ``file_time`` takes in ``name``.

    >>> absent_file_name("20180101120000-IFR-L3C_GHRSST-SSTsubskin.nc",
    ...                  pd.Timestamp("2018-01-01T12:00"), pd.Timestamp("2018-01-03T12:00"))
    '20180103120000-IFR-L3C_GHRSST-SSTsubskin.nc'
    """
    file_time, time = pd.Timestamp(file_time), pd.Timestamp(time)
    for fmt in NAME_STAMPS:
        stamp = file_time.strftime(fmt)
        if stamp in name:
            return name.replace(stamp, time.strftime(fmt), 1)
    raise ArchiveFillError(
        f"cannot name the file of the absent date {time:%Y-%m-%d %H:%M}: the name of its "
        f"neighbour {name} holds no date stamp of its time {file_time:%Y-%m-%d %H:%M} "
        "(looked for YYYYMMDD[HHMMSS], YYYY-MM-DD, YYYYjjj). Leave all_days out (--all-days)."
    )


def _check_targets(targets: list[_Target], files: list[Path], *, overwrite: bool) -> None:
    """No two outputs with one name, no output onto an input, no existing file unless overwrite."""
    names = Counter(t.path.name for t in targets)
    clash = [n for n, c in names.items() if c > 1]
    if clash:
        raise ArchiveFillError(
            f"{names[clash[0]]} output files would be named {clash[0]}: the file names hold "
            "the date but not the time of day, so absent dates cannot be named after them. "
            "Leave all_days out (--all-days)."
        )
    existing = [t.path for t in targets if t.path.exists()]
    for path in existing:
        if any(path.samefile(f) for f in files):
            raise ArchiveFillError(
                f"{path} is an input file (a link to it, or the same folder under another "
                "name): choose an output folder that holds no input file."
            )
    if existing and not overwrite:
        shown = ", ".join(p.name for p in existing[:3]) + (", …" if len(existing) > 3 else "")
        raise OutputExistsError(
            f"{len(existing)} of the {len(targets)} output files exist in "
            f"{existing[0].parent} ({shown}): pass overwrite=True (--overwrite) to replace "
            "them, or choose another output folder. Nothing was written."
        )


# ----------------------------------------------------------------- fill
@dataclass(frozen=True)
class _Filled:
    """The archive's fill (°C, latitude ascending, on its regular time axis) and its record."""

    name: str  # the SST variable of the files
    celsius: np.ndarray  # (T, H, W)
    needed: np.ndarray  # (T, H, W) bool: reconstructed
    land: np.ndarray  # (H, W) bool
    times: pd.DatetimeIndex
    method: str
    checkpoint_sha256: str
    history: str
    extra_attrs: dict
    error: np.ndarray | None = None  # (T, H, W) an ensemble's predicted standard deviation
    members: np.ndarray | None = None  # (N, T, H, W) °C, kept members
    error_comment: str = ""


def _fill(arch: xr.Dataset, name: str, *, method, checkpoint, device, progress, history,
          ensemble: dict):  # fmt: skip
    """:func:`fill` on the archive's ``sst``, with its land mask (sea never observed is filled)."""
    res = fill(
        arch[["sst"]], method=method, checkpoint=checkpoint, variable="sst", device=device,
        progress=progress, land=arch["land"], **ensemble,
    )  # fmt: skip
    extra = archive_attributes(arch)
    for key in ("unisst_members", "unisst_spread_calibration"):
        if key in res.attrs:
            extra[key] = res.attrs[key]
    err = res.get("sst_error")
    mem = res.get("sst_members")
    return _Filled(
        name, res["sst"].values, res["sst_filled_mask"].values.astype(bool),
        arch["land"].values.astype(bool), res.get_index("time").as_unit("ns"), method,
        str(res.attrs["unisst_checkpoint_sha256"]), history, extra,
        None if err is None else err.values, None if mem is None else mem.values,
        "" if err is None else str(err.attrs.get("comment", "")),
    )  # fmt: skip


def archive_attributes(arch: xr.Dataset) -> dict:
    """The global attributes a filled file gets about how the archive was read."""
    mq = arch.attrs.get("min_quality")
    bias = "no"
    if str(arch.attrs.get("bias_applied", "no")).startswith("yes"):
        bias = "yes: reconstructed values estimate SST minus sses_bias; observed values are as "
        bias += "in the input (subtract sses_bias from them)"
    return {
        "unisst_min_quality": np.int32(mq) if mq is not None else "none: no quality_level",
        "unisst_apply_bias": bias,
        "unisst_land_mask": str(arch.attrs.get("land_mask_source", "")),
    }


def _default_history(method: str, arch: xr.Dataset) -> str:
    mq = arch.attrs.get("min_quality")
    return f"unisst_lib.methods.archive_fill.fill_archive(method={method!r}, min_quality={mq})"


# ---------------------------------------------------------------- write
def _open_raw(path: Path) -> xr.Dataset:
    """``path`` as stored: no CF decoding (packed integers, raw times), in memory."""
    with open_netcdf(path, decode_cf=False) as ds:
        return ds.load()


def _present_dataset(target: _Target, filled: _Filled) -> xr.Dataset:
    """The input file with its reconstructed SST pixels replaced, and the flag."""
    raw = _open_raw(target.source)
    var = raw[filled.name]
    idx = filled.times.get_indexer(target.times)
    if (idx < 0).any():
        raise ArchiveFillError(f"{target.source}: its times are not on the archive's time axis")
    needed = _to_file_layout(filled.needed[idx], var)
    values = _to_file_layout(filled.celsius[idx], var)
    return _with_fill(raw, filled, values, needed, var.values, target.source, idx)


def _absent_dataset(target: _Target, filled: _Filled) -> xr.Dataset:
    """A file for an absent date, in the layout of its neighbour, every sea pixel filled."""
    raw = _open_raw(target.source)
    var = raw[filled.name]
    tdim = _axis_name(var, "time")
    raw = raw.isel({tdim: [0]})
    raw = _retime(raw, tdim, target)
    var = raw[filled.name]
    idx = filled.times.get_indexer(target.times)
    needed = _to_file_layout(filled.needed[idx], var)
    values = _to_file_layout(filled.celsius[idx], var)
    land = _to_file_layout(np.broadcast_to(filled.land, filled.needed[idx].shape), var)
    moved = (filled.name, raw[tdim].attrs.get("bounds"))  # the SST; time bounds, shifted
    for v in list(raw.data_vars):
        if v not in moved and tdim in raw[v].dims:
            raw[v] = raw[v].copy(data=_empty_frame(raw[v], land))
    base = np.full(var.shape, _missing_value(var), dtype=var.dtype)
    ds = _with_fill(raw, filled, values, needed, base, target.source, idx)
    label = f"{target.times[0]:%Y-%m-%dT%H:%M:%S}"
    ds.attrs["uuid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"unisst/{target.path.name}"))
    ds.attrs["unisst_absent_date"] = (
        f"no input file for {label}: every sea pixel is reconstructed; layout and "
        f"attributes from {target.source.name}"
    )
    return ds


def _with_fill(raw, filled: _Filled, values, needed, base, source: Path, idx) -> xr.Dataset:
    """``raw`` with ``base`` (packed) replaced by ``values`` (°C) where ``needed``; the flag.

    An ensemble's error and members (frames ``idx`` of the fill) are added too.
    """
    var = raw[filled.name]
    ok = np.isfinite(values)
    if (needed & ~ok).any():  # a fill always gives a value; never pack a NaN
        log.warning("%s: %d reconstructed pixels have no value", source, int((needed & ~ok).sum()))
        needed = needed & ok
    data = np.array(base, dtype=var.dtype, copy=True)
    data[needed] = _pack(values[needed], var, source)
    raw[filled.name] = var.variable.copy(data=data)
    flag = flag_variable(filled.name, var.dims, needed, method=filled.method)
    keep = ("zlib", "complevel", "shuffle", "chunksizes")
    flag.encoding.update({k: v for k, v in var.encoding.items() if k in keep})
    raw[filled.name + FLAG_SUFFIX] = flag
    if filled.error is not None:
        members = filled.members
        raw = add_ensemble_variables(
            raw, filled.name, error=_to_file_layout(filled.error[idx], var),
            members=None if members is None else [_to_file_layout(m[idx], var) for m in members],
            needed=needed, base=base, pack=lambda c: _pack(c, var, source),
            comment=filled.error_comment,
        )  # fmt: skip
    raw.attrs = {
        **global_attributes(
            raw.attrs, method=filled.method, checkpoint_sha256=filled.checkpoint_sha256,
            history=filled.history,
        ),
        **filled.extra_attrs,
    }  # fmt: skip
    return raw


def _to_file_layout(arr: np.ndarray, var: xr.DataArray) -> np.ndarray:
    """(t, lat ascending, lon) ``arr`` on ``var``'s dims: their order, latitude direction."""
    dims = [_axis_name(var, k) for k in ("time", "latitude", "longitude")]
    da = xr.DataArray(arr, dims=dims)
    lat = dims[1]
    if var.sizes[lat] > 1 and lat in var.coords and float(var[lat][0]) > float(var[lat][-1]):
        da = da.isel({lat: slice(None, None, -1)})
    for d in var.dims:
        if d not in da.dims:  # a size-1 axis (depth) of the file
            da = da.expand_dims({d: var.sizes[d]})
    return np.ascontiguousarray(da.transpose(*var.dims).values)


def _decimal(value) -> np.float64:
    """A packing attribute as the decimal it stands for (float32 0.01 -> 0.01, as it is read)."""
    return np.float64(str(np.asarray(value).reshape(-1)[0]))


def _in_kelvin(var: xr.DataArray, source: Path) -> bool:
    """Whether the SST variable is in kelvin: its units, else its values (as open_archive)."""
    units = str(var.attrs.get("units", "")).strip().lower().replace(" ", "_")
    if units in _KELVIN or units in _CELSIUS:
        return units in _KELVIN
    raw = var.values[var.values != _missing_value(var)].astype(np.float64)
    values = raw * _decimal(var.attrs.get("scale_factor", 1)) + _decimal(
        var.attrs.get("add_offset", 0)
    )
    kelvin = bool(values.size) and float(np.nanmedian(values)) > 150
    log.warning("%s: SST units %r; writing the fill in %s", source, units, "K" if kelvin else "°C")
    return kelvin


def _pack(celsius: np.ndarray, var: xr.DataArray, source: Path) -> np.ndarray:
    """°C values packed as ``var`` stores them (units, scale_factor, add_offset, dtype)."""
    values = celsius.astype(np.float64) + (273.15 if _in_kelvin(var, source) else 0.0)
    scale = _decimal(var.attrs.get("scale_factor", 1))
    packed = (values - _decimal(var.attrs.get("add_offset", 0))) / scale
    if not np.issubdtype(var.dtype, np.integer):
        return packed.astype(var.dtype)
    packed = np.round(packed)
    lo, hi = _packed_limits(var)
    out = (packed < lo) | (packed > hi)
    if out.any():
        log.warning(
            "%s: %d reconstructed values outside the valid range of %s, set to its bounds",
            source, int(out.sum()), var.name,
        )  # fmt: skip
    return np.clip(packed, lo, hi).astype(var.dtype)


def _packed_limits(var: xr.DataArray) -> tuple[int, int]:
    """The packed integers a value may take: valid_min/valid_max (or range), not _FillValue."""
    info = np.iinfo(var.dtype)
    lo, hi = int(info.min), int(info.max)
    vr = var.attrs.get("valid_range")
    bounds = {"valid_min": vr[0], "valid_max": vr[1]} if vr is not None else var.attrs
    for key in ("valid_min", "valid_max"):
        v = bounds.get(key)
        if v is not None and np.issubdtype(np.asarray(v).dtype, np.integer):
            lo, hi = (max(lo, int(v)), hi) if key == "valid_min" else (lo, min(hi, int(v)))
    fill = var.attrs.get("_FillValue")
    if fill is not None and int(fill) == lo:
        lo += 1
    if fill is not None and int(fill) == hi:
        hi -= 1
    return lo, hi


def _missing_value(var: xr.DataArray):
    """What ``var`` stores for no data: _FillValue, missing_value, NaN or netCDF's default."""
    for key in ("_FillValue", "missing_value"):
        if key in var.attrs:
            return np.asarray(var.attrs[key]).reshape(-1)[0]
    if np.issubdtype(var.dtype, np.floating):
        return np.nan
    return netCDF4.default_fillvals.get(var.dtype.str[1:], 0)


def _empty_frame(var: xr.DataArray, land: np.ndarray) -> np.ndarray:
    """A variable's frame for an absent date: quality 0, l2p_flags the land bit, else no data."""
    if var.name == "quality_level":
        return np.zeros(var.shape, var.dtype)
    if var.name == "l2p_flags":
        bit = flag_mask(var.attrs, "land") or 0
        return np.where(land, bit, 0).astype(var.dtype)
    return np.full(var.shape, _missing_value(var), dtype=var.dtype)


def _retime(raw: xr.Dataset, tdim: str, target: _Target) -> xr.Dataset:
    """``raw`` (one frame of a neighbour) moved to the absent date: time, bounds, attributes."""
    new_t = target.times[0]
    tvar = raw[tdim]
    new = _encode_time(new_t, tvar, target.source)
    shift = new - tvar.values[0].astype(np.float64)
    raw = raw.assign_coords({tdim: tvar.variable.copy(data=np.asarray([new], tvar.dtype))})
    bounds = tvar.attrs.get("bounds")
    if bounds in raw.variables:
        b = raw[bounds]
        raw[bounds] = b.copy(data=(b.values.astype(np.float64) + shift).astype(b.dtype))
    raw.attrs = _shift_time_attrs(raw.attrs, new_t - target.source_time)
    return raw


def _encode_time(time: pd.Timestamp, tvar: xr.DataArray, source: Path) -> float:
    """``time`` in the units of the raw time variable ``tvar`` (``<unit> since <date>``)."""
    units = str(tvar.attrs.get("units", ""))
    unit, _, ref = units.partition(" since ")
    calendar = str(tvar.attrs.get("calendar", "standard")).lower()
    step = _TIME_UNITS.get(unit.strip().lower())
    if not ref or step is None or calendar not in ("standard", "gregorian", "proleptic_gregorian"):
        raise ArchiveFillError(
            f"{source}: cannot write a time in its units {units!r} (calendar {calendar}) for "
            "the files of absent dates. Leave all_days out (--all-days)."
        )
    origin = pd.Timestamp(ref.strip().removesuffix("UTC").strip())
    origin = origin.tz_convert(None) if origin.tzinfo is not None else origin
    value = (time - origin) / pd.Timedelta(1, step)
    if np.issubdtype(tvar.dtype, np.integer) and not float(value).is_integer():
        raise ArchiveFillError(
            f"{source}: {time} is not a whole number of {unit} since {ref}, as its integer time "
            "variable needs: the files of absent dates cannot be written. Leave all_days out."
        )
    return float(value)


def _shift_time_attrs(attrs: dict, delta: pd.Timedelta) -> dict:
    """Global attributes with the time-coverage ones (ISO strings) moved by ``delta``."""
    attrs = dict(attrs)
    for key in _TIME_ATTRS:
        value = attrs.get(key)
        for fmt in _TIME_ATTR_FORMATS if isinstance(value, str) else ():
            try:
                stamp = pd.Timestamp(pd.to_datetime(value, format=fmt))
            except (ValueError, TypeError):
                continue
            attrs[key] = (stamp + delta).strftime(fmt)
            break
    return attrs


def _write(ds: xr.Dataset, path: Path, source: Path) -> None:
    """``ds`` (raw, undecoded) to ``path`` atomically, in ``source``'s netCDF format."""
    with netCDF4.Dataset(source) as nc:
        fmt = nc.data_model
    for var in ds.variables.values():
        if "_FillValue" not in var.attrs:  # no fill value in the input: none added
            var.encoding["_FillValue"] = None
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, format=fmt, engine="netcdf4")
