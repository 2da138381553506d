"""`unisst download clouds` (sources.figshare) against a local fake figshare over real HTTP."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import socket
from pathlib import Path

import numpy as np
import pooch
import pytest
import yaml
from fake_figshare import ARTICLE_ID, ARTICLE_ID_ALTERNATIVE, FILE_ID, FakeFigshare

from unisst_lib import __version__
from unisst_lib.core.errors import (
    ChecksumError,
    CloudDataError,
    ManualDownloadRequired,
    NetworkError,
    RemoteDataError,
    UnisstError,
)
from unisst_lib.core.manifest import manifest_from_dict
from unisst_lib.sources.figshare import API_ENV, download_clouds, md5sum, read_provenance
from unisst_lib.sources.figshare_api import find_remote_file
from unisst_lib.sources.figshare_fetch import part_path

REPO = Path(__file__).resolve().parent.parent
STEPS = 40
CUT = 100_000  # bytes served before a connection is cut


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _clouds(shape=(STEPS, 64, 64)) -> np.ndarray:
    """Small valid liquid water path, kg m-2 (non-negative, well below 10)."""
    return np.random.default_rng(0).lognormal(-4, 1, shape).astype(np.float32)


PAYLOAD = _npy(_clouds())
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


@pytest.fixture(autouse=True)
def _no_proxy_no_env(monkeypatch):
    """The tests talk to 127.0.0.1: no proxy, no figshare override from the environment."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv(API_ENV, raising=False)


@pytest.fixture
def fs():
    """The fake figshare, serving PAYLOAD."""
    server = FakeFigshare(PAYLOAD).start()
    yield server
    server.stop()


def _raw_manifest(timeout_s: float = 2, retries: int = 3) -> dict:
    raw = yaml.safe_load((REPO / "data_manifest.yaml").read_text(encoding="utf-8"))
    raw["clouds"]["figshare"]["min_steps"] = STEPS
    raw["clouds"]["figshare"]["expected_shape"] = [STEPS, 64, 64]
    raw["download"]["clouds"]["timeout_s"] = timeout_s
    raw["download"]["clouds"]["retries"] = retries
    return raw


@pytest.fixture
def manifest():
    return manifest_from_dict(_raw_manifest())


def _get(fs, root, manifest, **kwargs):
    kwargs.setdefault("progress", False)
    return download_clouds(root=root, manifest=manifest, api_url=fs.api_url, **kwargs)


def _dest(root: Path) -> Path:
    return root / "clouds" / "figshare" / "cloud_dataset.npy"


def _files(root: Path) -> list[str]:
    """Every file under root (hidden ones too), relative."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# -- a good download, then cached ------------------------------------------------------


def test_good_download(fs, manifest, tmp_path):
    res = _get(fs, tmp_path, manifest)
    dest = _dest(tmp_path)
    assert res.path == dest and not res.cached
    assert dest.read_bytes() == PAYLOAD
    assert res.md5 == PAYLOAD_MD5 == md5sum(dest)
    assert res.size == len(PAYLOAD)
    assert res.shape == (STEPS, 64, 64)
    assert res.url == f"{fs.base_url}/ndownloader/files/{FILE_ID}"
    assert fs.paths() == [f"/v2/articles/{ARTICLE_ID}", fs.ndownloader_path]
    assert fs.ranges() == [None]  # nothing to resume
    prov = read_provenance(dest)
    assert prov is not None
    assert prov == json.loads((dest.parent / "cloud_dataset.npy.json").read_text())
    assert {k: prov[k] for k in ("source", "doi", "article_id", "file_id", "name", "size")} == {
        "source": "figshare",
        "doi": "10.6084/m9.figshare.9145016",
        "article_id": ARTICLE_ID,
        "file_id": FILE_ID,
        "name": "cloud_dataset.npy",
        "size": len(PAYLOAD),
    }
    assert prov["md5"] == PAYLOAD_MD5 and prov["url"] == res.url
    assert prov["unisst_version"] == __version__
    assert prov["downloaded_utc"].endswith("+00:00")
    assert _files(tmp_path) == [
        "clouds/figshare/cloud_dataset.npy",
        "clouds/figshare/cloud_dataset.npy.json",
    ]


def test_second_call_is_cached_without_any_request(fs, manifest, tmp_path):
    _get(fs, tmp_path, manifest)
    fs.requests.clear()
    res = _get(fs, tmp_path, manifest)
    assert res.cached and res.url is None
    assert res.md5 == PAYLOAD_MD5 and res.shape == (STEPS, 64, 64)
    assert fs.requests == []


def test_md5sum_and_missing_provenance(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(PAYLOAD)
    assert md5sum(f) == PAYLOAD_MD5
    assert read_provenance(f) is None
    (tmp_path / "x.bin.json").write_text("{not json")
    assert read_provenance(f) is None


# -- interrupted transfers ---------------------------------------------------------------


def test_interrupted_transfer_resumes_in_the_same_call(fs, manifest, tmp_path, caplog):
    fs.set(fs.ndownloader_path, cut_after=CUT)
    with caplog.at_level(logging.WARNING, logger="unisst_lib.sources"):
        res = _get(fs, tmp_path, manifest)
    assert fs.ranges() == [None, f"bytes={CUT}-"]
    assert _dest(tmp_path).read_bytes() == PAYLOAD and res.md5 == PAYLOAD_MD5
    assert not part_path(_dest(tmp_path)).exists()
    assert "resuming" in caplog.text


def test_interrupted_without_retries_keeps_the_part_and_resumes_next_call(fs, manifest, tmp_path):
    fs.set(fs.ndownloader_path, cut_after=CUT)
    dest = _dest(tmp_path)
    part = tmp_path / "clouds" / "figshare" / ".cloud_dataset.npy.part"
    with pytest.raises(NetworkError) as err:
        _get(fs, tmp_path, manifest, retries=0)
    msg = str(err.value)
    assert f"{CUT} of {len(PAYLOAD)} bytes" in msg and "again" in msg and str(part) in msg
    assert part.stat().st_size == CUT and not dest.exists()
    assert fs.ranges() == [None]

    res = _get(fs, tmp_path, manifest, retries=0)
    assert fs.ranges() == [None, f"bytes={CUT}-"]
    assert dest.read_bytes() == PAYLOAD and res.md5 == PAYLOAD_MD5
    assert not part.exists()


def test_complete_part_from_an_earlier_call_is_checked_without_downloading(fs, manifest, tmp_path):
    part = part_path(_dest(tmp_path))
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD)  # e.g. the process died between the transfer and the rename
    res = _get(fs, tmp_path, manifest)
    assert fs.paths() == [f"/v2/articles/{ARTICLE_ID}"]
    assert res.md5 == PAYLOAD_MD5 and _dest(tmp_path).read_bytes() == PAYLOAD
    assert not part.exists()


def test_server_ignoring_range_restarts_from_zero(fs, manifest, tmp_path):
    fs.set(fs.ndownloader_path, ranges=False)
    part = part_path(_dest(tmp_path))
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 5000)  # junk: appending to it would fail the MD5
    res = _get(fs, tmp_path, manifest)
    assert fs.ranges() == ["bytes=5000-"]
    assert _dest(tmp_path).read_bytes() == PAYLOAD and res.md5 == PAYLOAD_MD5
    assert not part.exists()


# -- checks of the complete file ------------------------------------------------------


def test_wrong_md5_leaves_nothing(fs, manifest, tmp_path):
    fs.md5 = "0" * 32
    with pytest.raises(ChecksumError, match="0{32}") as err:
        _get(fs, tmp_path, manifest)
    assert PAYLOAD_MD5 in str(err.value)
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    "bad",
    [
        np.ones((STEPS, 64, 64), dtype=np.int16),  # not floating point
        _clouds((STEPS, 32, 32)),  # not 64x64 tiles
        _clouds() * 1000,  # g m-2 instead of kg m-2
        _clouds((STEPS - 1, 64, 64)),  # too few steps
    ],
    ids=["int16", "32x32", "g_m-2", "short"],
)
def test_payload_failing_validation_leaves_nothing(fs, manifest, tmp_path, bad):
    fs.payload = _npy(bad)
    with pytest.raises(CloudDataError):
        _get(fs, tmp_path, manifest)
    assert _files(tmp_path) == []


def test_payload_not_npy_leaves_nothing(fs, manifest, tmp_path):
    fs.payload = b"PK\x03\x04 a zip file, not an npy array" * 100
    with pytest.raises(CloudDataError, match="not a usable cloud array"):
        _get(fs, tmp_path, manifest)
    assert _files(tmp_path) == []


# -- bot challenges, refusals, HTTP errors ---------------------------------------------


@pytest.mark.parametrize("status", ["challenge", "html"])
def test_challenge_on_first_url_falls_back_to_the_api(fs, manifest, tmp_path, caplog, status):
    fs.set(fs.ndownloader_path, status=status)
    with caplog.at_level(logging.WARNING, logger="unisst_lib.sources"):
        res = _get(fs, tmp_path, manifest)
    assert fs.paths()[1:] == [fs.ndownloader_path, fs.api_download_path]
    assert res.url == f"{fs.api_url}/file/download/{FILE_ID}"
    assert _dest(tmp_path).read_bytes() == PAYLOAD
    assert read_provenance(_dest(tmp_path))["url"] == res.url
    assert f"{fs.base_url}{fs.ndownloader_path}" in caplog.text
    assert ("202" if status == "challenge" else "HTML") in caplog.text


def test_challenge_does_not_destroy_a_partial_file(fs, manifest, tmp_path):
    fs.set(fs.ndownloader_path, cut_after=CUT)
    with pytest.raises(NetworkError):
        _get(fs, tmp_path, manifest, retries=0)
    fs.set(fs.ndownloader_path, status="challenge")
    res = _get(fs, tmp_path, manifest)
    assert fs.ranges()[-1] == f"bytes={CUT}-"  # the API URL resumed the part
    assert res.md5 == PAYLOAD_MD5 and _dest(tmp_path).read_bytes() == PAYLOAD


def test_404_on_first_url_falls_back(fs, manifest, tmp_path):
    fs.set(fs.ndownloader_path, status="notfound")
    res = _get(fs, tmp_path, manifest)
    assert res.url.endswith(fs.api_download_path) and res.md5 == PAYLOAD_MD5


@pytest.mark.parametrize("status", ["challenge", "forbidden"])
def test_refused_everywhere_asks_for_a_manual_download(fs, manifest, tmp_path, status):
    fs.set_all(status=status)
    with pytest.raises(ManualDownloadRequired) as err:
        _get(fs, tmp_path, manifest)
    msg = str(err.value)
    assert "https://doi.org/10.6084/m9.figshare.9145016" in msg
    assert "https://doi.org/10.6084/m9.figshare.9929798" in msg
    assert str(_dest(tmp_path)) in msg
    assert "unisst data verify" in msg
    assert PAYLOAD_MD5 in msg and f"{len(PAYLOAD) / 1e6:.1f} MB" in msg
    assert ("202" if status == "challenge" else "403") in msg
    assert fs.paths()[1:] == [fs.ndownloader_path, fs.api_download_path]
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    ("status", "error"), [("notfound", RemoteDataError), ("error", NetworkError)]
)
def test_http_errors_everywhere(fs, manifest, tmp_path, status, error):
    fs.set_all(status=status)
    with pytest.raises(error, match="404" if status == "notfound" else "500"):
        _get(fs, tmp_path, manifest)
    assert _files(tmp_path) == []


# -- network failures --------------------------------------------------------------------


def test_slow_download_server_times_out(fs, manifest, tmp_path):
    fs.set_all(delay_s=5)
    with pytest.raises(NetworkError, match=r"timeout of 1 s.*--timeout") as err:
        _get(fs, tmp_path, manifest, timeout_s=1)
    # each URL asked once and given up on after the timeout, not waited for nor retried
    assert fs.paths()[1:] == [fs.ndownloader_path, fs.api_download_path]
    assert str(err.value).count("no answer within 1 s") == 2
    assert _files(tmp_path) == []


def _pending_connections(server: socket.socket) -> int:
    """Connections a listening socket has queued and not accepted yet."""
    server.setblocking(False)
    n = 0
    while True:
        try:
            conn, _ = server.accept()
        except BlockingIOError:
            return n
        conn.close()
        n += 1


def test_silent_api_times_out(manifest, tmp_path):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        api = f"http://127.0.0.1:{silent.getsockname()[1]}/v2"
        with pytest.raises(NetworkError, match=r"timeout of 1 s.*--timeout") as err:
            download_clouds(
                root=tmp_path, manifest=manifest, api_url=api, timeout_s=1, progress=False
            )
        assert f"{api}/articles/{ARTICLE_ID}" in str(err.value)
        assert _pending_connections(silent) == 1  # one request, given up on, not retried
    assert _files(tmp_path) == []


def test_stall_mid_body_times_out_and_keeps_the_bytes(fs, manifest, tmp_path):
    fs.set(fs.ndownloader_path, cut_after=CUT, stall_s=5)
    with pytest.raises(NetworkError, match=r"timeout of 1 s.*--timeout") as err:
        _get(fs, tmp_path, manifest, timeout_s=1, retries=0)
    assert fs.ranges() == [None]  # given up on after the stall, no second request
    assert f"{CUT} of {len(PAYLOAD)} bytes are kept" in str(err.value)
    assert part_path(_dest(tmp_path)).stat().st_size == CUT
    res = _get(fs, tmp_path, manifest)  # the next call resumes
    assert fs.ranges()[-1] == f"bytes={CUT}-" and res.md5 == PAYLOAD_MD5


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refused_connection(manifest, tmp_path):
    api = f"http://127.0.0.1:{_closed_port()}/v2"
    with pytest.raises(NetworkError, match="cannot reach figshare at .*HTTPS_PROXY") as err:
        download_clouds(root=tmp_path, manifest=manifest, api_url=api, progress=False)
    assert api in str(err.value)
    assert _files(tmp_path) == []


# -- the API: articles and files ---------------------------------------------------------


def test_primary_article_404_uses_the_alternative(fs, manifest, tmp_path):
    fs.articles = {ARTICLE_ID_ALTERNATIVE}
    res = _get(fs, tmp_path, manifest)
    assert fs.paths()[:2] == [
        f"/v2/articles/{ARTICLE_ID}",
        f"/v2/articles/{ARTICLE_ID_ALTERNATIVE}",
    ]
    assert res.md5 == PAYLOAD_MD5
    prov = read_provenance(res.path)
    assert prov["article_id"] == ARTICLE_ID_ALTERNATIVE
    assert prov["doi"] == "10.6084/m9.figshare.9929798"


def test_file_missing_from_both_articles(fs, manifest, tmp_path):
    fs.file_name = "other_dataset.npy"
    with pytest.raises(RemoteDataError, match="cloud_dataset.npy") as err:
        _get(fs, tmp_path, manifest)
    assert "other_dataset.npy" in str(err.value)
    assert _files(tmp_path) == []


def test_find_remote_file(fs, manifest):
    remote = find_remote_file(manifest.cloud_dataset("figshare"), api_url=fs.api_url, timeout_s=2)
    assert (remote.article_id, remote.file_id, remote.name) == (
        ARTICLE_ID,
        FILE_ID,
        "cloud_dataset.npy",
    )
    assert (remote.size, remote.md5) == (len(PAYLOAD), PAYLOAD_MD5)
    assert remote.download_url == f"{fs.base_url}{fs.ndownloader_path}"


# -- a file already there ------------------------------------------------------------


def test_existing_file_without_provenance_is_checked_against_the_api(fs, manifest, tmp_path):
    dest = _dest(tmp_path)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(PAYLOAD)
    res = _get(fs, tmp_path, manifest)
    assert res.cached and res.md5 == PAYLOAD_MD5 and res.shape == (STEPS, 64, 64)
    assert fs.paths() == [f"/v2/articles/{ARTICLE_ID}"]  # the API only, no download
    prov = read_provenance(dest)
    assert prov["md5"] == PAYLOAD_MD5 and prov["url"] is None
    fs.requests.clear()
    assert _get(fs, tmp_path, manifest).cached and fs.requests == []


def test_existing_file_with_another_md5_is_left_untouched(fs, manifest, tmp_path):
    dest = _dest(tmp_path)
    dest.parent.mkdir(parents=True)
    other = _npy(_clouds() * 0.5)
    dest.write_bytes(other)
    with pytest.raises(ChecksumError, match="--overwrite"):
        _get(fs, tmp_path, manifest)
    assert dest.read_bytes() == other
    assert _files(tmp_path) == ["clouds/figshare/cloud_dataset.npy"]
    # overwrite=True replaces it
    res = _get(fs, tmp_path, manifest, overwrite=True)
    assert not res.cached and dest.read_bytes() == PAYLOAD


def test_existing_file_without_provenance_and_no_network(manifest, tmp_path):
    dest = _dest(tmp_path)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(PAYLOAD)
    api = f"http://127.0.0.1:{_closed_port()}/v2"
    with pytest.raises(NetworkError, match="unisst data verify"):
        download_clouds(root=tmp_path, manifest=manifest, api_url=api, progress=False)
    assert dest.read_bytes() == PAYLOAD


@pytest.mark.parametrize("failure", ["challenge", "md5", "cut"])
def test_overwrite_with_a_failing_server_keeps_the_old_file(fs, manifest, tmp_path, failure):
    _get(fs, tmp_path, manifest)
    dest = _dest(tmp_path)
    before = {p: (tmp_path / p).read_bytes() for p in _files(tmp_path)}
    if failure == "challenge":
        fs.set_all(status="challenge")
        error = ManualDownloadRequired
    elif failure == "md5":
        fs.md5 = "f" * 32
        error = ChecksumError
    else:
        fs.set(fs.ndownloader_path, cut_after=CUT)
        error = NetworkError
    with pytest.raises(error):
        _get(fs, tmp_path, manifest, overwrite=True, retries=0)
    assert dest.read_bytes() == PAYLOAD
    for p, data in before.items():
        assert (tmp_path / p).read_bytes() == data
    fs.requests.clear()
    assert _get(fs, tmp_path, manifest).cached and fs.requests == []


# -- arguments and the environment -------------------------------------------------------


def test_the_twin_is_not_downloaded(manifest, tmp_path):
    with pytest.raises(UnisstError, match="unisst data make"):
        download_clouds("twin", root=tmp_path, manifest=manifest, progress=False)
    with pytest.raises(UnisstError, match="not in the manifest"):
        download_clouds("nonexistent", root=tmp_path, manifest=manifest, progress=False)
    assert _files(tmp_path) == []


def test_api_url_from_the_environment(fs, manifest, tmp_path, monkeypatch):
    monkeypatch.setenv(API_ENV, fs.api_url)
    res = download_clouds(root=tmp_path, manifest=manifest, progress=False)
    assert res.md5 == PAYLOAD_MD5 and fs.paths()[0] == f"/v2/articles/{ARTICLE_ID}"


def test_progress_bar_does_not_break_the_download(fs, manifest, tmp_path):
    res = _get(fs, tmp_path, manifest, progress=True)
    assert res.md5 == PAYLOAD_MD5


def test_pooch_stays_quiet_and_its_logger_is_put_back(fs, manifest, tmp_path):
    """pooch logs each download to stderr by a handler of its own: none of it may show."""
    pooch_log = pooch.get_logger()
    level = pooch_log.level
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    pooch_log.addHandler(handler)
    try:
        _get(fs, tmp_path, manifest)
    finally:
        pooch_log.removeHandler(handler)
    assert records == [] and pooch_log.level == level
    assert _dest(tmp_path).read_bytes() == PAYLOAD


# -- the command line ----------------------------------------------------------------


@pytest.fixture
def cli_env(fs, tmp_path, monkeypatch):
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(_raw_manifest()), encoding="utf-8")
    monkeypatch.setenv("UNISST_MANIFEST", str(path))
    monkeypatch.setenv(API_ENV, fs.api_url)
    return tmp_path / "data"


def test_cli_download_clouds(fs, cli_env, capsys):
    from unisst_lib.cli import main

    assert main(["download", "clouds", "--dir", str(cli_env), "-q"]) == 0
    out = capsys.readouterr().out
    dest = _dest(cli_env)
    assert str(dest) in out and PAYLOAD_MD5 in out and f"{STEPS}x64x64 kg m-2" in out
    assert f"downloaded from {fs.base_url}" in out
    assert dest.read_bytes() == PAYLOAD

    assert main(["download", "clouds", "--dir", str(cli_env), "-q"]) == 0
    assert "already there" in capsys.readouterr().out


def test_cli_refused_everywhere(fs, cli_env, capsys):
    from unisst_lib.cli import main

    fs.set_all(status="challenge")
    assert main(["download", "clouds", "--dir", str(cli_env), "-q", "--timeout", "2"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ")
    assert "Traceback" not in captured.err and "unisst data verify" in captured.err
    assert captured.out == ""
    assert not cli_env.exists() or _files(cli_env) == []
