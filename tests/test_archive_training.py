"""Training on a cloudy archive itself: its own observations, its own clouds, no truth.

The archives here are small and made in the test: a smooth SST field, a land
block, clouds drawn per frame, an absent date. Expected values (which pixels a
sample may show, errors of a constant fill) are computed here from those arrays.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from unisst_lib.cli import main
from unisst_lib.data.archive_samples import (
    ArchiveClouds,
    ArchiveSequences,
    ArchiveTrainingError,
    split_archive,
)
from unisst_lib.data.ghrsst import l3_filename, write_l3_file
from unisst_lib.evaluation.withheld import evaluate_withheld
from unisst_lib.methods.fit import FitError, fit_archive
from unisst_lib.training.checkpoints import load_checkpoint
from unisst_lib.training.config import load_config
from unisst_lib.training.loop import TrainingError, train

pytestmark = pytest.mark.filterwarnings("ignore::unisst_lib.core.errors.ArchiveWarning")

T, NY, NX = 30, 20, 24
LAND = (slice(0, 6), slice(0, 5))  # a land block in the south-west corner


def _archive(seed: int = 0, n_t: int = T) -> xr.Dataset:
    """sst (°C, NaN where cloudy / land / absent day 7) and land, as open_archive returns."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_t)[:, None, None]
    yy, xx = np.mgrid[:NY, :NX]
    truth = 18 + 0.1 * yy[None] + 0.05 * xx[None] + 0.5 * np.sin(2 * np.pi * t / 10)
    land = np.zeros((NY, NX), bool)
    land[LAND] = True
    cloudy = np.zeros((n_t, NY, NX), bool)
    for k in range(n_t):  # a rectangle of cloud in every frame, somewhere else each day
        r, c = rng.integers(0, NY - 8), rng.integers(0, NX - 10)
        cloudy[k, r : r + 8, c : c + 10] = True
    cloudy[7] = True  # an absent date
    sst = np.where(cloudy | land[None], np.nan, truth).astype(np.float32)
    times = pd.date_range("2018-01-01T12:00", periods=n_t, freq="D")
    return xr.Dataset(
        {
            "sst": (("time", "latitude", "longitude"), sst, {"units": "degree_Celsius"}),
            "land": (("latitude", "longitude"), land),
        },
        coords={
            "time": times,
            "latitude": 20 + np.arange(NY) / 12,
            "longitude": np.arange(NX) / 12,
        },
        attrs={"cadence": "P1D", "grid_spacing_deg": 1 / 12, "min_quality": 4},
    )


def _tiny_cfg(**data):
    return load_config(
        "tiny",
        steps=2,
        eval_every=2,
        batch_size=2,
        data={"archive": None, "seq_len": 8, "tile": 16, "val_sequences": 4, **data},
    )


# ------------------------------------------------------------------ the split
def test_withheld_pixels_are_observed_sea_and_never_a_training_input():
    ds = _archive()
    sst, land = ds["sst"].values, ds["land"].values
    split = split_archive(sst, land, val_share=0.1, seed=3, times=ds["time"].values)
    observed = np.isfinite(sst) & ~land[None]
    assert split.withheld.any()
    assert not (split.withheld & ~observed).any()  # only observed pixels are withheld
    assert not (split.withheld & split.train_observed).any()
    assert ((split.withheld | split.train_observed) == observed).all()
    share = split.withheld.sum() / observed.sum()
    assert 0.05 < share < 0.15  # asked 0.1; whole cloud masks, so not exact
    train_ds = ArchiveSequences(split, seq_len=8, tile=16, mode="train")
    assert np.isnan(train_ds.inputs[:T, :NY, :NX][split.withheld]).all()


def test_a_training_batch_shows_only_training_pixels():
    from unisst_lib.training.batches import StepBatches

    ds = _archive()
    split = split_archive(ds["sst"].values, ds["land"].values, val_share=0.2, seed=0)
    # one tile covers the padded domain, so a sample's pixels map 1:1 onto the archive's
    train_ds = ArchiveSequences(split, seq_len=8, tile=24, mode="train")
    cfg = load_config("tiny", batch_size=3, data={"augment": False})
    batches = StepBatches(train_ds, cfg, rank=0)
    for it in range(4):
        b = batches.batch(it)
        assert b["y"].shape == (3, 1, 8, 24, 24)
        shown = b["mask"][:, 0] < 0.5  # (B, T, 24, 24)
        rng = np.random.default_rng([cfg.seed, it, 0, 0x5E5])
        for k in range(3):
            start = int(rng.integers(len(train_ds)))
            rng.integers(1), rng.integers(1)  # the tile place (0: the domain fits one tile)
            _ = [train_ds.clouds.draw(rng, avoid=start) for _ in range(2)]
            allowed = np.zeros((8, 24, 24), bool)
            allowed[:, :NY, :NX] = split.train_observed[start : start + 8]
            assert (shown[k].numpy() <= allowed).all()
            assert not shown[k].numpy()[:, NY:, :].any()  # padding is land, never shown
    assert b["reocclusion"].shape == b["hide"].shape == (3, 1, 8, 24, 24)


def test_cloud_windows_avoid_the_samples_own_dates():
    clouds = ArchiveClouds(np.zeros((40, 10, 10), bool), seq_len=8, tile=10)
    rng = np.random.default_rng(0)
    starts = {clouds.draw(rng, avoid=16).start for _ in range(200)}
    assert starts and all(abs(s - 16) >= 8 for s in starts)
    assert clouds.mask(clouds.draw(rng)).shape == (8, 10, 10)
    with pytest.raises(ArchiveTrainingError, match="fewer than one training window"):
        ArchiveClouds(np.zeros((5, 10, 10), bool), seq_len=8, tile=10)


def test_a_domain_smaller_than_a_tile_is_padded_with_land():
    ds = _archive()
    split = split_archive(ds["sst"].values, ds["land"].values, val_share=0.1, seed=0)
    item = ArchiveSequences(split, seq_len=8, tile=32, mode="train").sample(0)
    assert item["y"].shape == (1, 8, 32, 32)
    assert (item["missing"][0, :, NY:, :] == 1).all() and (item["missing"][0, :, :, NX:] == 1).all()
    assert (item["mask"][0, :, NY:, :] == 1).all()


# ------------------------------------------------------------------ validation
class _Zeros(torch.nn.Module):
    """A 'generator' that fills every pixel with the window's observed mean (0 normalised)."""

    def forward(self, y, mask):
        return torch.zeros_like(y)


def test_withheld_error_of_a_mean_fill_is_the_known_answer():
    ds = _archive()
    split = split_archive(ds["sst"].values, ds["land"].values, val_share=0.1, seed=1)
    val = ArchiveSequences(split, seq_len=8, tile=24, mode="eval", seed=0, max_items=3)
    got = evaluate_withheld(_Zeros(), val, device=torch.device("cpu"))
    errors = []
    for s, r, c in val.windows:  # by hand: each window's observed training mean
        assert (r, c) == (0, 0)
        x = np.where(split.train_observed, split.sst, np.nan)[s : s + 8]
        held = np.where(split.withheld, split.sst, np.nan)[s : s + 8]
        errors.append(np.nanmean(x) - held[np.isfinite(held)])
    err = np.concatenate(errors)
    assert got["holdout_pixels"] == err.size > 0
    assert got["holdout_rmse_c"] == pytest.approx(math.sqrt(np.mean(err**2)), rel=1e-5)
    assert got["holdout_bias_c"] == pytest.approx(np.mean(err), rel=1e-5, abs=1e-6)


# ------------------------------------------------------------------ training
def test_training_on_an_archive_records_its_cadence_and_window(tmp_path):
    res = train(_tiny_cfg(), tmp_path / "run", progress=False, tensorboard=False, data=_archive())
    assert res.step == 2 and math.isfinite(res.best_holdout_rmse_c)
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    arch = ckpt["archive"]
    assert (arch["cadence"], arch["interval_hours"], arch["seq_len"], arch["tile"]) == (
        "P1D", 24.0, 8, 16,
    )  # fmt: skip
    assert arch["frames"] == T and arch["min_quality"] == 4
    assert (arch["std_factor"], arch["fill_value"]) == (3.0, 1.0)  # the manifest's
    val_log = (tmp_path / "run" / "val_log.csv").read_text().splitlines()
    assert val_log[0].startswith("step,holdout_rmse_c") and len(val_log) == 2


def test_an_oracle_cannot_train_on_an_archive(tmp_path):
    cfg = _tiny_cfg()
    cfg = load_config("tiny", steps=2, loss={"supervised_weight": 1.0}, data=cfg.data.__dict__)
    with pytest.raises(TrainingError, match="truth under the clouds"):
        train(cfg, tmp_path / "run", progress=False, tensorboard=False, data=_archive())


def test_an_archive_shorter_than_a_window_is_refused(tmp_path):
    with pytest.raises(ArchiveTrainingError, match="fewer than one training window"):
        train(
            _tiny_cfg(seq_len=40), tmp_path / "r", progress=False, tensorboard=False,
            data=_archive(),
        )  # fmt: skip


def test_a_fit_writes_a_model_that_fills_the_archive(tmp_path):
    from unisst_lib.methods.fill import fill

    ds = _archive()
    res = fit_archive(ds, out=tmp_path / "m.pt", steps=2, config="tiny", progress=False)
    assert res.steps == 2 and res.checkpoint.is_file()
    assert load_checkpoint(res.checkpoint)["archive"]["cadence"] == "P1D"
    out = fill(ds[["sst"]], checkpoint=res.checkpoint, land=ds["land"])
    filled = out["sst"].values
    sea = ~ds["land"].values
    assert np.isfinite(filled[:, sea]).all()  # every sea pixel, the absent day too
    observed = np.isfinite(ds["sst"].values)
    assert (filled[observed] == ds["sst"].values[observed]).all()  # observations kept exactly


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"minutes": 0}, "positive number"), ({"steps": 0}, "fit-steps must be >= 1")],
)
def test_bad_fit_options_are_refused(tmp_path, kwargs, match):
    with pytest.raises(FitError, match=match):
        fit_archive(_archive(), out=tmp_path / "m.pt", config="tiny", **kwargs)


def test_a_budget_too_small_for_this_machine_is_refused(tmp_path):
    with pytest.raises(FitError, match="Give more --fit-minutes"):
        fit_archive(_archive(), out=tmp_path / "m.pt", minutes=1e-4, config="tiny")
    assert not (tmp_path / "m.pt").exists()


# ------------------------------------------------------------------ the command line
def _write_archive(folder, ds: xr.Dataset) -> None:
    folder.mkdir()
    lat, lon = ds["latitude"].values, ds["longitude"].values
    for k, t in enumerate(ds["time"].values):
        if k == 7:
            continue  # absent date
        sst = ds["sst"].values[k] + 273.15
        ql = np.where(np.isfinite(sst), 5, 0).astype(np.int8)
        flags = np.where(ds["land"].values, 2, 0).astype(np.int16)
        write_l3_file(
            folder / l3_filename(t), sst_k=sst, time=t, latitudes=lat, longitudes=lon,
            quality_level=ql, l2p_flags=flags,
        )  # fmt: skip


def test_cli_train_data_then_fill_with_the_model(tmp_path, capsys):
    _write_archive(tmp_path / "l3", _archive())
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "name: t\ngenerator: {base_channels: 8, channel_mults: [1, 2], norm_groups: 4}\n"
        "discriminator: {ndf: 8, n_layers: 4}\ndata: {tile: 16, val_sequences: 2}\n"
        "steps: 2\neval_every: 2\nbatch_size: 2\n"
    )
    args = ["train", "--config", str(cfg), "--data", str(tmp_path / "l3"), "--seq-len", "8"]
    assert main([*args, "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    assert "withheld from training" in capsys.readouterr().out
    best = tmp_path / "run" / "checkpoints" / "best.pt"
    assert (
        main(["fill", str(tmp_path / "l3"), str(tmp_path / "out"), "--checkpoint", str(best), "-q"])
        == 0
    )
    assert "29 files written" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["train", "--data", "X", "--out", "o", "--threshold", "50"], "--threshold .*do not apply"),
        (["train", "--out", "o", "--seq-len", "8"], "options of --data"),
        (["fill", "a.nc", "b.nc", "--fit-steps", "2"], "belong to --fit"),
        (["fill", "a.nc", "b.nc", "--fit", "--checkpoint", "m.pt"], "does not take --checkpoint"),
        (["evaluate", "--data", "X", "--fit-steps", "2"], "add unisst to --methods"),
    ],
)
def test_cli_refuses_options_that_do_not_go_together(args, match, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert re.search(match, err), err


# ------------------------------------------------------------------ the first guess from the record
def test_numpy_and_torch_interpolations_in_time_agree_exactly():
    from unisst_lib.models.time_interp import linear_in_time, linear_in_time_numpy

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 7, 9))
    x[rng.random(x.shape) < 0.7] = np.nan
    x[:, 0, 0] = np.nan  # a series never observed
    a, da = linear_in_time_numpy(x, axis=0)
    v = torch.from_numpy(x)
    b, db = linear_in_time(v, torch.isfinite(v), dim=0)
    assert (da == db.numpy()).all() and not da[:, 0, 0].any()
    assert (a[da] == b.numpy()[da]).all() and np.isnan(a[~da]).all()


def _one_pixel_split(values: dict[int, float], n_t: int = 12):
    from unisst_lib.data.archive_samples import ArchiveSplit

    sst = np.full((n_t, 2, 2), np.nan, np.float32)
    for t, v in values.items():
        sst[t] = v
    land = np.zeros((2, 2), bool)
    obs = np.isfinite(sst)
    return ArchiveSplit(sst, land, obs, np.zeros_like(obs))


def test_the_guess_comes_from_beyond_the_window_and_never_from_hidden_pixels():
    from unisst_lib.data.masks import CloudWindow
    from unisst_lib.training.archive_data import interp_in_time

    # observed 10 °C at t=1 and 14 °C at t=9; the window is t=4..7 (nothing observed in it)
    split = _one_pixel_split({1: 10.0, 9: 14.0})
    ds = ArchiveSequences(split, seq_len=4, tile=2, interp=interp_in_time, guess_context=5)
    g = ds.guess(CloudWindow(4, 0, 0), mean=12.0, std=1.0)  # normalised: (v - 12) / 3
    assert g[:, 0, 0] == pytest.approx([(10 + 0.5 * k - 12) / 3 for k in (3, 4, 5, 6)])
    # with context 1 (frames 3..8) neither observation is seen: nothing to interpolate from
    narrow = ArchiveSequences(split, seq_len=4, tile=2, interp=interp_in_time, guess_context=1)
    assert (narrow.guess(CloudWindow(4, 0, 0), mean=12.0, std=1.0) == 0).all()
    # an observation inside the window that is hidden from the sample does not shape its guess
    split = _one_pixel_split({1: 10.0, 5: 30.0, 9: 14.0})
    ds = ArchiveSequences(split, seq_len=4, tile=2, interp=interp_in_time, guess_context=5)
    hide = np.zeros((4, 2, 2), bool)
    hide[1] = True  # t = 5
    g = ds.guess(CloudWindow(4, 0, 0), mean=12.0, std=1.0, hide=hide)
    assert g[1, 0, 0] == pytest.approx((12.0 - 12) / 3)
    assert ds.guess(CloudWindow(4, 0, 0), mean=12.0, std=1.0)[1, 0, 0] == pytest.approx(6.0)


def test_a_record_model_starts_from_the_guess_it_is_given():
    from unisst_lib.models import FastGenerator, reconstruct

    g = FastGenerator(base_channels=8, channel_mults=(1, 2), norm_groups=4, first_guess="record")
    torch.nn.init.zeros_(g.head[-1].weight)
    torch.nn.init.zeros_(g.head[-1].bias)  # no correction: the output is the guess
    y = torch.zeros(1, 1, 4, 8, 8)
    mask = torch.ones_like(y)
    mask[:, :, 0] = 0.0
    guess = torch.linspace(-1, 1, 4 * 64).view(1, 1, 4, 8, 8)
    out = reconstruct(g, y, mask, guess)
    assert torch.equal(out[:, :, 1:], guess[:, :, 1:]) and torch.equal(out[:, :, 0], y[:, :, 0])


def test_a_record_model_refuses_to_train_on_the_twin(tmp_path):
    cfg = load_config("tiny", generator={"first_guess": "record"})
    with pytest.raises(TrainingError, match="first_guess: record"):
        train(cfg, tmp_path / "r", progress=False, tensorboard=False)


def test_a_record_model_fits_and_fills_with_its_guess(tmp_path):
    from unisst_lib.methods.fill import fill

    ds = _archive()
    cfg = tmp_path / "rec.yaml"
    cfg.write_text(
        "name: rec\ngenerator: {base_channels: 8, channel_mults: [1, 2], norm_groups: 4, "
        "first_guess: record}\ndiscriminator: {ndf: 8, n_layers: 4}\n"
        "data: {tile: 16, seq_len: 8, val_sequences: 2, guess_context: 6}\n"
        "loss: {self_supervised_weight: 1.0}\nbatch_size: 2\n"
    )
    res = fit_archive(ds, out=tmp_path / "m.pt", steps=2, config=str(cfg), progress=False)
    assert load_checkpoint(res.checkpoint)["archive"]["guess_context"] == 6
    out = fill(ds[["sst"]], checkpoint=res.checkpoint, land=ds["land"])["sst"].values
    assert np.isfinite(out[:, ~ds["land"].values]).all()


def test_cli_fill_fit_and_evaluate_the_fitted_row(tmp_path, capsys):
    _write_archive(tmp_path / "l3", _archive())
    out = tmp_path / "out"
    args = ["fill", str(tmp_path / "l3"), str(out), "--fit", "--fit-steps", "1", "-q"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"fitted {out / 'unisst_fit.pt'}: 1 steps" in printed and "29 files written" in printed
    assert load_checkpoint(out / "unisst_fit.pt")["archive"]["cadence"] == "P1D"
    again = ["fill", str(tmp_path / "l3"), str(tmp_path / "o2"), "--fit", "--fit-steps", "1"]
    assert main([*again, "--save-model", str(out / "unisst_fit.pt")]) == 2  # kept, not replaced
    assert "--overwrite" in capsys.readouterr().err
    ev = ["evaluate", "--data", str(tmp_path / "l3"), "--methods", "unisst,interp"]
    assert main([*ev, "--fit-steps", "1", "--json"]) == 0
    rows = {r["method"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["unisst"]["status"] == "ok" and rows["unisst"]["fit_steps"] == 1
    assert rows["unisst"]["hidden_pixels"] == rows["interp"]["hidden_pixels"] > 0


def test_the_cv_row_fits_its_model_without_the_pixels_it_is_scored_on(monkeypatch, tmp_path):
    import unisst_lib.benchmark.cv_unisst as cv_unisst
    from unisst_lib.benchmark.crossval import cross_validate
    from unisst_lib.methods.fit import FitResult

    seen = {}

    def spy_fit(data, *, out, **kwargs):
        seen["sst"] = data["sst"].values.copy()
        return FitResult(tmp_path / "m.pt", 1, 0.0, 0.0, 0.0, None)

    def mean_fill(ds, **kwargs):  # stands in for the model: the record mean everywhere
        out = ds.copy()
        out["sst"] = ds["sst"].fillna(float(np.nanmean(ds["sst"].values)))
        return out

    monkeypatch.setattr(cv_unisst, "fit_archive", spy_fit)
    monkeypatch.setattr(cv_unisst, "fill", mean_fill)
    ds = _archive()
    res = cross_validate(ds, methods=["unisst"], seed=2)
    assert res.hidden.any()
    assert np.isnan(seen["sst"][res.hidden]).all()  # the fit never saw a hidden pixel
    kept = np.isfinite(ds["sst"].values) & ~res.hidden
    assert (seen["sst"][kept] == ds["sst"].values[kept]).all()  # and saw every other one
    assert res.rows[0]["status"] == "ok" and res.rows[0]["fit_steps"] == 1


def test_the_bundled_model_is_chosen_by_the_frames_cadence():
    from unisst_lib.methods.fill import default_checkpoint, load_model

    daily = default_checkpoint("P1D")
    assert daily.name == "fast_l3_daily.pt" and daily.is_file()
    model = load_model(daily, "cpu")
    assert (model["interval_hours"], model["seq_len"]) == (24.0, 24)
    assert model["archive"]["cadence"] == "P1D" and model["archive"]["guess_context"] == 60
    for cadence in ("PT6H", "PT1H", "P1M", None):  # the twin model, which refuses what it cannot
        assert default_checkpoint(cadence).name == "fast_twin.pt"


def test_a_daily_archive_is_filled_with_the_bundled_daily_model(tmp_path, capsys):
    _write_archive(tmp_path / "l3", _archive())
    assert main(["fill", str(tmp_path / "l3"), str(tmp_path / "out"), "-q"]) == 0
    assert "29 files written" in capsys.readouterr().out
    with xr.open_dataset(next((tmp_path / "out").glob("*.nc"))) as out:
        assert out.attrs["unisst_checkpoint_sha256"] == _bundled_sha256("P1D")


def _bundled_sha256(cadence: str) -> str:
    import hashlib

    from unisst_lib.methods.fill import default_checkpoint

    return hashlib.sha256(default_checkpoint(cadence).read_bytes()).hexdigest()


def test_a_fit_is_never_worse_than_its_own_first_guess(tmp_path):
    from unisst_lib.training.checkpoints import load_generator, save_checkpoint
    from unisst_lib.training.guess_check import guess_only, keep_better_than_guess

    ds = _archive()
    cfg_file = tmp_path / "rec.yaml"
    cfg_file.write_text(
        "name: rec\ngenerator: {base_channels: 8, channel_mults: [1, 2], norm_groups: 4, "
        "first_guess: record}\ndiscriminator: {ndf: 8, n_layers: 4}\n"
        "data: {tile: 16, seq_len: 8, val_sequences: 4, guess_context: 6}\nbatch_size: 2\n"
    )
    res = fit_archive(ds, out=tmp_path / "m.pt", steps=1, config=str(cfg_file), progress=False)
    assert res.kept in ("model", "first guess") and math.isfinite(res.first_guess_rmse_c)
    # spoil the correction: the output is the guess + 2·tanh(1/2) ≈ 0.92 (normalised) everywhere
    state = load_checkpoint(res.checkpoint)
    bias = next(k for k in state["models"]["generator"] if k.startswith("head.2.bias"))
    state["models"]["generator"][bias].fill_(1.0)
    save_checkpoint(res.checkpoint, state)
    check = keep_better_than_guess(res.checkpoint, res.config, ds)
    assert check.kept == "first guess" and check.guess_rmse_c < check.model_rmse_c
    kept, _ = load_generator(res.checkpoint)
    y = torch.zeros(1, 1, 8, 16, 16)
    mask = torch.ones_like(y)
    guess = torch.full_like(y, 0.25)
    assert torch.equal(kept(y, mask, guess=guess), guess)  # the checkpoint is the guess alone
    assert load_checkpoint(res.checkpoint)["first_guess_only"] is True
    assert guess_only(kept)(y, mask, guess=guess).equal(guess)
