"""Per-sequence normalisation with statistics of the observed pixels only.

``xn = (x - mean) / (std_factor * std)`` with ``mean`` and ``std`` computed over the
*observed* pixels only (the original computed them over the whole truth, which leaks
the hidden pixels into the input); the observation ``y`` is ``xn`` with occluded pixels
set to ``fill_value`` (1.0). One implementation: torch tensors go through the NumPy code.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from unisst_lib.core.errors import UnisstError

#: Floor of the per-sequence standard deviation, °C (keeps a constant field finite).
MIN_STD = 1e-6


class NormalisationError(UnisstError, ValueError):
    """A sequence cannot be normalised: no observed (cloud-free, finite) pixel."""


def normalise(
    x,
    observed,
    *,
    std_factor: float = 3.0,
    fill_value: float = 1.0,
    min_std: float = MIN_STD,
):
    """Per-sequence normalisation with statistics of the observed pixels only.

    Parameters
    ----------
    x
        SST, any shape (typically (T, H, W)), °C; NaN where missing. A numpy
        array or a torch tensor (the result is of the same kind).
    observed
        bool, same shape: True where the pixel is seen (cloud-free). Non-finite
        ``x`` counts as not observed whatever ``observed`` says.
    std_factor
        Divisor factor: ``xn = (x - mean) / (std_factor * std)`` (3.0 in the paper).
    fill_value
        Value of the occluded pixels of ``y`` (1.0 in the paper).
    min_std
        Floor of ``std``, °C. A constant observed field (std 0) gives ``std =
        min_std`` instead of a division by zero; the returned ``std`` is the
        floored one, so :func:`denormalise` stays the exact inverse.

    Returns
    -------
    y
        Same shape/dtype as ``x`` (float64 if ``x`` is not floating): ``xn`` where
        observed, ``fill_value`` elsewhere. Never NaN.
    xn
        Same shape/dtype: normalised truth everywhere (NaN where ``x`` is NaN).
    mean, std
        °C, float64 (numpy scalars, or 0-d float64 tensors for torch input):
        mean and population standard deviation of the observed pixels.

    Raises
    ------
    NormalisationError
        No pixel is both observed and finite.

    Notes
    -----
    Statistics are computed in float64 from the observed values alone, so the
    values under the clouds influence neither ``mean``, ``std`` nor ``y``.
    """
    if torch.is_tensor(x):
        # One implementation: tensors go through the NumPy code (float64 statistics) and come
        # back as tensors of x's dtype on x's device.
        obs = torch.as_tensor(observed).detach().cpu().numpy()
        y, xn, mean, std = normalise(
            x.detach().cpu().numpy(), obs, std_factor=std_factor, fill_value=fill_value,
            min_std=min_std,
        )  # fmt: skip
        back = functools.partial(torch.as_tensor, device=x.device)
        return back(y), back(xn), back(mean), back(std)
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
    obs = np.asarray(observed, dtype=bool)
    if obs.shape != x.shape:
        raise ValueError(f"observed has shape {obs.shape}, x has {x.shape}")
    obs = obs & np.isfinite(x)
    n = int(np.count_nonzero(obs))
    if n == 0:
        raise NormalisationError(
            f"no observed pixel in a sequence of shape {x.shape} (all occluded or missing): "
            "its mean and std are undefined. Lower the cloud cover (raise the LWP threshold) "
            "or draw another cloud window."
        )
    vals = x[obs].astype(np.float64)
    mean = vals.mean()
    std = max(float(vals.std()), float(min_std))
    scale = float(std_factor) * std
    xn = ((x.astype(np.float64) - mean) / scale).astype(dtype)
    y = np.where(obs, xn, dtype.type(fill_value)).astype(dtype, copy=False)
    return y, xn, np.float64(mean), np.float64(std)


def denormalise(xn, mean, std, *, std_factor: float = 3.0):
    """Inverse of :func:`normalise`: ``xn * std_factor * std + mean``, in °C.

    Parameters
    ----------
    xn
        Normalised values, numpy array or torch tensor; any shape, or (B, ...) for
        a batch.
    mean, std
        °C: scalars (0-d), or (B,) with ``xn`` of shape (B, ...) (what a DataLoader
        collates from the dataset's ``mean``/``std``).
    std_factor
        As given to :func:`normalise`.

    Returns
    -------
    Same kind, shape and dtype as ``xn`` (float64 if not floating), °C. Computed
    in float64, then cast.
    """
    if torch.is_tensor(xn):
        dtype = xn.dtype if xn.is_floating_point() else torch.float64
        mean_t = torch.as_tensor(mean, dtype=torch.float64, device=xn.device)
        std_t = torch.as_tensor(std, dtype=torch.float64, device=xn.device)
        mean_t, std_t = (_batch_shape(v, xn.ndim, xn.shape) for v in (mean_t, std_t))
        return (xn.to(torch.float64) * (float(std_factor) * std_t) + mean_t).to(dtype)
    xn = np.asarray(xn)
    dtype = xn.dtype if np.issubdtype(xn.dtype, np.floating) else np.dtype(np.float64)
    mean_a = _batch_shape(np.asarray(mean, dtype=np.float64), xn.ndim, xn.shape)
    std_a = _batch_shape(np.asarray(std, dtype=np.float64), xn.ndim, xn.shape)
    return (xn.astype(np.float64) * (float(std_factor) * std_a) + mean_a).astype(dtype)


def _batch_shape(v, ndim: int, shape):
    """Reshape a (B,) statistic to (B, 1, ..., 1) to broadcast over a (B, ...) batch."""
    if v.ndim == 0:
        return v
    if v.ndim == 1 and ndim >= 1 and v.shape[0] == shape[0]:
        return v.reshape((-1,) + (1,) * (ndim - 1))
    if v.ndim == ndim:
        return v
    raise ValueError(
        f"mean/std of shape {tuple(v.shape)} do not match values of shape {tuple(shape)}: "
        "give scalars, or (B,) for a (B, ...) batch"
    )
