"""Bootstrap intervals of the benchmark (unisst_lib.benchmark.stats) against answers by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unisst_lib.benchmark.stats import (
    Interval,
    difference_interval,
    error_interval,
    per_seed_error,
    verdict,
    window_blocks,
    window_sums,
)


def _sums(*per_window: tuple[float, float, float]) -> np.ndarray:
    """(1, N, 3) window sums of one seed."""
    return np.array([per_window], dtype=np.float64)


def test_window_sums_skip_observed_and_land_pixels():
    truth = np.array([[[[1.0, 2.0, np.nan]]], [[[0.0, 0.0, 0.0]]]])  # (2, 1, 1, 3)
    filled = np.array([[[[2.0, 5.0, 7.0]]], [[[-1.0, 9.0, 2.0]]]])
    mask = np.array([[[[True, True, True]]], [[[True, False, True]]]])
    got = window_sums(filled, truth, mask)
    # window 0: errors 1 and 3 (the NaN-truth pixel is land); window 1: errors -1 and 2
    np.testing.assert_array_equal(got, [[10.0, 4.0, 2.0], [5.0, 3.0, 2.0]])


def test_window_sums_refuse_mismatched_or_non_finite_input():
    t = np.zeros((1, 2, 2, 2))
    with pytest.raises(ValueError, match="of one shape"):
        window_sums(t[:, :1], t, t > 0)
    bad = t.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        window_sums(bad, t, np.ones_like(t, bool))


def test_windows_of_one_sequence_slot_share_a_block():
    # hourly phases 0 and 1 of slots starting at frames 0, 144 and 288 (6 h apart, 24 frames)
    frames = np.array([[s + p + 6 * k for k in range(24)] for p in (0, 1) for s in (0, 144, 288)])
    assert window_blocks(frames, seq_len=24).tolist() == [0, 1, 2, 0, 1, 2]


def test_identical_windows_give_a_point_interval():
    sums = _sums((4.0, 2.0, 1.0), (4.0, 2.0, 1.0), (8.0, 4.0, 2.0))  # RMSE 2 everywhere
    ci = error_interval(sums, np.array([0, 1, 2]))
    assert (ci.mean, ci.lo, ci.hi) == (2.0, 2.0, 2.0)
    mae = error_interval(sums, np.array([0, 1, 2]), column=1)
    assert (mae.mean, mae.lo, mae.hi) == (2.0, 2.0, 2.0)


def test_blocks_are_resampled_whole():
    # block 0: two windows of RMSE 1; block 1: one window of RMSE 3 (sse 9 on 1 pixel)
    sums = _sums((1.0, 1.0, 1.0), (1.0, 1.0, 1.0), (9.0, 3.0, 1.0))
    ci = error_interval(sums, np.array([0, 0, 1]), replicates=4000)
    assert ci.mean == pytest.approx(math.sqrt(11 / 3))
    # a replicate draws two blocks: both block 0 (RMSE 1, p = 1/4), both block 1 (RMSE 3,
    # p = 1/4), or one of each: so the 95 % interval runs from 1 to 3 exactly
    assert (ci.lo, ci.hi) == (1.0, 3.0)


def test_seeds_are_resampled_too():
    one = np.array([[1.0, 1.0, 1.0]] * 4)  # RMSE 1 in every window
    three = np.array([[9.0, 3.0, 1.0]] * 4)  # RMSE 3
    sums = np.stack([one, three])  # (2 seeds, 4 windows, 3)
    np.testing.assert_allclose(per_seed_error(sums), [1.0, 3.0])
    ci = error_interval(sums, np.arange(4), replicates=4000)
    # blocks change nothing; two seeds drawn with replacement: mean 1, 2 or 3 (p 1/4, 1/2, 1/4)
    assert (ci.mean, ci.lo, ci.hi) == (2.0, 1.0, 3.0)


def test_paired_difference_and_verdict():
    blocks = np.arange(3)
    a = _sums((1.0, 1.0, 1.0), (4.0, 2.0, 4.0), (2.0, 1.0, 2.0))  # RMSE 1 in every window
    b = _sums((4.0, 2.0, 1.0), (16.0, 8.0, 4.0), (8.0, 4.0, 2.0))  # RMSE 2 in every window
    d = difference_interval(a, b, blocks)
    assert (d.mean, d.lo, d.hi) == (-1.0, -1.0, -1.0)
    assert verdict(d) == "a better"
    assert verdict(difference_interval(b, a, blocks)) == "b better"
    same = difference_interval(a, a, blocks)
    assert (same.mean, same.lo, same.hi) == (0.0, 0.0, 0.0)
    assert verdict(same) == "no difference"
    assert verdict(Interval(-0.01, -0.02, 0.001)) == "no difference"  # the interval holds 0
