"""Figures: truth / observation / recovered panels in °C.

Kept free of notebook state so the training loop, the CLI and the notebooks
draw the same figures. Uses matplotlib's Agg-safe object API (no pyplot state).
"""

from __future__ import annotations

from collections.abc import Sequence

import cmocean
import numpy as np
from matplotlib.figure import Figure


def sequence_figure(
    truth_c: np.ndarray | None,
    observed_c: np.ndarray,
    mask: np.ndarray,
    recovered_c: np.ndarray,
    *,
    frames: Sequence[int] | None = None,
    frame_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Rows truth (if known) / observation / recovered for a few frames of one sequence.

    Parameters
    ----------
    truth_c, observed_c, recovered_c
        (T, H, W) in °C; ``truth_c`` may be None (real data: unknown).
    mask
        (T, H, W), 1/True where occluded; occluded pixels of the observation are
        drawn grey.
    frames
        Frame indices to show (default 4 evenly spaced).
    """
    t = observed_c.shape[0]
    frames = list(frames) if frames is not None else list(np.linspace(0, t - 1, 4).astype(int))
    rows = [("truth (unknown in practice)", truth_c)] if truth_c is not None else []
    obs = np.where(np.asarray(mask) > 0.5, np.nan, observed_c)
    rows += [("observation", obs), ("recovered", recovered_c)]
    known = [r[1] for r in rows if r[1] is not None]
    lo = float(np.nanmin([np.nanmin(a[frames]) for a in known]))
    hi = float(np.nanmax([np.nanmax(a[frames]) for a in known]))
    fig = Figure(figsize=(2.2 * len(frames) + 0.8, 2.1 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), len(frames), squeeze=False)
    cmap = cmocean.cm.thermal.with_extremes(bad="0.75")
    im = None
    for r, (label, arr) in enumerate(rows):
        for c, f in enumerate(frames):
            ax = axes[r, c]
            im = ax.imshow(arr[f], origin="lower", cmap=cmap, vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(frame_labels[c] if frame_labels else f"frame {f}", fontsize=9)
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.8, label="SST (°C)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


_METHOD_STYLE = {
    "mean_fill": ("0.6", ":"),
    "temporal_interp": ("tab:olive", "--"),
    "laplace": ("tab:brown", "--"),
    "dineof_window": ("tab:blue", "-"),
    "dineof_series": ("tab:cyan", "-"),
    "unisst_paper": ("tab:orange", "-"),
    "unisst_hybrid": ("tab:red", "-"),
    "oracle_supervised": ("k", "-."),
}


def benchmark_figure(results: dict) -> Figure:
    """Three panels from a benchmark's ``results.json``.

    (a) RMSE on occluded pixels (°C) against the LWP threshold (g m-2); (b) power
    spectra (°C² km) of the true and reconstructed frames against wavelength
    (km); (c) the spectral error-to-signal ratio, whose crossing of 0.5 defines
    the effective resolution.
    """
    rows = results["rows"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig = Figure(figsize=(13, 4), layout="constrained")
    ax_rmse, ax_psd, ax_ratio = fig.subplots(1, 3)
    for mth in methods:
        color, ls = _METHOD_STYLE.get(mth, (None, "-"))
        rs = sorted((r for r in rows if r["method"] == mth), key=lambda r: r["threshold_gm2"])
        ax_rmse.plot(
            [r["threshold_gm2"] for r in rs], [r["rmse_c"] for r in rs], marker="o", ms=3,
            color=color, ls=ls, label=mth,
        )  # fmt: skip
    ax_rmse.set(xlabel="LWP threshold (g m$^{-2}$)", ylabel="RMSE on occluded pixels (°C)")
    ax_rmse.set_ylim(bottom=0)
    ax_rmse.set_title("(a) accuracy", fontsize=10)
    ax_rmse.legend(fontsize=7)
    spec = results.get("spectra") or {}
    if spec:
        wavelength = 1.0 / np.asarray(spec["k_cpkm"])
        truth = np.asarray(spec["truth"])
        ax_psd.loglog(wavelength, truth, color="k", lw=2.5, alpha=0.4, label="truth")
        for mth, s in spec["methods"].items():
            color, ls = _METHOD_STYLE.get(mth, (None, "-"))
            ax_psd.loglog(wavelength, s["filled"], color=color, ls=ls, lw=1, label=mth)
            ax_ratio.semilogx(
                wavelength, np.asarray(s["error"]) / truth, color=color, ls=ls, lw=1, label=mth
            )
        ax_ratio.axhline(0.5, color="0.3", lw=0.8)
        thr = spec.get("threshold_gm2")
        for ax in (ax_psd, ax_ratio):
            ax.invert_xaxis()
            ax.set_xlabel("wavelength (km)")
        ax_psd.set_ylabel("power spectral density (°C² km)")
        ax_psd.set_title(f"(b) spectra of the filled frames, {thr:g} g m$^{{-2}}$", fontsize=10)
        ax_ratio.set_ylabel("PSD(error) / PSD(truth)")
        ax_ratio.set_ylim(0, 1.5)
        ax_ratio.set_title("(c) error-to-signal ratio (0.5: effective resolution)", fontsize=10)
    return fig
