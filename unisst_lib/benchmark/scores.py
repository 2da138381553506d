"""Scores of a filled test set: errors under the clouds, spectra, effective resolution, goals.

:func:`score` gives the MAE/RMSE of one method on the occluded pixels of a
:class:`~unisst_lib.benchmark.windows.TestSet`, the radially averaged power
spectra of the reconstructed frames and of their errors, and the effective
resolution (:func:`effective_resolution_km`). :func:`goal_checks` compares the
model's rows of a benchmark with the goals it is held to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from unisst_lib.benchmark.windows import TestSet
from unisst_lib.data.stats import radial_power_spectrum
from unisst_lib.evaluation.metrics import GapMetrics

RESOLUTION_LEVEL = 0.5
"""Effective resolution: the wavelength where PSD(error) / PSD(truth) crosses this."""


def effective_resolution_km(
    k: np.ndarray,
    psd_error: np.ndarray,
    psd_truth: np.ndarray,
    level: float = RESOLUTION_LEVEL,
    *,
    k_min: float = 0.0,
) -> float:
    """The smallest wavelength (km) resolved: where PSD(error)/PSD(truth) first reaches ``level``.

    Scanning from the largest scales (from ``k_min``, cycles/km, on), the ratio
    is interpolated linearly in log-wavenumber at its first crossing of
    ``level`` (0.5, as in the 4DVarNet papers). Returns ``1/k`` at the crossing;
    the grid's Nyquist wavelength ``1/k[-1]`` when the ratio stays below
    ``level`` (resolved down to the grid); NaN when it is above ``level``
    already at the largest scale considered.

    Examples
    --------
    >>> import numpy as np
    >>> k = np.array([0.01, 0.02, 0.04])
    >>> effective_resolution_km(k, np.array([0.1, 0.3, 0.7]), np.ones(3))  # crosses between 2 and 3
    35.35...
    """
    k, pe, pt = (np.asarray(a, dtype=np.float64) for a in (k, psd_error, psd_truth))
    if not (k.shape == pe.shape == pt.shape) or k.ndim != 1 or k.size < 2:
        raise ValueError("k, psd_error and psd_truth must be 1-D arrays of one length >= 2")
    keep = k >= k_min
    if keep.sum() < 2:
        raise ValueError(f"fewer than 2 wavenumbers at or above k_min={k_min}")
    k, pe, pt = k[keep], pe[keep], pt[keep]
    ratio = pe / np.where(pt > 0, pt, np.nan)
    above = np.nonzero(~(ratio < level))[0]  # NaN counts as not resolved
    if above.size == 0:
        return float(1.0 / k[-1])
    j = int(above[0])
    if j == 0:
        return math.nan
    r0, r1 = ratio[j - 1], ratio[j]
    lk0, lk1 = math.log(k[j - 1]), math.log(k[j])
    frac = (level - r0) / (r1 - r0) if np.isfinite(r1) and r1 != r0 else 1.0
    return float(1.0 / math.exp(lk0 + frac * (lk1 - lk0)))


@dataclass
class Score:
    """Errors of one method at one threshold (°C) and its spectra (cycles/km, °C² km)."""

    rmse_c: float
    mae_c: float
    rmse_all_c: float
    occlusion_rate: float
    effective_resolution_km: float
    k: np.ndarray
    psd_filled: np.ndarray
    psd_error: np.ndarray
    psd_truth: np.ndarray


def score(filled: np.ndarray, test: TestSet) -> Score:
    """MAE/RMSE on occluded pixels, spectra of filled frames and errors, effective resolution.

    ``filled``: (N, T, H, W) °C. Spectra average every frame of every window
    (Hann window, plane removed). The effective resolution ignores wavelengths
    longer than half the box: there the taper and the plane removal leave the
    true field almost no power, and the ratio is noise.
    """
    if filled.shape != test.truth.shape:
        raise ValueError(f"filled has shape {filled.shape}, the test set {test.truth.shape}")
    g = GapMetrics()
    g.update(filled, test.truth, test.mask)  # NaN truth (missing SST) is ignored
    flat_f = filled.reshape(-1, *filled.shape[2:]).astype(np.float64)
    flat_t = test.truth.reshape(-1, *filled.shape[2:]).astype(np.float64)
    # Land (no SST in any frame) would stop the FFT: give it each frame's mean in both
    # fields, so it adds no error and little signal.
    land = test.land
    if land.any():
        fill_t = np.nanmean(np.where(land, np.nan, flat_t), axis=(1, 2), keepdims=True)
        flat_t = np.where(land, fill_t, flat_t)
        flat_f = np.where(land, fill_t, flat_f)
    ok = np.isfinite(flat_t).all(axis=(1, 2)) & np.isfinite(flat_f).all(axis=(1, 2))
    if not ok.any():
        raise ValueError("no complete frame to compute spectra on")
    spec = dict(dx_km=test.dx_km, dy_km=test.dy_km)
    k, psd_t = radial_power_spectrum(flat_t[ok], **spec)
    _, psd_f = radial_power_spectrum(flat_f[ok], **spec)
    _, psd_e = radial_power_spectrum(flat_f[ok] - flat_t[ok], **spec)
    return Score(
        rmse_c=g.occluded.rmse,
        mae_c=g.occluded.mae,
        rmse_all_c=g.all.rmse,
        occlusion_rate=test.occlusion_rate,
        effective_resolution_km=effective_resolution_km(k, psd_e, psd_t, k_min=2 * k[0]),
        k=k,
        psd_filled=psd_f,
        psd_error=psd_e,
        psd_truth=psd_t,
    )


GOALS = {
    "vs_dineof_window": ("dineof_window", 0.75),
    "vs_dineof_series": ("dineof_series", 1.0),
    "vs_oracle": ("oracle_supervised", 1.15),
}
"""Goal name -> (the method compared with, the largest RMSE ratio model / method that meets it)."""


def _rmse_ratio(mine: dict, other: dict | None) -> float | None:
    """RMSE of row ``mine`` over that of row ``other``; None without ``other``."""
    if other is None:
        return None
    if other["rmse_c"] == 0:
        return 1.0 if mine["rmse_c"] == 0 else math.inf
    return mine["rmse_c"] / other["rmse_c"]


def _best_window_method(rows: list[dict], threshold_gm2: float) -> str | None:
    """The method of lowest RMSE among those that see only the window (oracle excluded)."""
    window = [
        r for r in rows
        if r["threshold_gm2"] == threshold_gm2 and r["information"] == "window"
        and not r["method"].startswith("oracle")
    ]  # fmt: skip
    return min(window, key=lambda r: r["rmse_c"])["method"] if window else None


def goal_checks(
    rows: list[dict], *, model: str = "unisst_hybrid"
) -> list[dict[str, float | bool | None]]:
    """Per threshold, how ``model`` compares with the goals of the benchmark.

    Returns one dict per threshold: ``vs_dineof_window`` (RMSE ratio; goal
    ≤ 0.75), ``vs_dineof_series`` (goal ≤ 1.0), ``vs_oracle`` (goal ≤ 1.15) and
    ``best_window_method`` (lowest RMSE among methods that see only the window,
    oracle excluded); ratios are ``None`` when a method is missing.
    """
    by = {(r["method"], r["threshold_gm2"]): r for r in rows}
    out = []
    for thr in sorted({r["threshold_gm2"] for r in rows}):
        mine = by.get((model, thr))
        if mine is None:
            continue
        checks = {"threshold_gm2": thr}
        for goal, (other, _) in GOALS.items():
            checks[goal] = _rmse_ratio(mine, by.get((other, thr)))
        checks["best_window_method"] = _best_window_method(rows, thr)
        checks["goals_met"] = checks["best_window_method"] == model and all(
            checks[goal] is not None and checks[goal] <= bound for goal, (_, bound) in GOALS.items()
        )
        out.append(checks)
    return out
