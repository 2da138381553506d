"""Scores of a probabilistic fill: an ensemble of members, or a mean with a standard deviation.

All take arrays of the same units (°C) and score only the pixels ``where`` selects
(the gaps scored against the truth, or observed pixels withheld for a
cross-validation); NaN anywhere in a selected pixel is refused rather than skipped.

* :func:`crps_ensemble` — the continuous ranked probability score of the members'
  empirical distribution (``fair=True``: of the distribution they are drawn from,
  Ferro 2014); for one member it is the absolute error, so it compares with the MAE
  of a deterministic fill;
* :func:`crps_gaussian` — the CRPS of N(μ, σ²), for a fill with an error estimate
  (Gneiting et al. 2005);
* :func:`spread_skill` — the predicted standard deviation over the RMSE (1 when
  the spread is as large as the error);
* :func:`coverage` — how often |error| ≤ k σ (68.3 % and 95.4 % for k = 1, 2 when
  errors are Gaussian with the stated σ);
* :func:`rank_histogram` — where the truth ranks among the members (flat when
  they are exchangeable with it).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from unisst_lib.core.errors import UnisstError

__all__ = [
    "coverage",
    "crps_ensemble",
    "crps_gaussian",
    "gaussian_coverage",
    "predictive_sd",
    "rank_histogram",
    "spread_skill",
]


class ScoreInputError(UnisstError, ValueError):
    """Arrays a probabilistic score cannot use (shapes, NaN, an empty selection)."""


def _selected(where: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if where is None:
        return np.ones(shape, bool)
    where = np.asarray(where, bool)
    if where.shape != shape:
        raise ScoreInputError(f"where has shape {where.shape}, the fields {shape}")
    if not where.any():
        raise ScoreInputError("no pixel selected (where is all False): nothing to score")
    return where


def _finite(name: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, np.float64)
    if not np.isfinite(values).all():
        raise ScoreInputError(f"{name} has NaN or inf at selected pixels: select finite ones")
    return values


def _members_at(members: np.ndarray, obs: np.ndarray, where) -> tuple[np.ndarray, np.ndarray]:
    """(M, n) members and (n,) observations at the selected pixels."""
    members = np.asarray(members)
    if members.ndim < 2 or members.shape[1:] != np.shape(obs):
        raise ScoreInputError(
            f"members must be (M, *obs.shape) = (M, {np.shape(obs)}), got {members.shape}"
        )
    sel = _selected(where, members.shape[1:])
    return _finite("members", members[:, sel]), _finite("obs", np.asarray(obs)[sel])


def crps_ensemble(members: np.ndarray, obs: np.ndarray, where=None, *, fair: bool = False) -> float:
    """The mean CRPS of the ensemble ``members`` (M, ...) against ``obs`` (...).

    Per pixel, mean_i |x_i − y| − Σ_ij |x_i − x_j| / (2 M²) (``fair``: 2 M (M − 1)),
    computed from the sorted members in O(M log M).

    >>> crps_ensemble(np.array([[0.0], [2.0]]), np.array([1.0]))  # 1 - 4 / 8
    0.5
    >>> crps_ensemble(np.array([[0.0], [2.0]]), np.array([1.0]), fair=True)  # 1 - 4 / 4
    0.0
    """
    x, y = _members_at(members, obs, where)
    m = x.shape[0]
    if fair and m < 2:
        raise ScoreInputError("the fair CRPS needs at least 2 members")
    skill = np.abs(x - y).mean(axis=0)
    xs = np.sort(x, axis=0)
    # Σ_ij |x_i − x_j| = 2 Σ_i (2i − M + 1) x_(i) for sorted x, i = 0..M−1
    weights = (2 * np.arange(m) - m + 1)[:, None]
    pair_sum = 2 * (weights * xs).sum(axis=0)
    spread = pair_sum / (2 * m * (m - 1) if fair else 2 * m * m)
    return float((skill - spread).mean())


def crps_gaussian(mu: np.ndarray, sigma: np.ndarray, obs: np.ndarray, where=None) -> float:
    """The mean CRPS of N(``mu``, ``sigma``²) against ``obs``; σ = 0 gives |μ − y|.

    >>> round(crps_gaussian(np.array([0.0]), np.array([1.0]), np.array([0.0])), 6)
    0.233695
    """
    sel = _selected(where, np.shape(obs))
    mu, y = _finite("mu", np.asarray(mu)[sel]), _finite("obs", np.asarray(obs)[sel])
    sigma = _finite("sigma", np.asarray(sigma)[sel])
    if (sigma < 0).any():
        raise ScoreInputError("sigma must be >= 0")
    out = np.abs(mu - y)
    pos = sigma > 0
    z = (y[pos] - mu[pos]) / sigma[pos]
    out[pos] = sigma[pos] * (
        z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / math.sqrt(math.pi)
    )
    return float(out.mean())


def predictive_sd(members: np.ndarray, axis: int = 0) -> np.ndarray:
    """The standard deviation of the truth about the members' mean, from M members.

    sqrt((M + 1) / M) × the members' sample standard deviation (ddof 1): the error
    of a mean of M draws adds σ²/M to the spread σ² of the draws themselves, so a
    perfect ensemble's ``predictive_sd`` matches the RMSE of its mean.

    >>> predictive_sd(np.array([[0.0], [2.0]])).round(6).tolist()  # sqrt(1.5) * sqrt(2)
    [1.732051]
    """
    m = np.shape(members)[axis]
    if m < 2:
        raise ScoreInputError(f"a spread needs at least 2 members, got {m}")
    return np.sqrt((m + 1) / m) * np.std(members, axis=axis, ddof=1)


def spread_skill(sigma: np.ndarray, error: np.ndarray, where=None) -> float:
    """sqrt(mean σ²) / sqrt(mean error²) over the selected pixels (1: spread matches skill).

    >>> spread_skill(np.array([1.0, 1.0]), np.array([2.0, 0.0]))  # 1 / sqrt(2)
    0.7071067811865475
    """
    sel = _selected(where, np.shape(error))
    s, e = _finite("sigma", np.asarray(sigma)[sel]), _finite("error", np.asarray(error)[sel])
    rmse = math.sqrt(float(np.mean(e**2)))
    if rmse == 0:
        raise ScoreInputError("the error is 0 at every selected pixel: no skill to compare with")
    return math.sqrt(float(np.mean(s**2))) / rmse


def coverage(sigma: np.ndarray, error: np.ndarray, k: float, where=None) -> float:
    """The share of selected pixels where |error| <= k σ.

    >>> coverage(np.array([1.0, 1.0, 1.0, 1.0]), np.array([0.5, -0.9, 1.5, 3.0]), 1)
    0.5
    """
    sel = _selected(where, np.shape(error))
    s, e = _finite("sigma", np.asarray(sigma)[sel]), _finite("error", np.asarray(error)[sel])
    return float(np.mean(np.abs(e) <= k * s))


def gaussian_coverage(k: float) -> float:
    """The share of a Gaussian within ±k σ (0.6827 for k = 1, 0.9545 for k = 2)."""
    return float(stats.norm.cdf(k) - stats.norm.cdf(-k))


def rank_histogram(
    members: np.ndarray, obs: np.ndarray, where=None, *, seed: int = 0
) -> np.ndarray:
    """Counts (M + 1,) of the rank of ``obs`` among the M members; ties split at random.

    >>> rank_histogram(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0.5, 2.0])).tolist()
    [0, 1, 1]
    """
    x, y = _members_at(members, obs, where)
    below = (x < y).sum(axis=0)
    ties = (x == y).sum(axis=0)
    rng = np.random.default_rng(seed)
    rank = below + np.floor(rng.random(y.shape) * (ties + 1)).astype(int)
    return np.bincount(rank, minlength=x.shape[0] + 1)
