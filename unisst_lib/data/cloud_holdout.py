"""The observed pixels a cross-validation hides: the real clouds of other dates (DINCAE's way).

:func:`cv_plan` chooses them (and says how the share is reached),
:func:`cv_mask` returns only the mask; :func:`check_share_seed` checks the two
options every caller (:mod:`unisst_lib.benchmark.crossval`, training on an archive) shares.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from unisst_lib.core.errors import UnisstError

__all__ = [
    "DEFAULT_SHARE",
    "MIN_KEPT_FRACTION",
    "CVPlan",
    "CrossValidationError",
    "check_share_seed",
    "cv_mask",
    "cv_plan",
]

log = logging.getLogger(__name__)

#: A frame keeps at least this fraction (and at least one) of its observed sea pixels.
MIN_KEPT_FRACTION = 0.1
DEFAULT_SHARE = 0.1
_MAX_SHARE = 0.5


class CrossValidationError(UnisstError, ValueError):
    """The options or the data of a cross-validation cannot be used."""


# ------------------------------------------------------------------ the hidden pixels
@dataclass
class CVPlan:
    """The pixels :func:`cv_plan` hides and how it chose them.

    Attributes
    ----------
    hidden
        (T, H, W) bool, True on the observed sea pixels withheld.
    donors
        Frame ``t`` -> the frames whose clouds were laid over it, in order.
    target
        ``round(share × observed)``, pixels.
    observed
        Observed sea pixels of the record.
    """

    hidden: np.ndarray
    donors: dict[int, list[int]]
    target: int
    observed: int

    @property
    def share(self) -> float:
        """The share of the observed sea pixels hidden."""
        return float(self.hidden.sum()) / self.observed if self.observed else 0.0


def cv_plan(
    observed: np.ndarray,
    *,
    share: float = DEFAULT_SHARE,
    seed: int = 0,
    land: np.ndarray | None = None,
    times=None,
) -> CVPlan:
    """Hide about ``share`` of the observed sea pixels under the real clouds of other dates.

    The DINCAE protocol: frame ``t`` gets the cloud mask of another frame ``s``
    (its donor), and the pixels observed in ``t`` but cloudy in ``s`` are hidden.

    1. Sea is ``~land`` (default: the pixels observed at least once); the
       *clouds* of a frame are its sea pixels not observed. A donor is a frame
       of another date (``times``; default every frame is its own date) whose
       clouds cover some but not all of the sea (an absent date is no cloud mask).
    2. A random generator seeded with ``seed`` orders the frames, and orders the
       possible donors of each frame.
    3. The target is ``N = round(share × observed sea pixels)``. In rounds, each
       frame in turn takes its next donor that hides at least one new pixel and
       leaves it at least :data:`MIN_KEPT_FRACTION` of its observed pixels (no
       such donor: the frame is skipped). Its ``c`` new pixels are hidden if that
       brings the total closer to ``N`` (``total + c/2 < N``), else the frame is
       left as it is. A round in which some frame was left because of the target,
       or in which nothing was hidden, is the last.

    So the total stays below ``N + c_max/2`` and, unless the clouds of every
    eligible donor cannot reach ``N`` (a warning is logged then), ends at or
    above ``N − c_max/2``: ``|hidden − N| <= c_max / 2``, ``c_max`` the largest
    number of pixels one donor hid or was refused for — at most half the
    largest number of observed sea pixels of a frame. Whole cloud masks are
    kept (no cloud is cut to hit the share exactly), so at a small share only
    some frames lose pixels; which ones is random and set by ``seed``.

    Parameters
    ----------
    observed
        (T, H, W) bool, True where a valid SST is observed.
    share
        The share of observed sea pixels to hide, in (0, 0.5].
    seed
        An integer >= 0: the result is a deterministic function of the inputs and ``seed``.
    land
        (H, W) bool, True on land (never hidden).
    times
        (T,) dates (datetime64) of the frames: donors must be of another calendar day.

    Returns
    -------
    CVPlan

    Raises
    ------
    CrossValidationError
        Bad shapes or options, no observation, or no frame with clouds to lend.
    """
    obs, sea = _check_plan_inputs(observed, share, seed, land)
    n_t = obs.shape[0]
    day = _days(times, n_t)
    sea_count = int(sea.sum())
    cloudy = sea[None] & ~obs  # (T, H, W)
    n_cloudy = cloudy.sum(axis=(1, 2))
    lenders = np.flatnonzero((n_cloudy > 0) & (n_cloudy < sea_count))
    n_obs = obs.sum(axis=(1, 2))
    total_obs = int(n_obs.sum())
    if lenders.size == 0:
        raise CrossValidationError(
            "cross-validation: no frame has clouds over part of the sea, so there is no real "
            "cloud mask to hide observations with (a gap-free or fully empty record)."
        )
    rng = np.random.default_rng([seed, 0xC5])
    order = rng.permutation(n_t)
    options = {
        int(t): [int(s) for s in rng.permutation(lenders) if day[s] != day[t]] for t in order
    }
    target = round(share * total_obs)
    hidden = np.zeros_like(obs)
    donors: dict[int, list[int]] = {}
    total, c_max = 0, 0
    while True:
        added = refused = 0
        for t in map(int, order):
            keep = max(1, math.ceil(MIN_KEPT_FRACTION * n_obs[t]))
            new, s = _next_donor(obs[t] & ~hidden[t], cloudy, options[t], keep)
            if s is None:
                continue
            c = int(new.sum())
            c_max = max(c_max, c)
            if total + c / 2 >= target:
                refused += 1
                continue
            options[t].remove(s)
            hidden[t] |= new
            donors.setdefault(t, []).append(s)
            total += c
            added += 1
        if refused or not added:
            break
    if total == 0:
        raise CrossValidationError(
            f"cross-validation: share {share} asks for {target} pixels, but every cloud mask of "
            f"another date would hide at least twice that in a frame: ask for a larger share."
        )
    if total < target - c_max / 2:
        log.warning(
            "cross-validation: the clouds of other dates hide only %d of the %d pixels asked "
            "(%.1f %% of the observed sea pixels instead of %.1f %%)",
            total, target, 100 * total / total_obs, 100 * share,
        )  # fmt: skip
    log.info(
        "%d observed sea pixels hidden under the clouds of other dates (%.2f %%, asked %.2f %%) "
        "in %d frames",
        total, 100 * total / total_obs, 100 * share, len(donors),
    )  # fmt: skip
    return CVPlan(hidden, donors, target, total_obs)


def cv_mask(
    observed: np.ndarray,
    *,
    share: float = DEFAULT_SHARE,
    seed: int = 0,
    land: np.ndarray | None = None,
    times=None,
) -> np.ndarray:
    """(T, H, W) bool: the observed sea pixels to hide (:func:`cv_plan`'s ``hidden``).

    Examples
    --------
    >>> import numpy as np
    >>> obs = np.ones((4, 1, 6), bool)
    >>> obs[1, 0, :2] = obs[2, 0, 3:] = False  # clouds on the 2nd and 3rd frames
    >>> hidden = cv_mask(obs, share=0.1, seed=0)
    >>> int(hidden.sum()), bool((hidden <= obs).all())  # 10 % of 19 pixels: 2
    (2, True)
    """
    return cv_plan(observed, share=share, seed=seed, land=land, times=times).hidden


def _next_donor(
    free: np.ndarray, cloudy: np.ndarray, options: list[int], keep: int
) -> tuple[np.ndarray, int | None]:
    """The first donor of ``options`` hiding some of the ``free`` pixels and leaving ``keep``."""
    n_free = int(free.sum())
    for s in options:
        new = free & cloudy[s]
        c = int(new.sum())
        if c and n_free - c >= keep:
            return new, s
    return free, None


def _check_plan_inputs(observed, share, seed, land) -> tuple[np.ndarray, np.ndarray]:
    """The (T, H, W) observed sea pixels and the (H, W) sea, checked."""
    check_share_seed(share, seed)
    obs = np.asarray(observed)
    if obs.ndim != 3 or obs.dtype != np.bool_:
        raise CrossValidationError(
            f"cross-validation: observed must be a (T, H, W) bool array; got {obs.dtype} of "
            f"shape {obs.shape}"
        )
    if land is None:
        sea = obs.any(axis=0)
    else:
        land = np.asarray(land)
        if land.shape != obs.shape[1:] or land.dtype != np.bool_:
            raise CrossValidationError(
                f"cross-validation: land must be a bool (H, W) = {obs.shape[1:]} array; got "
                f"{land.dtype} of shape {land.shape}"
            )
        sea = ~land
    obs = obs & sea[None]
    if not obs.any():
        raise CrossValidationError("cross-validation: no observed sea pixel to hide")
    return obs, sea


def check_share_seed(share, seed) -> None:
    if not (isinstance(share, int | float) and 0 < share <= _MAX_SHARE):
        raise CrossValidationError(
            f"cross-validation: share must be in (0, {_MAX_SHARE}] (e.g. 0.1 for 10 % of the "
            f"observed pixels); got {share!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise CrossValidationError(f"cross-validation: seed must be an integer >= 0; got {seed!r}")


def _days(times, n_t: int) -> np.ndarray:
    """(T,) labels of the calendar day of each frame (each frame its own day by default)."""
    if times is None:
        return np.arange(n_t)
    days = np.asarray(times).astype("datetime64[D]")
    if days.shape != (n_t,):
        raise CrossValidationError(
            f"cross-validation: times has shape {days.shape}, the record has {n_t} frames"
        )
    return days
