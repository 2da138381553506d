"""GHRSST L3 conventions (GDS 2.0): variable names, flags, quality levels, and a writer.

GHRSST and Copernicus Marine L3 files (L3U, L3C, L3S) hold, on a regular
``(time, lat, lon)`` grid, one file per day (per hour for geostationary sensors):

* ``sea_surface_temperature`` (or ``adjusted_sea_surface_temperature``), int16
  packed kelvin (``scale_factor`` 0.01, ``add_offset`` 273.15, ``_FillValue`` -32768);
* ``quality_level``, int8, 0 ``no_data`` … 5 ``best_quality``;
* ``l2p_flags``, int16 bit flags described by ``flag_masks``/``flag_meanings``
  (GDS 2.0: bit 0 microwave, 1 land, 2 ice, 3 lake, 4 river, 6-15 sensor specific);
* ``sses_bias``, int8 packed kelvin, to be *subtracted* from the SST.

:func:`flag_masks` and :func:`flag_mask` read the bit layout from a variable's
attributes (GDS 2.0 defaults when they are missing); :func:`write_l3_file`
writes one file in the L3C layout (used by the tests and to hand-make archives).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from unisst_lib.core.errors import SSTVariableNotFoundError
from unisst_lib.core.paths import atomic_path
from unisst_lib.data.io import _find_sst_variable

log = logging.getLogger(__name__)

#: SST variable names of GHRSST/CMEMS products, in the order they are preferred.
#: ``sea_surface_temperature`` comes before the adjusted one: ``sses_bias`` applies to it.
GHRSST_SST_NAMES = (
    "sea_surface_temperature",
    "adjusted_sea_surface_temperature",
    "analysed_sst",
    "sea_surface_subskin_temperature",
    "sea_surface_skin_temperature",
    "sea_surface_foundation_temperature",
)
#: GDS 2.0 ``l2p_flags`` bits shared by every product (bits 6-15 are sensor specific).
GDS2_L2P_FLAGS: dict[str, int] = {
    "microwave": 1,
    "land": 2,
    "ice": 4,
    "lake": 8,
    "river": 16,
    "reserved_for_future_use": 32,
}
#: GDS 2.0 quality levels.
QUALITY_LEVELS: dict[int, str] = {
    0: "no_data",
    1: "bad_data",
    2: "worst_quality",
    3: "low_quality",
    4: "acceptable_quality",
    5: "best_quality",
}
SST_SCALE_FACTOR = np.float32(0.01)
SST_ADD_OFFSET = np.float32(273.15)
SST_FILL_VALUE = np.int16(-32768)
SSES_SCALE_FACTOR = np.float32(0.02)
BYTE_FILL_VALUE = np.int8(-128)
DTIME_FILL_VALUE = np.int32(-2147483648)
GHRSST_TIME_UNITS = "seconds since 1981-01-01 00:00:00"


# ------------------------------------------------------------------ conventions
def find_sst_name(ds: xr.Dataset, variable: str | None = None, *, source="dataset") -> str:
    """The SST variable of a GHRSST/CMEMS (or any CF) data set.

    ``variable`` if given; else the first of :data:`GHRSST_SST_NAMES`; else what
    :func:`unisst_lib.data.io.open_sst` would pick (``thetao``, ``sst``, a CF
    ``standard_name``). Raises :class:`SSTVariableNotFoundError`.

    >>> ds = xr.Dataset({"adjusted_sea_surface_temperature": ("x", [1.0]),
    ...                  "sea_surface_temperature": ("x", [1.0])})
    >>> find_sst_name(ds)
    'sea_surface_temperature'
    """
    if variable is not None and variable not in ds.data_vars:
        raise SSTVariableNotFoundError(
            f"{source} has no variable {variable!r}; it has: {', '.join(map(str, ds.data_vars))}"
        )
    if variable is not None:
        return variable
    for name in GHRSST_SST_NAMES:
        if name in ds.data_vars:
            others = [n for n in GHRSST_SST_NAMES if n in ds.data_vars and n != name]
            if others:
                log.info(
                    "%s: using %r (also there: %s; pass variable=... to pick one)",
                    source,
                    name,
                    ", ".join(others),
                )
            return name
    return _find_sst_variable(ds, None, source)


def _as_list(value) -> list:
    """A flag attribute as a list: arrays, scalars and ``"1, 2, 4"`` / ``"a b c"`` strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.replace(",", " ").split()
    return np.atleast_1d(np.asarray(value)).tolist()


def flag_masks(attrs: Mapping, *, default: Mapping[str, int] | None = None) -> dict[str, int]:
    """``{meaning: bit mask}`` from a variable's ``flag_masks`` and ``flag_meanings``.

    Without (consistent) attributes, ``default`` (the GDS 2.0 layout when None).

    >>> flag_masks({"flag_masks": [1, 2, 4], "flag_meanings": "microwave land ice"})
    {'microwave': 1, 'land': 2, 'ice': 4}
    >>> flag_masks({})["land"]
    2
    """
    masks = _as_list(attrs.get("flag_masks"))
    meanings = _as_list(attrs.get("flag_meanings"))
    if masks and len(masks) == len(meanings):
        return {str(m): int(v) for m, v in zip(meanings, masks, strict=True)}
    if masks or meanings:
        log.warning(
            "flag_masks (%d) and flag_meanings (%d) do not match: using the GDS 2.0 "
            "l2p_flags layout",
            len(masks),
            len(meanings),
        )
    return dict(GDS2_L2P_FLAGS if default is None else default)


def flag_mask(attrs: Mapping, name: str) -> int | None:
    """The bit mask of flag ``name`` (``land``, ``ice``, …) in ``attrs``, or None.

    A meaning matches when one of its ``_``-separated words is ``name``
    (``sea_ice`` is an ``ice`` flag); masks of several matches are OR-ed.

    >>> flag_mask({"flag_masks": "1, 8", "flag_meanings": "microwave sea_ice"}, "ice")
    8
    >>> flag_mask({"flag_masks": [1], "flag_meanings": "microwave"}, "land") is None
    True
    """
    bits = [v for m, v in flag_masks(attrs).items() if name in m.lower().split("_")]
    return int(np.bitwise_or.reduce(bits)) if bits else None


def quality_levels(attrs: Mapping) -> dict[int, str]:
    """``{level: meaning}`` from ``flag_values``/``flag_meanings`` (GDS 2.0 when absent).

    >>> quality_levels({})[5]
    'best_quality'
    """
    values = _as_list(attrs.get("flag_values"))
    meanings = _as_list(attrs.get("flag_meanings"))
    if values and len(values) == len(meanings):
        return {int(v): str(m) for v, m in zip(values, meanings, strict=True)}
    return dict(QUALITY_LEVELS)


def l3_filename(
    time,
    *,
    rdac: str = "UNISST",
    level: str = "L3C",
    sst_type: str = "SSTsubskin",
    product: str = "AVHRR_SST_METOP_B",
    gds_version: str = "02.0",
    file_version: str = "01.0",
) -> str:
    """A GDS 2.0 file name: ``<YYYYMMDDHHMMSS>-<RDAC>-<level>_GHRSST-<type>-<product>-v…-fv….nc``.

    >>> l3_filename(np.datetime64("2018-01-02T12:00"))
    '20180102120000-UNISST-L3C_GHRSST-SSTsubskin-AVHRR_SST_METOP_B-v02.0-fv01.0.nc'
    """
    stamp = pd.Timestamp(time).strftime("%Y%m%d%H%M%S")
    return f"{stamp}-{rdac}-{level}_GHRSST-{sst_type}-{product}-v{gds_version}-fv{file_version}.nc"


# ----------------------------------------------------------------------- writer
def _frame(values, shape: tuple[int, int], name: str, dtype=None) -> np.ndarray:
    """``values`` as one ``(1, ny, nx)`` frame; a scalar is broadcast."""
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim == 0:
        arr = np.full(shape, arr, dtype=arr.dtype)
    if arr.shape == shape:
        arr = arr[None]
    if arr.shape != (1, *shape):
        raise ValueError(f"{name} must be (lat, lon) = {shape} or (1, lat, lon), got {arr.shape}")
    return arr


def _coords(time, latitudes, longitudes) -> dict:
    """GHRSST ``time, lat, lon`` coordinates with their CF attributes."""
    geo = {"comment": "geographical coordinates, WGS84 projection"}
    lat_attrs = {
        "long_name": "latitude",
        "standard_name": "latitude",
        "units": "degrees_north",
        "axis": "Y",
        **geo,
        "valid_min": np.float32(-90),
        "valid_max": np.float32(90),
    }
    lon_attrs = {
        "long_name": "longitude",
        "standard_name": "longitude",
        "units": "degrees_east",
        "axis": "X",
        **geo,
        "valid_min": np.float32(-180),
        "valid_max": np.float32(180),
    }
    time_attrs = {
        "long_name": "reference time of sst file",
        "standard_name": "time",
        "axis": "T",
        "units": GHRSST_TIME_UNITS,  # encoded here: xarray would shorten the units
        "calendar": "standard",
    }
    seconds = (pd.Timestamp(time) - pd.Timestamp("1981-01-01")) // pd.Timedelta(seconds=1)
    return {
        "time": ("time", np.array([seconds], np.int32), time_attrs),
        "lat": ("lat", np.asarray(latitudes, np.float32), lat_attrs),
        "lon": ("lon", np.asarray(longitudes, np.float32), lon_attrs),
    }


def _packed_range_check(sst_k: np.ndarray) -> None:
    finite = sst_k[np.isfinite(sst_k)]
    lo = float(SST_ADD_OFFSET) - 32767 * float(SST_SCALE_FACTOR)
    hi = float(SST_ADD_OFFSET) + 32767 * float(SST_SCALE_FACTOR)
    if finite.size and (finite.min() < lo or finite.max() > hi):
        raise ValueError(f"sst_k outside the packable range {lo:.2f}..{hi:.2f} K: is it in °C?")


def _sst_attrs(name: str, standard_name: str) -> dict:
    return {
        "long_name": standard_name.replace("_", " "),
        "standard_name": standard_name,
        "units": "kelvin",
        "valid_min": np.int16(-200),
        "valid_max": np.int16(5000),
        "comment": "SST from the sensor; subtract sses_bias for the bias-corrected SST"
        if name == "sea_surface_temperature"
        else "SST adjusted to the reference",
        "source": "unisst_lib.data.ghrsst.write_l3_file",
        "depth": "10 micrometres" if "skin" in standard_name else "1 millimetre",
    }


def _flag_variables(shape, quality_level, l2p_flags, masks: Mapping[str, int]) -> dict:
    """``quality_level`` (int8) and ``l2p_flags`` (int16) with their flag attributes."""
    levels = np.arange(6, dtype=np.int8)
    out = {}
    if quality_level is not None:
        out["quality_level"] = (
            ("time", "lat", "lon"),
            _frame(quality_level, shape, "quality_level", np.int8),
            {
                "long_name": "quality level of SST pixel",
                "valid_min": levels[0],
                "valid_max": levels[-1],
                "flag_values": levels,
                "flag_meanings": " ".join(QUALITY_LEVELS.values()),
                "comment": "These are the overall quality indicators and are used for all GHRSST "
                "SSTs; 4 and 5 are the levels recommended for most uses",
            },
        )
    if l2p_flags is not None:
        out["l2p_flags"] = (
            ("time", "lat", "lon"),
            _frame(l2p_flags, shape, "l2p_flags", np.int16),
            {
                "long_name": "L2P flags",
                "valid_min": np.int16(0),
                "valid_max": np.int16(32767),
                "flag_masks": np.asarray(list(masks.values()), np.int16),
                "flag_meanings": " ".join(masks),
                "comment": "These flags can be used to further filter data variables",
            },
        )
    return out


def _sses_variables(shape, sses_bias, sses_standard_deviation) -> dict:
    out = {}
    for name, values, what in (
        ("sses_bias", sses_bias, "bias error"),
        ("sses_standard_deviation", sses_standard_deviation, "standard deviation"),
    ):
        if values is not None:
            out[name] = (
                ("time", "lat", "lon"),
                _frame(values, shape, name, np.float64),
                {
                    "long_name": f"SSES {what} based on proximity confidence flags",
                    "units": "kelvin",
                    "valid_min": np.int8(-127),
                    "valid_max": np.int8(127),
                    "comment": "Bias estimate: subtract it from sea_surface_temperature"
                    if name == "sses_bias"
                    else "Standard deviation estimate",
                },
            )
    return out


def _global_attrs(
    time,
    lat,
    lon,
    *,
    level: str,
    platform: str,
    sensor: str,
    coverage,
    name: str,
    extra: Mapping | None,
) -> dict:
    start = pd.Timestamp(time)
    stop = start + pd.Timedelta(coverage)
    dlat = float(np.abs(np.diff(lat)).mean()) if len(lat) > 1 else float("nan")
    dlon = float(np.abs(np.diff(lon)).mean()) if len(lon) > 1 else float("nan")
    iso = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "Conventions": "CF-1.7, ACDD-1.3",
        "title": f"{sensor} {level} sea surface temperature",
        "summary": f"GHRSST {level} SST from {sensor} on {platform}, gridded",
        "references": "GHRSST Data Specification (GDS) 2.0",
        "institution": "unisst",
        "history": f"created by unisst_lib.data.ghrsst.write_l3_file as {name}",
        "comment": "Subtract sses_bias from sea_surface_temperature; use quality_level >= 4",
        "license": "GHRSST protocol describes data use as free and open.",
        "id": f"{sensor}-{level}-GHRSST",
        "naming_authority": "org.ghrsst",
        "product_version": "1.0",
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"unisst/{name}")),
        "gds_version_id": "2.0",
        "netcdf_version_id": "4",
        "date_created": datetime.now(timezone.utc).strftime(iso),
        "file_quality_level": np.int32(3),
        "spatial_resolution": f"{dlat:.3g} degree",
        "start_time": start.strftime(iso),
        "time_coverage_start": start.strftime(iso),
        "stop_time": stop.strftime(iso),
        "time_coverage_end": stop.strftime(iso),
        "northernmost_latitude": np.float32(np.max(lat)),
        "southernmost_latitude": np.float32(np.min(lat)),
        "easternmost_longitude": np.float32(np.max(lon)),
        "westernmost_longitude": np.float32(np.min(lon)),
        "source": f"{sensor}-{platform}",
        "platform": platform,
        "sensor": sensor,
        "metadata_conventions": "Unidata Observation Dataset v1.0",
        "keywords": "Oceans > Ocean Temperature > Sea Surface Temperature",
        "keywords_vocabulary": "NASA Global Change Master Directory (GCMD) Science Keywords",
        "standard_name_vocabulary": "NetCDF Climate and Forecast (CF) Metadata Convention",
        "geospatial_lat_units": "degrees_north",
        "geospatial_lat_resolution": np.float32(dlat),
        "geospatial_lon_units": "degrees_east",
        "geospatial_lon_resolution": np.float32(dlon),
        "project": "Group for High Resolution Sea Surface Temperature",
        "publisher_name": "The GHRSST Project Office",
        "publisher_url": "https://www.ghrsst.org",
        "processing_level": level,
        "cdm_data_type": "grid",
        **(extra or {}),
    }


def _encoding(ds: xr.Dataset, sst_name: str, shape) -> dict:
    chunk = {"zlib": True, "complevel": 4, "shuffle": True, "chunksizes": (1, *shape)}
    byte = {"dtype": "int8", "_FillValue": BYTE_FILL_VALUE, "scale_factor": SSES_SCALE_FACTOR}
    enc = {
        sst_name: {
            "dtype": "int16",
            "scale_factor": SST_SCALE_FACTOR,
            "add_offset": SST_ADD_OFFSET,
            "_FillValue": SST_FILL_VALUE,
            **chunk,
        },
        "quality_level": {"_FillValue": BYTE_FILL_VALUE, **chunk},
        "l2p_flags": {"_FillValue": None, **chunk},
        "sses_bias": {**byte, "add_offset": np.float32(0), **chunk},
        "sses_standard_deviation": {**byte, "add_offset": np.float32(2.54), **chunk},
        "sst_dtime": {"_FillValue": DTIME_FILL_VALUE, "dtype": "int32", **chunk},
        "lat": {"_FillValue": None},
        "lon": {"_FillValue": None},
    }
    return {k: v for k, v in enc.items() if k in ds.variables}


def write_l3_file(
    path: str | os.PathLike[str],
    *,
    sst_k,
    time,
    latitudes,
    longitudes,
    quality_level=None,
    l2p_flags=None,
    sses_bias=None,
    sses_standard_deviation=None,
    l2p_flag_masks: Mapping[str, int] | None = None,
    sst_name: str = "sea_surface_temperature",
    standard_name: str = "sea_surface_subskin_temperature",
    level: str = "L3C",
    platform: str = "MetOpB",
    sensor: str = "AVHRR_GAC",
    time_coverage: str = "1D",
    global_attrs: Mapping | None = None,
) -> Path:
    """Write one frame (a day, an hour) as a GHRSST L3 file (GDS 2.0 layout).

    Parameters
    ----------
    sst_k
        (lat, lon) or (1, lat, lon) SST in kelvin, NaN where missing; written as
        ``sst_name(time, lat, lon)`` int16, ``scale_factor`` 0.01, ``add_offset``
        273.15, ``_FillValue`` -32768.
    time
        The file's reference time (a datetime64 / Timestamp / ISO string).
    latitudes, longitudes
        The grid (degrees); either direction, written as given.
    quality_level
        Integers 0..5 (int8, ``_FillValue`` -128), a scalar for a constant level.
    l2p_flags
        Bit flags (int16), laid out as ``l2p_flag_masks`` ``{meaning: mask}``
        (default: the GDS 2.0 bits: microwave 1, land 2, ice 4, lake 8, river 16).
    sses_bias, sses_standard_deviation
        Kelvin; int8 packed in 0.02 K steps (``sses_bias`` is *subtracted* from the SST).
    time_coverage
        The period the file covers (``time_coverage_end`` = time + this).

    Also written: ``sst_dtime`` (0 s where SST is valid) and the GHRSST global
    attributes (ACDD, ``gds_version_id`` 2.0, bounds, resolution). The file is
    written to a temporary name and renamed onto ``path``.
    """
    lat, lon = np.asarray(latitudes), np.asarray(longitudes)
    shape = (lat.size, lon.size)
    sst = _frame(sst_k, shape, "sst_k", np.float64)
    _packed_range_check(sst)
    ds = xr.Dataset(coords=_coords(time, lat, lon))
    dims = ("time", "lat", "lon")
    ds[sst_name] = (dims, sst, _sst_attrs(sst_name, standard_name))
    dtime = np.where(np.isfinite(sst), 0, DTIME_FILL_VALUE).astype(np.int32)
    ds["sst_dtime"] = (
        dims,
        dtime,
        {
            "long_name": "time difference from reference time",
            "units": "second",
            "comment": "time plus sst_dtime gives the seconds after 00:00:00 UTC January 1, 1981",
        },
    )
    masks = dict(GDS2_L2P_FLAGS if l2p_flag_masks is None else l2p_flag_masks)
    for name, var in {
        **_flag_variables(shape, quality_level, l2p_flags, masks),
        **_sses_variables(shape, sses_bias, sses_standard_deviation),
    }.items():
        ds[name] = var
    path = Path(path)
    ds.attrs = _global_attrs(
        time,
        lat,
        lon,
        level=level,
        platform=platform,
        sensor=sensor,
        coverage=time_coverage,
        name=path.name,
        extra=global_attrs,
    )
    with atomic_path(path) as tmp:
        ds.to_netcdf(
            tmp, format="NETCDF4", engine="netcdf4", encoding=_encoding(ds, sst_name, shape)
        )
    return path
