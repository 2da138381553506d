"""An ensemble's noise and spread calibration, and that the calibration never sees the truth.

The poisoned-truth tests change the truth under the clouds (large but finite values,
so that no mask changes) and check that the calibration and its scores do not move,
while a score that does use the truth (the test score) does: the test can fail.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from stochastic_checkpoints import stochastic_checkpoint

from unisst_lib.benchmark.uncertainty import (
    data_calibration,
    data_withheld,
    interp_sigma_scale,
    score_test,
    validate_candidate,
    validation_withheld,
    window_members,
)
from unisst_lib.benchmark.windows import load_test_set
from unisst_lib.core.errors import UnisstError
from unisst_lib.evaluation.probabilistic import predictive_sd
from unisst_lib.methods import fill_ensemble
from unisst_lib.methods.ensemble import (
    DISTANCE_EDGES,
    SPREAD_WEIGHTS,
    EnsembleError,
    SpreadCalibration,
    antithetic,
    calibrate_members,
    distance_bin,
    fit_spread_scale,
    gap_distance,
    member_noise,
    member_seed,
)
from unisst_lib.methods.fill import fill
from unisst_lib.methods.interp import local_std
from unisst_lib.models import FastGenerator

POISON = 50.0  # °C added to the truth under the clouds


# ------------------------------------------------------------ member noise
def test_member_noise_depends_on_the_frame_not_on_the_window():
    noise = member_noise(7, channels=2, height=5, width=6, phase=1)
    a, b = noise(0, 10), noise(4, 12)
    assert a.shape == (2, 10, 5, 6) and a.dtype == np.float32
    assert b.shape == (2, 8, 5, 6) and b.dtype == np.float32
    np.testing.assert_array_equal(a[:, 4:10], b[:, 0:6])  # the shared frames 4..9
    np.testing.assert_array_equal(noise(3, 4)[:, 0], a[:, 3])
    assert not np.array_equal(a[:, 0], a[:, 1])  # each frame its own
    other_seed = member_noise(8, channels=2, height=5, width=6, phase=1)(0, 10)
    other_phase = member_noise(7, channels=2, height=5, width=6, phase=0)(0, 10)
    for other in (other_seed, other_phase):
        assert (other != a).mean() > 0.99
    twin = member_noise(7, channels=2, height=5, width=6, phase=1, sign=-1.0)(0, 10)
    assert twin.dtype == np.float32
    np.testing.assert_array_equal(twin, -a)  # the antithetic twin
    big = member_noise(0, channels=4, height=64, width=64)(0, 8)  # unit normal values
    assert abs(float(big.mean())) < 0.02 and abs(float(big.std()) - 1) < 0.02


def test_member_seeds_and_antithetic_pairs():
    seeds = {member_seed(s, k) for s in range(3) for k in range(4)}
    assert len(seeds) == 12 and all(isinstance(s, int) for s in seeds)
    assert member_seed(0, 1) == member_seed(0, 1) != member_seed(1, 0)
    assert [antithetic(m) for m in range(5)] == [
        (0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0), (2, 1.0)
    ]  # fmt: skip


# ------------------------------------------------- distances in time
def test_gap_distance_and_its_bins_by_hand():
    missing = np.array(
        [[True, True], [False, True], [True, True], [True, True], [True, True], [False, True]]
    )[:, :, None]  # (T, H, W) = (6, 2, 1): pixel 1 is never observed
    d = gap_distance(missing)
    assert d.dtype == np.float32 and d.shape == (6, 2, 1)
    assert d[:, 0, 0].tolist() == [1, 0, 1, 2, 1, 0]
    assert np.isinf(d[:, 1, 0]).all()
    # lower edges 1, 2, 3, 4, 6, 8, 12, 16, 24, inf; observed (0) is bin -1
    distances = np.array([0, 1, 1.5, 2, 3, 4, 5, 6, 7, 8, 12, 16, 23, 24, 500, np.inf])
    assert distance_bin(distances).tolist() == [-1, 0, 0, 1, 2, 3, 3, 4, 4, 5, 6, 7, 7, 8, 8, 9]
    assert DISTANCE_EDGES[0] == 1 and math.isinf(DISTANCE_EDGES[-1])


# ----------------------------------------------------- the calibration
def pair(mean: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Two members mean ± d: their predictive sd is sqrt(3/2)·sqrt(2)·|d| = √3·|d|."""
    return np.stack([mean + d, mean - d])


def test_bin_factors_by_hand():
    rng = np.random.default_rng(0)
    # bin 0 (distance 1): 200 pixels, spread √3·0.5, errors ±1 → factor 1/(√3·0.5)
    # bin 1 (distance 2): 50 pixels, too few (< 100): bin 0's factor
    # bin 2 (distance 3): 150 pixels, spread √3·1, errors ±3 → factor 3/√3
    # bins 3..9: none, the nearest lower bin's (bin 2's)
    n0, n1, n2 = 200, 50, 150
    d = np.concatenate([np.full(n0, 0.5), np.full(n1, 2.0), np.full(n2, 1.0)])
    err = np.concatenate([np.full(n0, 1.0), np.full(n1, 7.0), np.full(n2, 3.0)])
    err *= rng.choice([-1.0, 1.0], err.size)
    distance = np.concatenate([np.full(n0, 1.0), np.full(n1, 2.0), np.full(n2, 3.0)])
    observed = np.zeros(err.size)
    cal = fit_spread_scale(pair(err, d), observed, np.ones(err.size, bool),
                           distance=distance, fitted_on="by hand")  # fmt: skip
    f0, f2 = 1 / (math.sqrt(3) * 0.5), 3 / math.sqrt(3)
    np.testing.assert_allclose(cal.factors, [f0, f0, f2] + [f2] * 7, rtol=1e-12)
    np.testing.assert_allclose(cal.levels, [1, 1, 3] + [3] * 7, rtol=1e-12)  # the RMSEs
    assert cal.bin_pixels == (n0, n1, n2) + (0,) * 7
    assert (cal.members, cal.pixels, cal.fitted_on) == (2, 400, "by hand")
    assert cal.rmse_c == pytest.approx(math.sqrt(np.mean(err**2)))
    assert cal.raw_sd_c == pytest.approx(math.sqrt(np.mean(3 * d**2)))
    assert cal.weight in SPREAD_WEIGHTS
    # the lowest bins too sparse: the overall factor RMSE / RMS spread until one has its own
    few = np.concatenate([np.full(n1, 2.0), np.full(n2, 3.0)])
    cal = fit_spread_scale(pair(err[n0:], d[n0:]), observed[n0:], np.ones(n1 + n2, bool),
                           distance=few, fitted_on="x")  # fmt: skip
    overall = math.sqrt(np.mean(err[n0:] ** 2) / np.mean(3 * d[n0:] ** 2))
    np.testing.assert_allclose(cal.factors[:3], [overall, overall, f2], rtol=1e-12)
    np.testing.assert_allclose(cal.levels[:3], [math.sqrt(np.mean(err[n0:] ** 2))] * 2 + [3])


def test_the_weight_follows_what_the_spread_tells_about_the_error():
    rng = np.random.default_rng(1)
    n = 400
    d = rng.uniform(0.3, 1.5, n)  # spreads within the clip range (0.25..4 × their RMS)
    signs = rng.choice([-1.0, 1.0], n)
    where, distance = np.ones(n, bool), np.ones(n)
    # errors proportional to the spread: keep all of it (σ = |error| at every pixel)
    cal = fit_spread_scale(pair(signs * d, d), np.zeros(n), where, distance=distance,
                           fitted_on="x")  # fmt: skip
    assert cal.weight == 1.0
    # errors of one size whatever the spread: keep none of it (σ the same everywhere)
    cal = fit_spread_scale(pair(signs, d), np.zeros(n), where, distance=distance,
                           fitted_on="x")  # fmt: skip
    assert cal.weight == 0.0


def test_sigma_by_hand():
    cal = SpreadCalibration(
        factors=(2.0, 3.0) + (1.0,) * 8, weight=1.0, members=2, pixels=0, rmse_c=0.0,
        raw_sd_c=0.0, fitted_on="by hand",
    )  # fmt: skip
    raw = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 9.0, 5.0])
    distance = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 0.0])
    gaps = np.array([True, True, True, True, True, True, False])
    # bin 0: RMS spread s̄ = sqrt((1 + 4 + 4 + 9) / 4), every s / s̄ within the clip
    # (1/4..4), so σ = 2 · s; bin 1: s̄ = sqrt((16 + 81) / 2), σ = 3 · s; not a gap: 0
    np.testing.assert_allclose(cal.sigma(raw, distance, gaps), [2, 4, 4, 6, 12, 27, 0])
    flat = dataclasses.replace(cal, weight=0.0)  # the bin's RMS spread everywhere
    s0, s1 = math.sqrt(18 / 4), math.sqrt(97 / 2)
    np.testing.assert_allclose(
        flat.sigma(raw, distance, gaps), [2 * s0] * 4 + [3 * s1] * 2 + [0], rtol=1e-12
    )
    # a ratio beyond 4 (or below 1/4) is clipped there
    clipped = cal.sigma(np.array([1.0] * 20 + [100.0]), np.ones(21), np.ones(21, bool))
    s_bar = math.sqrt((20 + 100**2) / 21)
    assert clipped[-1] == pytest.approx(2 * 4 * s_bar)
    assert clipped[0] == pytest.approx(2 * 0.25 * s_bar)


def test_levels_set_sigma_in_the_data_units_whatever_the_members_spread():
    cal = SpreadCalibration(
        factors=(9.0,) * 10, weight=0.0, members=2, pixels=0, rmse_c=0.0, raw_sd_c=0.0,
        fitted_on="by hand", levels=(0.5, 2.0) + (1.0,) * 8,
    )  # fmt: skip
    raw = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 9.0, 5.0])
    distance = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 0.0])
    gaps = np.array([True, True, True, True, True, True, False])
    expected = [0.5] * 4 + [2.0] * 2 + [0.0]
    np.testing.assert_allclose(cal.sigma(raw, distance, gaps), expected)
    np.testing.assert_allclose(cal.sigma(raw / 100, distance, gaps), expected)  # level stays
    # weight 1: the bin's level shaped by the members' relative spread (s / s̄)
    s0 = math.sqrt(18 / 4)
    shaped = dataclasses.replace(cal, weight=1.0).sigma(raw, distance, gaps)
    np.testing.assert_allclose(shaped[:4], 0.5 * raw[:4] / s0, rtol=1e-12)


def test_a_fitted_level_transfers_to_members_of_another_spread():
    # errors ±0.3 at distance 1, members spread √3·0.01 when fitted; on the data being
    # filled the members spread 10 times less: σ stays the error's size (0.3)
    n = 300
    err = np.where(np.arange(n) % 2, 0.3, -0.3)
    cal = fit_spread_scale(pair(err, np.full(n, 0.01)), np.zeros(n), np.ones(n, bool),
                           distance=np.ones(n), fitted_on="x")  # fmt: skip
    sigma = cal.sigma(np.full(n, math.sqrt(3) * 0.001), np.ones(n), np.ones(n, bool))
    np.testing.assert_allclose(sigma, 0.3, rtol=1e-12)


def test_constant_and_stored_calibrations():
    const = SpreadCalibration.constant(2.0, 3)
    assert const.factors == (2.0,) * len(DISTANCE_EDGES) and const.weight == 1.0
    assert (const.members, const.fitted_on) == (3, "given")
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(EnsembleError, match="spread factor must be a positive number"):
            SpreadCalibration.constant(bad, 2)
    d = const.to_dict()
    assert SpreadCalibration.from_dict(d) == const
    with pytest.raises(EnsembleError, match="other distance bins.*calibration='data'"):
        SpreadCalibration.from_dict({**d, "edges": ["1.0", "inf"]})
    # a calibration stored before the levels: σ relative to the members' spread, as then
    old = {k: v for k, v in d.items() if k != "levels"}
    assert SpreadCalibration.from_dict(old) == const and const.levels == ()


def test_calibrate_members_by_hand():
    members = np.array([[1.0, 5.0, 0.0], [3.0, 5.0, 4.0]], np.float32)  # means 2, 5, 2
    # predictive sd √3·1, 0, √3·2: twice the first (deviations doubled), half the last
    sigma = np.array([2 * math.sqrt(3), 7.0, math.sqrt(3)])
    out = calibrate_members(members, sigma)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 5.0, 1.0], [4.0, 5.0, 3.0]], rtol=1e-6)
    np.testing.assert_allclose(predictive_sd(out.astype(np.float64))[[0, 2]], sigma[[0, 2]],
                               rtol=1e-6)  # fmt: skip
    # where the members agree they are kept bit for bit
    x = np.random.default_rng(2).uniform(10, 16, 1000).astype(np.float32)
    same = np.repeat(x[None], 3, axis=0)
    np.testing.assert_array_equal(calibrate_members(same, np.full(1000, 5.0)), same)


def test_calibrate_members_keeps_agreeing_float64_members():
    # float64: the std of 3 equal values is ~1e-15, not 0; agreement is decided by equality
    x = np.random.default_rng(2).uniform(10, 16, 1000)
    same = np.repeat(x[None], 3, axis=0)
    np.testing.assert_array_equal(calibrate_members(same, np.full(1000, 5.0)), same)


def test_fit_spread_scale_refuses_what_it_cannot_fit():
    members, obs = np.array([[0.0, 1.0], [2.0, 1.0]]), np.zeros(2)
    kw = {"distance": np.ones(2), "fitted_on": "x"}
    with pytest.raises(EnsembleError, match="must share the field shape"):
        fit_spread_scale(members, np.zeros(3), np.ones(3, bool), **kw)
    with pytest.raises(EnsembleError, match="no withheld observed pixel to calibrate"):
        fit_spread_scale(members, obs, np.zeros(2, bool), **kw)
    with pytest.raises(EnsembleError, match="not finite at the withheld pixels"):
        fit_spread_scale(members, np.array([np.nan, 0.0]), np.ones(2, bool), **kw)
    with pytest.raises(EnsembleError, match="identical at every withheld pixel.*deterministic"):
        fit_spread_scale(members, obs, np.array([False, True]), **kw)
    assert issubclass(EnsembleError, UnisstError)


def test_local_std_by_hand():
    x = np.array([[[0.0, 2.0, 4.0, 0.0, 6.0]]])  # (T, H, W) = (1, 1, 5)
    missing = np.zeros(x.shape, bool)
    missing[0, 0, 3] = True
    # radius 1, one frame: pixel 0 sees 0, 2 → sd 1; pixel 2 sees 2, 4 (3 missing) → 1;
    # pixel 3 (missing) sees 4, 6 → 1; pixel 4 sees 6 alone: the sd of all observed
    # values 0, 2, 4, 6 = √5
    got = local_std(x, missing, radius=1, frames=0)
    np.testing.assert_allclose(got[0, 0], [1.0, math.sqrt(8 / 3), 1.0, 1.0, math.sqrt(5)])


# ------------------------------------------------------- no truth, ever
class PoisonedSequences:
    """A data set's sequences with ``POISON`` added to the truth under the clouds."""

    def __init__(self, sequences, where: np.ndarray):
        self._seqs, self._where = sequences, where

    def __len__(self) -> int:
        return len(self._seqs)

    def __getitem__(self, i: int) -> xr.DataArray:
        da = self._seqs[i]
        return da.copy(data=np.where(self._where[i], da.values + POISON, da.values))

    def __getattr__(self, name):
        return getattr(self._seqs, name)


def poisoned(val):
    """``val`` with the truth under its clouds raised by ``POISON``: its arrays and its file."""
    under = val.mask & np.isfinite(val.truth)  # clouds; land stays NaN
    ds = copy.copy(val.dataset)
    ds.sequences = PoisonedSequences(val.dataset.sequences, under)
    truth = np.where(under, val.truth + np.float32(POISON), val.truth)
    return dataclasses.replace(val, truth=truth, dataset=ds), under


@pytest.fixture(scope="module")
def val(tiny_data_dir):
    return load_test_set("twin", "val", data_dir=tiny_data_dir, max_items=1)


def stochastic_generator(seed: int = 0) -> FastGenerator:
    torch.manual_seed(seed)
    g = FastGenerator(
        base_channels=8,
        channel_mults=(1, 2, 2),
        norm_groups=4,
        first_guess="temporal",
        noise_channels=2,
    )
    with torch.no_grad():
        g.stem.weight[:, -2:].normal_(0.0, 0.5)
        g.noise_proj.weight.normal_(0.0, 0.5)
    return g.eval()


def test_the_validation_calibration_never_reads_the_truth(val):
    g = stochastic_generator()
    bad, under = poisoned(val)
    assert under.sum() > 1000 and (bad.truth[under] > val.truth[under] + 49).all()
    # the poison is in the windows' file values too, which the members are made from
    seq = bad.dataset.sequences[0].values
    assert (seq[under[0]] == val.dataset.sequences[0].values[under[0]] + POISON).all()
    hidden = validation_withheld(val, seed=0)
    np.testing.assert_array_equal(validation_withheld(bad, seed=0), hidden)
    assert hidden.sum() > 100 and not (hidden & val.mask).any()
    cal, row, check = validate_candidate([g], val, hidden, members=2, seed=0)
    cal_bad, row_bad, check_bad = validate_candidate([g], bad, hidden, members=2, seed=0)
    assert cal_bad == cal and row_bad == row and check_bad == check  # every number, exactly
    assert check["pixels"] == row["pixels"] and check != row  # another calibration, same pixels
    assert cal.pixels == int(hidden.sum()) and cal.fitted_on == "validation: withheld pixels"
    assert row["spread_weight"] == cal.weight and row["pixels"] == cal.pixels
    assert interp_sigma_scale(bad, hidden) == interp_sigma_scale(val, hidden)
    # the test score uses the truth: the same poison moves it (so the check above can fail)
    clean = score_test([g], val, {"c": cal}, members=2, seed=0)["c"]
    moved = score_test([g], bad, {"c": cal}, members=2, seed=0)["c"]
    assert moved["rmse_c"] > clean["rmse_c"] + 40 and moved["pixels"] == clean["pixels"]


def test_the_data_calibration_of_the_test_windows_never_reads_the_truth(val):
    g = stochastic_generator()
    bad, _ = poisoned(val)
    withheld = data_withheld(val, seed=3)
    np.testing.assert_array_equal(data_withheld(bad, seed=3), withheld)
    observed = ~val.mask & np.isfinite(val.truth)
    share = withheld.sum() / observed.sum()
    assert not (withheld & ~observed).any() and 0.05 < share < 0.2  # about DEFAULT_SHARE
    cal = data_calibration([g], val, members=2, seed=3)
    assert data_calibration([g], bad, members=2, seed=3) == cal
    assert cal.pixels == int(withheld.sum()) and cal.fitted_on.startswith("the data being")


def _observation(truth: np.ndarray, clouds: np.ndarray) -> xr.Dataset:
    t, h, w = truth.shape
    obs = np.where(clouds, np.float32(np.nan), truth)
    return xr.Dataset(
        {"sst": (("time", "lat", "lon"), obs, {"units": "degC"})},
        coords={
            "time": pd.date_range("2021-03-01", periods=t, freq="6h"),
            "lat": 30 + 0.05 * np.arange(h),
            "lon": -20 + 0.05 * np.arange(w),
        },
    )


def test_fill_calibrates_on_the_data_set_alone(tmp_path, monkeypatch):
    assert not any("truth" in p for p in inspect.signature(fill).parameters)
    fits = []  # what fill gives the calibration, and what it gets back

    def spy(members, observed, withheld, **kw):
        cal = fit_spread_scale(members, observed, withheld, **kw)
        fits.append((np.array(observed), np.array(withheld), cal))
        return cal

    monkeypatch.setattr(fill_ensemble, "fit_spread_scale", spy)
    ckpt = stochastic_checkpoint(tmp_path / "noisy.pt")
    rng = np.random.default_rng(0)
    t, h, w = 10, 20, 24
    tt, yy, xx = np.ogrid[:t, :h, :w]
    truth = (18 + np.sin(xx / 5 + tt / 4) * np.cos(yy / 6)).astype(np.float32)
    clouds = np.zeros((t, h, w), bool)
    for k in range(t):
        r, c = rng.integers(0, h - 6), rng.integers(0, w - 8)
        clouds[k, r : r + 6, c : c + 8] = True
    other = np.where(clouds, truth + np.float32(POISON), truth)  # another truth, same observation
    kw = {"checkpoint": ckpt, "members": 2, "calibration": "data", "keep_members": True}
    a = fill(_observation(truth, clouds), **kw)
    b = fill(_observation(other, clouds), **kw)
    assert a.attrs["unisst_spread_calibration"] == "sst: withheld observed pixels"
    for v in ("sst", "sst_error", "sst_members"):
        np.testing.assert_array_equal(a[v].values, b[v].values)
    assert len(fits) == 2 and fits[0][2] == fits[1][2]
    observed, withheld, cal = fits[0]
    # the calibration is given the observation (NaN under the clouds) and scores observed
    # pixels only, about a tenth of them
    np.testing.assert_array_equal(observed, np.where(clouds, np.nan, truth))
    assert not (withheld & clouds).any()
    assert 0.05 < withheld.sum() / (~clouds).sum() < 0.15 and cal.pixels == withheld.sum()
    # it comes from the observations: other observed values, another calibration
    seen_changed = np.where(clouds, truth, truth + rng.normal(0, 0.5, truth.shape))
    fill(_observation(seen_changed.astype(np.float32), clouds), **kw)
    assert fits[2][2].factors != cal.factors


def test_withheld_values_do_not_steer_the_members_they_score(val):
    # the members a calibration is fitted on are made without the withheld values: the
    # windows are normalised after hiding them, so changing those values changes nothing
    g = stochastic_generator()
    hidden = validation_withheld(val, seed=0)
    moved = dataclasses.replace(val, truth=np.where(hidden, val.truth + 5.0, val.truth))
    a = window_members([g], val, members=2, seed=0, hidden=hidden)
    b = window_members([g], moved, members=2, seed=0, hidden=hidden)
    np.testing.assert_array_equal(a, b)
    # without hiding them, the same values do reach the members
    c = window_members([g], moved, members=2, seed=0)
    assert not np.array_equal(c, window_members([g], val, members=2, seed=0))


def test_l3_cross_validations_of_other_seeds_merge_and_refuse_mixtures():
    from unisst_lib.benchmark.uncertainty_real import merge_real_cv

    def rec(seed, steps=330, members=8):
        rows = {"unisst_ensemble": [{"seed": seed, "crps_c": 0.1 + seed}]}
        return {"seeds": [seed], "fit_steps": steps, "members": members, "rows": rows}

    merged = merge_real_cv([rec(1), rec(0), rec(2)])
    assert merged["seeds"] == [1, 0, 2] and merged["fit_steps"] == 330
    assert [r["seed"] for r in merged["rows"]["unisst_ensemble"]] == [1, 0, 2]
    with pytest.raises(ValueError, match=r"seed\(s\) \[0\] given twice"):
        merge_real_cv([rec(0), rec(0)])
    with pytest.raises(ValueError, match="of 100 steps and 8 members cannot join ones of 330"):
        merge_real_cv([rec(0), rec(1, steps=100)])
    with pytest.raises(ValueError, match="no L3 cross-validation record"):
        merge_real_cv([])
