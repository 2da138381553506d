"""Confidence intervals for benchmark errors: a bootstrap over independent test blocks and seeds.

Test windows are not independent: the test split takes two hourly phases of each
6-day sequence slot, 1 h apart, so the windows of one slot share almost all their
ocean. A *block* is a sequence slot (:func:`window_blocks`); the bootstrap draws
blocks with replacement, and for a trained method also its seeds (separately
trained models), so an interval covers both the test sample and the training
luck. A difference between two methods is resampled *paired* (the same blocks
for both): it is called a win only when its interval excludes zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
REPLICATES = 2000


def window_sums(filled: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-window (squared error sum, absolute error sum, pixel count) under the clouds.

    ``filled`` and ``truth`` (N, T, H, W) °C, ``mask`` (N, T, H, W) bool, True where
    occluded; pixels where the truth is missing (land) are left out. Returns (N, 3)
    float64.

    >>> t = np.zeros((2, 1, 1, 2)); f = t + [[[[1.0, 3.0]]], [[[2.0, 0.0]]]]
    >>> window_sums(f, t, np.ones_like(t, bool)).tolist()
    [[10.0, 4.0, 2.0], [4.0, 2.0, 2.0]]
    """
    if not (filled.shape == truth.shape == mask.shape) or filled.ndim != 4:
        raise ValueError(
            f"filled, truth and mask must be (N, T, H, W) of one shape, got {filled.shape}, "
            f"{truth.shape} and {mask.shape}"
        )
    where = mask & np.isfinite(truth)
    err = np.where(where, filled.astype(np.float64) - truth, 0.0)
    if not np.isfinite(err).all():
        raise ValueError("the filled field is not finite at some occluded ocean pixel")
    axes = (1, 2, 3)
    return np.stack([(err**2).sum(axes), np.abs(err).sum(axes), where.sum(axes)], axis=1)


def window_blocks(frames: np.ndarray, *, seq_len: int) -> np.ndarray:
    """Block id of each window: windows whose first frames lie in one sequence slot share one.

    ``frames`` (N, T) time indices. A slot is ``seq_len`` times the frame interval
    long, so the hourly phases of one slot (1 h apart) form a block.

    >>> f = np.array([[0, 6], [1, 7], [144, 150], [145, 151]])
    >>> window_blocks(f, seq_len=24).tolist()
    [0, 0, 1, 1]
    """
    frames = np.asarray(frames)
    step = int(np.diff(frames[0]).min()) if frames.shape[1] > 1 else 1
    slot = frames[:, 0] // (step * int(seq_len))
    _, ids = np.unique(slot, return_inverse=True)
    return ids.astype(np.int64)


@dataclass(frozen=True)
class Interval:
    """A point estimate (mean over seeds) and its bootstrap interval."""

    mean: float
    lo: float
    hi: float


def _block_weights(blocks: np.ndarray, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """(R, N) how often each window is drawn: whole blocks drawn with replacement."""
    n_blocks = int(blocks.max()) + 1
    draws = rng.integers(0, n_blocks, size=(replicates, n_blocks))
    counts = np.stack([np.bincount(d, minlength=n_blocks) for d in draws])  # (R, n_blocks)
    return counts[:, blocks].astype(np.float64)


def _replicates(sums: np.ndarray, weights: np.ndarray, rng, column: int) -> np.ndarray:
    """(R,) the seed-mean error of each replicate; ``column`` 0: RMSE, 1: MAE."""
    s = np.asarray(sums, dtype=np.float64)  # (S, N, 3)
    num = weights @ s[:, :, column].T  # (R, S)
    den = weights @ s[:, :, 2].T
    per_seed = num / den
    if column == 0:
        per_seed = np.sqrt(per_seed)
    n_seeds = s.shape[0]
    pick = rng.integers(0, n_seeds, size=per_seed.shape)  # seeds drawn with replacement
    return np.take_along_axis(per_seed, pick, axis=1).mean(axis=1)


def per_seed_error(sums: np.ndarray, column: int = 0) -> np.ndarray:
    """(S,) each seed's error over all windows (column 0: RMSE, 1: MAE)."""
    s = np.asarray(sums, dtype=np.float64)
    err = s[:, :, column].sum(axis=1) / s[:, :, 2].sum(axis=1)
    return np.sqrt(err) if column == 0 else err


def _interval(point: float, reps: np.ndarray, level: float) -> Interval:
    a = (1 - level) / 2
    lo, hi = np.quantile(reps, [a, 1 - a])
    return Interval(float(point), float(lo), float(hi))


def error_interval(
    sums: np.ndarray,
    blocks: np.ndarray,
    *,
    column: int = 0,
    replicates: int = REPLICATES,
    level: float = LEVEL,
    seed: int = 0,
) -> Interval:
    """Mean over seeds of the RMSE (``column`` 0) or MAE (1), with a bootstrap interval.

    ``sums`` (S, N, 3): :func:`window_sums` of each of S seeds; ``blocks`` (N,).
    """
    rng = np.random.default_rng([seed, column, 0xB007])
    weights = _block_weights(np.asarray(blocks), replicates, rng)
    reps = _replicates(sums, weights, rng, column)
    return _interval(float(per_seed_error(sums, column).mean()), reps, level)


def difference_interval(
    sums_a: np.ndarray,
    sums_b: np.ndarray,
    blocks: np.ndarray,
    *,
    column: int = 0,
    replicates: int = REPLICATES,
    level: float = LEVEL,
    seed: int = 0,
) -> Interval:
    """Error of A minus error of B (seed means), paired over the same resampled blocks."""
    rng = np.random.default_rng([seed, column, 0xD1FF])
    weights = _block_weights(np.asarray(blocks), replicates, rng)
    reps = _replicates(sums_a, weights, rng, column) - _replicates(sums_b, weights, rng, column)
    point = per_seed_error(sums_a, column).mean() - per_seed_error(sums_b, column).mean()
    return _interval(float(point), reps, level)


def verdict(diff: Interval) -> str:
    """``"a better"`` / ``"b better"`` when the interval of (A − B) excludes zero, else a tie."""
    if diff.hi < 0:
        return "a better"
    if diff.lo > 0:
        return "b better"
    return "no difference"
