"""The uncertainty benchmark on the twin's windows: ensembles, their calibration and their scores.

Every ensemble fills the same windows as the accuracy benchmark
(:class:`~unisst_lib.benchmark.windows.TestSet`), one window at a time as a whole:

* :func:`window_members` — M members of a stochastic generator (noise drawn per
  member and window), or one member per generator of a deep ensemble;
* :func:`validation_withheld` — the validation windows' observed pixels hidden under
  the cloud window validation uses (:func:`~unisst_lib.evaluation.validation.holdout_clouds`);
  the spread is calibrated there and nowhere else: no truth;
* :func:`ensemble_scores` / :func:`gaussian_scores` — CRPS, spread–skill, coverage,
  rank histogram and the mean's errors, on the gaps against the truth (test) or on
  the withheld pixels against the observation (validation);
* :func:`interp_sigma` — the temporal-interpolation baseline's standard deviation
  (the local standard deviation of the observations), calibrated the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from unisst_lib.benchmark.windows import TestSet
from unisst_lib.data.cloud_holdout import DEFAULT_SHARE, cv_plan
from unisst_lib.data.normalise import denormalise, normalise
from unisst_lib.evaluation import probabilistic as pr
from unisst_lib.evaluation.validation import holdout_clouds
from unisst_lib.methods.ensemble import (
    SpreadCalibration,
    antithetic,
    calibrate_members,
    fit_sigma,
    fit_spread_scale,
    gap_distance,
    member_seed,
)
from unisst_lib.methods.interp import fill_temporal, local_std
from unisst_lib.models import reconstruct


@torch.no_grad()
def window_members(
    generators: Sequence[nn.Module],
    test: TestSet,
    *,
    members: int,
    seed: int = 0,
    hidden: np.ndarray | None = None,
    batch_size: int = 4,
) -> np.ndarray:
    """(M, N, T, H, W) float32 °C: the members of every window of ``test``.

    One generator with noise inputs: ``members`` draws (member k of window i gets
    the noise of (``seed``, k, i)). Several generators: a deep ensemble, each
    generator's deterministic fill one member (``members`` must equal their count).
    ``hidden`` (N, T, H, W) bool: observed pixels also hidden from the generators
    (withheld for calibration). Observed pixels are copied exactly, land is NaN.
    """
    deep = len(generators) > 1
    if deep and members != len(generators):
        raise ValueError(f"a deep ensemble has one member per generator, not {members}")
    k_noise = int(getattr(generators[0], "noise_channels", 0))
    if not deep and k_noise == 0:
        raise ValueError("one deterministic generator gives one member: give noise or several")
    ds, n = test.dataset, len(test)
    out = np.empty((members, *test.truth.shape), np.float32)
    shown = test.observation if hidden is None else np.where(hidden, np.nan, test.observation)
    for lo in range(0, n, batch_size):
        idx = range(lo, min(n, lo + batch_size))
        y, m, mean, std = _normalised(shown[lo : idx.stop], ds)
        for k in range(members):
            gen = generators[k] if deep else generators[0]
            z = None if deep else _noise(seed, k, idx, (k_noise, *y.shape[2:]))
            x_hat = reconstruct(gen.eval(), y, m, None, z).double()
            filled = denormalise(x_hat, mean, std, std_factor=ds.std_factor)[:, 0].numpy()
            filled = np.where(test.land, np.nan, filled)
            obs = shown[lo : idx.stop]
            out[k, lo : idx.stop] = np.where(np.isnan(obs), filled, obs)
    return out


def _normalised(obs: np.ndarray, ds) -> tuple[torch.Tensor, ...]:
    """(y, mask, mean, std) of windows (B, T, H, W) °C, NaN where not shown: each normalised
    on the pixels it shows (withheld ones hidden first, so they do not steer the fill)."""
    parts = [
        normalise(o, np.isfinite(o), std_factor=ds.std_factor, fill_value=ds.fill_value)
        for o in obs
    ]
    y = torch.from_numpy(np.stack([p[0] for p in parts]).astype(np.float32))[:, None]
    m = torch.from_numpy((~np.isfinite(obs)).astype(np.float32))[:, None]
    mean = torch.tensor([float(p[2]) for p in parts], dtype=torch.float64).view(-1, 1, 1, 1, 1)
    std = torch.tensor([float(p[3]) for p in parts], dtype=torch.float64).view(-1, 1, 1, 1, 1)
    return y, m, mean, std


def _noise(seed: int, member: int, windows: range, shape: tuple[int, ...]) -> torch.Tensor:
    """(B, K, T, H, W) noise of ``member`` for each window index (antithetic pairs)."""
    pair, sign = antithetic(member)
    draws = [
        sign
        * np.random.default_rng([member_seed(seed, pair), i]).standard_normal(shape, np.float32)
        for i in windows
    ]
    return torch.from_numpy(np.stack(draws))


def validation_withheld(val: TestSet, *, seed: int = 0) -> np.ndarray:
    """(N, T, H, W) bool: observed sea pixels of each validation window hidden for calibration.

    Under the cloud window validation itself withholds
    (:func:`~unisst_lib.evaluation.validation.holdout_clouds`, ``seed``).
    """
    ds = val.dataset
    clouds = np.stack([holdout_clouds(ds, ds[i], seed) > 0.5 for i in range(len(val))])
    return clouds & ~val.mask  # observed pixels only: the mask covers land and clouds


def data_withheld(test: TestSet, *, seed: int = 0) -> np.ndarray:
    """(N, T, H, W) bool: observed sea pixels of ``test`` withheld as ``fill(calibration="data")``
    withholds them (:func:`~unisst_lib.data.cloud_holdout.cv_plan`, its default share).

    The frames of every window are one record (donors from another calendar day), as
    in the file the windows come from.
    """
    n, t = test.mask.shape[:2]
    observed = (~test.mask & np.isfinite(test.truth)).reshape(n * t, *test.mask.shape[2:])
    days = np.concatenate([test.dataset.sequences[i]["time"].values for i in range(n)])
    plan = cv_plan(observed, share=DEFAULT_SHARE, seed=seed, land=test.land, times=days)
    return plan.hidden.reshape(test.mask.shape)


def ensemble_scores(members: np.ndarray, reference: np.ndarray, where: np.ndarray) -> dict:
    """Scores of (M, …) ``members`` against ``reference`` at ``where`` (°C).

    ``rmse_c``/``mae_c`` of the mean, ``crps_c`` (empirical) and ``crps_fair_c``,
    ``spread_skill`` (predictive sd, :func:`~unisst_lib.evaluation.probabilistic.predictive_sd`),
    ``coverage_1sd``/``coverage_2sd`` and ``rank_histogram`` (shares, M + 1 bins).
    """
    mean = members.mean(axis=0, dtype=np.float64)
    sigma = pr.predictive_sd(members.astype(np.float64))
    err = mean - reference
    row = _gaussian_part(sigma, err, where)
    ranks = pr.rank_histogram(members, reference, where)
    row.update(
        crps_c=pr.crps_ensemble(members, reference, where),
        crps_fair_c=pr.crps_ensemble(members, reference, where, fair=True),
        rank_histogram=(ranks / ranks.sum()).round(4).tolist(),
        members=int(members.shape[0]),
    )
    return row


def gaussian_scores(mu: np.ndarray, sigma: np.ndarray, reference: np.ndarray, where) -> dict:
    """:func:`ensemble_scores` for a fill with a standard deviation (CRPS of N(μ, σ²))."""
    row = _gaussian_part(sigma, mu - reference, where)
    row["crps_c"] = pr.crps_gaussian(mu, sigma, reference, where)
    return row


def _gaussian_part(sigma: np.ndarray, err: np.ndarray, where: np.ndarray) -> dict:
    e = err[where]
    return {
        "pixels": int(where.sum()),
        "rmse_c": math.sqrt(float(np.mean(e**2))),
        "mae_c": float(np.mean(np.abs(e))),
        "spread_c": math.sqrt(float(np.mean(sigma[where] ** 2))),
        "spread_skill": pr.spread_skill(sigma, err, where),
        "coverage_1sd": pr.coverage(sigma, err, 1, where),
        "coverage_2sd": pr.coverage(sigma, err, 2, where),
    }


def window_distance(test: TestSet, hidden: np.ndarray | None = None) -> np.ndarray:
    """(N, T, H, W): each pixel's distance in frames to its nearest observation in its window."""
    missing = test.mask if hidden is None else test.mask | hidden
    return np.stack([gap_distance(m) for m in missing])


def calibrated(
    members: np.ndarray, cal: SpreadCalibration, distance: np.ndarray, gaps: np.ndarray
) -> np.ndarray:
    """The members of every window spread as ``cal`` says at the ``gaps`` pixels."""
    raw = pr.predictive_sd(members.astype(np.float64))
    return calibrate_members(members, cal.sigma(raw, distance, gaps))


def interp_with_spread(obs: np.ndarray, land: np.ndarray) -> tuple[np.ndarray, ...]:
    """The temporal baseline on (T, H, W) ``obs`` (NaN where missing): its fill, its raw σ
    (the local standard deviation) and each pixel's distance to its nearest observation."""
    missing = ~np.isfinite(obs)
    mu = fill_temporal(obs.astype(np.float64), missing, land=land)
    return mu, local_std(obs, missing), gap_distance(missing | land[None])


def interp_fill(test: TestSet, hidden: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """:func:`interp_with_spread` of every window, (N, T, H, W) each."""
    obs = test.observation if hidden is None else np.where(hidden, np.nan, test.observation)
    parts = [interp_with_spread(o, test.land) for o in obs]
    return tuple(np.stack(p) for p in zip(*parts, strict=True))


def interp_sigma_scale(
    val: TestSet, hidden: np.ndarray, *, fitted_on: str = "validation: withheld"
) -> SpreadCalibration:
    """The baseline's calibration (the ensemble's, by distance) on the withheld pixels."""
    mu, sigma, dist = interp_fill(val, hidden)
    err = (mu - val.observation)[hidden]
    return fit_sigma(err, sigma[hidden], dist[hidden], members=1, fitted_on=fitted_on)


def fit_withheld(
    generators: Sequence[nn.Module],
    data: TestSet,
    hidden: np.ndarray,
    *,
    members: int,
    seed: int,
    fitted_on: str,
) -> tuple[SpreadCalibration, np.ndarray, np.ndarray]:
    """The calibration of members made with ``hidden`` observed pixels withheld, fitted there;
    with the members and their distances (only observations are used)."""
    mem = window_members(generators, data, members=members, seed=seed, hidden=hidden)
    dist = window_distance(data, hidden)
    cal = fit_spread_scale(mem, data.observation, hidden, distance=dist, fitted_on=fitted_on)
    return cal, mem, dist


def interp_data_scale(data: TestSet, *, seed: int) -> SpreadCalibration:
    """The baseline's calibration fitted on pixels of ``data`` itself (:func:`data_withheld`)."""
    return interp_sigma_scale(data, data_withheld(data, seed=seed),
                              fitted_on="the data being filled: withheld pixels")  # fmt: skip


def validate_candidate(
    generators: Sequence[nn.Module], val: TestSet, hidden: np.ndarray, *, members: int, seed: int
) -> tuple[SpreadCalibration, dict, dict]:
    """The calibration fitted on the withheld validation pixels, the scores there, and the
    scores there of the calibration on the data being filled (:func:`data_calibration`).

    The first scores (in-sample, so the spread–skill ratio is close to 1) compare the
    candidates' CRPS and the accuracy of their mean; the second check the data
    calibration out of sample on the same members. Only observations are used.
    """
    cal, mem, dist = fit_withheld(generators, val, hidden, members=members, seed=seed,
                                  fitted_on="validation: withheld pixels")  # fmt: skip
    row = ensemble_scores(calibrated(mem, cal, dist, hidden), val.observation, hidden)
    row["spread_weight"] = cal.weight
    row["raw_spread_skill"] = cal.raw_sd_c / cal.rmse_c  # before the calibration
    on_data = data_calibration(generators, val, members=members, seed=seed)
    check = ensemble_scores(calibrated(mem, on_data, dist, hidden), val.observation, hidden)
    check["spread_weight"] = on_data.weight
    return cal, row, check


def data_calibration(
    generators: Sequence[nn.Module], data: TestSet, *, members: int, seed: int
) -> SpreadCalibration:
    """What ``fill(calibration="data")`` fits: on observed pixels of ``data`` itself withheld
    under other frames' clouds (:func:`data_withheld`), the members run once more."""
    hidden = data_withheld(data, seed=seed)
    return fit_withheld(generators, data, hidden, members=members, seed=seed + 1,
                        fitted_on="the data being filled: withheld pixels")[0]  # fmt: skip


def score_test(
    generators: Sequence[nn.Module],
    test: TestSet,
    cals: dict[str, SpreadCalibration],
    *,
    members: int,
    seed: int,
) -> dict[str, dict]:
    """The ensemble on the test windows with each calibration of ``cals``, scored on the gaps
    against the truth: calibration name -> scores (the members are made once)."""
    mem = window_members(generators, test, members=members, seed=seed)
    where, dist = gaps(test), window_distance(test)
    return {
        name: ensemble_scores(calibrated(mem, cal, dist, where), test.truth, where)
        for name, cal in cals.items()
    }


def gaps(test: TestSet) -> np.ndarray:
    """(N, T, H, W) bool: the occluded sea pixels (where the truth exists)."""
    return test.mask & np.isfinite(test.truth)


def score_interp_test(test: TestSet, cals: dict[str, SpreadCalibration]) -> dict[str, dict]:
    """The temporal baseline ± its local standard deviation, calibrated by each of ``cals``,
    on the test gaps: calibration name -> scores."""
    mu, sigma, dist = interp_fill(test)
    where = gaps(test)
    return {
        name: gaussian_scores(mu, cal.sigma(sigma, dist, where), test.truth, where)
        for name, cal in cals.items()
    }
