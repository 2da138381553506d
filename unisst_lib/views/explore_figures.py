"""Figures of the cloud-mask exploration (notebook ``02_mask_exploration``).

Matplotlib :class:`~matplotlib.figure.Figure` objects (no pyplot state) of the
numbers a :class:`unisst_lib.views.explore.MaskExplorer` computes: one frame's
LWP, cloud mask and occluded SST (:func:`frame_figure`), the LWP of a few frames
(:func:`lwp_figure`), LWP histograms (:func:`histogram_figure`) and
occlusion-rate curves (:func:`curve_figure`); :func:`figure_png` turns a figure
into PNG bytes for an ``ipywidgets.Image``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import cmocean
import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from unisst_lib.data.masks import kgm2_to_gm2

if TYPE_CHECKING:
    from unisst_lib.views.explore import MaskExplorer

#: Range the paper studies, g m-2 (shaded on the figures).
STUDIED_RANGE_GM2 = (55.0, 80.0)


def _axes_extent(sst: xr.DataArray) -> tuple[list[float] | None, str, str]:
    """``imshow`` extent (cell edges, degrees) and axis labels; pixels without coordinates."""
    if "latitude" in sst.coords and "longitude" in sst.coords:
        lat = sst["latitude"].values
        lon = sst["longitude"].values
        if lat.size > 1 and lon.size > 1:
            dy = float(lat[1] - lat[0]) / 2
            dx = float(lon[1] - lon[0]) / 2
            ext = [float(lon[0]) - dx, float(lon[-1]) + dx, float(lat[0]) - dy]
            return [*ext, float(lat[-1]) + dy], "longitude (°E)", "latitude (°N)"
    return None, "x (pixel)", "y (pixel)"


def frame_figure(explorer: MaskExplorer, threshold_gm2: float, time_index: int) -> Figure:
    """LWP (g m-2, threshold contour), cloud mask and occluded SST (°C) of one frame."""
    v = explorer.frame(threshold_gm2, time_index)
    extent, xlabel, ylabel = _axes_extent(explorer.sst)
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    ax_lwp, ax_mask, ax_sst = fig.subplots(1, 3, sharex=True, sharey=True)
    kw = {"origin": "lower", "extent": extent, "aspect": "equal", "interpolation": "nearest"}
    lwp_gm2 = kgm2_to_gm2(v.lwp_kgm2.astype(np.float64))
    im = ax_lwp.imshow(lwp_gm2, cmap=cmocean.cm.rain, vmin=0, vmax=200, **kw)
    fig.colorbar(im, ax=ax_lwp, shrink=0.85, label="LWP (g m$^{-2}$)", extend="max")
    ax_lwp.contour(
        lwp_gm2,
        levels=[v.threshold_gm2],
        colors="tab:red",
        linewidths=0.8,
        origin="lower",
        extent=extent,
    )
    ax_lwp.set_title(f"liquid water path (red: {v.threshold_gm2:g} g m$^{{-2}}$)", fontsize=9)
    ax_mask.imshow(
        v.mask.astype(np.uint8),
        cmap=ListedColormap(["#1f4e79", "0.92"]),
        vmin=0,
        vmax=1,
        **kw,
    )
    ax_mask.set_title(
        f"cloud mask (white: LWP > threshold), {100 * v.occlusion_rate:.1f} %", fontsize=9
    )
    cmap = cmocean.cm.thermal.with_extremes(bad="0.75")
    lo, hi = explorer.sst_range
    im = ax_sst.imshow(v.observed_c, cmap=cmap, vmin=lo, vmax=hi, **kw)
    fig.colorbar(im, ax=ax_sst, shrink=0.85, label="SST (°C)")
    ax_sst.set_title("SST seen through the clouds (grey: occluded)", fontsize=9)
    for ax in (ax_lwp, ax_mask, ax_sst):
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
    ax_lwp.set_ylabel(ylabel, fontsize=8)
    when = "" if v.time is None else f", {np.datetime_as_string(v.time, unit='m')}"
    fig.suptitle(
        f"frame {v.time_index} of {explorer.n_frames}{when} (cloud step "
        f"{int(explorer.cloud_steps[v.time_index])}): {v.readout}",
        fontsize=10,
    )
    return fig


def lwp_figure(explorer: MaskExplorer, time_indices: Sequence[int] | None = None) -> Figure:
    """LWP fields (g m-2) of a few frames (default 4 evenly spaced)."""
    if time_indices is None:
        time_indices = np.linspace(0, explorer.n_frames - 1, 4).astype(int).tolist()
    idx = [explorer.check_time(i) for i in time_indices]
    extent, xlabel, ylabel = _axes_extent(explorer.sst)
    fig = Figure(figsize=(2.8 * len(idx) + 1.0, 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(idx), sharex=True, sharey=True))
    im = None
    for ax, i in zip(axes, idx, strict=True):
        im = ax.imshow(
            kgm2_to_gm2(explorer.lwp_kgm2[i].astype(np.float64)),
            origin="lower",
            extent=extent,
            cmap=cmocean.cm.rain,
            vmin=0,
            vmax=200,
            interpolation="nearest",
        )
        t = explorer.time_of(i)
        label = f"frame {i}" + ("" if t is None else f", {np.datetime_as_string(t, 'm')}")
        ax.set_title(label, fontsize=8)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel(ylabel, fontsize=8)
    fig.colorbar(im, ax=list(axes), shrink=0.85, label="LWP (g m$^{-2}$)", extend="max")
    return fig


# ---------------------------------------------------------- summary figures
def histogram_figure(
    histograms: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    threshold_gm2: float | None = None,
) -> Figure:
    """LWP histograms as densities (per g m-2), the studied range 55..80 shaded.

    Parameters
    ----------
    histograms
        Label -> ``(counts, edges_gm2)`` from :meth:`MaskExplorer.histogram`.
    threshold_gm2
        Drawn as a vertical line when given.
    """
    fig = Figure(figsize=(7, 3.4), layout="constrained")
    ax = fig.subplots()
    for label, (counts, edges) in histograms.items():
        density = counts / max(int(counts.sum()), 1) / np.diff(edges)
        ax.stairs(density, edges, label=label, lw=1.2)
    ax.axvspan(*STUDIED_RANGE_GM2, color="0.85", zorder=0, label="studied 55–80 g m$^{-2}$")
    if threshold_gm2 is not None:
        ax.axvline(threshold_gm2, color="tab:red", lw=1, label=f"{threshold_gm2:g} g m$^{{-2}}$")
    ax.set(xlabel="liquid water path (g m$^{-2}$)", ylabel="density (per g m$^{-2}$)")
    ax.set_xlim(left=0)
    ax.legend(fontsize=8)
    return fig


def curve_figure(
    curves: dict[str, xr.DataArray],
    *,
    threshold_gm2: float | None = None,
) -> Figure:
    """Occlusion rate (%) against the LWP threshold (g m-2), one line per curve."""
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.subplots()
    for label, c in curves.items():
        ax.plot(c["threshold"].values, 100 * c.values, marker="o", ms=3, label=label)
    if threshold_gm2 is not None:
        ax.axvline(threshold_gm2, color="tab:red", lw=1, label=f"{threshold_gm2:g} g m$^{{-2}}$")
    ax.set(xlabel="LWP threshold (g m$^{-2}$)", ylabel="occluded pixels (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def figure_png(fig: Figure, *, dpi: int = 80) -> bytes:
    """PNG bytes of a figure (for an ``ipywidgets.Image``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
