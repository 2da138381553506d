"""`unisst download sst`: the arguments sent to copernicusmarine.subset, the checks, the errors.

Two kinds of test:

* in-process, with ``copernicusmarine.subset`` replaced by a stand-in that
  records its arguments and writes the netCDF file the service would (the
  layout of the Copernicus Marine Toolbox: ``thetao(time, depth, latitude,
  longitude)`` on the 1/12° grid, over the requested box and period);
* subprocesses running ``unisst download sst`` with the real toolbox and no
  network, for the "Abort" path, an unreachable authentication service and a
  wrong password answered by a local stand-in of the authentication server
  (HTTPS through a CONNECT proxy on 127.0.0.1): a fake password must never
  reach what unisst prints or writes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import copernicusmarine as cm
import numpy as np
import pytest
import xarray as xr
import yaml
from fake_copernicus import FakeService, set_credentials

from unisst_lib.cli import main
from unisst_lib.core.errors import (
    CorruptFileError,
    CredentialsError,
    DataFormatError,
    NetworkError,
    RemoteDataError,
    UnisstError,
)
from unisst_lib.core.manifest import load_manifest, manifest_from_dict
from unisst_lib.data.io import open_sst
from unisst_lib.sources import copernicus

ROOT = Path(__file__).resolve().parent.parent
FAKE_PASSWORD = "unisst-FAKE-pw-7c0ffee-do-not-leak"


# ------------------------------------------------------------------ fixtures
def _small_raw() -> dict:
    """The repository's manifest with short periods (3 days hourly, 30 days daily)."""
    raw = yaml.safe_load((ROOT / "data_manifest.yaml").read_text())
    ds = raw["sst_datasets"]
    ds["anfc_train_val"].update(start="2024-03-01T00:30:00", end="2024-03-03T23:30:00")
    ds["anfc_test"].update(start="2025-02-01T00:30:00", end="2025-02-02T23:30:00")
    ds["reanalysis_train_val"].update(start="2018-01-01T00:00:00", end="2018-01-30T00:00:00")
    ds["reanalysis_test"].update(start="2019-01-01T00:00:00", end="2019-01-10T00:00:00")
    return raw


@pytest.fixture
def small_manifest():
    return manifest_from_dict(_small_raw())


@pytest.fixture
def creds(monkeypatch, tmp_path):
    """Fake credentials in the environment (read by unisst's check, never by the stand-in)."""
    set_credentials(monkeypatch, "alice", FAKE_PASSWORD)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def service(monkeypatch):
    fake = FakeService()
    monkeypatch.setattr(cm, "subset", fake)
    return fake


# ----------------------------------------------------------- arguments sent
def test_subset_arguments_known_answer_for_the_anfc_training_year():
    args = copernicus.subset_arguments("anfc_train_val")
    assert args == {
        "dataset_id": "cmems_mod_glo_phy_anfc_0.083deg_PT1H-m",
        "variables": ["thetao"],
        "minimum_longitude": -40.25,
        "maximum_longitude": -34.5,
        "minimum_latitude": 19.75,
        "maximum_latitude": 25.5,
        "minimum_depth": 0.0,
        "maximum_depth": 1.0,
        "start_datetime": "2024-01-01T00:00:00",
        "end_datetime": "2024-12-31T23:59:59",
        "coordinates_selection_method": "inside",
        "file_format": "netcdf",
    }


def test_subset_arguments_known_answer_for_the_daily_reanalysis_test_half_year():
    args = copernicus.subset_arguments("reanalysis_test")
    assert args["dataset_id"] == "cmems_mod_glo_phy_my_0.083deg_P1D-m"
    assert (args["minimum_latitude"], args["maximum_latitude"]) == (-20.25, -14.5)
    assert (args["minimum_longitude"], args["maximum_longitude"]) == (-20.25, -14.5)
    # daily means stamped 00:00: half a day either side of the first and last day
    assert args["start_datetime"] == "2018-12-31T12:00:00"
    assert args["end_datetime"] == "2019-06-30T11:59:59"


@pytest.mark.parametrize(
    "dataset",
    [
        n
        for n, d in load_manifest().sst_datasets.items()
        if load_manifest().sst_sources[d.source].provider == "copernicus_marine"
        and load_manifest().sst_sources[d.source].available
    ],
)
def test_download_sends_exactly_the_manifest_arguments(dataset, creds, tmp_path, monkeypatch):
    """For every downloadable manifest entry: what reaches copernicusmarine.subset."""
    m = load_manifest()
    entry, src, region = m.sst_dataset(dataset), m.source_of(dataset), m.region_of(dataset)
    fake = FakeService(result="none")  # stop after the call: the real periods are big
    monkeypatch.setattr(cm, "subset", fake)
    with pytest.raises(CredentialsError):
        copernicus.download_dataset(dataset, tmp_path / "data", variant="x", progress=False)
    (call,) = fake.calls
    margin = m.download.sst.margin_deg
    half = dt.timedelta(hours=src.frequency_hours / 2)
    staging = Path(call.pop("output_directory"))
    assert staging.parent == (tmp_path / "data" / entry.file).parent
    assert not staging.exists(), "the staging directory was left behind"
    assert call == {
        "dataset_id": src.dataset_id,
        "variables": [src.variable],
        "minimum_longitude": region.lon_min - margin,
        "maximum_longitude": region.lon_max + margin,
        "minimum_latitude": region.lat_min - margin,
        "maximum_latitude": region.lat_max + margin,
        "minimum_depth": 0.0,
        "maximum_depth": 1.0,
        "start_datetime": (entry.start - half).isoformat(),
        "end_datetime": (entry.end + half - dt.timedelta(seconds=1)).isoformat(),
        "coordinates_selection_method": "inside",
        "file_format": "netcdf",
        "output_filename": "subset.nc",
        "disable_progress_bar": True,
    }
    assert not any(FAKE_PASSWORD in json.dumps(v, default=str) for v in call.values())


def test_each_variant_fetches_its_own_data_sets_train_and_val_once(small_manifest):
    assert copernicus.datasets_for("anfc", manifest=small_manifest) == [
        "anfc_train_val",
        "anfc_test",
    ]
    assert copernicus.datasets_for("reanalysis", ("val", "train"), manifest=small_manifest) == [
        "reanalysis_train_val"
    ]
    assert copernicus.resolve_variant(None, manifest=small_manifest) == "anfc"


def test_retired_paper_product_and_the_twin_are_refused_with_the_alternatives(small_manifest):
    with pytest.raises(RemoteDataError, match="cannot be downloaded any more") as err:
        copernicus.resolve_variant("paper", manifest=small_manifest)
    assert "--variant anfc" in str(err.value) and "--variant reanalysis" in str(err.value)
    with pytest.raises(UnisstError, match="unisst data make"):
        copernicus.resolve_variant("twin", manifest=small_manifest)
    with pytest.raises(UnisstError, match="unknown SST variant 'hourly'"):
        copernicus.resolve_variant("hourly", manifest=small_manifest)


# ------------------------------------------------------------- good downloads
@pytest.mark.parametrize("stamp", [0, 30])
def test_download_crops_exactly_to_the_region_and_says_which_variant(
    stamp, creds, service, small_manifest, tmp_path
):
    service.stamp_minutes = stamp
    root = tmp_path / "data"
    results = copernicus.download_sst("anfc", root=root, manifest=small_manifest, progress=False)
    assert [r.dataset for r in results] == ["anfc_train_val", "anfc_test"]
    assert len(service.calls) == 2
    for r in results:
        region = small_manifest.region_of(r.dataset)
        assert r.variant == "anfc" and "not the paper's dates" in r.variant_note
        assert r.path == root / small_manifest.sst_dataset(r.dataset).file and not r.cached
        da = open_sst(r.path)
        assert da.shape[1:] == (64, 64) and r.shape == da.shape
        np.testing.assert_allclose(da.latitude, region.latitudes(), atol=1e-4)
        np.testing.assert_allclose(da.longitude, region.longitudes(), atol=1e-4)
        with xr.open_dataset(r.path) as ds:
            assert ds.attrs["unisst_variant"] == "anfc"
            assert ds.attrs["source_dataset_id"] == "cmems_mod_glo_phy_anfc_0.083deg_PT1H-m"
            assert "copernicusmarine.subset(" in ds.attrs["history"]
            assert ds["thetao"].attrs["units"] == "degrees_C"
        # the values are the service's own, cropped (°C at the same cell centres)
        lat, lon = da.latitude.values, da.longitude.values
        expect = 20.0 + 0.3 * lat[:, None] + 0.01 * lon[None, :]
        np.testing.assert_allclose(da.isel(time=0).values, expect, atol=1e-4)
    assert open_sst(results[0].path).sizes["time"] == 72  # 3 days hourly
    assert sorted(p.name for p in (root / "sst" / "anfc").iterdir()) == [
        "natl_2024_PT1H.nc",
        "satl_2025H1_PT1H.nc",
    ]


def test_reanalysis_variant_gives_daily_frames_on_the_papers_dates(
    creds, service, small_manifest, tmp_path
):
    (r,) = copernicus.download_sst(
        "reanalysis", ("train",), tmp_path, manifest=small_manifest, progress=False
    )
    da = open_sst(r.path)
    assert r.variant == "reanalysis" and "one frame a day" in r.variant_note
    assert da.sizes["time"] == 30
    assert str(da.time.values[0])[:10] == "2018-01-01"
    assert np.all(np.diff(da.time.values) == np.timedelta64(24, "h"))


def test_a_valid_file_on_disk_is_not_downloaded_again(creds, service, small_manifest, tmp_path):
    copernicus.download_sst("anfc", ("test",), tmp_path, manifest=small_manifest, progress=False)
    before = (tmp_path / "sst/anfc/satl_2025H1_PT1H.nc").stat().st_mtime_ns
    (r,) = copernicus.download_sst(
        "anfc", ("test",), tmp_path, manifest=small_manifest, progress=False
    )
    assert r.cached and len(service.calls) == 1
    assert (tmp_path / "sst/anfc/satl_2025H1_PT1H.nc").stat().st_mtime_ns == before
    copernicus.download_sst(
        "anfc", ("test",), tmp_path, manifest=small_manifest, overwrite=True, progress=False
    )
    assert len(service.calls) == 2


# ------------------------------------------------------ returned file fails checks
def _shorter(ds):
    return ds.isel(time=slice(0, -5))


def _kelvin(ds):
    ds["thetao"] = ds["thetao"] + 273.15
    ds["thetao"].attrs["units"] = "K"
    return ds


def _quarter_degree(ds):
    return ds.isel(latitude=slice(None, None, 3), longitude=slice(None, None, 3))


def _all_missing(ds):
    ds["thetao"] = ds["thetao"] * np.nan
    return ds


def _no_thetao(ds):
    return ds.rename({"thetao": "so"})


@pytest.mark.parametrize(
    ("tweak", "message"),
    [
        (_shorter, "frames, expected 48"),
        (_kelvin, "units 'K', manifest 'degrees_C'"),
        (_quarter_degree, "grid 22×22"),
        (_all_missing, "no finite SST value"),
        (_no_thetao, "no 'thetao'"),
    ],
)
def test_a_returned_file_that_fails_the_checks_is_not_kept(
    tweak, message, creds, small_manifest, tmp_path, monkeypatch
):
    monkeypatch.setattr(cm, "subset", FakeService(tweak=tweak))
    with pytest.raises(DataFormatError, match=message) as err:
        copernicus.download_sst("anfc", ("test",), tmp_path, manifest=small_manifest)
    assert "Nothing was written" in str(err.value) or "nothing written" in str(err.value)
    assert list((tmp_path / "sst" / "anfc").iterdir()) == []  # no file, no staging left


def test_a_failed_overwrite_keeps_the_good_file(creds, small_manifest, tmp_path, monkeypatch):
    monkeypatch.setattr(cm, "subset", FakeService())
    (r,) = copernicus.download_sst("anfc", ("test",), tmp_path, manifest=small_manifest)
    good = r.path.read_bytes()
    monkeypatch.setattr(cm, "subset", FakeService(tweak=_shorter))
    with pytest.raises(DataFormatError):
        copernicus.download_sst(
            "anfc", ("test",), tmp_path, manifest=small_manifest, overwrite=True
        )
    assert r.path.read_bytes() == good
    assert [p.name for p in r.path.parent.iterdir()] == [r.path.name]


def test_a_broken_file_on_disk_is_named_not_silently_replaced(
    creds, service, small_manifest, tmp_path
):
    dest = tmp_path / "sst/anfc/satl_2025H1_PT1H.nc"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"not netCDF")
    with pytest.raises(DataFormatError, match="--overwrite"):
        copernicus.download_sst("anfc", ("test",), tmp_path, manifest=small_manifest)
    assert dest.read_bytes() == b"not netCDF" and service.calls == []


def test_a_garbage_answer_is_a_clear_error(creds, small_manifest, tmp_path, monkeypatch):
    monkeypatch.setattr(cm, "subset", FakeService(result="garbage"))
    with pytest.raises(CorruptFileError, match="cannot be read as netCDF"):
        copernicus.download_sst("anfc", ("test",), tmp_path, manifest=small_manifest)
    assert list((tmp_path / "sst" / "anfc").iterdir()) == []


# ----------------------------------------------------------------- the errors
def test_no_credentials_anywhere_stops_before_calling_the_service(
    service, small_manifest, tmp_path, monkeypatch
):
    for var in ("COPERNICUSMARINE_SERVICE_USERNAME", "COPERNICUSMARINE_SERVICE_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("COPERNICUSMARINE_CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    with pytest.raises(CredentialsError, match="copernicusmarine login") as err:
        copernicus.download_sst("anfc", ("test",), tmp_path, manifest=small_manifest)
    assert "COPERNICUSMARINE_SERVICE_USERNAME" in str(err.value)
    assert service.calls == []


def test_credentials_set_after_the_toolbox_was_imported_are_named(
    service, small_manifest, tmp_path, monkeypatch
):
    """A notebook that sets os.environ after copernicusmarine was imported."""
    from copernicusmarine.core_functions import credentials_utils

    monkeypatch.setattr(credentials_utils, "COPERNICUSMARINE_SERVICE_USERNAME", None)
    monkeypatch.setattr(credentials_utils, "COPERNICUSMARINE_SERVICE_PASSWORD", None)
    monkeypatch.setenv("COPERNICUSMARINE_SERVICE_USERNAME", "alice")
    monkeypatch.setenv("COPERNICUSMARINE_SERVICE_PASSWORD", FAKE_PASSWORD)
    with pytest.raises(CredentialsError, match="restart the kernel") as err:
        copernicus.download_sst("anfc", ("test",), tmp_path, manifest=small_manifest)
    assert FAKE_PASSWORD not in str(err.value) and service.calls == []


def test_subset_returning_none_after_abort_is_a_credentials_error(
    creds, small_manifest, tmp_path, monkeypatch
):
    monkeypatch.setattr(cm, "subset", FakeService(result="none"))
    with pytest.raises(CredentialsError, match="'Abort'"):
        copernicus.download_sst("anfc", ("test",), tmp_path, manifest=small_manifest)


@pytest.mark.parametrize(
    ("exc", "kind", "message"),
    [
        (cm.InvalidUsernameOrPassword("bad"), CredentialsError, "refused the username"),
        (cm.CouldNotConnectToAuthenticationSystem(), NetworkError, "authentication service"),
        (cm.DatasetNotFound("cmems_mod_glo_phy_anfc_0.083deg_PT1H-m"), RemoteDataError,
         "no data set 'cmems_mod_glo_phy_anfc_0.083deg_PT1H-m' any more"),
        (cm.CoordinatesOutOfDatasetBounds("time > 2025"), RemoteDataError, "recent years"),
        (ConnectionError("reset"), NetworkError, "cannot reach Copernicus Marine"),
    ],
)  # fmt: skip
def test_toolbox_failures_become_errors_that_say_what_to_do(
    exc, kind, message, creds, small_manifest, tmp_path, monkeypatch
):
    monkeypatch.setattr(cm, "subset", FakeService(result=exc))
    with pytest.raises(kind, match=message):
        copernicus.download_sst("anfc", ("test",), tmp_path, manifest=small_manifest)
    assert list((tmp_path / "sst" / "anfc").iterdir()) == []


def test_credentials_source_finds_the_environment_file_and_netrc(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {"COPERNICUSMARINE_SERVICE_USERNAME": "a", "COPERNICUSMARINE_SERVICE_PASSWORD": "b"}
    assert "environment variables" in copernicus.credentials_source(env, home)
    assert copernicus.credentials_source({"COPERNICUSMARINE_SERVICE_USERNAME": "a"}, home) is None
    cred = home / ".copernicusmarine" / ".copernicusmarine-credentials"
    cred.parent.mkdir()
    cred.write_text("x")
    assert str(cred) in copernicus.credentials_source({}, home)
    other = tmp_path / "elsewhere"
    (other / ".copernicusmarine-credentials").parent.mkdir()
    (other / ".copernicusmarine-credentials").write_text("x")
    found = copernicus.credentials_source({"COPERNICUSMARINE_CREDENTIALS_DIRECTORY": str(other)})
    assert str(other) in found
    cred.unlink()
    (home / ".netrc").write_text("machine auth.marine.copernicus.eu login a password b\n")
    assert ".netrc" in copernicus.credentials_source({}, home)


def test_cli_prints_the_variant_and_the_files(creds, service, tmp_path, monkeypatch, capsys):
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(_small_raw()))
    monkeypatch.setenv("UNISST_MANIFEST", str(path))
    rc = main(["download", "sst", "--split", "test", "--dir", str(tmp_path), "-q"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "satl_2025H1_PT1H.nc: anfc_test cmems_mod_glo_phy_anfc_0.083deg_PT1H-m" in out
    assert "48 frames of 64×64" in out and "variant 'anfc'" in out
    rc = main(["download", "sst", "--variant", "paper", "--dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "Traceback" not in err


# ------------------------------------------- the real toolbox, in a subprocess
def _run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("COPERNICUS")}
    base.pop("HTTPS_PROXY", None), base.pop("https_proxy", None)
    return subprocess.run(
        [sys.executable, "-m", "unisst_lib.cli", *args],
        env={**base, **env},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _everything_written(*roots: Path) -> bytes:
    blob = b""
    for root in roots:
        for p in root.rglob("*"):
            if p.is_file():
                blob += p.read_bytes()
    return blob


def test_real_toolbox_abort_path_gives_the_login_instructions(tmp_path):
    """A credentials file that holds nothing: the toolbox prints 'Abort' and returns None."""
    creds_dir = tmp_path / "creds"
    creds_dir.mkdir()
    (creds_dir / ".copernicusmarine-credentials").write_text("")
    env = {"HOME": str(tmp_path / "home"), "COPERNICUSMARINE_CREDENTIALS_DIRECTORY": str(creds_dir)}
    res = _run_cli(["download", "sst", "--split", "test", "--dir", "data", "-q"], env, tmp_path)
    assert res.returncode == 2, res.stderr
    assert "Abort" in res.stdout + res.stderr
    assert "error: Copernicus Marine found no usable credentials" in res.stderr
    assert "copernicusmarine login" in res.stderr and "Traceback" not in res.stderr
    assert not list((tmp_path / "data").rglob("*.nc"))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_toolbox_without_network_and_the_fake_password_never_leaks(tmp_path):
    env = {
        "HOME": str(tmp_path / "home"),
        "COPERNICUSMARINE_SERVICE_USERNAME": "alice",
        "COPERNICUSMARINE_SERVICE_PASSWORD": FAKE_PASSWORD,
        "HTTPS_PROXY": f"http://127.0.0.1:{_closed_port()}",  # nothing listens: no network
        "COPERNICUSMARINE_HTTPS_RETRIES": "0",
        "UNISST_DATA_DIR": str(tmp_path / "data"),
    }
    res = _run_cli(["-v", "download", "sst", "--split", "test"], env, tmp_path)
    assert res.returncode == 2, res.stderr
    assert "error: cannot reach the Copernicus Marine authentication service" in res.stderr
    assert "HTTPS_PROXY" in res.stderr
    written = res.stdout + res.stderr
    assert FAKE_PASSWORD not in written
    assert FAKE_PASSWORD.encode() not in _everything_written(tmp_path)


class _FakeAuth:
    """A CONNECT proxy on 127.0.0.1 that terminates TLS itself and answers like the
    Copernicus Marine authentication server refusing a password (HTTP 400 invalid_grant)."""

    def __init__(self, certdir: Path):
        cert, key = certdir / "cert.pem", certdir / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=auth.marine.copernicus.eu",
             "-addext", "subjectAltName=DNS:auth.marine.copernicus.eu",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.cert = cert
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            tls = self.ctx.wrap_socket(conn, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data:
                data += tls.recv(65536)
            header, body = data.split(b"\r\n\r\n", 1)
            length = next(
                (int(h.split(b":")[1]) for h in header.split(b"\r\n")
                 if h.lower().startswith(b"content-length")), 0,
            )  # fmt: skip
            while len(body) < length:
                body += tls.recv(65536)
            self.requests.append(header + b"\r\n\r\n" + body)
            payload = b'{"error":"invalid_grant","error_description":"Invalid user credentials"}'
            tls.sendall(
                b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(payload)).encode() + b"\r\n"
                b"Connection: close\r\n\r\n" + payload
            )
            tls.close()
        except (OSError, ssl.SSLError):
            conn.close()

    def close(self):
        self.sock.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_real_toolbox_wrong_password_is_refused_and_never_leaks(tmp_path):
    auth = _FakeAuth(tmp_path)
    try:
        env = {
            "HOME": str(tmp_path / "home"),
            "COPERNICUSMARINE_SERVICE_USERNAME": "alice",
            "COPERNICUSMARINE_SERVICE_PASSWORD": FAKE_PASSWORD,
            "HTTPS_PROXY": f"http://127.0.0.1:{auth.port}",
            # trust the stand-in's own certificate (requests takes these over certifi)
            "REQUESTS_CA_BUNDLE": str(auth.cert),
            "CURL_CA_BUNDLE": str(auth.cert),
            "COPERNICUSMARINE_HTTPS_RETRIES": "0",
            "PYTHONWARNINGS": "ignore",
        }
        res = _run_cli(["-v", "download", "sst", "--split", "test", "--dir", "data"], env, tmp_path)
    finally:
        auth.close()
    assert res.returncode == 2, res.stderr
    assert "error: Copernicus Marine refused the username and password" in res.stderr
    assert "environment variables" in res.stderr
    # the password went to the authentication server, and nowhere else
    assert any(b"/openid-connect/token" in r for r in auth.requests)
    assert any(FAKE_PASSWORD.encode() in r for r in auth.requests)
    assert FAKE_PASSWORD not in res.stdout + res.stderr
    assert FAKE_PASSWORD.encode() not in _everything_written(tmp_path / "home", tmp_path / "data")


@pytest.mark.parametrize("dataset", ["anfc_train_val", "anfc_test", "reanalysis_test"])
def test_dry_run_command_is_the_same_request_for_the_toolbox_cli(dataset):
    """The printed `copernicusmarine subset ...` parses (with the toolbox's own CLI) into
    exactly the arguments the download sends."""
    import shlex

    from copernicusmarine.command_line_interface.group_subset import subset as toolbox_cli

    words = shlex.split(copernicus.subset_command(dataset))
    assert words[:2] == ["copernicusmarine", "subset"]
    params = toolbox_cli.make_context("subset", words[2:]).params
    for key, value in copernicus.subset_arguments(dataset).items():
        got = params[key]
        assert (list(got) if key == "variables" else got) == value, key


def test_dry_run_prints_the_plan_and_contacts_nothing(service, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("COPERNICUSMARINE_SERVICE_USERNAME", "COPERNICUSMARINE_SERVICE_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    rc = main(["download", "sst", "--dry-run", "--split", "train", "val", "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and service.calls == []
    assert out.count("copernicusmarine subset --dataset-id") == 1  # train and val: one file
    assert "anfc_train_val -> " in out and "(to download)" in out
    assert "credentials: none found" in out
    assert not (tmp_path / "sst").exists()
