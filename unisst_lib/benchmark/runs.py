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
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from unisst_lib.benchmark.scores import Score, score
from unisst_lib.benchmark.stats import (
    difference_interval,
    error_interval,
    per_seed_error,
    verdict,
    window_blocks,
    window_sums,
)
from unisst_lib.benchmark.windows import TestSet, load_test_set
from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.data.normalise import denormalise
from unisst_lib.methods.baselines import fill_baseline
from unisst_lib.methods.dineof import DINEOF_DEFAULTS, dineof
from unisst_lib.models import reconstruct
from unisst_lib.models.fast import temporal_first_guess

log = logging.getLogger(__name__)

INFORMATION = {
    "mean_fill": "window",
    "temporal_interp": "window",
    "laplace": "window",
    "dineof_window": "window",
    "dineof_series": "series",
    "first_guess": "window",
    "unisst_paper": "window",
    "unisst_self_supervised": "window",
    "unisst_hybrid": "window",
    "oracle_supervised": "window",
}
"""What each benchmark method sees: ``window`` = the same 24 frames as the model;
``series`` = the whole test period (all windows of a phase, with their clouds)."""

WINDOW_BASELINES = {
    "mean_fill": ("mean", {}),
    "temporal_interp": ("temporal", {}),
    "laplace": ("laplace", {}),
    "dineof_window": ("dineof", dict(DINEOF_DEFAULTS)),
}
"""Benchmark name -> (a baseline of :mod:`unisst_lib.methods.baselines`, options) per window."""

DINEOF_SERIES_OPTIONS = dict(DINEOF_DEFAULTS)
"""DINEOF on the whole period: the one setting ``unisst fill --method dineof`` uses too (no
cap on the EOF count: EOFs are added until the cross-validation error stops falling)."""


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
    test: TestSet, *, progress: bool = False, record: list | None = None, **dineof_options
) -> tuple[np.ndarray, float]:
    """DINEOF on the whole test period, as users run it, scored on the windows.

    Each chain of windows (:func:`series_chains`) becomes one long series with
    every window's clouds at its own frames; DINEOF fills it at once and each
    window's frames are cut back out. Returns (N, T, H, W) °C and seconds; ``record``
    (a list) gets each chain's frames, chosen EOF count and whether it converged.
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
        if record is not None:
            record.append({
                "frames": int(series.shape[0]), "n_eofs": int(res.n_eofs),
                "eofs_tried": int(np.isfinite(res.cv_rmse).sum()),
                "cv_rmse_c": _nan_to_none(float(np.nanmin(res.cv_rmse)))
                if res.cv_rmse.size else None,
                "converged": bool(res.converged),
            })  # fmt: skip
    return out, time.perf_counter() - t0


@torch.no_grad()
def fill_first_guess(test: TestSet) -> tuple[np.ndarray, float]:
    """The generators' own first guess alone (per-pixel temporal interpolation in the
    window, :func:`unisst_lib.models.fast.temporal_first_guess`): what training adds to."""
    ds = test.dataset
    out = np.empty(test.truth.shape, dtype=np.float32)
    t0 = time.perf_counter()
    for i in range(len(test)):
        it = ds[i]
        guess = temporal_first_guess(it["y"][None], it["mask"][None]).double()
        filled = denormalise(guess, it["mean"], it["std"], std_factor=ds.std_factor)[0, 0]
        obs = test.observation[i]
        filled = np.where(test.land, np.float32(np.nan), filled.numpy())
        out[i] = np.where(np.isnan(obs), filled, obs)
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
Generators = dict[str, list[tuple[nn.Module, float]]]
"""Benchmark name -> one (trained generator, training seconds) per seed."""


@dataclass
class MethodRun:
    """One method at one threshold: its per-seed window sums, scores and times."""

    sums: np.ndarray  # (S, N, 3): window_sums of each seed
    scores: list[Score]
    fill_seconds: float
    train_seconds: float
    info: list | None = None  # DINEOF on the series: each chain's EOF count and convergence


def _one(test: TestSet, filled: np.ndarray) -> tuple[np.ndarray, Score]:
    return window_sums(filled, test.truth, test.mask), score(filled, test)


def _fill_all(
    test: TestSet,
    generators: Generators,
    baselines: dict[str, tuple[str, dict]],
    series: dict,
    *,
    device: torch.device | str,
    progress: bool,
) -> dict[str, MethodRun]:
    """Every method on ``test``: the window baselines, DINEOF on the series, the first
    guess, each generator of each seed."""
    fills: dict[str, list[tuple[np.ndarray, float, float]]] = {}
    for name, (baseline, options) in baselines.items():
        filled, secs = fill_windows(test, baseline, progress=progress, **options)
        fills[name] = [(filled, secs, 0.0)]
    chains: list[dict] = []
    if not series.get("skip"):
        filled, secs = fill_series(test, progress=progress, record=chains, **series)
        fills["dineof_series"] = [(filled, secs, 0.0)]
    filled, secs = fill_first_guess(test)
    fills["first_guess"] = [(filled, secs, 0.0)]
    for name, seeds in generators.items():
        fills[name] = [
            (*fill_generator(g, test, device=device, progress=progress), train_s)
            for g, train_s in seeds
        ]
    runs = {}
    for name, per_seed in fills.items():
        scored = [_one(test, filled) for filled, _, _ in per_seed]
        runs[name] = MethodRun(
            sums=np.stack([s for s, _ in scored]),
            scores=[sc for _, sc in scored],
            fill_seconds=float(np.mean([secs for _, secs, _ in per_seed])),
            train_seconds=float(np.mean([t for _, _, t in per_seed])),
            info=chains if name == "dineof_series" else None,
        )
    return runs


def _nan_to_none(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _result_row(
    name: str, threshold_gm2: float, run: MethodRun, blocks: np.ndarray, test: TestSet
) -> dict:
    """One row of the results: ``name``'s errors (mean over seeds, bootstrap interval,
    each seed) and timing at ``threshold_gm2``."""
    n_frames = test.truth.shape[0] * test.truth.shape[1]
    row = {
        "method": name,
        "threshold_gm2": float(threshold_gm2),
        "occlusion_rate": test.occlusion_rate,
        "n_seeds": int(run.sums.shape[0]),
    }
    for key, column in (("rmse", 0), ("mae", 1)):
        ci = error_interval(run.sums, blocks, column=column)
        seeds = per_seed_error(run.sums, column)
        row.update({
            f"{key}_c": ci.mean, f"{key}_lo": ci.lo, f"{key}_hi": ci.hi,
            f"{key}_seed_sd": float(seeds.std(ddof=1)) if seeds.size > 1 else 0.0,
            f"{key}_seeds": seeds.tolist(),
        })  # fmt: skip
    res = [_nan_to_none(sc.effective_resolution_km) for sc in run.scores]
    finite = [r for r in res if r is not None]
    row.update({
        "effective_resolution_km": float(np.mean(finite)) if len(finite) == len(res) else None,
        "effective_resolution_seeds": res,
        "rmse_all_c": float(np.mean([sc.rmse_all_c for sc in run.scores])),
        "fill_seconds": run.fill_seconds,
        "frames_per_s": n_frames / run.fill_seconds if run.fill_seconds > 0 else None,
        "train_seconds": run.train_seconds,
        "information": INFORMATION.get(name, "window"),
        "n_windows": len(test),
    })  # fmt: skip
    if run.info is not None:
        row["dineof_chains"] = run.info
    return row


def _comparisons(
    runs: dict[str, MethodRun], pairs: list[tuple[str, str]], threshold_gm2: float, blocks
) -> list[dict]:
    """Paired bootstrap of RMSE(a) − RMSE(b) for each pair present in ``runs``."""
    out = []
    for a, b in pairs:
        if a not in runs or b not in runs or a == b:
            continue
        d = difference_interval(runs[a].sums, runs[b].sums, blocks)
        out.append({
            "a": a, "b": b, "threshold_gm2": float(threshold_gm2), "metric": "rmse_c",
            "diff": d.mean, "lo": d.lo, "hi": d.hi, "verdict": verdict(d),
        })  # fmt: skip
    return out


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
    generators: Generators,
    *,
    thresholds_gm2: tuple[float, ...] | None = None,
    split_set: str = "twin",
    split: str = "test",
    clouds: str = "twin",
    seed: int = 0,
    max_items: int | None = None,
    baselines: dict[str, tuple[str, dict]] | None = None,
    series_options: dict | None = None,
    pairs: list[tuple[str, str]] | None = None,
    spectra_threshold_gm2: float | None = None,
    device: torch.device | str = "cpu",
    manifest: Manifest | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> dict:
    """Score every method at every threshold on the same test windows, with intervals.

    Parameters
    ----------
    generators
        Benchmark name -> one (trained generator, training seconds) per seed.
    baselines
        Window baselines (default :data:`WINDOW_BASELINES`); ``series_options``
        for ``dineof_series`` (default :data:`DINEOF_SERIES_OPTIONS`; skipped when
        ``series_options == {"skip": True}``).
    pairs
        (a, b) method pairs whose RMSE difference is bootstrapped at each threshold.
    spectra_threshold_gm2
        Keep the spectra of this threshold (default: the manifest's default; the
        first seed of a trained method).

    Returns
    -------
    dict
        ``rows`` (one per method and threshold: the mean over seeds of ``rmse_c`` and
        ``mae_c`` with their bootstrap interval ``*_lo``/``*_hi``, ``*_seeds``,
        ``*_seed_sd``, ``effective_resolution_km``, timing, ``n_seeds``,
        ``n_windows``), ``comparisons`` (``a``, ``b``, ``diff`` = RMSE(a) − RMSE(b),
        ``lo``, ``hi``, ``verdict``), ``n_blocks`` (independent units of the
        bootstrap) and ``spectra``.
    """
    m = manifest or load_manifest()
    thresholds = tuple(thresholds_gm2 or m.thresholds.studied)
    spec_thr = float(
        m.thresholds.default if spectra_threshold_gm2 is None else spectra_threshold_gm2
    )
    baselines = WINDOW_BASELINES if baselines is None else baselines
    series = DINEOF_SERIES_OPTIONS if series_options is None else series_options
    seq_len = m.split_set(split_set).seq_len
    rows: list[dict] = []
    comparisons: list[dict] = []
    spectra: dict = {}
    n_blocks = 0
    for thr in thresholds:
        test = load_test_set(
            split_set, split, threshold_gm2=thr, clouds=clouds, seed=seed, max_items=max_items,
            manifest=m, data_dir=data_dir,
        )  # fmt: skip
        blocks = window_blocks(test.frames, seq_len=seq_len)
        n_blocks = int(blocks.max()) + 1
        log.info(
            "threshold %g g m-2: %d windows in %d blocks, occlusion %.1f %%",
            thr, len(test), n_blocks, 100 * test.occlusion_rate,
        )  # fmt: skip
        runs = _fill_all(test, generators, baselines, series, device=device, progress=progress)
        for name, run in runs.items():
            rows.append(_result_row(name, thr, run, blocks, test))
            r = rows[-1]
            log.info(
                "  %-22s RMSE %.4f °C (%.4f-%.4f), %d seed(s)",
                name, r["rmse_c"], r["rmse_lo"], r["rmse_hi"], r["n_seeds"],
            )  # fmt: skip
            if float(thr) == spec_thr:
                _keep_spectra(spectra, spec_thr, name, run.scores[0])
        comparisons += _comparisons(runs, pairs or [], thr, blocks)
    return {"rows": rows, "comparisons": comparisons, "n_blocks": n_blocks, "spectra": spectra}
