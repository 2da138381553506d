"""A stand-in for ``copernicusmarine.subset``: records its arguments and writes the
netCDF file the service would (the Copernicus Marine Toolbox's layout,
``thetao(time, depth, latitude, longitude)`` on the 1/12° grid, over the requested
box and period). Tests put it in place with ``monkeypatch.setattr(copernicusmarine,
"subset", FakeService())``."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import xarray as xr

GRID = 1 / 12


class FakeService:
    """Stands in for copernicusmarine.subset: records calls, writes what the service would."""

    def __init__(self, stamp_minutes: int | None = None, tweak=None, result="file"):
        self.calls: list[dict] = []
        self.stamp_minutes = stamp_minutes  # hourly stamps at hh:00 (0) or hh:30 (30)
        self.tweak = tweak  # (xr.Dataset) -> xr.Dataset, to break the file
        self.result = result  # "file", "none", "garbage" or an exception to raise

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        if isinstance(self.result, BaseException):
            raise self.result
        if self.result == "none":
            return None
        out = Path(kwargs["output_directory"]) / kwargs["output_filename"]
        if self.result == "garbage":
            out.write_bytes(b"<html>maintenance</html>")
            return SimpleNamespace(file_path=out)
        ds = service_dataset(kwargs, self.stamp_minutes)
        if self.tweak is not None:
            ds = self.tweak(ds)
        ds.to_netcdf(out)
        return SimpleNamespace(file_path=out)


def service_dataset(kwargs: dict, stamp_minutes: int | None = None) -> xr.Dataset:
    """What the 1/12° products return for a subset request (cells inside the box)."""
    daily = "P1D" in kwargs["dataset_id"]
    step = np.timedelta64(24 if daily else 1, "h")
    t0 = np.datetime64(kwargs["start_datetime"]).astype(
        "datetime64[D]" if daily else "datetime64[h]"
    )
    offset = np.timedelta64(0 if daily else (stamp_minutes or 0), "m")
    times = np.arange(t0, np.datetime64(kwargs["end_datetime"]) + step, step) + offset
    times = times[
        (times >= np.datetime64(kwargs["start_datetime"]))
        & (times <= np.datetime64(kwargs["end_datetime"]))
    ].astype("datetime64[ns]")

    def axis(lo, hi):
        k = np.arange(np.ceil(lo / GRID - 1e-6), np.floor(hi / GRID + 1e-6) + 1)
        return k * GRID

    lat = axis(kwargs["minimum_latitude"], kwargs["maximum_latitude"])
    lon = axis(kwargs["minimum_longitude"], kwargs["maximum_longitude"])
    hours = (times - times[0]) / np.timedelta64(1, "h")
    sst = (
        20.0
        + 0.3 * lat[None, :, None]
        + 0.01 * lon[None, None, :]
        + 0.2 * np.sin(2 * np.pi * hours / 24)[:, None, None]
    )
    return xr.Dataset(
        {
            "thetao": (
                ("time", "depth", "latitude", "longitude"),
                sst[:, None].astype(np.float32),
                {"units": "degrees_C", "standard_name": "sea_water_potential_temperature"},
            )
        },
        coords={
            "time": ("time", times, {"standard_name": "time", "axis": "T"}),
            "depth": ("depth", np.array([0.494025], np.float32), {"units": "m", "axis": "Z"}),
            "latitude": ("latitude", lat.astype(np.float32), {"units": "degrees_north"}),
            "longitude": ("longitude", lon.astype(np.float32), {"units": "degrees_east"}),
        },
        attrs={"title": "stand-in of a Copernicus Marine subset", "Conventions": "CF-1.8"},
    )


def set_credentials(monkeypatch, user: str, password: str) -> None:
    """Fake credentials in the environment, as if set before copernicusmarine was imported
    (the toolbox copies them at import into credentials_utils)."""
    from copernicusmarine.core_functions import credentials_utils

    monkeypatch.setenv("COPERNICUSMARINE_SERVICE_USERNAME", user)
    monkeypatch.setenv("COPERNICUSMARINE_SERVICE_PASSWORD", password)
    monkeypatch.setattr(credentials_utils, "COPERNICUSMARINE_SERVICE_USERNAME", user)
    monkeypatch.setattr(credentials_utils, "COPERNICUSMARINE_SERVICE_PASSWORD", password)


# ------------------------------------------------------------- an L3S product
L3_GRID = 0.1  # the ODYSSEA global L3S grid: cell centres at x.x5 degrees


def l3_sst_celsius(lat, day: int):
    """The stand-in's SST (°C) at a latitude on the ``day``-th day from the request's
    start: whole hundredths at the x.x5 cell centres, so the int16 packing is exact."""
    return 18.0 + (np.asarray(lat, np.float64) - 19.0) + 0.1 * day


def l3_quality(ilat, ilon, day: int):
    """The stand-in's quality_level (0..5) of a cell, by row, column and day."""
    return (np.asarray(ilat)[..., None] + np.asarray(ilon)[None, ...] + day) % 6


class FakeL3Service(FakeService):
    """Stands in for copernicusmarine.subset on a daily L3S data set (see l3_dataset)."""

    def __init__(self, absent_days=(), land_columns: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.absent_days = tuple(absent_days)
        self.land_columns = land_columns

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        if isinstance(self.result, BaseException):
            raise self.result
        if self.result == "none":
            return None
        out = Path(kwargs["output_directory"]) / kwargs["output_filename"]
        ds = l3_dataset(kwargs, absent_days=self.absent_days, land_columns=self.land_columns)
        if self.tweak is not None:
            ds = self.tweak(ds)
        ds.to_netcdf(out)
        return SimpleNamespace(file_path=out)


def l3_dataset(kwargs: dict, absent_days=(), land_columns: int = 2) -> xr.Dataset:
    """What a daily L3S data set returns for a subset request, as the toolbox writes it:
    ``sea_surface_temperature`` int16 kelvin (0.01 K, offset 273.15, fill -32768),
    ``quality_level`` int8 (0 where no data), ``sses_bias`` int8 (0.02 K), on
    ``time, latitude, longitude`` (the 0.1° grid cells inside the box, days stamped
    00:00, ``absent_days`` — indices from the start — left out). The ``land_columns``
    easternmost columns never hold a value. Only the requested variables are kept."""

    def axis(lo, hi):
        k = np.arange(np.ceil(lo / L3_GRID - 0.5 - 1e-6), np.floor(hi / L3_GRID - 0.5 + 1e-6) + 1)
        return np.round((k + 0.5) * L3_GRID, 6)

    first = np.datetime64(kwargs["start_datetime"][:10], "D")
    last = np.datetime64(kwargs["end_datetime"][:10], "D")
    index = [i for i in range(int((last - first).astype(int)) + 1) if i not in absent_days]
    lat = axis(kwargs["minimum_latitude"], kwargs["maximum_latitude"])
    lon = axis(kwargs["minimum_longitude"], kwargs["maximum_longitude"])
    ny, nx = lat.size, lon.size
    q = np.stack([l3_quality(np.arange(ny), np.arange(nx), d) for d in index]).astype(np.int8)
    q[..., nx - land_columns :] = 0
    sst = np.stack([np.repeat(l3_sst_celsius(lat, d)[:, None], nx, 1) for d in index])
    packed = np.round(sst / 0.01).astype(np.int16)
    packed[q == 0] = -32768
    bias = np.where(q == 0, -128, 5).astype(np.int8)  # 0.1 K
    dims = ("time", "latitude", "longitude")
    ds = xr.Dataset(
        {
            "sea_surface_temperature": (dims, packed, {
                "_FillValue": np.int16(-32768), "scale_factor": np.float32(0.01),
                "add_offset": np.float32(273.15), "units": "kelvin",
                "standard_name": "sea_surface_foundation_temperature",
            }),
            "quality_level": (dims, q, {
                "_FillValue": np.int8(-128), "flag_values": np.arange(6, dtype=np.int8),
                "flag_meanings": "no_data bad_data worst_quality low_quality "
                "acceptable_quality best_quality",
            }),
            "sses_bias": (dims, bias, {
                "_FillValue": np.int8(-128), "scale_factor": np.float32(0.02),
                "add_offset": np.float32(0.0), "units": "kelvin",
            }),
        },
        coords={
            "time": ("time", (first + np.array(index)).astype("datetime64[ns]"),
                     {"standard_name": "time", "axis": "T"}),
            "latitude": ("latitude", lat.astype(np.float32), {"units": "degrees_north"}),
            "longitude": ("longitude", lon.astype(np.float32), {"units": "degrees_east"}),
        },
        attrs={"title": "stand-in of a Copernicus Marine L3S subset", "Conventions": "CF-1.8"},
    )  # fmt: skip
    return ds[[v for v in kwargs["variables"] if v in ds.data_vars]]
