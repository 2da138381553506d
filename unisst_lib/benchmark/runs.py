"""Every gap-filling method on the same test windows, at every LWP threshold.

The fillers share one call shape, returning ``(filled (N, T, H, W) °C, seconds)``:
:func:`fill_windows` (a baseline on each 24-frame window), :func:`fill_series`
(DINEOF on the whole period, the windows' clouds pasted into it) and
:func:`fill_generator` (a trained UNISST generator). :func:`benchmark_thresholds`
runs them all on the :class:`~unisst_lib.benchmark.windows.TestSet` of each
threshold and scores them (:func:`unisst_lib.benchmark.scores.score`): the rows
``benchmarks/accuracy.py`` writes to ``results.json``.
"""

from __future__ import annotations

import logging
import math
import os
import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from unisst_lib.benchmark.scores import Score, score
from unisst_lib.benchmark.windows import TestSet, load_test_set
from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.data.normalise import denormalise
from unisst_lib.methods.baselines import fill_baseline
from unisst_lib.methods.dineof import dineof
from unisst_lib.models import reconstruct

log = logging.getLogger(__name__)

INFORMATION = {
    "mean_fill": "window",
    "temporal_interp": "window",
    "laplace": "window",
    "dineof_window": "window",
    "dineof_series": "series",
    "unisst_paper": "window",
    "unisst_hybrid": "window",
    "oracle_supervised": "window",
}
"""What each benchmark method sees: ``window`` = the same 24 frames as the model;
``series`` = the whole test period (all windows of a phase, with their clouds)."""

WINDOW_BASELINES = {
    "mean_fill": ("mean", {}),
    "temporal_interp": ("temporal", {}),
    "laplace": ("laplace", {}),
    "dineof_window": ("dineof", {"k_max": 20}),
}
"""Benchmark name -> (a baseline of :mod:`unisst_lib.methods.baselines`, options) per window."""

DINEOF_SERIES_OPTIONS = {"k_max": 60, "patience": 6}
"""DINEOF on the whole period: up to 60 EOFs, cross-validated (stops 6 EOFs past the best)."""


# ------------------------------------------------------------------- fillers
def fill_windows(
    test: TestSet, baseline: str, *, progress: bool = False, **options
) -> tuple[np.ndarray, float]:
    """Fill each window on its own with :func:`unisst_lib.methods.baselines.fill_baseline`.

    Returns the filled windows (N, T, H, W) in °C and the wall time in seconds.
    """
    obs = test.observation
    out = np.empty_like(obs)
    t0 = time.perf_counter()
    for i in tqdm(range(len(test)), desc=baseline, disable=not progress, leave=False):
        out[i] = fill_baseline(baseline, obs[i], land=test.land, **options)
    return out, time.perf_counter() - t0


def series_chains(frames: np.ndarray) -> list[np.ndarray]:
    """Group windows into chains whose frames lie on one regular time grid.

    ``frames``: (N, T) time indices of each window. Windows of one phase (same
    start modulo the frame interval) form a chain; returns one array of window
    indices per chain, ordered in time. Raises ``ValueError`` if two windows of
    a chain share a frame (their clouds would conflict).
    """
    step = int(np.diff(frames[0]).min()) if frames.shape[1] > 1 else 1
    chains: dict[int, list[int]] = {}
    for i, f in enumerate(frames):
        chains.setdefault(int(f[0]) % step, []).append(i)
    out = []
    for idx in chains.values():
        idx = sorted(idx, key=lambda i: int(frames[i, 0]))
        all_frames = frames[idx].ravel()
        if np.unique(all_frames).size != all_frames.size:
            raise ValueError("windows of one phase overlap in time: cannot paste their clouds")
        out.append(np.asarray(idx))
    return out


def fill_series(
    test: TestSet, *, progress: bool = False, **dineof_options
) -> tuple[np.ndarray, float]:
    """DINEOF on the whole test period, as users run it, scored on the windows.

    Each chain of windows (:func:`series_chains`) becomes one long series with
    every window's clouds at its own frames; DINEOF fills it at once and each
    window's frames are cut back out. Returns (N, T, H, W) °C and seconds.
    """
    obs = test.observation
    out = np.empty_like(obs)
    t0 = time.perf_counter()
    for chain in tqdm(series_chains(test.frames), desc="dineof_series", disable=not progress):
        series = obs[chain].reshape(-1, *obs.shape[2:])  # windows end to end: (n·T, H, W)
        res = dineof(series, land=test.land, **dineof_options)
        log.info(
            "dineof_series: %d frames, %d EOFs (cross-validation RMSE %.4f), %.1f s",
            series.shape[0], res.n_eofs,
            float(np.nanmin(res.cv_rmse)) if res.cv_rmse.size else math.nan,
            time.perf_counter() - t0,
        )  # fmt: skip
        out[chain] = res.filled.reshape(obs[chain].shape)
    return out, time.perf_counter() - t0


@torch.no_grad()
def fill_generator(
    generator: nn.Module,
    test: TestSet,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 4,
    progress: bool = False,
) -> tuple[np.ndarray, float]:
    """Fill the windows with a UNISST generator; returns (N, T, H, W) °C and seconds."""
    device = torch.device(device)
    generator = generator.eval().to(device)
    ds = test.dataset
    out = np.empty(test.truth.shape, dtype=np.float32)
    t0 = time.perf_counter()
    for lo in tqdm(range(0, len(test), batch_size), desc="unisst", disable=not progress):
        items = [ds[i] for i in range(lo, min(len(test), lo + batch_size))]
        y = torch.stack([it["y"] for it in items]).to(device)
        m = torch.stack([it["mask"] for it in items]).to(device)
        x_hat = reconstruct(generator, y, m).float().cpu().double()
        mean = torch.stack([it["mean"] for it in items]).view(-1, 1, 1, 1, 1)
        std = torch.stack([it["std"] for it in items]).view(-1, 1, 1, 1, 1)
        filled = denormalise(x_hat, mean, std, std_factor=ds.std_factor)[:, 0].numpy()
        obs = test.observation[lo : lo + len(items)]
        # observed pixels exactly as observed (the normalisation round trip is ~1e-6 °C)
        filled = np.where(test.land, np.float32(np.nan), filled)  # land stays NaN
        out[lo : lo + len(items)] = np.where(np.isnan(obs), filled, obs)
    return out, time.perf_counter() - t0


# ------------------------------------------------------------- all thresholds
Run = tuple[str, np.ndarray, float, float]
"""(method, filled (N, T, H, W) °C, fill seconds, training seconds)."""


def _fill_all(
    test: TestSet,
    generators: dict[str, tuple[nn.Module, float]],
    baselines: dict[str, tuple[str, dict]],
    series: dict,
    *,
    device: torch.device | str,
    progress: bool,
) -> list[Run]:
    """Every method on ``test``: the window baselines, DINEOF on the series, the generators."""
    runs: list[Run] = []
    for name, (baseline, options) in baselines.items():
        filled, secs = fill_windows(test, baseline, progress=progress, **options)
        runs.append((name, filled, secs, 0.0))
    if not series.get("skip"):
        filled, secs = fill_series(test, progress=progress, **series)
        runs.append(("dineof_series", filled, secs, 0.0))
    for name, (generator, train_s) in generators.items():
        filled, secs = fill_generator(generator, test, device=device, progress=progress)
        runs.append((name, filled, secs, train_s))
    return runs


def _nan_to_none(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _result_row(
    name: str, threshold_gm2: float, sc: Score, secs: float, train_s: float, test: TestSet
) -> dict:
    """One row of the results: ``name``'s scores and timing at ``threshold_gm2``."""
    n_frames = test.truth.shape[0] * test.truth.shape[1]
    return {
        "method": name,
        "threshold_gm2": float(threshold_gm2),
        "occlusion_rate": sc.occlusion_rate,
        "rmse_c": sc.rmse_c,
        "mae_c": sc.mae_c,
        "rmse_all_c": sc.rmse_all_c,
        "effective_resolution_km": _nan_to_none(sc.effective_resolution_km),
        "fill_seconds": secs,
        "frames_per_s": n_frames / secs if secs > 0 else None,
        "train_seconds": train_s,
        "information": INFORMATION.get(name, "window"),
        "n_windows": len(test),
    }


def _keep_spectra(spectra: dict, threshold_gm2: float, name: str, sc: Score) -> None:
    """Add ``name``'s spectra to ``spectra`` (the wavenumbers and the truth's once)."""
    spectra.setdefault("threshold_gm2", threshold_gm2)
    spectra.setdefault("k_cpkm", sc.k.tolist())
    spectra.setdefault("truth", sc.psd_truth.tolist())
    spectra.setdefault("methods", {})[name] = {
        "filled": sc.psd_filled.tolist(),
        "error": sc.psd_error.tolist(),
    }


def benchmark_thresholds(
    generators: dict[str, tuple[nn.Module, float]],
    *,
    thresholds_gm2: tuple[float, ...] | None = None,
    split_set: str = "twin",
    split: str = "test",
    clouds: str = "twin",
    seed: int = 0,
    max_items: int | None = None,
    baselines: dict[str, tuple[str, dict]] | None = None,
    series_options: dict | None = None,
    spectra_threshold_gm2: float | None = None,
    device: torch.device | str = "cpu",
    manifest: Manifest | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> dict:
    """Score every method at every threshold on the same test windows.

    Parameters
    ----------
    generators
        Benchmark name -> (trained generator, training seconds).
    baselines
        Window baselines (default :data:`WINDOW_BASELINES`); ``series_options``
        for ``dineof_series`` (default :data:`DINEOF_SERIES_OPTIONS`; ``None``
        entry skipped when ``series_options == {"skip": True}``).
    spectra_threshold_gm2
        Keep the spectra of this threshold (default: the manifest's default).

    Returns
    -------
    dict
        ``rows`` (one per method and threshold: ``method``, ``threshold_gm2``,
        ``occlusion_rate``, ``rmse_c``, ``mae_c``, ``rmse_all_c``,
        ``effective_resolution_km``, ``fill_seconds``, ``frames_per_s``,
        ``train_seconds``, ``information``, ``n_windows``) and ``spectra``
        (``k_cpkm``, ``truth``, per method ``filled`` and ``error``, °C² km).
    """
    m = manifest or load_manifest()
    thresholds = tuple(thresholds_gm2 or m.thresholds.studied)
    spec_thr = float(
        m.thresholds.default if spectra_threshold_gm2 is None else spectra_threshold_gm2
    )
    baselines = WINDOW_BASELINES if baselines is None else baselines
    series = DINEOF_SERIES_OPTIONS if series_options is None else series_options
    rows: list[dict] = []
    spectra: dict = {}
    for thr in thresholds:
        test = load_test_set(
            split_set, split, threshold_gm2=thr, clouds=clouds, seed=seed, max_items=max_items,
            manifest=m, data_dir=data_dir,
        )  # fmt: skip
        log.info(
            "threshold %g g m-2: %d windows, occlusion %.1f %%",
            thr, len(test), 100 * test.occlusion_rate,
        )  # fmt: skip
        runs = _fill_all(test, generators, baselines, series, device=device, progress=progress)
        for name, filled, secs, train_s in runs:
            sc = score(filled, test)
            rows.append(_result_row(name, thr, sc, secs, train_s, test))
            log.info("  %-18s RMSE %.4f °C, MAE %.4f °C, %.1f s", name, sc.rmse_c, sc.mae_c, secs)
            if float(thr) == spec_thr:
                _keep_spectra(spectra, spec_thr, name, sc)
    return {"rows": rows, "spectra": spectra}
