"""GHRSST L3 archives: the L3C writer's layout and open_archive on small generated archives.

Every file is written by ``write_l3_file`` from integer kelvin counts chosen here, so the
expected °C values are the counts / 100, computed without the code under test.
"""

from __future__ import annotations

import logging
import re
import warnings

import dask.array
import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from unisst_lib.core.errors import (
    ArchiveWarning,
    CadenceError,
    DataFormatError,
    DataNotFoundError,
    LandMaskError,
    MixedGridError,
    QualityError,
)
from unisst_lib.data.archive import open_archive
from unisst_lib.data.ghrsst import flag_mask, flag_masks, l3_filename, write_l3_file

pytestmark = pytest.mark.filterwarnings("ignore::unisst_lib.core.errors.ArchiveWarning")

NY, NX = 8, 10
LAT = 36 + np.arange(NY)[::-1] / 12  # descending, as in many L3C files
LON = -20 + np.arange(NX) / 12
LAND = (slice(None), slice(0, 2))  # columns 0-1 are land
T0 = pd.Timestamp("2018-01-01T12:00")
LOG = "unisst_lib.data.archive"


def _counts(seed: int, ny: int = NY, nx: int = NX) -> np.ndarray:
    """SST in hundredths of a degree above 0 °C (1000..2499: 10..24.99 °C)."""
    return np.random.default_rng(seed).integers(1000, 2500, (ny, nx))


def _write(folder, time, counts, *, lat=LAT, lon=LON, ql=5, flags="land", sst_nan=LAND, **kw):
    """One L3C file: SST 273.15 K + counts / 100, NaN on ``sst_nan``; returns its path."""
    sst = 273.15 + counts / 100.0
    sst[sst_nan] = np.nan
    if isinstance(ql, int):
        ql = np.where(np.isfinite(sst), ql, 0).astype(np.int8)
    if isinstance(flags, str):
        flags = np.zeros(counts.shape, np.int16)
        flags[LAND] = 2  # GDS 2.0 land bit
    path = folder / l3_filename(time)
    return write_l3_file(
        path, sst_k=sst, time=time, latitudes=lat, longitudes=lon,
        quality_level=ql, l2p_flags=flags, **kw,
    )  # fmt: skip


def _daily(folder, n=6, skip=(), **kw) -> dict[pd.Timestamp, np.ndarray]:
    """Daily files at 12:00 from 2018-01-01, days in ``skip`` left out; {time: counts}."""
    counts = {}
    for k in range(n):
        if k not in skip:
            t = T0 + pd.Timedelta(days=k)
            counts[t] = _counts(k)
            _write(folder, t, counts[t], **kw)
    return counts


def _celsius(counts: np.ndarray) -> np.ndarray:
    """Expected output: counts / 100 °C, latitude ascending, NaN on land."""
    out = counts[::-1] / 100.0
    out[LAND] = np.nan
    return out


# ----------------------------------------------------------------------- writer
def test_l3c_file_has_the_ghrsst_layout(tmp_path):
    counts = _counts(0)
    path = _write(tmp_path, T0, counts, sses_bias=np.full((NY, NX), 0.1))
    raw = xr.open_dataset(path, mask_and_scale=False, decode_times=False)
    sst = raw["sea_surface_temperature"]
    assert sst.dims == ("time", "lat", "lon") and sst.dtype == np.int16
    assert sst.attrs["scale_factor"] == np.float32(0.01)
    assert sst.attrs["add_offset"] == np.float32(273.15)
    assert sst.attrs["_FillValue"] == -32768 and sst.attrs["units"] == "kelvin"
    assert sst.attrs["standard_name"] == "sea_surface_subskin_temperature"
    packed = sst.values[0]
    np.testing.assert_array_equal(packed[:, 2:], counts[:, 2:])  # (K - 273.15) / 0.01
    assert (packed[LAND] == -32768).all()
    ql, flags, bias = raw["quality_level"], raw["l2p_flags"], raw["sses_bias"]
    assert ql.dtype == np.int8 and ql.attrs["flag_values"].tolist() == [0, 1, 2, 3, 4, 5]
    assert ql.attrs["flag_meanings"].split()[-1] == "best_quality"
    assert flags.dtype == np.int16 and "_FillValue" not in flags.attrs
    assert flags.attrs["flag_meanings"].split()[:3] == ["microwave", "land", "ice"]
    assert flags.attrs["flag_masks"].tolist()[:3] == [1, 2, 4]
    assert bias.dtype == np.int8 and bias.attrs["scale_factor"] == np.float32(0.02)
    assert (bias.values == 5).all()  # 0.1 K in 0.02 K steps
    assert raw["time"].attrs["units"] == "seconds since 1981-01-01 00:00:00"
    assert raw["lat"].attrs["units"] == "degrees_north" and raw["lon"].attrs["axis"] == "X"
    assert raw.attrs["gds_version_id"] == "2.0" and raw.attrs["processing_level"] == "L3C"
    assert raw.attrs["time_coverage_start"] == "2018-01-01T12:00:00Z"
    assert raw.attrs["time_coverage_end"] == "2018-01-02T12:00:00Z"
    assert raw.attrs["southernmost_latitude"] == np.float32(36)
    assert (
        path.name == "20180101120000-UNISST-L3C_GHRSST-SSTsubskin-AVHRR_SST_METOP_B-v02.0-fv01.0.nc"
    )
    assert not list(tmp_path.glob(".*part*"))  # atomic write: no temporary left


def test_flag_bits_come_from_the_attributes_with_gds_defaults():
    attrs = {
        "flag_masks": np.array([1, 8, 64], np.int16),
        "flag_meanings": "microwave sea_ice land",
    }
    assert flag_mask(attrs, "land") == 64 and flag_mask(attrs, "ice") == 8
    assert flag_mask(attrs, "lake") is None
    assert flag_masks({}) == {
        "microwave": 1, "land": 2, "ice": 4, "lake": 8, "river": 16, "reserved_for_future_use": 32
    }  # fmt: skip


# ----------------------------------------------------------------- time axis
def test_daily_glob_with_two_absent_days(tmp_path, caplog):
    counts = _daily(tmp_path, n=8, skip={2, 3})
    with caplog.at_level(logging.INFO, logger=LOG):
        ds = open_archive(str(tmp_path / "*.nc"))
    assert ds.sizes == {"time": 8, "latitude": NY, "longitude": NX}
    expected_times = pd.date_range(T0, periods=8, freq="D")
    np.testing.assert_array_equal(ds["time"].values, expected_times.values)
    sst = ds["sst"].values
    assert np.isnan(sst[[2, 3]]).all()
    for k, t in enumerate(expected_times):
        if k not in (2, 3):
            np.testing.assert_allclose(sst[k], _celsius(counts[t]), atol=1e-6, rtol=0)
    assert (ds["quality_level"].values[[2, 3]] == 0).all()
    assert ds.attrs["cadence"] == "P1D" and ds.attrs["frames"] == 8
    assert ds.attrs["absent_dates_count"] == 2
    assert ds.attrs["absent_dates"] == ["2018-01-03", "2018-01-04"]
    assert ds.attrs["source_files"] == 6
    assert "2 of 8 P1D frames absent" in caplog.text and "2018-01-03, 2018-01-04" in caplog.text
    assert "never filled from neighbours" in caplog.text


def test_kelvin_is_converted_to_celsius_exactly(tmp_path, caplog):
    counts = _daily(tmp_path, n=2)
    with caplog.at_level(logging.INFO, logger=LOG):
        ds = open_archive(sorted(tmp_path.glob("*.nc")))
    assert ds["sst"].dtype == np.float32 and ds["sst"].attrs["units"] == "degrees_C"
    assert ds["latitude"].values[0] < ds["latitude"].values[-1]
    for k, c in enumerate(counts.values()):
        # float32 rounding of counts/100 only (a float32 decode would be off by ~1.5e-5)
        np.testing.assert_allclose(ds["sst"].values[k], _celsius(c), atol=1e-6, rtol=0)
    assert "kelvin" in caplog.text and "converting to °C" in caplog.text


def test_celsius_cf_file_with_latitude_longitude_dims_is_kept_as_is(tmp_path):
    times = pd.date_range("2018-01-01", periods=3, freq="D")
    values = np.stack([_counts(k) / 100.0 for k in range(3)]).astype(np.float32)
    xr.Dataset(
        {"analysed_sst": (("time", "latitude", "longitude"), values, {"units": "degree_C"})},
        coords={"time": times, "latitude": LAT[::-1], "longitude": LON},
    ).to_netcdf(tmp_path / "l4.nc")
    ds = open_archive(tmp_path / "l4.nc")
    np.testing.assert_array_equal(ds["sst"].values, values)  # °C in, °C out
    assert ds.attrs["quality_filter"].startswith("none") and "quality_level" not in ds


def test_hourly_archive(tmp_path):
    for h in (0, 1, 2, 4, 5):  # 03:00 absent
        _write(tmp_path, pd.Timestamp("2018-06-01") + pd.Timedelta(hours=h), _counts(h),
               time_coverage="1h")  # fmt: skip
    ds = open_archive(str(tmp_path / "*.nc"))
    assert ds.attrs["cadence"] == "PT1H" and ds.sizes["time"] == 6
    assert ds.attrs["absent_dates"] == ["2018-06-01T03:00"]
    assert np.isnan(ds["sst"].values[3]).all() and not np.isnan(ds["sst"].values[4]).all()


def test_monthly_means_on_a_calendar_axis(tmp_path):
    stamps = ["2018-01-16T12:00", "2018-02-15", "2018-04-16", "2018-05-16T12:00"]  # no March
    for k, s in enumerate(stamps):
        _write(tmp_path, pd.Timestamp(s), _counts(k), time_coverage="30D")
    ds = open_archive(tmp_path)  # a folder: its *.nc
    assert ds.attrs["cadence"] == "P1M" and ds.sizes["time"] == 5
    assert ds.attrs["absent_dates"] == ["2018-03"]
    assert pd.Timestamp(ds["time"].values[2]) == pd.Timestamp("2018-03-16T12:00")  # mid-month
    assert np.isnan(ds["sst"].values[2]).all()


def test_yearly_ndjfm_means_1963_2012_in_one_file(tmp_path):
    years = np.arange(1963, 2013)
    times = pd.to_datetime([f"{y}-01-15" for y in years])
    values = np.stack([_counts(k) / 100.0 for k in range(len(years))]).astype(np.float32)
    xr.Dataset(
        {"sst": (("time", "lat", "lon"), values, {"units": "degC", "long_name": "NDJFM mean"})},
        coords={"time": times, "lat": LAT[::-1], "lon": LON},
    ).to_netcdf(tmp_path / "ndjfm.nc")
    ds = open_archive(tmp_path / "ndjfm.nc")
    assert ds.attrs["cadence"] == "P1Y" and ds.sizes["time"] == 50
    assert ds.attrs["absent_dates_count"] == 0 and ds.attrs["source_files"] == 1
    np.testing.assert_array_equal(ds["sst"].values[-1], values[-1])


def test_irregular_steps_are_refused_listing_them(tmp_path):
    _daily(tmp_path, n=3)
    odd = _write(tmp_path, pd.Timestamp("2018-01-04T18:00"), _counts(9))  # 1.25 days on
    with pytest.raises(CadenceError, match="fit no cadence") as err:
        open_archive(str(tmp_path / "*.nc"))
    msg = str(err.value)
    assert "2018-01-03 12:00" in msg and "2018-01-04 18:00" in msg and odd.name in msg
    assert "1.25 days" in msg and "most steps are P1D" in msg


def test_mixed_cadences_are_refused(tmp_path):
    _daily(tmp_path, n=4)
    _write(tmp_path, pd.Timestamp("2018-01-02T13:00"), _counts(9), time_coverage="1h")
    with pytest.raises(CadenceError, match="mixes cadences: most steps are P1D") as err:
        open_archive(str(tmp_path / "*.nc"))
    assert "2018-01-02 12:00" in str(err.value) and "(1 h)" in str(err.value)


def test_single_frame_is_refused(tmp_path):
    path = _write(tmp_path, T0, _counts(0))
    with pytest.raises(CadenceError, match="single frame") as err:
        open_archive(path)
    assert path.name in str(err.value) and "files of a period" in str(err.value)


# ---------------------------------------------------------------------- grids
def test_files_on_another_grid_are_refused_naming_the_file(tmp_path):
    _daily(tmp_path, n=3)
    shifted = _write(tmp_path, T0 + pd.Timedelta(days=3), _counts(3), lon=LON + 1 / 24)
    with pytest.raises(MixedGridError, match="longitudes differ") as err:
        open_archive(str(tmp_path / "*.nc"))
    first = l3_filename(T0)
    assert str(err.value).startswith(shifted.name) and first in str(err.value)
    assert "regrid" in str(err.value)
    shifted.unlink()
    wider = _write(tmp_path, T0 + pd.Timedelta(days=3), _counts(3, nx=NX + 2),
                   lon=-20 + np.arange(NX + 2) / 12)  # fmt: skip
    with pytest.raises(MixedGridError, match=f"{wider.name} has a 8×12 .* has 8×10"):
        open_archive(str(tmp_path / "*.nc"))


def test_file_of_another_product_is_refused(tmp_path):
    _daily(tmp_path, n=3)
    other = _write(tmp_path, T0 + pd.Timedelta(days=3), _counts(3), ql=None)
    with pytest.raises(DataFormatError, match=f"{other.name} has no quality_level"):
        open_archive(str(tmp_path / "*.nc"))


# -------------------------------------------------------------- quality, bias
def test_quality_filter_default_and_min_quality(tmp_path, caplog):
    c = _counts(0)
    ql = np.full((NY, NX), 5, np.int8)
    ql[LAND] = 0
    ql[4, 5] = 2  # file row 4 = output row NY - 1 - 4 (latitude flipped)
    _write(tmp_path, T0, c, ql=ql)
    _write(tmp_path, T0 + pd.Timedelta(days=1), _counts(1))
    with caplog.at_level(logging.INFO, logger=LOG):
        ds = open_archive(str(tmp_path / "*.nc"))
    assert "keeping quality_level >= 4 (of 0..5); pass min_quality=" in caplog.text
    assert np.isnan(ds["sst"].values[0, 3, 5]) and ds.attrs["min_quality"] == 4
    assert np.isfinite(ds["sst"].values[0, 3, 4])
    kept = open_archive(str(tmp_path / "*.nc"), min_quality=2)
    assert kept["sst"].values[0, 3, 5] == np.float32(c[4, 5] / 100)
    assert kept.attrs["quality_filter"] == "quality_level >= 2"


def test_nothing_left_after_quality_filtering_is_refused(tmp_path):
    _daily(tmp_path, n=3, ql=2)
    with pytest.raises(QualityError, match="nothing left after quality filtering") as err:
        open_archive(str(tmp_path / "*.nc"))
    assert "quality_level >= 4" in str(err.value) and "min_quality=2" in str(err.value)


def test_quality_options_the_files_cannot_serve(tmp_path):
    _daily(tmp_path, n=2, ql=None)
    with pytest.raises(QualityError, match="min_quality=3 was given, but .* no quality_level"):
        open_archive(str(tmp_path / "*.nc"), min_quality=3)
    with pytest.raises(DataFormatError, match="apply_bias=True was given, but .* no sses_bias"):
        open_archive(str(tmp_path / "*.nc"), apply_bias=True)
    for bad in tmp_path.glob("*.nc"):
        bad.unlink()
    _daily(tmp_path, n=2)
    with pytest.raises(QualityError, match="min_quality must be 0..5"):
        open_archive(str(tmp_path / "*.nc"), min_quality=7)


def test_sses_bias_is_subtracted(tmp_path):
    rng = np.random.default_rng(5)
    counts, bias = {}, {}
    for k in range(2):
        t = T0 + pd.Timedelta(days=k)
        counts[t], bias[t] = _counts(k), rng.integers(-50, 50, (NY, NX))  # 0.02 K steps
        _write(tmp_path, t, counts[t], sses_bias=bias[t] * 0.02)
    ds = open_archive(str(tmp_path / "*.nc"), apply_bias=True)
    plain = open_archive(str(tmp_path / "*.nc"))
    for k, t in enumerate(counts):
        expected = _celsius(counts[t]) - bias[t][::-1] * 0.02
        np.testing.assert_allclose(ds["sst"].values[k], expected, atol=2e-6, rtol=0)
        np.testing.assert_allclose(plain["sst"].values[k], _celsius(counts[t]), atol=1e-6)
    assert ds.attrs["bias_applied"].startswith("yes") and plain.attrs["bias_applied"] == "no"


# ----------------------------------------------------------------------- land
def _with_unobserved_sea(folder, **kw):
    """Daily files whose column 6 is never observed but is sea (no land bit)."""
    hole = (slice(None), [0, 1, 6])
    return _daily(folder, n=3, sst_nan=hole, **kw)


def test_land_from_l2p_flags_keeps_unobserved_sea_as_sea(tmp_path):
    _with_unobserved_sea(tmp_path)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="no land mask", category=ArchiveWarning)
        ds = open_archive(str(tmp_path / "*.nc"))
    land = ds["land"].values
    assert land.dtype == bool and land[:, :2].all() and not land[:, 2:].any()
    assert ds.attrs["land_mask_source"] == "l2p_flags land bit (mask 2)"
    assert ds.attrs["sea_pixels_never_observed"] == NY  # column 6
    assert np.isnan(ds["sst"].values[:, :, 6]).all()


def test_land_from_the_data_when_no_mask_warns(tmp_path):
    _with_unobserved_sea(tmp_path, flags=None)
    with pytest.warns(ArchiveWarning, match=f"{3 * NY} pixels never observed in the 3 frames"):
        ds = open_archive(str(tmp_path / "*.nc"))
    land = ds["land"].values
    assert land[:, [0, 1, 6]].all() and land.sum() == 3 * NY
    assert ds.attrs["land_mask_source"].startswith("data")


def test_flag_bits_are_read_from_the_file_and_ice_is_missing_not_land(tmp_path):
    layout = {"microwave": 1, "ice": 2, "lake": 8, "land": 64}  # not the GDS 2.0 bits
    flags = np.zeros((NY, NX), np.int16)
    flags[LAND] = 64
    flags[2, 7] = 2  # ice over an observed pixel: file row 2 = output row NY - 3
    for k in range(2):
        _write(tmp_path, T0 + pd.Timedelta(days=k), _counts(k), flags=flags,
               l2p_flag_masks=layout)  # fmt: skip
    ds = open_archive(str(tmp_path / "*.nc"))
    assert np.isnan(ds["sst"].values[:, NY - 3, 7]).all()
    assert not ds["land"].values[NY - 3, 7]
    assert ds["land"].values[:, :2].all() and ds["land"].values.sum() == 2 * NY
    assert ds.attrs["land_mask_source"] == "l2p_flags land bit (mask 64)"


def test_land_mask_variable_documented_in_the_files(tmp_path):
    _with_unobserved_sea(tmp_path, flags=None)
    for path in tmp_path.glob("*.nc"):
        with netCDF4.Dataset(path, "a") as nc:  # OSTIA-style land/sea/ice bit mask
            var = nc.createVariable("mask", "i1", ("time", "lat", "lon"))
            values = np.ones((1, NY, NX), np.int8)
            values[0][LAND] = 2
            var[:] = values
            var.flag_masks = np.array([1, 2, 4, 8], np.int8)
            var.flag_meanings = "water land optional_lake_surface sea_ice"
    ds = open_archive(str(tmp_path / "*.nc"))
    assert ds.attrs["land_mask_source"].startswith("variable 'mask' in the files")
    assert ds["land"].values.sum() == 2 * NY and not ds["land"].values[:, 6].any()


def test_explicit_land_mask_file_var(tmp_path):
    _with_unobserved_sea(tmp_path / "a")
    lat = 35.5 + np.arange(NY + 12)[::-1] / 12  # wider, descending: selected by coordinates
    lon = -20.5 + np.arange(NX + 12) / 12
    lsm = np.zeros((lat.size, lon.size), np.int8)
    lsm[lat > 36.2, :] = 1  # the 5 northern rows of the archive (36.25° and up)
    xr.Dataset(
        {"lsm": (("lat", "lon"), lsm), "depth": (("lat", "lon"), lsm * 100.0)},
        coords={"lat": lat, "lon": lon},
    ).to_netcdf(tmp_path / "mask.nc")
    ds = open_archive(str(tmp_path / "a" / "*.nc"), land_mask=f"{tmp_path / 'mask.nc'}:lsm")
    expected = np.zeros((NY, NX), bool)
    expected[3:, :] = True  # output latitudes 36 + k/12, k = 3..7 are north of 36.2°
    np.testing.assert_array_equal(ds["land"].values, expected)
    assert ds.attrs["land_mask_source"].startswith(f"file {tmp_path / 'mask.nc'}:lsm")
    assert ds.attrs["sea_pixels_never_observed"] == 2 * 3 + 3  # columns 0, 1, 6 of rows 0-2
    with pytest.raises(LandMaskError, match="has no variable 'nope'; it has: lsm, depth"):
        open_archive(str(tmp_path / "a" / "*.nc"), land_mask=f"{tmp_path / 'mask.nc'}:nope")


def test_explicit_boolean_land_mask_and_all_land(tmp_path):
    _daily(tmp_path, n=2)
    mask = np.zeros((NY, NX), bool)
    mask[0] = True
    ds = open_archive(str(tmp_path / "*.nc"), land_mask=mask)
    np.testing.assert_array_equal(ds["land"].values, mask)
    assert ds.attrs["land_mask_source"] == "land_mask argument"
    assert np.isnan(ds["sst"].values[:, 0]).all()
    with pytest.raises(LandMaskError, match="must be boolean"):
        open_archive(str(tmp_path / "*.nc"), land_mask=mask.astype(int))
    with pytest.raises(LandMaskError, match="every pixel of the 8×10 grid is land"):
        open_archive(str(tmp_path / "*.nc"), land_mask=np.ones((NY, NX), bool))


def test_archive_without_any_sst_value_is_all_land(tmp_path):
    _daily(tmp_path, n=2, flags=None, sst_nan=(slice(None), slice(None)))
    with pytest.raises(LandMaskError, match="every pixel .* is land .* no SST value at all"):
        open_archive(str(tmp_path / "*.nc"))


# ------------------------------------------------------------------- warnings
def test_tiny_domain_and_coarse_grid_warnings(tmp_path):
    _daily(tmp_path / "tiny", n=2)
    with pytest.warns(ArchiveWarning, match="8×10 pixels, smaller than the 64×64 tiles"):
        open_archive(str(tmp_path / "tiny" / "*.nc"))
    lat, lon = np.arange(NY) * 0.25, np.arange(NX) * 0.25
    _daily(tmp_path / "coarse", n=2, lat=lat, lon=lon)
    with pytest.warns(ArchiveWarning, match=r"0.25° is 3.0× coarser than the 1/12°"):
        open_archive(str(tmp_path / "coarse" / "*.nc"))


def test_heavy_land_warning(tmp_path):
    _daily(tmp_path, n=2)
    mask = np.zeros((NY, NX), bool)
    mask[:6] = True
    with pytest.warns(ArchiveWarning, match="75 % of the domain is land"):
        open_archive(str(tmp_path / "*.nc"), land_mask=mask)


def test_model_sized_domain_gives_no_warning(tmp_path):
    n = 64
    lat, lon = 30 + np.arange(n) / 12, np.arange(n) / 12
    for k in range(2):
        _write(tmp_path, T0 + pd.Timedelta(days=k), _counts(k, n, n), lat=lat, lon=lon)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ArchiveWarning)
        ds = open_archive(str(tmp_path / "*.nc"))
    assert ds.attrs["grid_spacing_deg"] == pytest.approx(1 / 12, rel=1e-5)


# ---------------------------------------------------------------- laziness, IO
def test_sst_is_dask_backed_until_computed(tmp_path):
    _daily(tmp_path, n=4, skip={1})
    ds = open_archive(str(tmp_path / "*.nc"), chunks={"time": 2})
    assert isinstance(ds["sst"].data, dask.array.Array)
    assert isinstance(ds["quality_level"].data, dask.array.Array)
    assert ds["sst"].chunks[0] == (2, 2)
    loaded = ds["sst"].compute()
    assert isinstance(loaded.data, np.ndarray) and np.isnan(loaded.values[1]).all()


def test_nothing_matching_the_pattern(tmp_path):
    pattern = str(tmp_path / "2018*.nc")
    with pytest.raises(DataNotFoundError, match=f"no file matches '{re.escape(pattern)}'"):
        open_archive(pattern)
    with pytest.raises(DataNotFoundError, match="does not exist"):
        open_archive([tmp_path / "missing.nc"])
