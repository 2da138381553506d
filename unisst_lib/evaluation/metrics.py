"""Gap-filling errors in °C: MAE and RMSE over occluded pixels (the paper's) and all pixels.

Errors are computed in float64 from de-normalised fields (°C). Pixels whose
truth is missing (NaN: land, real gaps) never count. Over a data set, errors
are pooled over pixels (every occluded pixel weighs the same), not averaged
per sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from unisst_lib.data.masks import occlusion_counts

ArrayLike = np.ndarray | torch.Tensor


def _f64(a: ArrayLike) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().to("cpu", torch.float64).numpy()
    return np.asarray(a, dtype=np.float64)


@dataclass
class ErrorAccumulator:
    """Running sums for MAE/RMSE in °C over a chosen set of pixels.

    Examples
    --------
    >>> acc = ErrorAccumulator()
    >>> acc.update(np.array([1.0, 2.0]), np.array([0.0, 0.0]), np.array([True, True]))
    >>> round(acc.mae, 3), round(acc.rmse, 3)
    (1.5, 1.581)
    """

    n: int = 0
    sum_abs: float = 0.0
    sum_sq: float = 0.0

    def update(self, pred_c: ArrayLike, truth_c: ArrayLike, where: ArrayLike) -> None:
        """Add the pixels of ``where`` (bool, same shape) with a finite truth."""
        pred, truth = _f64(pred_c), _f64(truth_c)
        sel = _f64(where).astype(bool) & np.isfinite(truth)
        if pred.shape != truth.shape or sel.shape != truth.shape:
            raise ValueError(
                f"shapes differ: prediction {pred.shape}, truth {truth.shape}, mask {sel.shape}"
            )
        err = pred[sel] - truth[sel]
        if not np.all(np.isfinite(err)):
            raise ValueError("the prediction has NaN or inf where the truth is known")
        self.n += int(err.size)
        self.sum_abs += float(np.abs(err).sum())
        self.sum_sq += float((err * err).sum())

    @property
    def mae(self) -> float:
        """Mean absolute error, °C (NaN when no pixel was added)."""
        return self.sum_abs / self.n if self.n else math.nan

    @property
    def rmse(self) -> float:
        """Root-mean-square error, °C (NaN when no pixel was added)."""
        return math.sqrt(self.sum_sq / self.n) if self.n else math.nan


@dataclass
class GapMetrics:
    """MAE/RMSE (°C) over occluded pixels and over all pixels, pooled over sequences."""

    occluded: ErrorAccumulator = field(default_factory=ErrorAccumulator)
    all: ErrorAccumulator = field(default_factory=ErrorAccumulator)
    n_pixels: int = 0  # sea pixels (finite truth)
    n_occluded: int = 0  # occluded sea pixels

    def update(self, pred_c: ArrayLike, truth_c: ArrayLike, mask: ArrayLike) -> None:
        """pred_c, truth_c: (..., T, H, W) in °C; mask: same shape, 1/True where occluded."""
        m = _f64(mask) > 0.5
        self.occluded.update(pred_c, truth_c, m)
        self.all.update(pred_c, truth_c, np.ones_like(m))
        occluded, sea = occlusion_counts(m, np.isfinite(_f64(truth_c)))
        self.n_pixels += sea
        self.n_occluded += occluded

    @property
    def occlusion_rate(self) -> float:
        """Occluded fraction of the sea pixels (:func:`~unisst_lib.data.masks.occlusion_rate`)."""
        return self.n_occluded / self.n_pixels if self.n_pixels else math.nan

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}mae_occluded_c": self.occluded.mae,
            f"{prefix}rmse_occluded_c": self.occluded.rmse,
            f"{prefix}mae_all_c": self.all.mae,
            f"{prefix}rmse_all_c": self.all.rmse,
            f"{prefix}occlusion_rate": self.occlusion_rate,
        }


def gap_errors(pred_c: ArrayLike, truth_c: ArrayLike, mask: ArrayLike) -> dict[str, float]:
    """MAE/RMSE (°C) of one prediction over occluded and all pixels.

    Parameters
    ----------
    pred_c, truth_c
        (..., T, H, W) in °C; NaN in the truth = unknown, ignored.
    mask
        Same shape; 1/True where the pixel was occluded (filled).
    """
    g = GapMetrics()
    g.update(pred_c, truth_c, mask)
    return g.as_dict()
