"""The real-data path end to end: download (stand-ins of both services), verify, train.

Copernicus Marine is replaced by :class:`fake_copernicus.FakeService` (the files it
writes have the toolbox's layout) and figshare by :class:`fake_figshare.FakeFigshare`
(real HTTP on 127.0.0.1); everything after the download is the kit's own code,
exactly as a user with an account would run it.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import copernicusmarine as cm
import numpy as np
import pytest
import yaml
from fake_copernicus import FakeService, set_credentials
from fake_figshare import FakeFigshare

from unisst_lib.cli import main
from unisst_lib.core.errors import CredentialsError
from unisst_lib.core.manifest import manifest_from_dict
from unisst_lib.sources.inventory import choose_source, verify_choice
from unisst_lib.training.config import load_config
from unisst_lib.training.loop import train

REPO = Path(__file__).resolve().parent.parent
STEPS = 720  # cloud steps: train, val and test segments of 240 (ten 231-step windows) each


def _raw() -> dict:
    """The repository's manifest with 12 + 8 days of hourly anfc SST and 720 cloud steps.

    12 days are too short for the manifest's held-out validation period (its last 18 %):
    here the first half trains and the second half validates.
    """
    raw = yaml.safe_load((REPO / "data_manifest.yaml").read_text())
    ds = raw["sst_datasets"]
    ds["anfc_train_val"].update(start="2024-03-01T00:30:00", end="2024-03-12T23:30:00")
    ds["anfc_test"].update(start="2025-02-01T00:30:00", end="2025-02-08T23:30:00")
    raw["splits"]["anfc"]["train"]["span"] = [0.0, 0.5]
    raw["splits"]["anfc"]["val"]["span"] = [0.5, 1.0]
    raw["clouds"]["figshare"].update(min_steps=STEPS, expected_shape=[STEPS, 64, 64])
    raw["download"]["clouds"].update(timeout_s=5, retries=1)
    return raw


@pytest.fixture
def setting(tmp_path, monkeypatch):
    """Credentials in the environment, both stand-ins running, the small manifest in force."""
    raw = _raw()
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("UNISST_MANIFEST", str(path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    set_credentials(monkeypatch, "alice", "not-a-real-password")
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    service = FakeService(stamp_minutes=0)  # the current product stamps hourly means at hh:00
    monkeypatch.setattr(cm, "subset", service)
    lwp = np.random.default_rng(1).lognormal(-3.2, 1.2, (STEPS, 64, 64)).astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, lwp)
    figshare = FakeFigshare(buf.getvalue()).start()
    monkeypatch.setenv("UNISST_FIGSHARE_API", figshare.api_url)
    yield manifest_from_dict(raw), service, figshare, tmp_path / "data"
    figshare.stop()


def test_download_then_verify_then_train_on_the_real_layouts(setting, capsys):
    manifest, service, figshare, root = setting
    choice = choose_source(
        "copernicus", variant="anfc", root=root, manifest=manifest, progress=False
    )
    assert (choice.name, choice.split_set, choice.clouds) == ("copernicus", "anfc", "figshare")
    assert choice.datasets == ("anfc_train_val", "anfc_test")
    assert "SST variant 'anfc'" in choice.message and "split_set='anfc'" in choice.message
    assert len(service.calls) == 2 and any("/ndownloader/" in r.path for r in figshare.requests)
    rows = verify_choice(choice, root=root, manifest=manifest)
    assert [r["problems"] for r in rows] == ["", "", ""]
    assert main(["data", "verify", "--dir", str(root)]) == 0
    assert "3 ok, 0 with problems" in capsys.readouterr().out

    # a second call finds everything in place: no new request to either service
    n_requests = len(figshare.requests)
    again = choose_source(
        "copernicus", variant="anfc", root=root, manifest=manifest, progress=False
    )
    assert again.datasets == choice.datasets and "already on disk" in again.message
    assert len(service.calls) == 2 and len(figshare.requests) == n_requests

    cfg = load_config(
        "tiny",
        steps=2,
        eval_every=2,
        data={"split_set": "anfc", "clouds": "figshare", "data_dir": str(root)},
    )
    res = train(cfg, root.parent / "run", progress=False, tensorboard=False)
    assert res.step == 2 and (root.parent / "run" / "checkpoints" / "best.pt").is_file()
    assert math.isfinite(res.last_eval["holdout_rmse_c"])
    assert 0 < res.last_eval["rmse_occluded_c"] < 5


def test_without_an_account_the_choice_falls_back_to_the_twin_and_says_why(setting, monkeypatch):
    manifest, service, _, root = setting
    monkeypatch.delenv("COPERNICUSMARINE_SERVICE_USERNAME")
    monkeypatch.delenv("COPERNICUSMARINE_SERVICE_PASSWORD")
    choice = choose_source("copernicus", root=root, manifest=manifest, progress=False)
    assert choice.name == "twin" and choice.split_set == "twin"
    assert "no Copernicus Marine credentials found" in choice.message
    assert "Going on with the embedded default" in choice.message
    assert service.calls == []
    with pytest.raises(CredentialsError):
        choose_source("copernicus", root=root, manifest=manifest, fallback_to_twin=False)
