"""Probabilistic scores (evaluation/probabilistic.py) against answers computed independently.

The CRPS is checked against its definition, the integral of (F(x) − 1{x ≥ y})²: for an
ensemble F is a step function, integrated exactly interval by interval here; for a
Gaussian the integral is taken numerically with scipy. Every other score on cases
worked out by hand in the comments.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from unisst_lib.evaluation.probabilistic import (
    ScoreInputError,
    coverage,
    crps_ensemble,
    crps_gaussian,
    gaussian_coverage,
    predictive_sd,
    rank_histogram,
    spread_skill,
)
from unisst_lib.training.losses import masked_crps


def step_crps(members: np.ndarray, y: float) -> float:
    """∫ (F_ens(x) − 1{x ≥ y})² dx for the empirical CDF of ``members``, exactly.

    Between consecutive break points (members and y) the integrand is constant: its
    value at the interval's midpoint times the interval's length; outside them it is 0.
    """
    points = np.sort(np.append(members, y))
    total = 0.0
    for a, b in itertools.pairwise(points):
        mid = (a + b) / 2
        f = np.mean(members <= mid)
        h = 1.0 if mid >= y else 0.0
        total += (b - a) * (f - h) ** 2
    return total


def gaussian_integral(mu: float, sigma: float, y: float) -> float:
    """∫ (Φ((x − μ)/σ) − 1{x ≥ y})² dx with scipy.integrate.quad, split at y."""

    def cdf(x: float) -> float:
        return stats.norm.cdf((x - mu) / sigma)

    below, _ = integrate.quad(lambda x: cdf(x) ** 2, -np.inf, y, epsabs=1e-12, epsrel=1e-12)
    above, _ = integrate.quad(lambda x: (1 - cdf(x)) ** 2, y, np.inf, epsabs=1e-12, epsrel=1e-12)
    return below + above


def pair_sum(members: np.ndarray) -> np.ndarray:
    """Σ_ij |x_i − x_j| per pixel, by a double loop."""
    m = members.shape[0]
    return sum(np.abs(members[i] - members[j]) for i in range(m) for j in range(m))


# ------------------------------------------------------------------- CRPS
def test_ensemble_crps_is_the_integral_of_the_squared_cdf_difference():
    rng = np.random.default_rng(0)
    for m in (1, 2, 3, 7):
        members = rng.normal(size=(m, 5))
        obs = rng.normal(size=5)
        expected = [step_crps(members[:, i], obs[i]) for i in range(5)]
        for i in range(5):  # pixel by pixel
            got = crps_ensemble(members[:, i : i + 1], obs[i : i + 1])
            assert got == pytest.approx(expected[i], rel=1e-12, abs=1e-14)
        assert crps_ensemble(members, obs) == pytest.approx(np.mean(expected), rel=1e-12)
        where = np.array([True, False, True, True, False])
        assert crps_ensemble(members, obs, where) == pytest.approx(
            np.mean(np.array(expected)[where]), rel=1e-12
        )
    # ties and an observation equal to a member
    members = np.array([[1.0], [1.0], [3.0]])
    assert crps_ensemble(members, np.array([1.0])) == pytest.approx(step_crps(members[:, 0], 1.0))
    # one member: the absolute error
    assert crps_ensemble(np.array([[2.5, -1.0]]), np.array([1.0, 1.0])) == pytest.approx(
        (1.5 + 2.0) / 2
    )


def test_fair_and_empirical_crps_by_hand():
    # M = 2, members 0 and 3, y = 1: skill (1 + 2) / 2 = 1.5, Σ|xi − xj| = 6;
    # empirical 1.5 − 6 / (2·4) = 0.75 (the integral: 1/4 on (0, 1) + 1/4·2 on (1, 3)),
    # fair 1.5 − 6 / (2·2·1) = 0
    two, y2 = np.array([[0.0], [3.0]]), np.array([1.0])
    assert crps_ensemble(two, y2) == pytest.approx(0.75)
    assert crps_ensemble(two, y2, fair=True) == pytest.approx(0.0, abs=1e-15)
    assert step_crps(two[:, 0], 1.0) == pytest.approx(0.75)
    # M = 3, members 1, 2, 4, y = 3: skill 4/3, Σ|xi − xj| = 2·(1 + 3 + 2) = 12;
    # empirical 4/3 − 12/18 = 2/3, fair 4/3 − 12/12 = 1/3
    three, y3 = np.array([[1.0], [2.0], [4.0]]), np.array([3.0])
    assert crps_ensemble(three, y3) == pytest.approx(2 / 3)
    assert crps_ensemble(three, y3, fair=True) == pytest.approx(1 / 3)
    assert step_crps(three[:, 0], 3.0) == pytest.approx(2 / 3)
    # in general: fair = empirical − Σ|xi − xj| / (2 M² (M − 1)), per pixel
    rng = np.random.default_rng(1)
    for m in (2, 3, 5):
        members, obs = rng.normal(size=(m, 1)), rng.normal(size=1)
        emp = crps_ensemble(members, obs)
        fair = crps_ensemble(members, obs, fair=True)
        assert fair == pytest.approx(emp - pair_sum(members)[0] / (2 * m * m * (m - 1)))


def test_the_fair_crps_is_unbiased_for_members_drawn_like_the_truth():
    # members and truth iid N(0, 1): E|X − Y| = E|X − X'| = 2/√π, so the expected fair
    # CRPS of 2 members is 2/√π − (2/√π)/2 = 1/√π (the CRPS of N(0, 1) itself), and the
    # empirical one 2/√π − (2/√π)/4, too high for a perfect 2-member ensemble
    rng = np.random.default_rng(2)
    members, obs = rng.standard_normal((2, 200_000)), rng.standard_normal(200_000)
    e = 2 / math.sqrt(math.pi)
    assert crps_ensemble(members, obs, fair=True) == pytest.approx(e / 2, abs=0.01)
    assert crps_ensemble(members, obs) == pytest.approx(e - e / 4, abs=0.01)


def test_the_training_loss_is_the_fair_crps():
    rng = np.random.default_rng(3)
    members, obs = rng.normal(size=(3, 4, 6)), rng.normal(size=(4, 6))
    weight = (rng.random((4, 6)) < 0.5).astype(np.float64)
    loss = masked_crps(torch.from_numpy(members), torch.from_numpy(obs), torch.from_numpy(weight))
    skill = np.abs(members - obs).mean(axis=0)
    by_hand = ((skill - pair_sum(members) / (2 * 3 * 2)) * weight).sum() / weight.sum()
    assert float(loss) == pytest.approx(by_hand, rel=1e-12)
    assert float(loss) == pytest.approx(crps_ensemble(members, obs, weight > 0, fair=True))
    with pytest.raises(ValueError, match="at least 2 members, got 1"):
        masked_crps(torch.zeros(1, 3), torch.zeros(3), torch.ones(3))


@pytest.mark.parametrize(
    "mu, sigma, y", [(0.0, 1.0, 0.0), (1.5, 0.3, 0.2), (-2.0, 2.5, 3.0), (20.0, 0.05, 20.01)]
)
def test_gaussian_crps_is_the_integral_of_the_squared_cdf_difference(mu, sigma, y):
    got = crps_gaussian(np.array([mu]), np.array([sigma]), np.array([y]))
    assert got == pytest.approx(gaussian_integral(mu, sigma, y), rel=1e-7)


def test_gaussian_crps_means_over_the_selected_pixels_and_sigma_zero_is_the_abs_error():
    mu = np.array([0.0, 1.5, -2.0, 4.0])
    sigma = np.array([1.0, 0.3, 2.5, 0.0])
    obs = np.array([0.0, 0.2, 3.0, 1.0])
    each = [gaussian_integral(*a) for a in zip(mu[:3], sigma[:3], obs[:3], strict=True)] + [3.0]
    assert crps_gaussian(mu, sigma, obs) == pytest.approx(np.mean(each), rel=1e-7)
    where = np.array([False, True, False, True])
    assert crps_gaussian(mu, sigma, obs, where) == pytest.approx((each[1] + 3.0) / 2, rel=1e-7)


# ------------------------------------------------------------- the others
def test_predictive_sd_by_hand():
    # M = 3 members 1, 3, 5: sample sd (ddof 1) 2, times sqrt(4/3); equal members: 0
    members = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])
    np.testing.assert_allclose(predictive_sd(members), [2 * math.sqrt(4 / 3), 0.0])
    np.testing.assert_allclose(predictive_sd(members.T, axis=1), [2 * math.sqrt(4 / 3), 0.0])
    # M = 2 members 0, 2: sd √2, times sqrt(3/2) = √3
    np.testing.assert_allclose(predictive_sd(np.array([[0.0], [2.0]])), [math.sqrt(3)])
    with pytest.raises(ScoreInputError, match="a spread needs at least 2 members, got 1"):
        predictive_sd(np.ones((1, 4)))


def test_spread_skill_by_hand():
    # sqrt(mean σ²) = sqrt((1 + 1 + 4)/3) = √2; RMSE = sqrt((1 + 9 + 0)/3)
    sigma, err = np.array([1.0, 1.0, 2.0]), np.array([1.0, -3.0, 0.0])
    assert spread_skill(sigma, err) == pytest.approx(math.sqrt(2) / math.sqrt(10 / 3))
    # the first two pixels only: √1 / √5
    assert spread_skill(sigma, err, np.array([True, True, False])) == pytest.approx(
        1 / math.sqrt(5)
    )
    with pytest.raises(ScoreInputError, match="the error is 0 at every selected pixel"):
        spread_skill(sigma, err, np.array([False, False, True]))


def test_coverage_by_hand_and_the_gaussian_shares():
    sigma = np.array([1.0, 2.0, 0.5, 1.0])
    err = np.array([0.9, -2.5, 0.5, -1.0])
    # k = 1: 0.9 <= 1 yes, 2.5 <= 2 no, 0.5 <= 0.5 yes (inclusive), 1 <= 1 yes
    assert coverage(sigma, err, 1) == 0.75
    assert coverage(sigma, err, 2) == 1.0
    assert coverage(sigma, err, 1, np.array([False, True, True, False])) == 0.5
    assert gaussian_coverage(1) == pytest.approx(math.erf(1 / math.sqrt(2)), rel=1e-12)
    assert gaussian_coverage(2) == pytest.approx(math.erf(2 / math.sqrt(2)), rel=1e-12)
    assert gaussian_coverage(1) == pytest.approx(0.682689, abs=1e-6)


def test_rank_histogram_by_hand_and_ties_split_at_random():
    # M = 3; obs -1 is below all (rank 0), 1.5 above two (rank 2), 9 above all (rank 3)
    members = np.array([[0.0, 0.0, 5.0], [1.0, 1.0, 6.0], [2.0, 2.0, 7.0]])
    obs = np.array([-1.0, 1.5, 9.0])
    assert rank_histogram(members, obs).tolist() == [1, 0, 1, 1]
    assert rank_histogram(members, obs, np.array([True, False, True])).tolist() == [1, 0, 0, 1]
    # an observation equal to every member of 2: any of the 3 ranks, uniformly, seeded
    tied = np.zeros((2, 30_000))
    counts = rank_histogram(tied, np.zeros(30_000), seed=4)
    assert counts.sum() == 30_000 and len(counts) == 3
    np.testing.assert_allclose(counts / 30_000, [1 / 3] * 3, atol=0.02)
    np.testing.assert_array_equal(counts, rank_histogram(tied, np.zeros(30_000), seed=4))
    # one tie with one member below: rank 1 or 2, never 0
    one = rank_histogram(np.array([[0.0] * 1000, [1.0] * 1000]), np.ones(1000), seed=5)
    assert one[0] == 0 and one[1] > 400 and one[2] > 400


# ----------------------------------------------------------------- errors
def test_each_bad_input_is_refused_with_its_reason():
    members, obs = np.zeros((2, 3)), np.zeros(3)
    nan_members = members.copy()
    nan_members[1, 2] = np.nan
    with pytest.raises(ScoreInputError, match="members has NaN or inf at selected pixels"):
        crps_ensemble(nan_members, obs)
    # the NaN pixel left out: fine, and scored on the others only
    assert crps_ensemble(nan_members, obs, np.array([True, True, False])) == 0.0
    with pytest.raises(ScoreInputError, match="obs has NaN or inf at selected pixels"):
        crps_ensemble(members, np.array([0.0, np.inf, 0.0]))
    with pytest.raises(ScoreInputError, match="no pixel selected"):
        crps_ensemble(members, obs, np.zeros(3, bool))
    with pytest.raises(ScoreInputError, match=r"members must be \(M, \*obs.shape\)"):
        crps_ensemble(np.zeros((2, 4)), obs)
    with pytest.raises(ScoreInputError, match=r"members must be \(M, \*obs.shape\)"):
        crps_ensemble(np.zeros(3), obs)
    with pytest.raises(ScoreInputError, match=r"where has shape \(2,\), the fields \(3,\)"):
        crps_ensemble(members, obs, np.ones(2, bool))
    with pytest.raises(ScoreInputError, match="the fair CRPS needs at least 2 members"):
        crps_ensemble(np.zeros((1, 3)), obs, fair=True)
    with pytest.raises(ScoreInputError, match="sigma must be >= 0"):
        crps_gaussian(obs, np.array([1.0, -0.1, 1.0]), obs)
    with pytest.raises(ScoreInputError, match="sigma has NaN"):
        crps_gaussian(obs, np.array([1.0, np.nan, 1.0]), obs)
    with pytest.raises(ScoreInputError, match="mu has NaN"):
        crps_gaussian(np.array([np.nan, 0, 0]), np.ones(3), obs)
    with pytest.raises(ScoreInputError, match="error has NaN"):
        coverage(np.ones(3), np.array([0.0, np.nan, 0.0]), 1)
    with pytest.raises(ScoreInputError, match="no pixel selected"):
        spread_skill(np.ones(3), np.ones(3), np.zeros(3, bool))
    with pytest.raises(ScoreInputError, match="members has NaN"):
        rank_histogram(nan_members, obs)
