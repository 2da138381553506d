"""Ensembles of a stochastic generator: the noise of each member, its spread and its calibration.

A generator with noise inputs (``generator.noise_channels > 0``, the ``ensemble``
config) gives a different plausible fill for each noise field; every member keeps
the observed pixels exactly. :func:`fill(..., members=N)
<unisst_lib.methods.fill.fill>` runs N members and reports their mean and the
standard deviation of the truth about it
(:func:`unisst_lib.evaluation.probabilistic.predictive_sd`), after a spread
correction fitted on withheld *observed* pixels (:class:`SpreadCalibration`):

* :func:`member_noise` — the noise of one member, a function of the member, the
  interleaved series and the frame and pixel it falls on, so that overlapping time
  windows and tiles see the same noise where they overlap and blend consistently;
* :func:`fit_spread_scale` — the predicted standard deviation per distance bin: the
  error of the mean on withheld pixels (spread–skill ratio 1 there);
* :func:`calibrate_members` — the members spread about their mean to match it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from unisst_lib.core.errors import UnisstError
from unisst_lib.evaluation.probabilistic import crps_gaussian, predictive_sd

__all__ = [
    "DISTANCE_EDGES",
    "EnsembleError",
    "SpreadCalibration",
    "antithetic",
    "calibrate_members",
    "distance_bin",
    "distance_bin_labels",
    "fit_sigma",
    "fit_spread_scale",
    "gap_distance",
    "member_noise",
    "member_seed",
]


class EnsembleError(UnisstError, ValueError):
    """An ensemble that cannot be made or calibrated as asked."""


def member_seed(seed: int, member: int) -> int:
    """The noise seed of ``member`` of an ensemble drawn with ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(member)]).generate_state(1)[0])


def antithetic(member: int) -> tuple[int, float]:
    """(the noise draw, its sign) of ``member``: members 2k and 2k + 1 share draw k, ± it.

    Antithetic pairs: each member is a draw of the same Gaussian noise, but the pair's
    mean cancels the part of the fill that is linear in the noise, so the ensemble
    mean of a few members is much closer to that of infinitely many.

    >>> [antithetic(m) for m in range(3)]
    [(0, 1.0), (0, -1.0), (1, 1.0)]
    """
    return member // 2, (1.0 if member % 2 == 0 else -1.0)


def member_noise(
    seed: int, *, channels: int, height: int, width: int, phase: int = 0, sign: float = 1.0
) -> Callable[[int, int], np.ndarray]:
    """``noise(s, e)``: the (channels, e − s, height, width) float32 noise of frames ``s:e``.

    Frame ``t``'s noise depends on (``seed``, ``phase``, ``t``) only, so two windows
    that share a frame get the same noise there (and two tiles the same noise where
    they overlap, both cropping the same field); ``sign`` -1 gives its antithetic twin.
    """

    def noise(s: int, e: int) -> np.ndarray:
        out = np.empty((channels, e - s, height, width), np.float32)
        for i, t in enumerate(range(s, e)):
            rng = np.random.default_rng([int(seed), int(phase), int(t)])
            out[:, i] = rng.standard_normal((channels, height, width), dtype=np.float32)
        return out if sign == 1.0 else np.float32(sign) * out

    return noise


#: Lower edges of the calibration's bins: frames from a gap pixel to the nearest frame
#: where that pixel is observed (the last bin, ``inf``: never observed in the record).
DISTANCE_EDGES = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, math.inf)
#: How much of the members' own pixel-to-pixel spread the calibration may keep (chosen
#: on the withheld pixels): 0, the spread of the distance bin alone; 1, the members'.
SPREAD_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: A bin with fewer withheld pixels takes the factor of the nearest bin below it.
MIN_BIN_PIXELS = 100
_RATIO_CLIP = (0.25, 4.0)


def gap_distance(missing: np.ndarray) -> np.ndarray:
    """(T, H, W) float32: frames from each pixel to the nearest frame it is observed in.

    0 where observed, ``inf`` where the pixel is never observed.

    >>> gap_distance(np.array([True, False, True, True, True, False])[:, None, None]).ravel()
    array([1., 0., 1., 2., 1., 0.], dtype=float32)
    """
    missing = np.asarray(missing, bool)
    out = np.empty(missing.shape, np.float32)
    last = np.full(missing.shape[1:], -np.inf)
    for t in range(missing.shape[0]):
        last = np.where(missing[t], last, t)
        out[t] = t - last
    nxt = np.full(missing.shape[1:], np.inf)
    for t in range(missing.shape[0] - 1, -1, -1):
        nxt = np.where(missing[t], nxt, t)
        out[t] = np.minimum(out[t], nxt - t)
    return out


def distance_bin_labels() -> list[str]:
    """The :data:`DISTANCE_EDGES` bins in words (frames to the nearest observation).

    >>> ", ".join(distance_bin_labels())
    '1, 2, 3, 4–5, 6–7, 8–11, 12–15, 16–23, 24+, never'
    """
    out = []
    for lo, hi in itertools.pairwise(DISTANCE_EDGES):
        if math.isinf(hi):
            out.append(f"{lo:g}+")
        else:
            out.append(f"{lo:g}" if hi == lo + 1 else f"{lo:g}–{hi - 1:g}")
    return [*out, "never"]


def distance_bin(distance: np.ndarray) -> np.ndarray:
    """The :data:`DISTANCE_EDGES` bin of each distance (-1 where observed)."""
    return np.searchsorted(np.asarray(DISTANCE_EDGES), distance, side="right") - 1


@dataclass(frozen=True)
class SpreadCalibration:
    """The spread correction of an ensemble, fitted without any truth under the clouds.

    Gap pixels are binned by their distance in time to the nearest observation
    (:data:`DISTANCE_EDGES`, :func:`gap_distance`). In bin k the predicted standard
    deviation is ``levels[k] · (s / s̄ₖ)^weight``: ``levels[k]`` the RMSE of the
    ensemble mean on the withheld pixels of that bin, ``s`` the members' spread at the
    pixel (:func:`~unisst_lib.evaluation.probabilistic.predictive_sd`), ``s̄ₖ`` its RMS
    over the bin's gap pixels of the data being filled, and ``weight``
    (:data:`SPREAD_WEIGHTS`) how much of the members' own pixel-to-pixel spread shapes
    σ within the bin — chosen by the Gaussian CRPS on the withheld pixels.

    The level of a bin is in the data's units, not relative to the members' spread:
    on the twin's validation windows the spread of a stochastic generator grew with
    the share of pixels withheld while the error at a given distance did not, so a
    factor relative to the spread, fitted on withheld pixels, shrank σ on the real
    gaps (the notes of benchmarks/uncertainty.md). Without ``levels`` (a constant
    factor, or a calibration stored by unisst before the levels) σ is
    ``factors[k] · s̄ₖ · (s / s̄ₖ)^weight``.

    Attributes
    ----------
    factors
        One per bin of :data:`DISTANCE_EDGES`.
    weight
        The exponent of the members' relative spread.
    members, pixels
        Ensemble size and withheld observed pixels it was fitted with.
    rmse_c, raw_sd_c
        RMSE of the ensemble mean on them and sqrt(mean predictive variance) before
        the correction (input units).
    fitted_on
        What the withheld pixels came from.
    bin_pixels
        Withheld pixels per bin.
    levels
        σ of each bin before the members' relative spread (input units); empty: σ
        relative to the members' spread (``factors``).
    """

    factors: tuple[float, ...]
    weight: float
    members: int
    pixels: int
    rmse_c: float
    raw_sd_c: float
    fitted_on: str
    bin_pixels: tuple[int, ...] = ()
    levels: tuple[float, ...] = ()

    @classmethod
    def constant(cls, factor: float, members: int) -> SpreadCalibration:
        """The members' spread times ``factor`` (weight 1; a pixel's spread is clipped to
        1/4–4 times its bin's RMS spread, as by every calibration)."""
        if not (math.isfinite(factor) and factor > 0):
            raise EnsembleError(f"the spread factor must be a positive number, got {factor}")
        n = len(DISTANCE_EDGES)
        return cls((float(factor),) * n, 1.0, members, 0, math.nan, math.nan, "given", (0,) * n)

    def to_dict(self) -> dict:
        return {**asdict(self), "edges": [str(e) for e in DISTANCE_EDGES]}

    @classmethod
    def from_dict(cls, d: dict) -> SpreadCalibration:
        if [str(e) for e in DISTANCE_EDGES] != list(d.get("edges", [])):
            raise EnsembleError(
                "the stored spread calibration uses other distance bins than this unisst "
                "version: calibrate on the data (calibration='data')"
            )
        kw = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        tuples = {k: tuple(kw.get(k, ())) for k in ("factors", "bin_pixels", "levels")}
        return cls(**{**kw, **tuples})

    def sigma(self, raw_sd: np.ndarray, distance: np.ndarray, gaps: np.ndarray) -> np.ndarray:
        """The calibrated standard deviation at the ``gaps`` pixels (0 elsewhere)."""
        return _sigma(self.factors, self.weight, raw_sd, distance, gaps, self.levels)


def _sigma(factors, weight, raw_sd, distance, gaps, levels=()) -> np.ndarray:
    bins = distance_bin(distance)
    out = np.zeros(np.shape(raw_sd), np.float64)
    for k, factor in enumerate(factors):
        where = gaps & (bins == k)
        if not where.any():
            continue
        s = raw_sd[where].astype(np.float64)
        s_bar = math.sqrt(float(np.mean(s**2)))
        if s_bar == 0:
            continue  # identical members: nothing to spread (σ 0)
        ratio = np.clip(s / s_bar, *_RATIO_CLIP) ** weight
        out[where] = (levels[k] if levels else factor * s_bar) * ratio
    return out


def fit_spread_scale(
    members: np.ndarray,
    observed: np.ndarray,
    withheld: np.ndarray,
    *,
    distance: np.ndarray,
    fitted_on: str,
) -> SpreadCalibration:
    """The :class:`SpreadCalibration` of members (M, ...) at pixels ``withheld`` of ``observed``.

    ``withheld`` marks observed pixels the members were made without, ``distance`` their
    :func:`gap_distance` in the members' input. Per bin, the factor makes the spread
    match the error of the mean there (the level: that RMSE); then the weight with the
    lowest Gaussian CRPS.

    >>> obs = np.zeros(4)
    >>> members = np.array([[1.0, -1, 1, -1], [3.0, 1, 3, 1]])  # means 2, 0, 2, 0
    >>> # RMSE sqrt(2); predictive sd sqrt(3/2) * sqrt(2) = sqrt(3) everywhere
    >>> cal = fit_spread_scale(members, obs, np.ones(4, bool), distance=np.ones(4), fitted_on="x")
    >>> round(cal.factors[0], 6), round(cal.levels[0], 6)  # sqrt(2) / sqrt(3), sqrt(2)
    (0.816497, 1.414214)
    """
    where = np.asarray(withheld, bool)
    if where.shape != np.shape(observed) or np.shape(members)[1:] != where.shape:
        raise EnsembleError(
            f"members {np.shape(members)}, observed {np.shape(observed)} and withheld "
            f"{where.shape} must share the field shape"
        )
    if not where.any():
        raise EnsembleError(
            "no withheld observed pixel to calibrate the spread on: give data with more "
            "observations, or calibrate on another file"
        )
    x = np.asarray(members, np.float64)[:, where]
    err = x.mean(axis=0) - np.asarray(observed, np.float64)[where]
    s = predictive_sd(x)
    if not (np.isfinite(err).all() and np.isfinite(s).all()):
        raise EnsembleError("the members or observations are not finite at the withheld pixels")
    if not s.any():
        raise EnsembleError(
            "the members are identical at every withheld pixel: the model is deterministic "
            "(no noise inputs) and its spread cannot be calibrated"
        )
    return fit_sigma(err, s, np.asarray(distance)[where], members=int(x.shape[0]),
                     fitted_on=fitted_on)  # fmt: skip


def fit_sigma(
    err: np.ndarray, s: np.ndarray, distance: np.ndarray, *, members: int, fitted_on: str
) -> SpreadCalibration:
    """The calibration of a raw standard deviation ``s`` to errors ``err`` at pixels ``distance``.

    What :func:`fit_spread_scale` does once the ensemble is reduced to its mean's error
    and its spread; also for a method with a standard deviation of its own (1 member).
    """
    bins = distance_bin(distance)
    counts = tuple(int((bins == k).sum()) for k in range(len(DISTANCE_EDGES)))
    rmse, spread = _per_bin(err, bins, counts), _per_bin(s, bins, counts)
    factors = tuple(r / q if q > 0 else r / _rms(s) for r, q in zip(rmse, spread, strict=True))
    gaps = np.ones(err.shape, bool)
    crps = [crps_gaussian(np.zeros_like(err), _sigma(factors, w, s, distance, gaps, rmse), err)
            for w in SPREAD_WEIGHTS]  # fmt: skip
    best = SPREAD_WEIGHTS[int(np.argmin(crps))]
    return SpreadCalibration(
        factors=factors, weight=best, members=members, pixels=int(err.size),
        rmse_c=_rms(err), raw_sd_c=_rms(s), fitted_on=fitted_on, bin_pixels=counts, levels=rmse,
    )  # fmt: skip


def _rms(x: np.ndarray) -> float:
    return math.sqrt(float(np.mean(np.square(x, dtype=np.float64))))


def _per_bin(x: np.ndarray, bins: np.ndarray, counts: tuple[int, ...]) -> tuple[float, ...]:
    """RMS of ``x`` per distance bin; a bin with fewer than :data:`MIN_BIN_PIXELS` takes
    the nearest lower bin's (the lowest ones, the RMS over every pixel)."""
    out, last = [], _rms(x)
    for k, n in enumerate(counts):
        last = _rms(x[bins == k]) if n >= MIN_BIN_PIXELS else last
        out.append(last)
    return tuple(out)


def calibrate_members(members: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Members (M, ...) spread about their mean so that their predictive sd is ``sigma``.

    Where the members agree (observed pixels) they are returned unchanged.

    >>> m = np.array([[1.0, 5.0], [3.0, 5.0]])  # predictive sd sqrt(3) at pixel 0
    >>> calibrate_members(m, np.array([2 * np.sqrt(3), 0.0])).round(6).tolist()
    [[0.0, 5.0], [4.0, 5.0]]
    """
    members = np.asarray(members)
    mean = members.mean(axis=0, dtype=np.float64)
    raw = predictive_sd(members.astype(np.float64))
    differ = (members != members[:1]).any(axis=0)  # not raw > 0: round-off of equal values
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(differ, np.asarray(sigma, np.float64) / raw, 1.0)
    out = np.where(differ, mean + factor * (members - mean), members)
    return out.astype(members.dtype, copy=False)
