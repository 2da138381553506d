"""The twin's daily L3C archive: GHRSST files, open_archive, cloud-edge quality, truth, reuse.

Expectations are computed here from the manifest, the raw int16 counts of the files
(°C = counts / 100 exactly: add_offset 273.15 K) and the truth file, not with the
code under test, except where a test says so.
"""

from __future__ import annotations

import hashlib
import shutil

import netCDF4
import numpy as np
import pandas as pd
import pytest

from unisst_lib.core.errors import DataFormatError
from unisst_lib.core.manifest import load_manifest
from unisst_lib.data.archive import open_archive
from unisst_lib.data.io import open_sst
from unisst_lib.data.twin import l3
from unisst_lib.data.twin.clouds import simulate_lwp
from unisst_lib.data.twin.make import make_twin, platform_fingerprint
from unisst_lib.sources.verify import verify_all

pytestmark = pytest.mark.filterwarnings("ignore::unisst_lib.core.errors.ArchiveWarning")

M = load_manifest()
SPEC = M.twin_size("tiny").l3
ARCHIVE, TRUTH = M.archive("twin_l3"), M.archive("twin_l3_truth")
REGION = M.regions[ARCHIVE.region]
START = pd.Timestamp(ARCHIVE.start)
DAYS = [START + pd.Timedelta(days=k) for k in range(SPEC.days)]
PRESENT = [k for k in range(SPEC.days) if k not in SPEC.absent_days]
SUFFIX = "-UNISST-L3C_GHRSST-SSTsubskin-TWIN_SQG-v02.0-fv01.0.nc"
PACKING_C = 0.006  # 0.005 (int16, 0.01 K) + 0.0004 (the truth's int16 packing)


def _names(days) -> list[str]:
    return [f"{DAYS[k]:%Y%m%d}120000{SUFFIX}" for k in days]


def _files(root):
    return sorted((root / ARCHIVE.files).parent.glob("*.nc"))


def _chessboard_distance(mask: np.ndarray, far: int = 6) -> np.ndarray:
    """Distance (pixels, 8-neighbour steps) to the nearest True of ``mask``, capped at ``far``."""
    dist = np.where(mask, 0, far)
    grown = mask.copy()
    for d in range(1, far):
        pad = np.pad(grown, 1)
        grown = np.zeros_like(mask)
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                grown |= pad[dy : dy + mask.shape[0], dx : dx + mask.shape[1]]
        dist[grown & (dist == far)] = d
    return dist


@pytest.fixture(scope="module")
def root(tiny_data_dir):
    return tiny_data_dir


@pytest.fixture(scope="module")
def truth(root) -> np.ndarray:
    return open_sst(root / TRUTH.files).values.astype(np.float64)


@pytest.fixture(scope="module")
def raw(root) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(SST °C from the int16 counts, quality_level, l2p_flags) of each present day."""
    out = []
    for path in _files(root):
        with netCDF4.Dataset(path) as nc:
            nc.set_auto_maskandscale(False)
            counts = nc["sea_surface_temperature"][0].astype(np.int64)
            assert nc["lat"][0] < nc["lat"][-1]  # written south to north, as the truth
            sst = np.where(counts == -32768, np.nan, counts / 100.0)
            out.append((sst, nc["quality_level"][0].astype(int), nc["l2p_flags"][0]))
    return out


def test_grids_are_not_multiples_of_64_and_the_period_is_its_own():
    full = M.twin_size("full").l3
    for spec in (full, SPEC):
        assert spec.ny % 64 and spec.nx % 64
    assert (full.ny, full.nx) == (REGION.ny, REGION.nx) == (80, 96)
    assert full.days == 365 and 20 <= SPEC.days <= 30 and (SPEC.ny, SPEC.nx) < (80, 96)
    assert SPEC.absent_days and full.absent_days


def test_one_ghrsst_file_per_present_day_on_the_grid(root):
    files = _files(root)
    assert len(files) == SPEC.days - len(SPEC.absent_days) == len(PRESENT)
    assert [f.name for f in files] == _names(PRESENT)
    lat = REGION.lat_min + np.arange(SPEC.ny) / 12  # southernmost rows
    lon = REGION.lon_max - np.arange(SPEC.nx)[::-1] / 12  # easternmost columns (the coast)
    for path in files:
        with netCDF4.Dataset(path) as nc:
            nc.set_auto_maskandscale(False)
            sst = nc["sea_surface_temperature"]
            assert sst.shape == (1, SPEC.ny, SPEC.nx) and sst.dtype == np.int16
            assert sst.units == "kelvin" and nc["quality_level"].dtype == np.int8
            assert "land" in nc["l2p_flags"].flag_meanings.split()
            assert nc.gds_version_id == "2.0" and nc.processing_level == "L3C"
            np.testing.assert_allclose(nc["lat"][:], lat, atol=1e-4)
            np.testing.assert_allclose(nc["lon"][:], lon, atol=1e-4)


def test_open_archive_reads_it_with_the_absent_days_and_the_coast(root, truth):
    ds = open_archive(str(root / ARCHIVE.files))
    assert ds.attrs["cadence"] == "P1D" and ds.sizes["time"] == SPEC.days
    assert ds.attrs["absent_dates"] == [f"{DAYS[k]:%Y-%m-%d}" for k in SPEC.absent_days]
    assert ds.attrs["land_mask_source"].startswith("l2p_flags land bit")
    lat, lon = l3.archive_grid(REGION, SPEC.ny, SPEC.nx)
    land = ds["land"].values
    np.testing.assert_array_equal(land, l3.coastline(lat, lon))
    np.testing.assert_array_equal(land, np.isnan(truth[0]))  # the truth: NaN on land only
    assert 0.10 <= land.mean() <= 0.25
    full_land = l3.coastline(REGION.latitudes(), REGION.longitudes())
    assert 0.10 <= full_land.mean() <= 0.20  # the full grid: a coast on 10-20 % of it
    # sea then land along every row: one coast in the east, no islands or lakes
    assert all(not np.any(np.diff(row.astype(int)) < 0) for row in full_land)
    sst = ds["sst"].values
    assert np.isnan(sst[SPEC.absent_days[0]]).all()
    kept = np.isfinite(sst)  # quality >= 4 by default: equal to the truth
    assert kept.mean() > 0.2
    assert np.abs(sst[kept] - truth[kept]).max() <= PACKING_C


def test_cloud_edges_are_low_quality_and_cold_biased(root, raw, truth):
    lat, lon = l3.archive_grid(REGION, SPEC.ny, SPEC.nx)
    land = l3.coastline(lat, lon)
    offshore = _chessboard_distance(land) >= 4  # no unseen cloud over land can be nearer
    diffs = {q: [] for q in range(6)}
    checked = 0
    for k, (sst, ql, flags) in zip(PRESENT, raw, strict=True):
        np.testing.assert_array_equal((flags & 2) != 0, land)
        assert ((ql == 0) == np.isnan(sst)).all() and not (ql == 1).any()
        cloud = np.isnan(sst) & ~land
        dist = _chessboard_distance(cloud)
        clear = ~cloud & ~land
        assert (ql[clear & (dist == 1)] == 2).all()  # next to a cloud: worst quality
        sel = clear & offshore
        expected = np.select([dist == 1, dist == 2, dist == 3], [2, 3, 4], 5)
        np.testing.assert_array_equal(ql[sel], expected[sel])
        checked += int(sel.sum())
        for q in range(2, 6):
            diffs[q].append(sst[ql == q] - truth[k][ql == q])
    assert checked > 10_000
    d = {q: np.concatenate(v) for q, v in diffs.items() if v}
    assert all(d[q].size > 500 for q in (2, 3, 4, 5))
    for q, bias in ((2, -0.4), (3, -0.2)):  # cold by a few tenths, measured against the truth
        assert np.abs(d[q] - bias).max() <= PACKING_C
        assert d[q].mean() == pytest.approx(bias, abs=0.002)
    for q in (4, 5):  # interior clear pixels: the truth, to the int16 packing
        assert np.abs(d[q]).max() <= PACKING_C


def test_clouds_are_the_cloud_twin_at_the_manifest_threshold(raw):
    lat, lon = l3.archive_grid(REGION, SPEC.ny, SPEC.nx)
    sea = ~l3.coastline(lat, lon)
    seed = M.twin.seed + 4  # make._SEED_OFFSETS["l3_clouds"]
    lwp = simulate_lwp(SPEC.days, ny=SPEC.ny, nx=SPEC.nx, seed=seed, params=l3.DAILY_CLOUDS)
    seen = np.stack([np.isnan(sst) & sea for sst, _, _ in raw])
    np.testing.assert_array_equal(seen, (lwp[PRESENT] > np.float32(0.070)) & sea)
    assert not np.array_equal(seen, (lwp[PRESENT] > np.float32(0.060)) & sea)
    rate = seen.sum() / (len(PRESENT) * sea.sum())
    assert 0.2 < rate < 0.7
    per_day = seen.mean(axis=(1, 2))
    assert per_day.max() - per_day.min() > 0.3  # some days nearly clear, some overcast


def test_truth_file_is_marked_and_covers_every_day(root, truth):
    with netCDF4.Dataset(root / TRUTH.files) as nc:
        assert nc.unisst_role == "truth"
        assert "never use it for training" in nc.usage
        assert nc.unisst_absent_dates.split() == [f"{DAYS[k]:%Y-%m-%d}" for k in SPEC.absent_days]
        assert nc.unisst_twin_size == "tiny"
    da = open_sst(root / TRUTH.files)
    np.testing.assert_array_equal(da.time.values, np.array(DAYS, "datetime64[ns]"))
    assert truth.shape == (SPEC.days, SPEC.ny, SPEC.nx)
    sea = np.isfinite(truth[0])
    assert np.isfinite(truth[:, sea]).all()  # gap-free over the sea
    assert 15 < np.nanmean(truth) < 28  # °C, subtropical coastal upwelling
    # the days differ: a daily snapshot of an evolving field
    assert np.nanstd(truth[1] - truth[0]) > 0.01


def test_a_second_make_reuses_and_a_damaged_archive_is_rebuilt(root, tmp_path):
    copy = tmp_path / "d"
    shutil.copytree(root, copy)
    before = {p.name: p.read_bytes() for p in _files(copy)}
    again = make_twin("tiny", copy, progress=False)
    assert [f.kind for f in again][-2:] == ["l3", "truth"]
    assert all(f.seconds == 0.0 for f in again)
    files = _files(copy)
    files[3].unlink()
    stray = files[0].parent / _names([SPEC.absent_days[0]])[0]
    shutil.copy(files[0], stray)  # a file for an absent day
    rebuilt = make_twin("tiny", copy, progress=False)
    assert [f.seconds > 0 for f in rebuilt] == [False, False, False, True, True]
    assert {p.name: p.read_bytes() for p in _files(copy)} == before
    with netCDF4.Dataset(copy / TRUTH.files, "a") as nc:
        nc.unisst_twin_size = "full"
    with pytest.raises(DataFormatError, match="holds the 'full' twin"):
        make_twin("tiny", copy, progress=False)
    (copy / TRUTH.files).unlink()  # no truth, but daily files of another size: kept too
    with netCDF4.Dataset(_files(copy)[0], "a") as nc:
        nc.unisst_twin_size = "full"
    with pytest.raises(DataFormatError, match="belongs to the 'full' twin.*--overwrite"):
        make_twin("tiny", copy, progress=False)


def test_verify_checks_the_archive_and_names_a_missing_day(root, tmp_path):
    rows = {r["name"]: r for r in verify_all(root)}
    assert rows["twin_l3"]["status"] == "ok", rows["twin_l3"]["problems"]
    assert rows["twin_l3"]["shape"] == f"{len(PRESENT)} files × {SPEC.ny} × {SPEC.nx}"
    assert rows["twin_l3_truth"]["status"] == "ok", rows["twin_l3_truth"]["problems"]
    copy = tmp_path / "d"
    shutil.copytree(root, copy)
    gone = _files(copy)[5]
    gone.unlink()
    row = {r["name"]: r for r in verify_all(copy, checksums=False)}["twin_l3"]
    assert row["status"] == "problem"
    assert f"{len(PRESENT) - 1} files, expected {len(PRESENT)}" in row["problems"]
    assert f"missing: {gone.name}" in row["problems"]


def test_archive_checksums_match_the_manifest(root):
    # the bytes do not depend on AVX-512 (tested in test_twin_make): both strings check them
    here, ref = platform_fingerprint(), M.twin.reference_platform
    if here.replace(" avx512f", "") != ref.replace(" avx512f", ""):
        pytest.skip(
            f"checksums were recorded on {M.twin.reference_platform!r}, this is "
            f"{platform_fingerprint()!r} (same-seed-same-bytes is tested in test_twin_make)"
        )
    lines = "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in _files(root)
    )
    expected = M.twin.checksums["tiny"]
    assert hashlib.sha256(lines.encode()).hexdigest() == expected[ARCHIVE.files]
    truth_digest = hashlib.sha256((root / TRUTH.files).read_bytes()).hexdigest()
    assert truth_digest == expected[TRUTH.files]
