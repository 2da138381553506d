"""Per-pixel linear interpolation in time: the one implementation the kit uses.

:func:`linear_in_time` fills each 1-D series along the time axis linearly
between its nearest observations before and after, and holds the first (last)
observation constant before (after) it. A series with no observation at all is
left undefined: what such a pixel gets is the caller's decision, made as a
separate step —

* the fast generator's first guess
  (:func:`unisst_lib.models.fast.temporal_first_guess`) sets it to 0, the
  window mean in normalised units;
* the baselines (:mod:`unisst_lib.methods.interp`) fill it in space,
  harmonically from the pixels interpolated in time.

It works on torch tensors of any float dtype on any device (the generator calls
it in its forward pass); the NumPy baselines call it on CPU float64 tensors
made by :func:`torch.from_numpy`, which gives the same numbers as the NumPy code
it replaced (every step is an exactly rounded elementwise operation).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["linear_in_time"]


def linear_in_time(
    values: torch.Tensor, observed: torch.Tensor, *, dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Linear interpolation along ``dim`` between the nearest observations, held beyond the ends.

    Frames are taken as equally spaced. At a frame between two observations
    ``t0 < t < t1`` the value is ``v0 + (t - t0) / (t1 - t0) · (v1 - v0)``,
    with the weight computed in the dtype of ``values``.

    Parameters
    ----------
    values
        Float tensor of any shape. Entries that are not ``observed`` do not
        affect the result (they may hold NaN or any fill value).
    observed
        Bool tensor of the shape of ``values``, True where it holds an observation.
    dim
        The time axis.

    Returns
    -------
    filled
        Shape and dtype of ``values``: the observed values exactly, linear in time
        between them, constant before the first and after the last observation
        of each series; NaN where ``defined`` is False.
    defined
        Bool, shape of ``values``: True in every frame of a series with at least
        one observation along ``dim``.

    Examples
    --------
    >>> v = torch.tensor([[9.0, 0.0], [1.0, 9.0], [9.0, 9.0], [3.0, 9.0]])  # (T=4, 2 pixels)
    >>> seen = torch.tensor([[False, False], [True, False], [False, False], [True, False]])
    >>> filled, defined = linear_in_time(v, seen, dim=0)
    >>> filled[:, 0].tolist(), defined[:, 1].any().item()
    ([1.0, 1.0, 2.0, 3.0], False)
    """
    n_t = values.shape[dim]
    shape = [1] * values.ndim
    shape[dim] = n_t
    t = torch.arange(n_t, device=values.device).view(shape).expand_as(values)
    # Index of the previous (next) observed frame of every entry: a running maximum
    # (minimum, over the reversed axis) along time; -1 (n_t) where there is none.
    prev = torch.cummax(torch.where(observed, t, -1), dim=dim).values
    nxt = torch.cummin(torch.where(observed, t, n_t).flip(dim), dim=dim).values.flip(dim)
    defined = (prev >= 0) | (nxt < n_t)
    lo = torch.where(prev >= 0, prev, nxt).clamp(max=n_t - 1)  # only a next one: hold it
    hi = torch.where(nxt < n_t, nxt, lo).clamp(max=n_t - 1)  # only a previous one: hold it
    v_lo = torch.gather(values, dim, lo)
    v_hi = torch.gather(values, dim, hi)
    w = (t - lo).to(values.dtype) / (hi - lo).clamp(min=1).to(values.dtype)  # 0 when held
    filled = v_lo + w * (v_hi - v_lo)
    filled = torch.where(observed, values, filled)  # exact at observations, even if infinite
    return filled.masked_fill(~defined, float("nan")), defined


def linear_in_time_numpy(values: np.ndarray, *, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`linear_in_time` for a NumPy array with NaN where not observed, along ``axis``.

    The same interpolation (held beyond the ends, NaN where a series has no
    observation), for the data pipeline: NumPy's running max/min along an axis is
    about ten times faster on a CPU than ``torch.cummax`` along a leading one.
    Returns ``(filled, defined)``.
    """
    v = np.moveaxis(np.asarray(values), axis, 0)
    observed = np.isfinite(v)
    n_t = v.shape[0]
    t = np.arange(n_t).reshape((n_t,) + (1,) * (v.ndim - 1))
    prev = np.maximum.accumulate(np.where(observed, t, -1), axis=0)
    nxt = np.minimum.accumulate(np.where(observed, t, n_t)[::-1], axis=0)[::-1]
    defined = (prev >= 0) | (nxt < n_t)
    lo = np.minimum(np.where(prev >= 0, prev, nxt), n_t - 1)
    hi = np.minimum(np.where(nxt < n_t, nxt, lo), n_t - 1)
    v_lo = np.take_along_axis(v, lo, axis=0)
    v_hi = np.take_along_axis(v, hi, axis=0)
    w = (t - lo).astype(v.dtype) / np.maximum(hi - lo, 1).astype(v.dtype)
    filled = np.where(observed, v, v_lo + w * (v_hi - v_lo))
    filled = np.where(defined, filled, np.nan)
    return np.moveaxis(filled, 0, axis), np.moveaxis(defined, 0, axis)
