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
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from unisst_lib.data.masks import kgm2_to_gm2

if TYPE_CHECKING:
    from unisst_lib.views.explore import MaskExplorer

#: Range the paper studies, g m-2 (shaded on the figures).
STUDIED_RANGE_GM2 = (55.0, 80.0)
#: The LWP unit as figures write it (mathtext: g m⁻²).
GM2 = "g m$^{-2}$"


#: Font sizes, points: legible at 100 % in a notebook column (figures 7-9 in wide at dpi 100).
FONT_TITLE = 10
FONT_LABEL = 9


def lat_label(v: float) -> str:
    """``16°S`` / ``20°N`` / ``0°`` (a latitude in degrees, north positive)."""
    v = round(float(v), 6) + 0.0
    return f"{abs(v):g}°" + ("" if v == 0 else "N" if v > 0 else "S")


def lon_label(v: float) -> str:
    """``15°W`` / ``35°E`` / ``0°`` (a longitude in degrees, east positive)."""
    v = round(float(v), 6) + 0.0
    return f"{abs(v):g}°" + ("" if v == 0 else "E" if v > 0 else "W")


def _axes_extent(sst: xr.DataArray) -> tuple[list[float] | None, str, str]:
    """``imshow`` extent (cell edges, degrees) and axis labels; pixels without coordinates."""
    if "latitude" in sst.coords and "longitude" in sst.coords:
        lat = sst["latitude"].values
        lon = sst["longitude"].values
        if lat.size > 1 and lon.size > 1:
            dy = float(lat[1] - lat[0]) / 2
            dx = float(lon[1] - lon[0]) / 2
            ext = [float(lon[0]) - dx, float(lon[-1]) + dx, float(lat[0]) - dy]
            return [*ext, float(lat[-1]) + dy], "longitude", "latitude"
    return None, "x (pixel)", "y (pixel)"


def _style_map_axes(ax: Axes, extent: list[float] | None, xlabel: str | None) -> None:
    """Axis label, tick sizes and (with coordinates) ``15°W`` / ``20°N`` tick labels."""
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=FONT_LABEL)
    ax.tick_params(labelsize=FONT_LABEL)
    if extent is not None:
        ax.xaxis.set_major_locator(MaxNLocator(3))
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: lon_label(v)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: lat_label(v)))


def frame_figure(explorer: MaskExplorer, threshold_gm2: float, time_index: int) -> Figure:
    """LWP (g m-2, threshold contour), cloud mask and occluded SST (°C) of one frame."""
    v = explorer.frame(threshold_gm2, time_index)
    extent, xlabel, ylabel = _axes_extent(explorer.sst)
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax_lwp, ax_mask, ax_sst = fig.subplots(1, 3, sharex=True, sharey=True)
    kw = {"origin": "lower", "extent": extent, "aspect": "equal", "interpolation": "nearest"}
    lwp_gm2 = kgm2_to_gm2(v.lwp_kgm2.astype(np.float64))
    im = ax_lwp.imshow(lwp_gm2, cmap=cmocean.cm.rain, vmin=0, vmax=200, **kw)
    cb = fig.colorbar(im, ax=ax_lwp, shrink=0.8, extend="max")
    cb.set_label(f"LWP ({GM2})", fontsize=FONT_LABEL)
    cb.ax.tick_params(labelsize=FONT_LABEL)
    ax_lwp.contour(
        lwp_gm2,
        levels=[v.threshold_gm2],
        colors="tab:red",
        linewidths=0.8,
        origin="lower",
        extent=extent,
    )
    ax_lwp.set_title(f"LWP, red: {v.threshold_gm2:g} {GM2}", fontsize=FONT_TITLE)
    ax_mask.imshow(
        v.mask.astype(np.uint8),
        cmap=ListedColormap(["#1f4e79", "0.92"]),
        vmin=0,
        vmax=1,
        **kw,
    )
    ax_mask.set_title(f"cloud (white): {100 * v.occlusion_rate:.1f} %", fontsize=FONT_TITLE)
    cmap = cmocean.cm.thermal.with_extremes(bad="0.75")
    lo, hi = explorer.sst_range
    im = ax_sst.imshow(v.observed_c, cmap=cmap, vmin=lo, vmax=hi, **kw)
    cb = fig.colorbar(im, ax=ax_sst, shrink=0.8)
    cb.set_label("SST (°C)", fontsize=FONT_LABEL)
    cb.ax.tick_params(labelsize=FONT_LABEL)
    ax_sst.set_title("SST seen (grey: cloud)", fontsize=FONT_TITLE)
    for ax in (ax_lwp, ax_mask, ax_sst):
        _style_map_axes(ax, extent, xlabel)
    ax_lwp.set_ylabel(ylabel, fontsize=FONT_LABEL)
    when = "" if v.time is None else f", {np.datetime_as_string(v.time, unit='m')}"
    fig.suptitle(
        f"frame {v.time_index} of {explorer.n_frames}{when} "
        f"(cloud step {int(explorer.cloud_steps[v.time_index])})",
        fontsize=FONT_TITLE,
    )
    return fig


def lwp_figure(explorer: MaskExplorer, time_indices: Sequence[int] | None = None) -> Figure:
    """LWP fields (g m-2) of a few frames (default 4 evenly spaced), two per row."""
    if time_indices is None:
        time_indices = np.linspace(0, explorer.n_frames - 1, 4).astype(int).tolist()
    idx = [explorer.check_time(i) for i in time_indices]
    if not idx:
        raise ValueError("time_indices is empty: give at least one frame index")
    extent, xlabel, ylabel = _axes_extent(explorer.sst)
    ncols = min(len(idx), 2)
    nrows = -(-len(idx) // ncols)
    fig = Figure(figsize=(3.4 * ncols + 1.4, 3.1 * nrows + 0.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False))
    axes = axes.ravel()
    im = None
    for k, (ax, i) in enumerate(zip(axes, idx, strict=False)):
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
        ax.set_title(label, fontsize=FONT_TITLE)
        bottom = k + ncols >= len(idx)  # no panel below this one
        _style_map_axes(ax, extent, xlabel if bottom else None)
        if bottom:  # sharex hides the tick labels of a panel above an empty slot
            ax.tick_params(labelbottom=True)
    for ax in axes[len(idx) :]:
        ax.set_visible(False)
    for ax in axes[::ncols]:
        ax.set_ylabel(ylabel, fontsize=FONT_LABEL)
    used = list(axes[: len(idx)])
    cb = fig.colorbar(im, ax=used, shrink=0.85, extend="max")
    cb.set_label(f"LWP ({GM2})", fontsize=FONT_LABEL)
    cb.ax.tick_params(labelsize=FONT_LABEL)
    return fig


# ---------------------------------------------------------- summary figures
def histogram_figure(
    histograms: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    threshold_gm2: float | None = None,
    clear_sky_gm2: float | None = None,
) -> Figure:
    """LWP histograms as densities (% of pixels per g m-2), the studied range 55..80 shaded.

    Parameters
    ----------
    histograms
        Label -> ``(counts, edges_gm2)`` from :meth:`MaskExplorer.histogram`.
    threshold_gm2
        Drawn as a vertical red line when given.
    clear_sky_gm2
        Drawn as a dotted vertical line when given: the twin clouds' clear-sky level,
        where their density steps (:func:`unisst_lib.views.explore.clear_sky_gm2`).
    """
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.subplots()
    for label, (counts, edges) in histograms.items():
        density = 100.0 * counts / max(int(counts.sum()), 1) / np.diff(edges)
        ax.stairs(density, edges, label=label, lw=1.4)
    lo, hi = STUDIED_RANGE_GM2
    ax.axvspan(lo, hi, color="0.85", zorder=0, label=f"studied {lo:g}–{hi:g} {GM2}")
    if threshold_gm2 is not None:
        ax.axvline(threshold_gm2, color="tab:red", lw=1, label=f"threshold {threshold_gm2:g} {GM2}")
    if clear_sky_gm2 is not None:
        ax.axvline(
            clear_sky_gm2,
            color="0.3",
            lw=1,
            ls=":",
            label=f"twin clear-sky level {clear_sky_gm2:g} {GM2}",
        )
    ax.set_xlabel(f"liquid water path ({GM2})", fontsize=FONT_LABEL)
    ax.set_ylabel(f"pixels (% per {GM2})", fontsize=FONT_LABEL)
    ax.tick_params(labelsize=FONT_LABEL)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=FONT_LABEL)
    return fig


def curve_figure(
    curves: dict[str, xr.DataArray],
    *,
    threshold_gm2: float | None = None,
) -> Figure:
    """Occlusion rate (%) against the LWP threshold (g m-2), one line per curve."""
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    for label, c in curves.items():
        ax.plot(c["threshold"].values, 100 * c.values, marker="o", ms=3, label=label)
    if threshold_gm2 is not None:
        ax.axvline(threshold_gm2, color="tab:red", lw=1, label=f"threshold {threshold_gm2:g} {GM2}")
    ax.set_xlabel(f"LWP threshold ({GM2})", fontsize=FONT_LABEL)
    ax.set_ylabel("occluded pixels (%)", fontsize=FONT_LABEL)
    ax.tick_params(labelsize=FONT_LABEL)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT_LABEL)
    return fig


def figure_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """PNG bytes of a figure (for an ``ipywidgets.Image``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
