"""The input contract shared by every baseline: validate once, copy observations back at the end.

Every baseline has the same call shape::

    filled = fill_xxx(sst, mask=None, **options)

* ``sst``: (T, H, W) SST in °C (any real dtype), NaN where missing.
* ``mask``: (T, H, W) bool (or 0/1 numbers), True where occluded/missing. A
  pixel counts as *observed* where ``mask`` is False **and** ``sst`` is finite;
  the values of ``sst`` under the mask are never read. ``mask=None`` means
  ``~np.isfinite(sst)``.
* The result has the shape and dtype of ``sst`` (float64 for integer input):
  observed pixels are copied bit for bit, every other *ocean* pixel is filled
  (never NaN), and *land* stays NaN.

Land
----
``land`` (an (H, W) bool option of every method) marks pixels that are not
part of the domain: they stay NaN, are left out of every solver, and act as a
closed (no-flux) boundary for the spatial fill. By default land is where
``sst`` is non-finite in **every** frame, whatever ``mask`` says — so passing
the truth (NaN on land only) with a cloud ``mask`` fills a pixel hidden in
every frame, while passing an observation that is NaN under the clouds leaves
such a pixel NaN unless ``land`` is given explicitly.

:func:`prepare` turns the arguments into a :class:`Problem` (or raises
:class:`BaselineInputError`); :func:`finish` turns a method's field back into
the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unisst_lib.core.errors import UnisstError

__all__ = ["BaselineInputError", "Problem", "finish", "prepare"]


class BaselineInputError(UnisstError, ValueError):
    """The SST, mask or options given to a baseline cannot be used."""


@dataclass
class Problem:
    """A validated gap-filling problem (all arrays (T, H, W) unless said)."""

    sst: np.ndarray  # the caller's array, untouched: observed values are copied from it
    values: np.ndarray  # float64 °C, NaN where not observed
    observed: np.ndarray  # bool: mask False and sst finite
    land: np.ndarray  # (H, W) bool: outside the domain, NaN in the output
    mean: float  # °C, mean of the observed pixels
    out_dtype: np.dtype

    @property
    def ocean(self) -> np.ndarray:
        return ~self.land


def prepare(sst, mask, land, *, method: str) -> Problem:
    """Validate ``sst``, ``mask`` and ``land`` for the baseline ``method`` (named in errors)."""
    x = _check_sst(sst, method)
    finite = np.isfinite(x)
    occluded = ~finite if mask is None else _check_mask(mask, x.shape, method) | ~finite
    observed = ~occluded
    land_hw = ~finite.any(axis=0) if land is None else _check_land(land, observed, method)
    if not observed.any():
        raise BaselineInputError(
            f"{method}: no observed pixel in sst of shape {x.shape} (every pixel is masked or "
            "NaN): there is nothing to fill from. Check the mask convention (True = occluded) "
            "or use a longer / less cloudy sequence."
        )
    values = np.where(observed, x, np.nan).astype(np.float64, copy=False)
    mean = float(values[observed].mean())
    out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
    return Problem(x, values, observed, land_hw, mean, out_dtype)


def finish(p: Problem, filled: np.ndarray) -> np.ndarray:
    """Observed pixels bit for bit from ``sst``, ``filled`` elsewhere, NaN on land."""
    filled = np.where(p.land[None], np.nan, filled).astype(p.out_dtype, copy=False)
    return np.where(p.observed, p.sst, filled).astype(p.out_dtype, copy=False)


def _check_sst(sst, method: str) -> np.ndarray:
    x = np.asarray(sst)
    if x.ndim != 3:
        raise BaselineInputError(
            f"{method}: sst must be a (T, H, W) array (time, latitude, longitude); got shape "
            f"{x.shape}. Add a time axis for a single frame (sst[None])."
        )
    if x.size == 0:
        raise BaselineInputError(f"{method}: sst is empty (shape {x.shape})")
    if np.iscomplexobj(x) or not (
        np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)
    ):
        raise BaselineInputError(f"{method}: sst must hold real numbers (°C); got {x.dtype}")
    return x


def _check_mask(mask, shape: tuple[int, ...], method: str) -> np.ndarray:
    """The (T, H, W) bool occlusion mask (True = occluded) from a bool or 0/1 array."""
    m = np.asarray(mask)
    if m.shape != shape:
        raise BaselineInputError(
            f"{method}: mask has shape {m.shape} but sst has {shape}: give one mask "
            "value per SST pixel (True where occluded), or mask=None to use ~isfinite(sst)."
        )
    if m.dtype == np.bool_:
        return m
    if not (np.issubdtype(m.dtype, np.number) and np.isin(m, (0, 1)).all()):
        raise BaselineInputError(
            f"{method}: mask must be bool or hold only 0 and 1 (1 = occluded); got "
            f"dtype {m.dtype} with other values."
        )
    return m.astype(bool)


def _check_land(land, observed: np.ndarray, method: str) -> np.ndarray:
    """The given (H, W) land mask, checked against the grid and the observations."""
    land_hw = np.asarray(land)
    if land_hw.shape != observed.shape[1:] or land_hw.dtype != np.bool_:
        raise BaselineInputError(
            f"{method}: land must be a bool (H, W) = {observed.shape[1:]} array (True on land); "
            f"got {land_hw.dtype} of shape {land_hw.shape}."
        )
    clash = int(np.count_nonzero(observed & land_hw[None]))
    if clash:
        raise BaselineInputError(
            f"{method}: {clash} observed pixels lie on the given land mask: fix the land "
            "mask or occlude those pixels in `mask`."
        )
    return land_hw
