"""SST and cloud readers/writers: round trips, real-product variants, bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest
import xarray as xr

from unisst_lib.core.errors import (
    CloudDataError,
    CorruptFileError,
    DataNotFoundError,
    FileAccessError,
    GridError,
    MissingDependencyError,
    SSTVariableNotFoundError,
    UnisstError,
)
from unisst_lib.core.paths import atomic_path
from unisst_lib.data.io import (
    CMEMS_SCALE_FACTOR,
    load_clouds,
    open_netcdf,
    open_sst,
    write_sst_netcdf,
)

T, NY, NX = 5, 8, 10


def _grid():
    times = np.datetime64("2018-01-01T00:30", "ns") + np.arange(T) * np.timedelta64(1, "h")
    lat = 20 + np.arange(NY) / 12
    lon = -40 + np.arange(NX) / 12
    return times, lat, lon


def _sst(seed=0):
    rng = np.random.default_rng(seed)
    return (24 + rng.normal(0, 1, (T, NY, NX))).astype(np.float32)


def test_copernicus_layout_round_trip_is_exact_to_the_packing_step(tmp_path):
    times, lat, lon = _grid()
    sst = _sst()
    sst[1, 2, 3] = np.nan
    path = write_sst_netcdf(
        sst, tmp_path / "a.nc", times=times, latitudes=lat, longitudes=lon, depth_m=0.494
    )
    raw = xr.open_dataset(path, mask_and_scale=False)
    th = raw["thetao"]
    assert th.dims == ("time", "depth", "latitude", "longitude")
    assert th.dtype == np.int16
    assert th.attrs["scale_factor"] == CMEMS_SCALE_FACTOR and th.attrs["add_offset"] == 21.0
    assert th.attrs["_FillValue"] == -32767 and th.attrs["units"] == "degrees_C"
    assert th.attrs["standard_name"] == "sea_water_potential_temperature"
    assert raw["latitude"].attrs["units"] == "degrees_north"
    assert raw["depth"].attrs["positive"] == "down"
    assert raw.attrs["Conventions"].startswith("CF-")
    assert int(th.values[1, 0, 2, 3]) == -32767

    da = open_sst(path)
    assert da.dims == ("time", "latitude", "longitude") and da.dtype == np.float32
    assert da.attrs["units"] == "degrees_C"
    assert np.isnan(da.values[1, 2, 3])
    ok = np.isfinite(sst)
    # int16 packing: errors of at most half a packing step
    assert np.max(np.abs(da.values[ok] - sst[ok])) <= CMEMS_SCALE_FACTOR / 2 + 1e-5
    np.testing.assert_array_equal(da.time.values, times)
    np.testing.assert_allclose(da.latitude.values, lat, atol=1e-5)


def test_writing_twice_gives_the_same_bytes(tmp_path):
    times, lat, lon = _grid()
    a = write_sst_netcdf(
        _sst(), tmp_path / "a.nc", times=times, latitudes=lat, longitudes=lon, depth_m=0.5
    )
    b = write_sst_netcdf(
        _sst(), tmp_path / "b.nc", times=times, latitudes=lat, longitudes=lon, depth_m=0.5
    )
    assert a.read_bytes() == b.read_bytes()


def test_ghrsst_like_kelvin_without_depth_and_descending_lat(tmp_path):
    times, lat, lon = _grid()
    sst = _sst()
    ds = xr.Dataset(
        {
            "analysed_sst": (
                ("time", "lat", "lon"),
                (sst + 273.15)[:, ::-1],
                {"units": "kelvin", "standard_name": "sea_surface_foundation_temperature"},
            )
        },
        coords={"time": times, "lat": lat[::-1], "lon": lon},
    )
    ds.to_netcdf(tmp_path / "g.nc")
    da = open_sst(tmp_path / "g.nc")
    assert da.dims == ("time", "latitude", "longitude")
    assert da.latitude.values[0] < da.latitude.values[-1]
    np.testing.assert_allclose(da.values, sst, atol=1e-4)


def test_variable_found_by_standard_name_and_by_argument(tmp_path):
    times, lat, lon = _grid()
    ds = xr.Dataset(
        {
            "temp_surface": (
                ("time", "latitude", "longitude"),
                _sst(),
                {"units": "degC", "standard_name": "sea_surface_temperature"},
            ),
            "other": (("time", "latitude", "longitude"), _sst(1) + 100, {"units": "degC"}),
        },
        coords={"time": times, "latitude": lat, "longitude": lon},
    )
    ds.to_netcdf(tmp_path / "s.nc")
    np.testing.assert_allclose(open_sst(tmp_path / "s.nc").values, _sst(), atol=1e-5)
    assert float(open_sst(tmp_path / "s.nc", variable="other").mean()) > 100
    with pytest.raises(SSTVariableNotFoundError, match="no variable 'nope'.*temp_surface"):
        open_sst(tmp_path / "s.nc", variable="nope")


def test_multi_level_file_keeps_the_surface(tmp_path):
    times, lat, lon = _grid()
    data = np.stack([_sst(), _sst(1) - 5], axis=1)
    ds = xr.Dataset(
        {"thetao": (("time", "depth", "latitude", "longitude"), data, {"units": "degrees_C"})},
        coords={"time": times, "depth": [10.0, 0.494], "latitude": lat, "longitude": lon},
    )
    ds.to_netcdf(tmp_path / "d.nc")
    np.testing.assert_allclose(open_sst(tmp_path / "d.nc").values, _sst(1) - 5, atol=1e-5)


def test_no_sst_variable(tmp_path):
    times, lat, lon = _grid()
    xr.Dataset(
        {"salinity": (("time", "latitude", "longitude"), _sst(), {"units": "1e-3"})},
        coords={"time": times, "latitude": lat, "longitude": lon},
    ).to_netcdf(tmp_path / "s.nc")
    with pytest.raises(SSTVariableNotFoundError, match="salinity.*--variable"):
        open_sst(tmp_path / "s.nc")


def test_missing_lat_lon_or_time(tmp_path):
    times, lat, lon = _grid()
    xr.Dataset(
        {"thetao": (("time", "row", "col"), _sst(), {"units": "degrees_C"})},
        coords={"time": times},
    ).to_netcdf(tmp_path / "nolat.nc")
    with pytest.raises(GridError, match="no latitude axis"):
        open_sst(tmp_path / "nolat.nc")
    xr.Dataset(
        {"thetao": (("latitude", "longitude"), _sst()[0], {"units": "degrees_C"})},
        coords={"latitude": lat, "longitude": lon},
    ).to_netcdf(tmp_path / "notime.nc")
    with pytest.raises(GridError, match="no time axis"):
        open_sst(tmp_path / "notime.nc")


def test_corrupt_truncated_missing_and_not_netcdf(tmp_path):
    times, lat, lon = _grid()
    good = write_sst_netcdf(
        _sst(), tmp_path / "g.nc", times=times, latitudes=lat, longitudes=lon, depth_m=0.5
    )
    blob = good.read_bytes()
    (tmp_path / "trunc.nc").write_bytes(blob[: len(blob) // 3])
    with pytest.raises(CorruptFileError, match="looks like netCDF but cannot be decoded") as e:
        open_sst(tmp_path / "trunc.nc")
    assert e.value.__cause__ is not None  # the backend's own error is kept
    (tmp_path / "text.nc").write_text("this is not netCDF\n")
    with pytest.raises(
        CorruptFileError, match=r"is not a netCDF file \(its first bytes are b'this'"
    ):
        open_sst(tmp_path / "text.nc")
    with pytest.raises(DataNotFoundError):
        open_sst(tmp_path / "absent.nc")


def test_open_netcdf_names_the_real_cause(tmp_path, monkeypatch):
    times, lat, lon = _grid()
    good = write_sst_netcdf(
        _sst(), tmp_path / "g.nc", times=times, latitudes=lat, longitudes=lon, depth_m=0.5
    )

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(xr, "open_dataset", refuse)
    with pytest.raises(FileAccessError, match="permission denied") as e:
        open_sst(good)
    assert isinstance(e.value.__cause__, PermissionError)
    assert "download" not in str(e.value)  # no advice the cause does not support

    def no_backend(*args, **kwargs):
        raise ValueError(
            "did not find a match in any of xarray's currently installed IO backends ['scipy']"
        )

    monkeypatch.setattr(xr, "open_dataset", no_backend)
    with pytest.raises(MissingDependencyError, match="install netCDF4") as e:
        open_netcdf(good)
    assert "delete" not in str(e.value)


def test_packing_range_is_checked(tmp_path):
    times, lat, lon = _grid()
    with pytest.raises(ValueError, match="packable range"):
        write_sst_netcdf(
            _sst() + 100,
            tmp_path / "k.nc",
            times=times,
            latitudes=lat,
            longitudes=lon,
            depth_m=0.5,
        )
    assert not (tmp_path / "k.nc").exists()
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------- clouds
def test_load_clouds_memmaps_and_validates(tmp_path):
    lwp = np.random.default_rng(0).lognormal(np.log(0.06), 0.4, (30, 64, 64)).astype(np.float32)
    np.save(tmp_path / "c.npy", lwp)
    out = load_clouds(tmp_path / "c.npy")
    assert isinstance(out, np.memmap) and out.shape == (30, 64, 64)
    np.testing.assert_array_equal(out, lwp)
    assert not isinstance(load_clouds(tmp_path / "c.npy", mmap=False), np.memmap)


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.full((4, 64), 0.05, np.float32), "3-D"),
        (np.full((4, 8, 8), 60.0, np.float32), "g m-2.*divide the array by 1000"),
        (np.full((4, 8, 8), 1, np.int16), "floating point"),
        (np.full((4, 8, 8), -1.0, np.float32), "negative"),
        (np.full((4, 8, 8), np.nan, np.float32), "no finite"),
    ],
)
def test_bad_cloud_arrays(tmp_path, array, match):
    np.save(tmp_path / "c.npy", array)
    with pytest.raises(CloudDataError, match=match):
        load_clouds(tmp_path / "c.npy")


def test_too_few_cloud_steps(tmp_path):
    np.save(tmp_path / "c.npy", np.full((4, 8, 8), 0.05, np.float32))
    with pytest.raises(CloudDataError, match="fewer than the 240"):
        load_clouds(tmp_path / "c.npy", min_steps=240)


def test_truncated_cloud_file(tmp_path):
    np.save(tmp_path / "c.npy", np.full((40, 64, 64), 0.05, np.float32))
    blob = (tmp_path / "c.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CorruptFileError, match="truncated, damaged or not a .npy file") as e:
        load_clouds(tmp_path / "t.npy")
    assert e.value.__cause__ is not None
    assert issubclass(CorruptFileError, UnisstError)


# ----------------------------------------------------------------------- atomic
def test_atomic_path_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half-written")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_atomic_path_gives_new_files_the_usual_mode_and_keeps_an_existing_mode(tmp_path):
    from unisst_lib.core.paths import atomic_path

    umask = os.umask(0o022)
    try:
        new = tmp_path / "new.txt"
        with atomic_path(new) as tmp:
            tmp.write_text("a")
        assert new.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
        new.chmod(0o640)
        with atomic_path(new) as tmp:
            tmp.write_text("b")
        assert new.stat().st_mode & 0o777 == 0o640 and new.read_text() == "b"
    finally:
        os.umask(umask)


def test_load_clouds_refuses_zip_and_npz_files_clearly(tmp_path):
    from unisst_lib.core.errors import CloudDataError, CorruptFileError
    from unisst_lib.data.io import load_clouds

    npz = tmp_path / "clouds.npy"
    with open(npz, "wb") as f:
        np.savez(f, lwp=np.zeros((3, 64, 64), np.float32))
    with pytest.raises(CloudDataError, match="npz archive"):
        load_clouds(npz)
    broken = tmp_path / "broken.npy"
    broken.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(CorruptFileError, match="truncated, damaged or not a .npy file"):
        load_clouds(broken)
