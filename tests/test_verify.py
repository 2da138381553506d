"""`unisst data verify`: every file on disk against the manifest, problems named."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from unisst_lib.cli import main
from unisst_lib.core.manifest import load_manifest
from unisst_lib.data.io import write_sst_netcdf
from unisst_lib.sources.verify import (
    check_cloud_file,
    check_sst_file,
    expected_frames,
    format_report,
    verify_all,
)


@pytest.fixture
def data_copy(tiny_data_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data_dir, root)
    return root


def _anfc_file(path, *, times=None, lat_shift=0.0, units_c=True, n=48):
    """An anfc_test-like file: the region's grid, hourly from the manifest's start."""
    m = load_manifest()
    region = m.region_of("anfc_test")
    if times is None:
        start = np.datetime64(m.sst_dataset("anfc_test").start.replace(tzinfo=None), "ns")
        times = start + np.arange(n) * np.timedelta64(1, "h")
    sst = np.full((len(times), region.ny, region.nx), 24.0, np.float32)
    write_sst_netcdf(
        sst,
        path,
        times=times,
        latitudes=region.latitudes() + lat_shift,
        longitudes=region.longitudes(),
        depth_m=0.494,
    )
    return path


def test_expected_frames_counts_both_ends():
    m = load_manifest()
    e = m.sst_dataset("anfc_train_val")
    assert expected_frames(e.start, e.end, 1) == 366 * 24  # 2024 is a leap year
    r = m.sst_dataset("reanalysis_test")
    assert expected_frames(r.start, r.end, 24) == 181  # 2019-01-01 .. 2019-06-30


def test_the_tiny_twin_verifies_and_the_rest_is_reported_missing(tiny_data_dir, capsys):
    rows = verify_all(tiny_data_dir)
    by_name = {r["name"]: r for r in rows}
    assert {n for n, r in by_name.items() if r["status"] == "ok"} == {
        "twin_train_val",
        "twin_test",
        "twin",
        "twin_l3",
        "twin_l3_truth",
    }
    assert by_name["anfc_test"]["status"] == "missing"
    assert by_name["figshare"]["status"] == "missing"
    assert by_name["twin_test"]["shape"] == "576 × 64 × 64"
    report = format_report(rows)
    assert report.splitlines()[-1].startswith("5 ok, 0 with problems")
    assert main(["data", "verify", "--dir", str(tiny_data_dir)]) == 0
    assert "twin_train_val" not in capsys.readouterr().err


def test_a_truncated_cloud_file_is_a_problem_and_the_exit_code_says_so(data_copy, capsys):
    clouds = data_copy / "clouds" / "twin" / "cloud_dataset.npy"
    clouds.write_bytes(clouds.read_bytes()[:5000])
    assert main(["data", "verify", "--dir", str(data_copy), "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    (row,) = [r for r in rows if r["name"] == "twin" and r["kind"] == "clouds"]
    assert row["status"] == "problem" and "truncated, damaged or not a .npy file" in row["problems"]


def test_sst_checks_name_grid_period_and_units(tmp_path):
    good = _anfc_file(tmp_path / "good.nc")
    assert check_sst_file(good, "anfc_test", n_frames=48) == []
    assert check_sst_file(good, "anfc_test") == [f"48 frames, expected {181 * 24}"]
    shifted = _anfc_file(tmp_path / "shifted.nc", lat_shift=0.04)
    (problem,) = check_sst_file(shifted, "anfc_test", n_frames=48)
    assert problem.startswith("grid off the region satl_subtropical by up to 0.0400°")
    m = load_manifest()
    start = np.datetime64(m.sst_dataset("anfc_test").start.replace(tzinfo=None), "ns")
    gappy = np.concatenate([start + np.arange(10) * np.timedelta64(1, "h"),
                            start + (12 + np.arange(38)) * np.timedelta64(1, "h")])  # fmt: skip
    problems = check_sst_file(
        _anfc_file(tmp_path / "gap.nc", times=gappy), "anfc_test", n_frames=48
    )
    assert problems == ["frames 1, 3 h apart, manifest 1 h"]
    late = start + (6 + np.arange(48)) * np.timedelta64(1, "h")
    problems = check_sst_file(
        _anfc_file(tmp_path / "late.nc", times=late), "anfc_test", n_frames=48
    )
    assert problems == ["starts 2025-01-01T06:30, manifest 2025-01-01T00:30"]


def test_sst_check_reads_units_from_the_file_not_the_conversion(tmp_path):
    import netCDF4

    path = _anfc_file(tmp_path / "k.nc")
    with netCDF4.Dataset(path, "a") as nc:
        nc["thetao"].units = "K"
    problems = check_sst_file(path, "anfc_test", n_frames=48)
    assert "thetao units 'K', manifest 'degrees_C'" in problems
    # 24 "K" read as Kelvin is -249 °C: implausible, and said so
    assert any("outside a plausible" in p for p in problems)


def test_cloud_md5_recorded_at_download_is_checked(data_copy):
    m = load_manifest()
    src = data_copy / "clouds" / "twin" / "cloud_dataset.npy"
    dest = data_copy / m.cloud_dataset("figshare").file
    dest.parent.mkdir(parents=True)
    shutil.copy(src, dest)
    n = int(np.load(dest, mmap_mode="r").shape[0])
    side = dest.with_name(dest.name + ".json")
    side.write_text(json.dumps({"md5": "0" * 32}))
    problems = check_cloud_file(dest, "figshare")
    assert f"{n} steps, fewer than the 10800 needed" in problems
    assert any(p.startswith("MD5 ") and p.endswith("expected " + "0" * 32) for p in problems)
    assert check_cloud_file(dest, "figshare", md5=False, n_steps=n) == []


def test_cloud_in_grams_is_named(tmp_path):
    path = tmp_path / "g.npy"
    np.save(path, np.full((20, 64, 64), 90.0, np.float32))
    (problem,) = check_cloud_file(path, "twin", n_steps=20)
    assert "look like g m-2" in problem


def test_twin_checksums_are_compared_with_the_manifest(data_copy, tiny_data_dir):
    from unisst_lib.data.twin.make import platform_fingerprint

    m = load_manifest()
    rel = m.cloud_dataset("twin").file
    digest = hashlib.sha256((tiny_data_dir / rel).read_bytes()).hexdigest()
    here, reference = platform_fingerprint(), m.twin.reference_platform
    if here == reference:  # the recorded bytes must come out here
        assert digest == m.twin.checksums["tiny"][rel]
    if digest == m.twin.checksums["tiny"][rel]:
        want = "matches the manifest"
    else:  # another CPU or numpy: a different, equally valid, chaotic realisation
        want = f"differs: expected off the reference platform ({reference}; this is {here})"
    rows = {r["name"]: r for r in verify_all(tiny_data_dir) if r["kind"] == "clouds"}
    assert rows["twin"]["checksum"] == want
    assert rows["twin"]["sha256"] == digest
    clouds = data_copy / "clouds" / "twin" / "cloud_dataset.npy"
    lwp = np.load(clouds)
    lwp[0, 0, 0] += 0.001  # still a valid LWP field, but not the manifest's bytes
    np.save(clouds, lwp)
    rows = {r["name"]: r for r in verify_all(data_copy) if r["kind"] == "clouds"}
    assert rows["twin"]["checksum"] != "matches the manifest"
    assert "matches" not in format_report(list(rows.values())).splitlines()[1]
    assert verify_all(data_copy, checksums=False)[-1].get("checksum") is None


def test_verify_twin_names_a_corrupt_or_shifted_file_instead_of_raising(data_copy):
    from unisst_lib.sources.inventory import verify_twin

    sst = data_copy / "sst" / "twin" / "satl_2019H1_PT1H.nc"
    sst.write_bytes(sst.read_bytes()[:2000])
    rows = {r["file"]: r for r in verify_twin("tiny", data_copy, checksums=False)}
    assert "probably truncated or damaged" in rows["sst/twin/satl_2019H1_PT1H.nc"]["problems"]
    assert rows["sst/twin/natl_2018_PT1H.nc"]["problems"] == ""
    # the twin's first frame must be the manifest's start exactly (no half-frame tolerance)
    m = load_manifest()
    region = m.region_of("twin_test")
    start = np.datetime64(m.sst_dataset("twin_test").start.replace(tzinfo=None), "ns")
    times = start + np.timedelta64(20, "m") + np.arange(576) * np.timedelta64(1, "h")
    lat, lon = region.latitudes(), region.longitudes()
    frames = np.full((576, 64, 64), 24.0, np.float32)
    write_sst_netcdf(frames, sst, times=times, latitudes=lat, longitudes=lon, depth_m=0.494)
    rows = {r["file"]: r for r in verify_twin("tiny", data_copy, checksums=False)}
    assert rows["sst/twin/satl_2019H1_PT1H.nc"]["problems"] == (
        "starts 2019-01-01T00:50, manifest 2019-01-01T00:30"
    )
