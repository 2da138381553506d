"""Side-by-side accuracy of every gap-filling method on one test set.

The building blocks of ``benchmarks/accuracy.py`` (and ``05_benchmark.ipynb``):

* :func:`load_test_set`: the test sequences of a split with their deterministic
  cloud masks at one LWP threshold — truth and masks in °C, as every method
  sees them;
* fillers with one call shape, returning ``(filled (N, T, H, W) °C, seconds)``:
  :func:`fill_windows` (a baseline on each 24-frame window), :func:`fill_series`
  (DINEOF on the whole period, the windows' clouds pasted into it) and
  :func:`fill_generator` (a trained UNISST generator);
* :func:`score`: MAE/RMSE on the occluded pixels, the radially averaged power
  spectra of the reconstructed frames and of their errors, and the effective
  resolution (:func:`effective_resolution_km`).
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

from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.data.sequences import OccludedSequenceDataset, denormalise, make_dataset
from unisst_lib.data.stats import grid_spacing_km, radial_power_spectrum
from unisst_lib.evaluation.metrics import GapMetrics
from unisst_lib.methods.baselines import dineof, fill_baseline
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

RESOLUTION_LEVEL = 0.5
"""Effective resolution: the wavelength where PSD(error) / PSD(truth) crosses this."""


@dataclass
class TestSet:
    """The test windows at one threshold, in °C.

    Attributes
    ----------
    truth : (N, T, H, W) float32, °C (NaN where the SST itself is missing)
    mask : (N, T, H, W) bool, True where occluded (clouds or missing SST)
    frames : (N, T) int, time index of each frame in the split's SST series
    dataset : the :class:`OccludedSequenceDataset` the windows come from
    threshold_gm2 : LWP threshold, g m-2
    dy_km, dx_km : grid spacings at the box centre, km
    """

    truth: np.ndarray
    mask: np.ndarray
    frames: np.ndarray
    dataset: OccludedSequenceDataset
    threshold_gm2: float
    dy_km: float
    dx_km: float

    @property
    def occlusion_rate(self) -> float:
        """Fraction of pixels occluded by clouds (SST-missing pixels excluded)."""
        ocean = np.isfinite(self.truth)
        return float((self.mask & ocean).sum() / max(ocean.sum(), 1))

    @property
    def observation(self) -> np.ndarray:
        """(N, T, H, W) °C: the truth with NaN where occluded — what a user has."""
        return np.where(self.mask, np.float32(np.nan), self.truth)

    @property
    def land(self) -> np.ndarray:
        """(H, W) bool: pixels without SST in every frame (land), known to every method.

        A pixel under cloud in all 24 frames of a window is *not* land: it must be filled.
        """
        return ~np.isfinite(self.truth).any(axis=(0, 1))

    def __len__(self) -> int:
        return self.truth.shape[0]


def load_test_set(
    split_set: str = "twin",
    split: str = "test",
    *,
    threshold_gm2: float = 70.0,
    clouds: str = "twin",
    seed: int = 0,
    max_items: int | None = None,
    manifest: Manifest | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> TestSet:
    """The evaluation windows of ``split`` and their cloud masks at ``threshold_gm2`` (g m-2).

    The clouds are the same deterministic windows that :func:`..evaluation.validation.evaluate`
    uses (``mode="eval"``, ``seed``), so every method is scored on the same pixels.
    """
    m = manifest or load_manifest()
    ds = make_dataset(
        split_set, split, threshold_gm2=threshold_gm2, clouds=clouds, mode="eval", seed=seed,
        manifest=m, data_dir=data_dir, include_truth=False,
    )  # fmt: skip
    n = len(ds) if max_items is None else min(len(ds), max_items)
    truth, mask, frames = [], [], []
    for i in range(n):
        item = ds[i]
        truth.append(np.asarray(ds.sequences[i].values, dtype=np.float32))
        mask.append(item["mask"][0].numpy() > 0.5)
        frames.append(ds.sequences.frame_indices(i))
    seq0 = ds.sequences[0]
    dy, dx = grid_spacing_km(seq0["latitude"].values, seq0["longitude"].values)
    return TestSet(
        truth=np.stack(truth),
        mask=np.stack(mask),
        frames=np.stack(frames),
        dataset=ds,
        threshold_gm2=float(threshold_gm2),
        dy_km=dy,
        dx_km=dx,
    )


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


# ------------------------------------------------------------------- scores
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


# ----------------------------------------------------------------- the table
WINDOW_BASELINES = {
    "mean_fill": ("mean", {}),
    "temporal_interp": ("temporal", {}),
    "laplace": ("laplace", {}),
    "dineof_window": ("dineof", {"k_max": 20}),
}
"""Benchmark name -> (a baseline of :mod:`unisst_lib.methods.baselines`, options) per window."""

DINEOF_SERIES_OPTIONS = {"k_max": 60, "patience": 6}
"""DINEOF on the whole period: up to 60 EOFs, cross-validated (stops 6 EOFs past the best)."""


def _nan_to_none(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


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
        runs: list[tuple[str, np.ndarray, float, float]] = []
        for name, (baseline, options) in baselines.items():
            filled, secs = fill_windows(test, baseline, progress=progress, **options)
            runs.append((name, filled, secs, 0.0))
        if not series.get("skip"):
            filled, secs = fill_series(test, progress=progress, **series)
            runs.append(("dineof_series", filled, secs, 0.0))
        for name, (generator, train_s) in generators.items():
            filled, secs = fill_generator(generator, test, device=device, progress=progress)
            runs.append((name, filled, secs, train_s))
        n_frames = test.truth.shape[0] * test.truth.shape[1]
        for name, filled, secs, train_s in runs:
            sc = score(filled, test)
            rows.append(
                {
                    "method": name,
                    "threshold_gm2": float(thr),
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
            )
            log.info("  %-18s RMSE %.4f °C, MAE %.4f °C, %.1f s", name, sc.rmse_c, sc.mae_c, secs)
            if float(thr) == spec_thr:
                spectra.setdefault("threshold_gm2", spec_thr)
                spectra.setdefault("k_cpkm", sc.k.tolist())
                spectra.setdefault("truth", sc.psd_truth.tolist())
                spectra.setdefault("methods", {})[name] = {
                    "filled": sc.psd_filled.tolist(),
                    "error": sc.psd_error.tolist(),
                }
    return {"rows": rows, "spectra": spectra}


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

        def ratio(other: str, mine=mine, thr=thr) -> float | None:
            o = by.get((other, thr))
            if o is None:
                return None
            if o["rmse_c"] == 0:
                return 1.0 if mine["rmse_c"] == 0 else math.inf
            return mine["rmse_c"] / o["rmse_c"]

        def within(value: float | None, bound: float) -> bool:
            return value is not None and value <= bound

        window = [
            r for r in rows
            if r["threshold_gm2"] == thr and r["information"] == "window"
            and not r["method"].startswith("oracle")
        ]  # fmt: skip
        best = min(window, key=lambda r: r["rmse_c"])["method"] if window else None
        checks = {
            "threshold_gm2": thr,
            "vs_dineof_window": ratio("dineof_window"),
            "vs_dineof_series": ratio("dineof_series"),
            "vs_oracle": ratio("oracle_supervised"),
            "best_window_method": best,
        }
        checks["goals_met"] = bool(
            best == model
            and within(checks["vs_dineof_window"], 0.75)
            and within(checks["vs_dineof_series"], 1.0)
            and within(checks["vs_oracle"], 1.15)
        )
        out.append(checks)
    return out


METHOD_ORDER = (
    "mean_fill", "temporal_interp", "laplace", "dineof_window", "dineof_series",
    "unisst_paper", "unisst_hybrid", "oracle_supervised",
)  # fmt: skip


def _fmt(v, spec: str = ".3f") -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def results_markdown(results: dict, *, model: str = "unisst_hybrid") -> str:
    """The benchmark as Markdown tables: RMSE and MAE per method × threshold, resolution, timing.

    ``results``: the dict written to ``results.json`` (``rows``, ``meta``).
    """
    rows = results["rows"]
    meta = results.get("meta", {})
    thresholds = sorted({r["threshold_gm2"] for r in rows})
    present = {r["method"] for r in rows}
    methods = [m for m in METHOD_ORDER if m in present] + sorted(present - set(METHOD_ORDER))
    by = {(r["method"], r["threshold_gm2"]): r for r in rows}
    head = "| method | sees | " + " | ".join(f"{t:g} g/m²" for t in thresholds) + " |"
    rule = "| --- | --- | " + " | ".join("---:" for _ in thresholds) + " |"
    occ = "| *occlusion rate* | | " + " | ".join(
        f"{100 * by[(methods[0], t)]['occlusion_rate']:.1f} %" for t in thresholds
    ) + " |"  # fmt: skip

    def table(key: str, spec: str = ".3f") -> list[str]:
        lines = [head, rule, occ]
        for mth in methods:
            cells = []
            for t in thresholds:
                r = by.get((mth, t))
                cells.append(_fmt(r[key], spec) if r else "–")
            info = by[(mth, thresholds[0])]["information"] if (mth, thresholds[0]) in by else ""
            lines.append(f"| {mth} | {info} | " + " | ".join(cells) + " |")
        return lines

    out = [f"# Gap-filling accuracy on the {meta.get('test_region', 'test region')}", ""]
    if meta:
        out += [
            f"Made by `{meta.get('command', '?')}` on {meta.get('date', '?')}, "
            f"{meta.get('machine', '?')} (torch {meta.get('torch', '?')}), seed "
            f"{meta.get('seed', '?')}; {meta.get('n_windows', '?')} test windows of "
            f"{meta.get('seq_len', '?')} frames {meta.get('interval_hours', '?')} h apart "
            f"({meta.get('test_description', 'the region no model was trained on')}).",
            "",
        ]
    for note in meta.get("notes", []):
        out += [f"*Note:* {note}", ""]
    out += [
        "Errors in °C on the occluded pixels only (observed pixels are kept exactly by every "
        "method). `sees`: `window` = the same 24-frame window as the model; `series` = the "
        "whole test period (every window of that phase, with their clouds). The oracle is "
        "trained with the truth under the clouds — an upper bound no user can have.",
        "",
        "## RMSE (°C)",
        "",
        *table("rmse_c"),
        "",
        "## MAE (°C)",
        "",
        *table("mae_c"),
        "",
        "## Effective resolution (km)",
        "",
        "The wavelength where the power spectrum of the error reaches half that of the "
        "true field, scanning from half the box size down (smaller is finer; – = not even "
        "the largest scale). Grid spacing "
        f"{_fmt(meta.get('dx_km'), '.1f')} km (Nyquist wavelength "
        f"{_fmt(2 * meta['dx_km'] if 'dx_km' in meta else None, '.1f')} km).",
        "",
        *table("effective_resolution_km", ".1f"),
        "",
        "## Time on this machine",
        "",
        "Fill time for the whole test period at each threshold (mean over thresholds), "
        "training time once.",
        "",
        "| method | train (s) | fill (s) | frames / s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for mth in methods:
        rs = [r for r in rows if r["method"] == mth]
        fill = float(np.mean([r["fill_seconds"] for r in rs]))
        fps = float(np.mean([r["frames_per_s"] or 0 for r in rs]))
        out.append(f"| {mth} | {rs[0]['train_seconds']:.0f} | {fill:.2f} | {fps:.0f} |")
    checks = goal_checks(rows, model=model)
    if checks:
        out += [
            "",
            f"## Goals for `{model}`",
            "",
            "RMSE ratios (goal: ≤ 0.75 × dineof_window, ≤ 1.00 × dineof_series, ≤ 1.15 × "
            "oracle, and the lowest RMSE of the window methods).",
            "",
            "| threshold | vs dineof_window | vs dineof_series | vs oracle | best window method "
            "| goals met |",
            "| ---: | ---: | ---: | ---: | --- | --- |",
        ]
        for c in checks:
            out.append(
                f"| {c['threshold_gm2']:g} | {_fmt(c['vs_dineof_window'], '.2f')} | "
                f"{_fmt(c['vs_dineof_series'], '.2f')} | {_fmt(c['vs_oracle'], '.2f')} | "
                f"{c['best_window_method']} | {'yes' if c['goals_met'] else 'no'} |"
            )
    if meta.get("models"):
        out += ["", "## Models", ""]
        for name, info in meta["models"].items():
            out.append(f"- `{name}`: {info}")
    if meta.get("figure"):
        out += ["", f"![spectra]({meta['figure']})"]
    return "\n".join(out) + "\n"
