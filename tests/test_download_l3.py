"""`unisst download l3`: a Copernicus Marine L3S product as one file a day.

``copernicusmarine.subset`` is replaced by a stand-in (tests/fake_copernicus.py,
``FakeL3Service``) that records its arguments and writes what the toolbox would
for a daily L3S data set: int16 kelvin SST, int8 quality_level and sses_bias on
the product's 0.1° grid inside the requested box. Nothing reaches the network.
"""

from __future__ import annotations

import copy
import json
import logging
import shlex
from pathlib import Path

import copernicusmarine as cm
import numpy as np
import pytest
import xarray as xr
import yaml
from fake_copernicus import FakeL3Service, FakeService, l3_dataset, set_credentials

from unisst_lib.cli import main
from unisst_lib.core.errors import (
    CorruptFileError,
    CredentialsError,
    DataFormatError,
    ManifestError,
    NetworkError,
    RemoteDataError,
    UnisstError,
)
from unisst_lib.core.manifest import load_manifest, manifest_from_dict
from unisst_lib.data.archive import open_archive
from unisst_lib.sources import l3_download as l3

ROOT = Path(__file__).resolve().parent.parent
FAKE_PASSWORD = "unisst-FAKE-l3-pw-5eaf00d-do-not-leak"
NAME = "odyssea_l3s_pir"
SUFFIX = "CMEMS-L3S_GHRSST-SSTfnd-ODYSSEA_PIR-GLO-v02.0-fv01.0.nc"
# a tiny box: 0.1° cells centred 20.05..20.45 N, -17.95..-17.55 E (5 x 5)
TINY = {"lat_min": 20.0, "lat_max": 20.5, "lon_min": -18.0, "lon_max": -17.5,
        "resolution_deg": 1 / 12}  # fmt: skip
FOUR_DAYS = {"start": "2024-06-01", "end": "2024-06-04"}


def _raw() -> dict:
    raw = yaml.safe_load((ROOT / "data_manifest.yaml").read_text())
    raw["regions"]["tiny_box"] = dict(TINY)
    return raw


@pytest.fixture
def manifest():
    return manifest_from_dict(_raw())


@pytest.fixture
def creds(monkeypatch, tmp_path):
    set_credentials(monkeypatch, "alice", FAKE_PASSWORD)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def service(monkeypatch):
    fake = FakeL3Service()
    monkeypatch.setattr(cm, "subset", fake)
    return fake


def _get(manifest, folder, **kw):
    return l3.download_l3(
        NAME, region="tiny_box", out_dir=folder, manifest=manifest, progress=False,
        **{**FOUR_DAYS, **kw},
    )  # fmt: skip


def _left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ------------------------------------------------------------------ manifest
def test_the_manifest_entry_names_the_real_l3s_product():
    m = load_manifest()
    p = m.l3_product(NAME)
    assert p.verified is True and p.provider == "copernicus_marine"
    assert p.product_id == "SST_GLO_SST_L3S_NRT_OBSERVATIONS_010_010"
    assert p.dataset_id == "cmems_obs-sst_glo_phy_l3s_pir_P1D-m"
    assert p.variable == "sea_surface_temperature"
    assert p.variables == ("sea_surface_temperature", "quality_level", "sses_bias")
    assert (p.units, p.cadence) == ("K", "P1D")
    # the embedded archive's region, one month
    assert p.region == m.archive("twin_l3").region == "nwafrica_coastal"
    assert (str(p.start), str(p.end)) == ("2024-06-01", "2024-06-30")
    text = (ROOT / "data_manifest.yaml").read_text()
    assert "https://github.com/wekeo/climetlab-wekeo-datasets/" in text  # where ids were found


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p.update(region="atlantis"), r"l3_products\.odyssea_l3s_pir\.region"),
        (lambda p: p.update(variable="analysed_sst"), "must be one of variables"),
        (lambda p: p.update(variables=["sea_surface_temperature"] * 2), "must not repeat"),
        (lambda p: p.update(units="degrees_C"), r"odyssea_l3s_pir\.units"),
        (lambda p: p.update(end="2024-06-01"), "start must be before end"),
        (lambda p: p.update(start="2019-01-01"), "before coverage_start"),
        (lambda p: p.pop("verified"), r"odyssea_l3s_pir\.verified: missing key"),
        (lambda p: p.update(file_suffix="a/b.nc"), r"odyssea_l3s_pir\.file_suffix"),
        (lambda p: p.update(directory="../elsewhere"), "relative to the data directory"),
        (lambda p: p.update(product_id="sst glo"), r"odyssea_l3s_pir\.product_id"),
    ],
)
def test_a_bad_entry_is_named(edit, message):
    raw = _raw()
    bad = copy.deepcopy(raw)
    edit(bad["l3_products"][NAME])
    with pytest.raises(ManifestError, match=message):
        manifest_from_dict(bad)


# ------------------------------------------------------------ the request
def test_default_request_is_the_archive_box_over_whole_days():
    req = l3.plan_l3()
    assert req.name == NAME
    assert req.subset_arguments() == {
        "dataset_id": "cmems_obs-sst_glo_phy_l3s_pir_P1D-m",
        "variables": ["sea_surface_temperature", "quality_level", "sses_bias"],
        "minimum_longitude": -23.0,
        "maximum_longitude": -15.083333,
        "minimum_latitude": 19.0,
        "maximum_latitude": 25.583333,
        "start_datetime": "2024-06-01T00:00:00",
        "end_datetime": "2024-06-30T23:59:59",
        "coordinates_selection_method": "inside",
        "file_format": "netcdf",
    }
    assert len(req.days) == 30


def test_near_real_time_coverage_ends_latency_days_before_today():
    import datetime as dt

    today = dt.date(2024, 7, 1)  # latency 1 day: 2024-06-30 is the last day held
    req = l3.plan_l3(NAME, start="2024-06-29", end="2024-06-30", today=today)
    assert req.days == [dt.date(2024, 6, 29), dt.date(2024, 6, 30)]
    with pytest.raises(UnisstError, match=r"\(2020-12-31 \.\. 2024-06-30; near real time"):
        l3.plan_l3(NAME, start="2024-06-29", end="2024-07-01", today=today)
    with pytest.raises(UnisstError, match="outside what"):
        l3.plan_l3(NAME, start="2020-12-30", end="2021-01-02", today=today)
    assert l3.plan_l3(NAME, start="2020-12-31", end="2021-01-01", today=today).start == (
        dt.date(2020, 12, 31)
    )


def test_default_folder_is_under_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("UNISST_DATA_DIR", str(tmp_path / "d"))
    req = l3.plan_l3(NAME, region="natl_subtropical")
    assert req.folder == tmp_path / "d" / "sst" / "l3" / NAME / "natl_subtropical"


def test_dry_run_command_is_the_same_request_for_the_toolbox_cli(manifest):
    from copernicusmarine.command_line_interface.group_subset import subset as toolbox_cli

    req = l3.plan_l3(NAME, region="tiny_box", manifest=manifest, **FOUR_DAYS)
    words = shlex.split(req.subset_command())
    assert words[:2] == ["copernicusmarine", "subset"]
    params = toolbox_cli.make_context("subset", words[2:]).params
    for key, value in req.subset_arguments().items():
        got = params[key]
        assert (list(got) if key == "variables" else got) == value, key


def test_dry_run_prints_the_command_and_contacts_nothing(service, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("COPERNICUSMARINE_SERVICE_USERNAME", "COPERNICUSMARINE_SERVICE_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    folder = tmp_path / "l3"
    rc = main(["download", "l3", "--dry-run", "--dir", str(folder)])
    out = capsys.readouterr().out
    assert rc == 0 and service.calls == []
    assert (
        "copernicusmarine subset --dataset-id cmems_obs-sst_glo_phy_l3s_pir_P1D-m "
        "--variable sea_surface_temperature --variable quality_level --variable sses_bias "
        "--minimum-longitude -23.0 --maximum-longitude -15.083333 --minimum-latitude 19.0 "
        "--maximum-latitude 25.583333 --start-datetime 2024-06-01T00:00:00 "
        "--end-datetime 2024-06-30T23:59:59 --coordinates-selection-method inside "
        "--file-format netcdf"
    ) in out
    assert f"nwafrica_coastal, 2024-06-01 .. 2024-06-30 -> {folder}" in out
    assert "credentials: none found" in out
    assert not folder.exists()


# ---------------------------------------------------------- good downloads
def test_download_writes_one_file_a_day_that_open_archive_reads(
    creds, manifest, tmp_path, monkeypatch
):
    fake = FakeL3Service(absent_days=(2,))  # the product has nothing on 2024-06-03
    monkeypatch.setattr(cm, "subset", fake)
    res = _get(manifest, tmp_path / "l3")
    (call,) = fake.calls
    assert Path(call.pop("output_directory")).parent == tmp_path / "l3"
    assert call == {
        "dataset_id": "cmems_obs-sst_glo_phy_l3s_pir_P1D-m",
        "variables": ["sea_surface_temperature", "quality_level", "sses_bias"],
        "minimum_longitude": -18.0, "maximum_longitude": -17.5,
        "minimum_latitude": 20.0, "maximum_latitude": 20.5,
        "start_datetime": "2024-06-01T00:00:00", "end_datetime": "2024-06-04T23:59:59",
        "coordinates_selection_method": "inside", "file_format": "netcdf",
        "output_filename": "subset.nc", "disable_progress_bar": True,
    }  # fmt: skip
    names = [f"2024060{d}000000-{SUFFIX}" for d in (1, 2, 4)]
    assert _left_in(tmp_path / "l3") == names  # no staging folder left
    assert [p.name for p in res.written] == names and res.days_written == 3
    assert [str(d) for d in res.absent] == ["2024-06-03"] and res.kept == ()

    with pytest.warns(UserWarning):  # land from never-observed pixels; a 5x5 domain
        ds = open_archive(tmp_path / "l3")
    assert ds.attrs["cadence"] == "P1D" and ds.attrs["absent_dates"] == ["2024-06-03"]
    assert ds.sizes == {"time": 4, "latitude": 5, "longitude": 5}
    np.testing.assert_allclose(ds.latitude, [20.05, 20.15, 20.25, 20.35, 20.45], atol=1e-5)
    sst = ds["sst"].values
    q = ds["quality_level"].values
    # by hand: 2024-06-02 (day 1), row 1 (20.15 N), column 2: 18 + 1.15 + 0.1 °C,
    # stored as 1925 x 0.01 K + 273.15 K; quality (1 + 2 + 1) % 6 = 4, kept
    assert q[1, 1, 2] == 4 and sst[1, 1, 2] == pytest.approx(19.25, abs=1e-5)
    # row 0, column 2 that day: quality 3, below the default 4: removed
    assert q[1, 0, 2] == 3 and np.isnan(sst[1, 0, 2])
    # the absent day is an empty frame, quality 0
    assert np.isnan(sst[2]).all() and (q[2] == 0).all()
    # the two easternmost columns never hold a value: land
    assert ds["land"].values[:, 3:].all() and not ds["land"].values[:, :3].any()


def test_values_and_packing_are_the_products_bit_for_bit(creds, service, manifest, tmp_path):
    _get(manifest, tmp_path / "l3")
    answer = l3_dataset(service.calls[0])  # what the stand-in sent
    for i, path in enumerate(sorted((tmp_path / "l3").glob("*.nc"))):
        with xr.open_dataset(path, mask_and_scale=False) as day:
            assert day.sizes["time"] == 1
            for name in ("sea_surface_temperature", "quality_level", "sses_bias"):
                assert day[name].dtype == answer[name].dtype
                np.testing.assert_array_equal(day[name].values[0], answer[name].values[i])
            sst = day["sea_surface_temperature"].attrs
            assert (sst["units"], sst["scale_factor"], sst["add_offset"]) == (
                "kelvin", np.float32(0.01), np.float32(273.15)
            )  # fmt: skip
            assert day.attrs["source_dataset_id"] == "cmems_obs-sst_glo_phy_l3s_pir_P1D-m"
            assert "copernicusmarine subset" in day.attrs["history"]


def test_kelvin_to_celsius_and_the_sses_bias(creds, service, manifest, tmp_path):
    _get(manifest, tmp_path / "l3")
    with pytest.warns(UserWarning):
        plain = open_archive(tmp_path / "l3", min_quality=5)
    with pytest.warns(UserWarning):
        corrected = open_archive(tmp_path / "l3", min_quality=5, apply_bias=True)
    # by hand: 2024-06-01 (day 0), row 3 (20.35 N), column 2: quality (3 + 2 + 0) % 6 = 5,
    # 18 + 1.35 + 0 °C
    assert plain["sst"].values[0, 3, 2] == pytest.approx(18.0 + 1.35, abs=1e-5)
    # sses_bias is 5 x 0.02 K = 0.1 K, subtracted
    assert corrected["sst"].values[0, 3, 2] == pytest.approx(18.0 + 1.35 - 0.1, abs=1e-5)
    kept = np.isfinite(plain["sst"].values)
    assert (plain["quality_level"].values[kept] == 5).all() and kept.sum() > 0


def test_days_already_there_are_kept_and_overwrite_replaces_them(
    creds, service, manifest, tmp_path
):
    first = _get(manifest, tmp_path / "l3")
    mtimes = {p.name: p.stat().st_mtime_ns for p in first.written}
    again = _get(manifest, tmp_path / "l3")
    assert len(service.calls) == 1, "every day was there: nothing should be requested"
    assert again.written == () and len(again.kept) == 4
    # one day lost: requested again, only that day written, the others untouched
    lost = first.written[1]
    lost.unlink()
    third = _get(manifest, tmp_path / "l3")
    assert len(service.calls) == 2
    assert third.written == (lost,) and len(third.kept) == 3
    for p in first.written:
        if p != lost:
            assert p.stat().st_mtime_ns == mtimes[p.name]
    fourth = _get(manifest, tmp_path / "l3", overwrite=True)
    assert len(service.calls) == 3 and len(fourth.written) == 4 and fourth.kept == ()
    assert len(_left_in(tmp_path / "l3")) == 4


def test_overwrite_replaces_a_day_stored_under_another_time_stamp(
    creds, service, manifest, tmp_path
):
    first = _get(manifest, tmp_path / "l3")
    noon = tmp_path / "l3" / f"20240602120000-{SUFFIX}"
    first.written[1].rename(noon)  # the same day, stamped 12:00 by an earlier version
    assert _get(manifest, tmp_path / "l3").kept[1] == noon  # kept: the day is there
    _get(manifest, tmp_path / "l3", overwrite=True)
    assert _left_in(tmp_path / "l3") == [f"2024060{d}000000-{SUFFIX}" for d in (1, 2, 3, 4)]


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "kind", "message"),
    [
        ({"name": "odyssea"}, ManifestError, "'odyssea' is not in the manifest's l3_products "
         r"\(known: odyssea_l3s_pir\)"),
        ({"region": "atlantis"}, UnisstError, "unknown region 'atlantis': choose one of "
         "natl_subtropical"),
        ({"start": "01/06/2024"}, UnisstError, r"start date '01/06/2024' is not a day: give it "
         "as YYYY-MM-DD"),
        ({"end": "2024-6-31"}, UnisstError, "end date '2024-6-31' is not a day"),
        ({"start": "2024-06-04", "end": "2024-06-04"}, UnisstError,
         "empty or a single day: end must be after start"),
        ({"start": "2024-06-05", "end": "2024-06-04"}, UnisstError, "end must be after start"),
        ({"start": "2019-06-01", "end": "2019-06-30"}, UnisstError,
         r"outside what cmems_obs-sst_glo_phy_l3s_pir_P1D-m holds \(2020-12-31 \.\. "),
        ({"start": "2099-01-01", "end": "2099-01-31"}, UnisstError,
         r"near real time: up to 1 day\(s\) before today"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_before_anything_is_asked(
    kwargs, kind, message, creds, service, manifest, tmp_path
):
    args = {"name": NAME, "region": "tiny_box", **FOUR_DAYS, **kwargs}
    with pytest.raises(kind, match=message):
        l3.download_l3(
            args.pop("name"), out_dir=tmp_path / "l3", manifest=manifest, progress=False, **args
        )
    assert service.calls == [] and not (tmp_path / "l3").exists()


def test_no_credentials_is_a_clear_error_before_any_request(
    service, manifest, tmp_path, monkeypatch
):
    for var in ("COPERNICUSMARINE_SERVICE_USERNAME", "COPERNICUSMARINE_SERVICE_PASSWORD",
                "COPERNICUSMARINE_CREDENTIALS_DIRECTORY"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    with pytest.raises(CredentialsError, match="no Copernicus Marine credentials found") as err:
        _get(manifest, tmp_path / "l3")
    assert "COPERNICUSMARINE_SERVICE_USERNAME" in str(err.value)
    assert "copernicusmarine login" in str(err.value)
    assert service.calls == [] and _left_in(tmp_path / "l3") == []


def test_credentials_set_after_the_toolbox_was_imported_are_named(
    service, manifest, tmp_path, monkeypatch
):
    from copernicusmarine.core_functions import credentials_utils

    monkeypatch.setattr(credentials_utils, "COPERNICUSMARINE_SERVICE_USERNAME", None)
    monkeypatch.setattr(credentials_utils, "COPERNICUSMARINE_SERVICE_PASSWORD", None)
    monkeypatch.setenv("COPERNICUSMARINE_SERVICE_USERNAME", "alice")
    monkeypatch.setenv("COPERNICUSMARINE_SERVICE_PASSWORD", FAKE_PASSWORD)
    with pytest.raises(CredentialsError, match="restart the kernel") as err:
        _get(manifest, tmp_path / "l3")
    assert FAKE_PASSWORD not in str(err.value) and service.calls == []


@pytest.mark.parametrize(
    ("exc", "kind", "message"),
    [
        (cm.VariableDoesNotExistInTheDataset("sses_bias"), RemoteDataError,
         r"remove the missing one from `variables` \(correct l3_products\.odyssea_l3s_pir"),
        (cm.CoordinatesOutOfDatasetBounds("time > 2024"), RemoteDataError,
         "cannot serve 2024-06-01 .. 2024-06-04 over tiny_box"),
        (cm.DatasetNotFound("cmems_obs-sst_glo_phy_l3s_pir_P1D-m"), RemoteDataError,
         "describe --contains SST_GLO_SST_L3S_NRT_OBSERVATIONS_010_010"),
        (cm.InvalidUsernameOrPassword("bad"), CredentialsError, "refused the username"),
        (cm.CouldNotConnectToAuthenticationSystem(), NetworkError, "authentication service"),
        (ConnectionError("reset"), NetworkError, "cannot reach Copernicus Marine"),
        ("none", CredentialsError, "'Abort'"),
    ],
)  # fmt: skip
def test_toolbox_failures_say_what_to_do_and_leave_nothing(
    exc, kind, message, creds, manifest, tmp_path, monkeypatch
):
    monkeypatch.setattr(cm, "subset", FakeL3Service(result=exc))
    with pytest.raises(kind, match=message) as err:
        _get(manifest, tmp_path / "l3")
    assert FAKE_PASSWORD not in str(err.value)
    assert _left_in(tmp_path / "l3") == []


def _celsius(ds):
    ds["sea_surface_temperature"].attrs["units"] = "degrees_C"
    return ds


def _no_quality(ds):
    return ds.drop_vars("quality_level")


def _twice_a_day(ds):
    # 06-01 00:00, 06-01 12:00, 06-03 00:00, 06-03 12:00
    return ds.assign_coords(time=ds["time"].values - np.array([0, 12, 0, 12], "m8[h]"))


def _nothing_observed(ds):
    ds["sea_surface_temperature"][:] = -32768
    return ds


@pytest.mark.parametrize(
    ("tweak", "kind", "message"),
    [
        (_celsius, DataFormatError, "sea_surface_temperature in 'degrees_c', the manifest says "
         r"kelvin \(K\)"),
        (_no_quality, DataFormatError, "has no quality_level"),
        (_twice_a_day, DataFormatError, "more than one frame on 2024-06-01, 2024-06-03: not the "
         r"daily cadence \(P1D\)"),
        (_nothing_observed, DataFormatError, "do not open as an archive"),
    ],
)  # fmt: skip
def test_an_answer_that_is_not_the_product_is_not_kept(
    tweak, kind, message, creds, manifest, tmp_path, monkeypatch
):
    monkeypatch.setattr(cm, "subset", FakeL3Service(tweak=tweak))
    with pytest.raises(kind, match=message) as err:
        _get(manifest, tmp_path / "l3")
    assert "nothing was written to" in str(err.value)
    assert _left_in(tmp_path / "l3") == []


def test_a_garbage_answer_is_a_clear_error(creds, manifest, tmp_path, monkeypatch):
    monkeypatch.setattr(cm, "subset", FakeService(result="garbage"))
    with pytest.raises(CorruptFileError, match="cannot be read as netCDF"):
        _get(manifest, tmp_path / "l3")
    assert _left_in(tmp_path / "l3") == []


def test_an_unverified_entry_is_named_in_a_warning(manifest, tmp_path, caplog):
    raw = _raw()
    raw["l3_products"][NAME]["verified"] = False
    m = manifest_from_dict(raw)
    with caplog.at_level(logging.WARNING, logger="unisst_lib.sources.l3_download"):
        res = l3.download_l3(NAME, out_dir=tmp_path / "l3", manifest=m, dry_run=True)
    assert res.verified is False
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "not verified" in record.getMessage()
    assert "cmems_obs-sst_glo_phy_l3s_pir_P1D-m" in record.getMessage()
    assert "SST_GLO_SST_L3S_NRT_OBSERVATIONS_010_010" in record.getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="unisst_lib.sources.l3_download"):
        l3.download_l3(NAME, out_dir=tmp_path / "l3", manifest=manifest, dry_run=True)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


# ------------------------------------------------------------------ the CLI
def test_cli_prints_the_folder_the_days_and_the_next_command(
    creds, service, tmp_path, monkeypatch, capsys, caplog
):
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(_raw()))
    monkeypatch.setenv("UNISST_MANIFEST", str(path))
    folder = tmp_path / "my l3"
    with caplog.at_level(logging.DEBUG):
        rc = main(["download", "l3", "--region", "tiny_box", "--start", "2024-06-01",
                   "--end", "2024-06-04", "--dir", str(folder), "-q"])  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"{folder}: 4 day(s) written, {NAME}" in out
    assert "SST_GLO_SST_L3S_NRT_OBSERVATIONS_010_010 / cmems_obs-sst_glo_phy_l3s_pir_P1D-m" in out
    assert f"next: unisst evaluate --data '{folder}'" in out
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "credentials from the environment variables" in logged
    written = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    for text in (out, err, logged, json.dumps(service.calls, default=str)):
        assert FAKE_PASSWORD not in text
    assert FAKE_PASSWORD.encode() not in written and len(list(folder.glob("*.nc"))) == 4


def test_cli_bad_input_is_one_line_and_names_the_problem(creds, service, tmp_path, capsys):
    rc = main(["download", "l3", "--start", "2024-06-31", "--dir", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: start date '2024-06-31' is not a day")
    assert "Traceback" not in err and service.calls == []
