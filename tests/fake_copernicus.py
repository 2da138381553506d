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
