"""fill_archive / ``unisst fill DIR OUT``: a tiny L3 archive filled back into its own files.

The archive is written by ``write_l3_file`` from integer counts chosen here: the SST
is 273.15 K + counts / 100 with counts = 1500 + 50 t + 10 col + 3 row (row in the
file's order, latitude descending). The field is linear in time and space, so the
``interp`` method (linear in time; harmonic in space for a pixel never observed)
reconstructs every gap exactly: the expected packed integers are computed by hand.

Days 0, 1, 2, 4 (day 3 absent); land rows 0-5 × cols 0-3 (l2p land bit); clouds on
day 1 (rows 8-12, cols 10-15) and day 2 (rows 14-17, cols 4-8); pixel (3, 20) on day 1
has quality_level 2 and a wrong value; pixel (10, 20) is sea never observed.
"""

from __future__ import annotations

import re

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from unisst_lib.cli import main
from unisst_lib.core.errors import DataNotFoundError
from unisst_lib.data.ghrsst import l3_filename, write_l3_file
from unisst_lib.methods.archive_fill import (
    ArchiveFillError,
    OutputExistsError,
    absent_file_name,
    fill_archive,
)
from unisst_lib.methods.fill import FillError, fill

pytestmark = pytest.mark.filterwarnings("ignore::unisst_lib.core.errors.ArchiveWarning")

NY, NX = 20, 24
LAT = 36 + np.arange(NY)[::-1] / 12  # descending, as in many L3C files
LON = -20 + np.arange(NX) / 12
T0 = pd.Timestamp("2018-01-01T12:00")
DAYS = (0, 1, 2, 4)
ABSENT = 3
LAND = (slice(0, 6), slice(0, 4))
CLOUDS = {1: (slice(8, 13), slice(10, 16)), 2: (slice(14, 18), slice(4, 9))}
LOWQ = (1, 3, 20)  # (day, row, col): quality_level 2
NEVER = (10, 20)
FILL = -32768
SST = "sea_surface_temperature"


def counts(t: int) -> np.ndarray:
    """The true packed SST of day ``t`` on the file's (row, col) grid."""
    row, col = np.mgrid[0:NY, 0:NX]
    return 1500 + 50 * t + 10 * col + 3 * row


def land() -> np.ndarray:
    out = np.zeros((NY, NX), bool)
    out[LAND] = True
    return out


def observed(t: int) -> np.ndarray:
    """Where day ``t`` has an SST value in its file (any quality)."""
    seen = ~land()
    seen[NEVER] = False
    if t in CLOUDS:
        seen[CLOUDS[t]] = False
    return seen


def write_day(folder, t: int):
    c = counts(t).astype(np.float64)
    seen = observed(t)
    ql = np.where(seen, 5, 0).astype(np.int8)
    if t == LOWQ[0]:
        c[LOWQ[1:]] = 3333
        ql[LOWQ[1:]] = 2
    flags = np.where(land(), 2, 0).astype(np.int16)
    flags[::3, ::5] |= 1  # some microwave bits, to be carried as they are
    bias = np.where(seen, (np.arange(NX) % 5 - 2) * 0.02 * (t + 1), np.nan)
    time = T0 + pd.Timedelta(days=t)
    return write_l3_file(
        folder / l3_filename(time), sst_k=np.where(seen, 273.15 + c / 100, np.nan), time=time,
        latitudes=LAT, longitudes=LON, quality_level=ql, l2p_flags=flags, sses_bias=bias,
    )  # fmt: skip


@pytest.fixture
def archive(tmp_path):
    folder = tmp_path / "sst"
    folder.mkdir()
    return folder, [write_day(folder, t) for t in DAYS]


def raw(path) -> xr.Dataset:
    with xr.open_dataset(path, decode_cf=False) as ds:
        return ds.load()


def same_attrs(a: dict, b: dict) -> bool:
    """Attributes equal in names, values and types (arrays compared element-wise)."""
    return list(a) == list(b) and all(
        np.asarray(a[k]).dtype == np.asarray(b[k]).dtype and np.array_equal(a[k], b[k]) for k in a
    )


def day_of(path) -> int:
    return (pd.Timestamp(path.name[:14]) - T0).days


# --------------------------------------------------------------- the files
def test_each_file_is_filled_in_its_own_layout(archive, tmp_path):
    folder, files = archive
    out = tmp_path / "filled"
    written = fill_archive(folder, out, method="interp", history="a test")
    assert [p.name for p in written] == [f.name for f in files]  # absent day not written
    assert sorted(p.name for p in out.iterdir()) == [f.name for f in files]
    for src, dst in zip(files, written, strict=True):
        a, b = raw(src), raw(dst)
        t = day_of(src)
        assert b[SST].dims == ("time", "lat", "lon") and b[SST].dtype == np.int16
        assert same_attrs(
            b[SST].attrs, a[SST].attrs
        )  # kelvin, scale_factor, add_offset, _FillValue
        assert b[SST].attrs["units"] == "kelvin"
        np.testing.assert_array_equal(b["lat"].values, LAT.astype(np.float32))  # descending
        for v in ("quality_level", "l2p_flags", "sses_bias", "sst_dtime", "time", "lat", "lon"):
            assert b[v].dtype == a[v].dtype and b[v].dims == a[v].dims
            np.testing.assert_array_equal(b[v].values, a[v].values)
            assert same_attrs(b[v].attrs, a[v].attrs), v
        got, before = b[SST].values[0], a[SST].values[0]
        good = observed(t) & (a["quality_level"].values[0] >= 4)
        np.testing.assert_array_equal(got[good], before[good])  # packed integers kept
        assert (got[land()] == FILL).all()
        expected_flag = ~good & ~land()
        flag = b[f"{SST}_filled_mask"]
        assert flag.dtype == np.int8 and flag.dims == ("time", "lat", "lon")
        np.testing.assert_array_equal(flag.values[0], expected_flag.astype(np.int8))
        np.testing.assert_array_equal(got[expected_flag], counts(t)[expected_flag])
        assert flag.values[0][NEVER] == 1 and got[NEVER] == counts(t)[NEVER]
        assert b.attrs["title"] == a.attrs["title"] and b.attrs["uuid"] == a.attrs["uuid"]
        assert b.attrs["history"].startswith(a.attrs["history"] + "\n")
        assert b.attrs["history"].endswith(": a test")
        assert b.attrs["unisst_method"] == "interp" and b.attrs["unisst_min_quality"] == 4
        assert b.attrs["unisst_checkpoint_sha256"] == "none" and "unisst_version" in b.attrs
    day1 = raw(written[1])
    assert day1[SST].values[(0, *LOWQ[1:])] == 1500 + 50 + 200 + 9  # 3333 replaced
    assert day1["quality_level"].values[(0, *LOWQ[1:])] == 2  # quality says what was observed
    with xr.open_dataset(written[1]) as dec:  # CF-decoded: kelvin at a cloud pixel
        assert dec[SST].attrs["units"] == "kelvin"
        assert dec[SST].values[0, 10, 12] == pytest.approx(273.15 + counts(1)[10, 12] / 100)
    assert not list(out.glob(".*part*"))


def test_min_quality_keeps_lower_levels_as_observed(archive, tmp_path):
    _, files = archive
    written = fill_archive(files, tmp_path / "q2", method="interp", min_quality=2)
    day1 = raw(written[1])
    assert day1[SST].values[(0, *LOWQ[1:])] == 3333
    assert day1[f"{SST}_filled_mask"].values[(0, *LOWQ[1:])] == 0
    assert day1.attrs["unisst_min_quality"] == 2


def test_all_days_writes_the_absent_date_in_the_neighbours_layout(archive, tmp_path):
    folder, files = archive
    with netCDF4.Dataset(files[2], "a") as nc:  # time bounds on the absent date's neighbour
        nc.createDimension("nv", 2)
        nc.createVariable("time_bnds", "i4", ("time", "nv"))[:] = [[0, 86400]] + nc["time"][0]
        nc["time"].bounds = "time_bnds"
    written = fill_archive(str(folder / "*.nc"), tmp_path / "all", method="interp", all_days=True)
    name = l3_filename(T0 + pd.Timedelta(days=ABSENT))
    assert [p.name for p in written] == [files[0].name, files[1].name, files[2].name, name,
                                         files[3].name]  # fmt: skip
    b, a = raw(written[3]), raw(files[2])
    sea = ~land()
    np.testing.assert_array_equal(b[SST].values[0][sea], counts(ABSENT)[sea])
    assert (b[SST].values[0][land()] == FILL).all()
    np.testing.assert_array_equal(b[f"{SST}_filled_mask"].values[0], sea.astype(np.int8))
    assert (b["quality_level"].values == 0).all()
    np.testing.assert_array_equal(b["l2p_flags"].values[0], np.where(land(), 2, 0))
    assert (b["sses_bias"].values == -128).all()  # no data
    for v in (SST, "quality_level", "l2p_flags", "sses_bias", "lat", "lon"):
        assert b[v].dtype == a[v].dtype and same_attrs(b[v].attrs, a[v].attrs), v
    with xr.open_dataset(written[3]) as dec:
        assert dec.time.values.tolist() == [(T0 + pd.Timedelta(days=ABSENT)).value]
    np.testing.assert_array_equal(b["time_bnds"].values, a["time_bnds"].values + 86400)
    assert b["time"].values[0] == a["time"].values[0] + 86400
    assert b.attrs["time_coverage_start"] == "2018-01-04T12:00:00Z"
    assert b.attrs["time_coverage_end"] == "2018-01-05T12:00:00Z"
    assert b.attrs["uuid"] != a.attrs["uuid"] and "unisst_absent_date" in b.attrs


def test_absent_file_names_follow_the_neighbour():
    t0, t1 = pd.Timestamp("2018-01-01T12:00"), pd.Timestamp("2018-01-03T12:00")
    assert absent_file_name("SST_20180101_L3.nc", t0, t1) == "SST_20180103_L3.nc"
    assert absent_file_name("a-2018-01-01.nc", t0, t1) == "a-2018-01-03.nc"
    with pytest.raises(ArchiveFillError, match="no date stamp.*--all-days"):
        absent_file_name("sst_latest.nc", t0, t1)


def test_fill_with_a_land_mask_fills_sea_never_observed():
    lat = [2.0, 1.0, 0.0]  # descending: the array is on the data set's grid
    data = np.arange(3 * 3 * 4, dtype=np.float64).reshape(3, 3, 4)
    data[:, 0, 1] = np.nan  # sea, never observed
    data[1, 2, 3] = np.nan  # a cloud
    ds = xr.Dataset(
        {"sst": (("time", "lat", "lon"), data, {"units": "degC"})},
        coords={"time": pd.date_range("2020-01-01", periods=3), "lat": lat, "lon": [0, 1, 2, 3.0]},
    )
    mask = np.zeros((3, 4), bool)
    mask[0, 0] = True  # land with values: kept, never flagged
    res = fill(ds, method="interp", land=mask)
    flag = res["sst_filled_mask"].values
    assert flag[:, 0, 1].tolist() == [1, 1, 1] and flag[:, 0, 0].tolist() == [0, 0, 0]
    assert flag.sum() == 4 and np.isfinite(res["sst"].values[:, 0, 1]).all()
    np.testing.assert_array_equal(res["sst"].values[:, 0, 0], data[:, 0, 0])
    assert res["sst"].values[1, 2, 3] == (data[0, 2, 3] + data[2, 2, 3]) / 2
    assert np.isnan(fill(ds, method="interp")["sst"].values[:, 0, 1]).all()  # default: land
    with pytest.raises(FillError, match=r"land must be a \(latitude, longitude\) = \(3, 4\)"):
        fill(ds, method="interp", land=np.zeros((4, 3), bool))


# ----------------------------------------------------------------- errors
def test_outputs_are_never_inputs_and_never_replaced_silently(archive, tmp_path):
    folder, files = archive
    with pytest.raises(ArchiveFillError, match="holds input files.*Choose another folder"):
        fill_archive(folder, folder, method="interp")
    out = tmp_path / "out"
    fill_archive(files[:2], out, method="interp")
    stamp = (out / files[0].name).stat().st_mtime_ns
    with pytest.raises(OutputExistsError, match=r"2 of the 3 .*overwrite=True \(--overwrite\)"):
        fill_archive(files[:3], out, method="interp")
    assert not (out / files[2].name).exists()  # nothing written
    assert (out / files[0].name).stat().st_mtime_ns == stamp
    fill_archive(files[:3], out, method="interp", overwrite=True)
    assert (out / files[2].name).exists()
    with pytest.raises(DataNotFoundError, match="no file matches"):
        fill_archive(str(folder / "1999*.nc"), out, method="interp")


# -------------------------------------------------------------------- CLI
def test_cli_fills_a_folder_a_glob_and_several_files(archive, tmp_path, capsys):
    folder, files = archive
    out = tmp_path / "out"
    assert main(["fill", str(folder), str(out), "--method", "interp", "-q"]) == 0
    # filled by hand: clouds 30 + 20, the quality-2 pixel, the never-observed pixel each day
    line = capsys.readouterr().out.strip()
    assert line == f"{out}: 4 files written, {30 + 20 + 1 + 4} values filled (interp)"
    assert (
        raw(out / files[0].name)
        .attrs["history"]
        .endswith(f"unisst fill {folder} {out} --method interp --device cpu")
    )
    pattern = str(folder / "2018*.nc")
    args = ["fill", pattern, str(out), "--method", "interp", "--all-days", "--overwrite", "-q"]
    assert main(args) == 0
    sea_day = NY * NX - 24
    assert capsys.readouterr().out.strip() == (
        f"{out}: 5 files written (1 for absent dates), {55 + sea_day} values filled (interp)"
    )
    assert f"unisst fill '{pattern}' {out}" in raw(out / files[0].name).attrs["history"]
    few = tmp_path / "few"
    assert main(["fill", *map(str, files[:3]), str(few), "--method", "interp", "-q"]) == 0
    assert sorted(p.name for p in few.iterdir()) == [f.name for f in files[:3]]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{folder}", "{out}"], "exist in .*--overwrite"),
        (["{folder}", "{folder}"], "holds input files"),
        (["{folder}/1999*.nc", "{out}"], "no file matches"),
        (["{one}", "{tmp}/one.nc"], "looks like a file.*Give a folder"),
        (["{one}", "{tmp}/one"], "single frame"),
        (
            ["{folder}", "{tmp}/x", "--mask-variable", "m"],
            "--mask-variable can only be used with a single",
        ),
        (
            ["{plain}", "{tmp}/p.nc", "--min-quality", "0"],
            "--min-quality can only be used with an archive",
        ),
    ],
)
def test_cli_errors(archive, tmp_path, capsys, argv, message):
    folder, files = archive
    out = tmp_path / "out"
    fill_archive(folder, out, method="interp")
    plain = tmp_path / "plain.nc"
    xr.Dataset({"sst": (("time", "lat", "lon"), np.ones((2, 2, 2)), {"units": "degC"})},
               coords={"time": pd.date_range("2020", periods=2), "lat": [0.0, 1],
                       "lon": [0.0, 1]}).to_netcdf(plain)  # fmt: skip
    keys = {"folder": folder, "out": out, "one": files[0], "tmp": tmp_path, "plain": plain}
    capsys.readouterr()
    code = main(["fill", *[a.format(**keys) for a in argv], "--method", "interp", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert re.search(message, err), err
