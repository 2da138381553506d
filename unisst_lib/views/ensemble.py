"""Seeing an ensemble fill: its error estimate, whether the estimate is right, its members.

:func:`unisst_lib.methods.fill.fill` with ``members=N`` returns the members' mean
``<name>``, the predicted standard deviation of its error ``<name>_error`` (σ: 0 where
observed, NaN on land) and, with ``keep_members=True``, the members ``<name>_members``
on a ``member`` dimension. The figures here take those DataArrays:

* :func:`sigma_error_figure` — σ of one frame next to the true absolute error
  ``|mean − truth|`` on the same colour scale (a twin), or next to the mean (real data);
* :func:`spread_skill_figure` — pixels binned by σ, the RMSE of each bin against its
  RMS σ with the 1:1 line (the bins: :func:`spread_skill_bins`), and how often the
  error falls within ±1σ and ±2σ next to the Gaussian 68.3 % and 95.4 %;
* :func:`rank_histogram_figure` — where the truth ranks among the members;
* :func:`members_figure` and :func:`members_gif` — the members side by side, one
  frame or the whole sequence. With a member slider next to the time slider:
  :func:`unisst_lib.views.interactive.interactive_members`.

The scores are those of :mod:`unisst_lib.evaluation.probabilistic`; the maps are drawn
like :mod:`unisst_lib.views.maps` (cmocean ``thermal`` for SST, clouds light grey, land
dark grey, Natural Earth 110m offline); σ and errors use cmocean ``amp`` from 0.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cmocean
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from unisst_lib.evaluation import probabilistic as prob
from unisst_lib.views.ensemble_gif import write_members_gif
from unisst_lib.views.ensemble_inputs import (
    MEMBER,
    EnsembleInputError,
    check_finite,
    check_members,
    frame_index,
    members_and_shown,
    same_grid,
    selection,
    shared_limits,
    unit_label,
    values_of,
)
from unisst_lib.views.map_panels import (
    CLOUD_GREY,
    LABEL_SIZE,
    TICK_SIZE,
    TITLE_SIZE,
    check_field,
    error_limit,
    map_axes,
    mesh,
    missing_overlay,
    require_extra,
    sst_cmap,
    time_labels,
)
from unisst_lib.views.maps import PANEL_IN, configure_offline

__all__ = [
    "EnsembleInputError",
    "SpreadSkillBins",
    "check_members",
    "members_figure",
    "members_gif",
    "rank_histogram_figure",
    "sigma_error_figure",
    "spread_skill_bins",
    "spread_skill_figure",
]

COVERAGE_K = (1, 2)
"""The ±kσ intervals whose coverage :func:`spread_skill_figure` shows."""
MEMBER_COLUMNS = 4
"""Maps per row of :func:`members_figure` (the observation and 6 members: two rows)."""


# ------------------------------------------------------------------ σ and the error
def _sigma_cmap():
    """cmocean ``amp`` (white at 0), NaN light grey: σ and absolute errors."""
    return cmocean.cm.amp.with_extremes(bad=CLOUD_GREY)


def _cloud_edges(ax, grid: xr.DataArray, clouds: np.ndarray) -> None:
    """The outline of the clouds (thin dark lines) over a map, when the frame has some."""
    if not clouds.any() or clouds.all():
        return
    ccrs = require_extra("cartopy.crs")
    ax.contour(
        grid["longitude"].values, grid["latitude"].values, clouds.astype(float), levels=[0.5],
        colors="0.15", linewidths=0.5, transform=ccrs.PlateCarree(), zorder=3.5,
    )  # fmt: skip


def _rms(values: np.ndarray) -> str:
    """``0.12 °C``: the RMS of the finite values (``n/a`` without any)."""
    v = values[np.isfinite(values)]
    return f"{math.sqrt(float(np.mean(v**2))):.2f} °C" if v.size else "n/a"


def _sigma_panels(mean, sigma, truth, observation, f: int):
    """(name, title, values, mesh options) of each map of :func:`sigma_error_figure` at
    frame ``f``, the clouds and the land (H, W) bool."""
    s, m = sigma.values[f], mean.values[f]
    land = np.isnan(m)
    clouds = (np.isnan(observation.values[f]) & ~land) if observation is not None else s > 0
    gaps = clouds & np.isfinite(s)
    lo, hi = shared_limits([("mean", mean.values)], [f])
    sst = {"cmap": sst_cmap(), "vmin": lo, "vmax": hi}
    err = np.abs(m - truth.values[f]) if truth is not None else None
    scale = np.concatenate([s[gaps], err[gaps] if err is not None else []])
    top = error_limit(scale) if np.isfinite(scale).any() else 1.0
    amp = {"cmap": _sigma_cmap(), "vmin": 0.0, "vmax": top}  # one scale for σ and |error|
    panels = (
        [("observation", "observation", observation.values[f], sst)]
        if observation is not None
        else []
    )
    panels.append(("sigma", f"predicted σ (RMS {_rms(s[gaps])})", s, amp))
    if err is not None:
        panels.append(("abs_error", f"|mean − truth| (RMSE {_rms(err[gaps])})", err, amp))
    else:
        panels.append(("mean", "ensemble mean", m, sst))
    return panels, clouds, land


def sigma_error_figure(
    mean: xr.DataArray,
    error: xr.DataArray,
    *,
    truth: xr.DataArray | None = None,
    observation: xr.DataArray | None = None,
    frame: int = 0,
) -> Figure:
    """One frame: the predicted error σ next to the true absolute error (or the mean).

    Parameters
    ----------
    mean, error
        ``<name>`` (the ensemble mean) and ``<name>_error`` (σ) of
        :func:`unisst_lib.methods.fill.fill` with ``members > 1``: DataArrays (time,
        latitude, longitude) on one grid, °C.
    truth
        The true field (a twin): the second map is ``|mean − truth|`` on σ's colour
        scale (cmocean ``amp`` from 0 to the 99.5th percentile of both under the
        clouds), so where the model says it is unsure can be compared with where it
        is wrong. None (real data): the second map is the ensemble mean.
    observation
        The observation (NaN under the clouds): drawn first, and its NaN are the
        clouds; default the pixels with σ > 0.
    frame
        The time index shown.

    Returns
    -------
    matplotlib.figure.Figure
        One row of cartopy maps, labelled ``"observation:<frame>"``, ``"sigma:<frame>"``
        and ``"abs_error:<frame>"`` or ``"mean:<frame>"``, each with the clouds' outline
        and land dark grey; the titles give the RMS of σ and the RMSE under the clouds.

    Raises
    ------
    GridError
        A field is not (time, latitude, longitude) or not on the mean's grid.
    MapInputError
        ``frame`` outside the sequence.
    """
    configure_offline()
    mean = check_field(mean, "mean")
    other = same_grid(mean, "mean", error=error, truth=truth, observation=observation)
    f = frame_index(frame, mean.sizes["time"])
    panels, clouds, land = _sigma_panels(
        mean, other["error"], other["truth"], other["observation"], f
    )
    fig = Figure(figsize=(PANEL_IN * len(panels) + 0.6, PANEL_IN + 1.3), layout="constrained")
    grid = fig.add_gridspec(1, len(panels))
    for c, (name, title, values, opts) in enumerate(panels):
        ax = map_axes(fig, grid[0, c], mean, left=c == 0, bottom=True)
        ax.set_label(f"{name}:{f}")
        image = mesh(ax, mean, values, **opts)
        missing_overlay(ax, mean, land)
        if name != "observation":
            _cloud_edges(ax, mean, clouds)
        ax.set_title(title, fontsize=TITLE_SIZE)
        cb = fig.colorbar(image, ax=ax, orientation="horizontal", shrink=0.9, aspect=20)
        sst = name in ("observation", "mean")
        label = f"SST ({unit_label(mean)})" if sst else f"{unit_label(error)}, 0 where observed"
        cb.set_label(label, fontsize=LABEL_SIZE)
        cb.ax.tick_params(labelsize=TICK_SIZE)
    fig.suptitle(f"Ensemble error estimate, {time_labels(mean)[f]}", fontsize=TITLE_SIZE + 1)
    return fig


# -------------------------------------------------------------------- spread–skill
@dataclass(frozen=True)
class SpreadSkillBins:
    """Pixels binned by σ (quantile edges): per bin its RMS σ, its RMSE and its pixel count."""

    edges: np.ndarray  # (n_bins + 1,) σ at the bins' edges
    rms_sigma: np.ndarray  # (n_bins,)
    rmse: np.ndarray  # (n_bins,)
    count: np.ndarray  # (n_bins,) int


def _sigma_and_error(sigma, error, where) -> tuple[np.ndarray, np.ndarray]:
    """σ and the error at the selected pixels (1-D), checked."""
    s, e = values_of(sigma, "sigma"), values_of(error, "error")
    if s.shape != e.shape:
        raise EnsembleInputError(
            f"sigma has shape {s.shape} but error {e.shape}: pass <name>_error and "
            "mean − truth of the same fill"
        )
    sel = selection(where, s.shape, np.isfinite(s) & np.isfinite(e) & (s > 0))
    check_finite(sel, sigma=s, error=e)
    if (s[sel] < 0).any():
        raise EnsembleInputError(
            "sigma is negative at some selected pixels: σ is a standard deviation"
        )
    return s[sel], e[sel]


def spread_skill_bins(
    sigma: Any, error: Any, *, where: Any = None, bins: int = 10
) -> SpreadSkillBins:
    """The spread–skill curve: pixels binned by predicted σ, RMS σ and RMSE of each bin.

    The edges are the σ quantiles 0, 1/bins, …, 1; equal edges (many pixels of one σ)
    merge their bins and empty bins are left out, so a pixel's bin depends on its σ
    alone. The last bin includes its upper edge.

    Parameters
    ----------
    sigma
        The predicted standard deviation of the error (``<name>_error``).
    error
        The error itself, ``mean − truth`` (or − withheld observations); same shape.
    where
        Bool, the pixels scored; default the pixels where σ > 0 (the gaps) and both
        are finite.
    bins
        The number of quantile bins (at most).
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise EnsembleInputError(f"bins must be a positive integer, got {bins!r}")
    s, e = _sigma_and_error(sigma, error, where)
    edges = np.unique(np.quantile(s, np.linspace(0.0, 1.0, int(bins) + 1)))
    if edges.size == 1:  # one σ everywhere: one bin
        edges = np.array([edges[0], edges[0]])
    index = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, edges.size - 2)
    count = np.bincount(index, minlength=edges.size - 1)
    keep = count > 0
    sum_s2 = np.bincount(index, weights=s**2, minlength=edges.size - 1)
    sum_e2 = np.bincount(index, weights=e**2, minlength=edges.size - 1)
    kept_edges = np.append(edges[:-1][keep], edges[-1])
    return SpreadSkillBins(
        edges=kept_edges,
        rms_sigma=np.sqrt(sum_s2[keep] / count[keep]),
        rmse=np.sqrt(sum_e2[keep] / count[keep]),
        count=count[keep],
    )


def _scored(score, *args, **kwargs) -> float:
    """A score of :mod:`~unisst_lib.evaluation.probabilistic`, its input errors as ours."""
    try:
        return score(*args, **kwargs)
    except prob.ScoreInputError as err:
        raise EnsembleInputError(str(err)) from err


def _coverage_axes(ax, s: np.ndarray, e: np.ndarray) -> None:
    """Bars: the share within ±kσ, the ensemble's next to the Gaussian's, for k in COVERAGE_K."""
    x = np.arange(len(COVERAGE_K))
    seen = [100 * _scored(prob.coverage, s, e, k) for k in COVERAGE_K]
    want = [100 * prob.gaussian_coverage(k) for k in COVERAGE_K]
    ax.bar(x - 0.2, seen, width=0.4, color="tab:red", label="ensemble", gid="coverage:ensemble")
    ax.bar(x + 0.2, want, width=0.4, color="0.7", label="Gaussian", gid="coverage:gaussian")
    for xi, v in zip(x - 0.2, seen, strict=True):
        ax.text(xi, v + 1.5, f"{v:.1f} %", ha="center", fontsize=LABEL_SIZE)
    ax.set_xticks(x, [f"±{k}σ" for k in COVERAGE_K])
    ax.set_ylim(0, 125)
    ax.set_ylabel("share of |error| ≤ kσ (%)", fontsize=LABEL_SIZE)
    ax.set_title("(b) coverage", fontsize=TITLE_SIZE)
    ax.legend(fontsize=LABEL_SIZE, loc="upper center", ncols=2, frameon=False)


def spread_skill_figure(sigma: Any, error: Any, *, where: Any = None, bins: int = 10) -> Figure:
    """Is σ right? RMSE against RMS σ in σ bins, and the coverage of ±1σ and ±2σ.

    Parameters
    ----------
    sigma, error, where, bins
        As :func:`spread_skill_bins`: σ (``<name>_error``), the error (mean − truth),
        the pixels scored (default σ > 0) and the number of quantile bins.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: ``"spread_skill"`` — one point per bin (RMS σ, RMSE), the 1:1 line
        (points above it: σ too small); ``"coverage"`` — the share of pixels with
        |error| ≤ kσ for k = 1, 2 next to the Gaussian 68.3 % and 95.4 %. The title
        gives the overall spread–skill ratio
        (:func:`~unisst_lib.evaluation.probabilistic.spread_skill`:
        1 when σ matches the error on average).
    """
    table = spread_skill_bins(sigma, error, where=where, bins=bins)
    s, e = _sigma_and_error(sigma, error, where)
    ratio = _scored(prob.spread_skill, s, e)
    unit = unit_label(sigma, error)
    fig = Figure(figsize=(8.0, 3.6), layout="constrained")
    ax, ax_cov = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    ax.set_label("spread_skill")
    ax_cov.set_label("coverage")
    top = 1.08 * float(max(table.rms_sigma.max(), table.rmse.max()))
    ax.plot([0, top], [0, top], ls="--", color="0.4", lw=1, label="1:1", gid="one_to_one")
    ax.plot(table.rms_sigma, table.rmse, "o-", color="tab:red", ms=4, label="σ bins", gid="bins")
    ax.set(xlim=(0, top), ylim=(0, top), aspect="equal")
    ax.set_xlabel(f"predicted σ, RMS in the bin ({unit})", fontsize=LABEL_SIZE)
    ax.set_ylabel(f"RMSE in the bin ({unit})", fontsize=LABEL_SIZE)
    n_bins = table.count.size
    ax.set_title(f"(a) spread–skill, {n_bins} bin{'s' * (n_bins > 1)} of σ", fontsize=TITLE_SIZE)
    ax.legend(fontsize=LABEL_SIZE, loc="upper left", frameon=False)
    _coverage_axes(ax_cov, s, e)
    for a in (ax, ax_cov):
        a.tick_params(labelsize=TICK_SIZE)
        a.grid(alpha=0.3)
    fig.suptitle(
        f"Spread–skill ratio {ratio:.2f} over {s.size} pixels (1: σ matches the error)",
        fontsize=TITLE_SIZE + 1,
    )
    return fig


# ------------------------------------------------------------------ rank histogram
def rank_histogram_figure(members: xr.DataArray, obs: xr.DataArray, *, where: Any = None) -> Figure:
    """Where the truth ranks among the members, as shares, with the flat line of a fair ensemble.

    Parameters
    ----------
    members
        ``<name>_members`` (member, time, latitude, longitude).
    obs
        The truth (or withheld observations), (time, latitude, longitude) on the same grid.
    where
        Bool (time, latitude, longitude), the pixels ranked; default where the members
        differ (the gaps: every member equals the observation where observed) and
        everything is finite.

    Returns
    -------
    matplotlib.figure.Figure
        One axes ``"rank_histogram"``: N + 1 bars (rank 0: the truth below every
        member), each the share of the pixels, and the flat line at 1 / (N + 1). A U
        shape says the members spread too little, a dome too much, a slope a bias.
    """
    mem = check_members(members)
    truth = same_grid(mem.isel({MEMBER: 0}), "members", obs=obs)["obs"]
    if truth is None:
        raise EnsembleInputError("obs is required: the truth (or withheld observations) to rank")
    x, y = mem.values, truth.values
    default = np.isfinite(x).all(axis=0) & np.isfinite(y)
    default &= np.ptp(np.where(np.isfinite(x), x, 0.0), axis=0) > 0
    sel = selection(where, y.shape, default)
    check_finite(sel, members=x, obs=y)
    counts = _scored(prob.rank_histogram, x, y, sel)
    n = x.shape[0]
    share = counts / counts.sum()
    fig = Figure(figsize=(5.5, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ax.set_label("rank_histogram")
    ax.bar(np.arange(n + 1), share, width=0.85, color="tab:blue", gid="ranks")
    ax.axhline(1 / (n + 1), color="0.2", ls="--", lw=1, label=f"flat: 1/{n + 1}", gid="flat")
    ax.set_xticks(np.arange(n + 1))
    ax.set_xlabel("rank of the truth among the members (0: below all)", fontsize=LABEL_SIZE)
    ax.set_ylabel("share of the pixels", fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)
    ax.legend(fontsize=LABEL_SIZE, frameon=False)
    ax.set_title(f"Rank histogram, {n} members, {int(counts.sum())} pixels", fontsize=TITLE_SIZE)
    return fig


# ------------------------------------------------------------------------ members
# ------------------------------------------------------------------------ members
def members_figure(
    members: xr.DataArray,
    *,
    frame: int = 0,
    observation: xr.DataArray | None = None,
    max_members: int = 6,
) -> Figure:
    """The members of one frame side by side (the observation first), on one colour scale.

    Parameters
    ----------
    members
        ``<name>_members`` (member, time, latitude, longitude), °C.
    frame
        The time index shown.
    observation
        The observation (NaN under the clouds, light grey), drawn first when given.
    max_members
        Show the first this many members.

    Returns
    -------
    matplotlib.figure.Figure
        Cartopy maps, up to :data:`MEMBER_COLUMNS` a row, labelled ``"observation:<frame>"``
        and ``"member <k>:<frame>"``; one shared °C colour bar (cmocean ``thermal``), land
        dark grey.
    """
    configure_offline()
    mem, grid, shown = members_and_shown(members, observation, max_members)
    f = frame_index(frame, grid.sizes["time"])
    lo, hi = shared_limits(shown, [f])
    land = np.isnan(mem.values[:, f]).all(axis=0)
    n = len(shown)
    cols = min(n, MEMBER_COLUMNS)
    rows = -(-n // cols)
    fig = Figure(
        figsize=(PANEL_IN * cols + 0.4, (PANEL_IN + 0.3) * rows + 0.9), layout="constrained"
    )
    spec = fig.add_gridspec(rows, cols)
    axes, image = [], None
    for i, (name, values) in enumerate(shown):
        r, c = divmod(i, cols)
        ax = map_axes(fig, spec[r, c], grid, left=c == 0, bottom=i + cols >= n)
        ax.set_label(f"{name}:{f}")
        image = mesh(ax, grid, values[f], cmap=sst_cmap(), vmin=lo, vmax=hi)
        missing_overlay(ax, grid, land)
        ax.set_title(name, fontsize=TITLE_SIZE)
        axes.append(ax)
    cb = fig.colorbar(image, ax=axes, orientation="horizontal", shrink=0.6, aspect=30)
    cb.set_label(f"SST ({unit_label(members)})", fontsize=LABEL_SIZE)
    cb.ax.tick_params(labelsize=TICK_SIZE)
    total = mem.sizes[MEMBER]
    some = f"{n - (observation is not None)} of {total} members"
    fig.suptitle(f"Ensemble members ({some}), {time_labels(grid)[f]}", fontsize=TITLE_SIZE + 1)
    return fig


def members_gif(
    members: xr.DataArray,
    path: str | os.PathLike[str],
    *,
    observation: xr.DataArray | None = None,
    fps: float = 4,
    dpi: int = 100,
    max_members: int = 4,
    progress: bool = False,
) -> Path:
    """An animated GIF of the members over time, side by side (the observation first).

    Parameters
    ----------
    members, observation, max_members
        As :func:`members_figure`.
    path
        The ``.gif`` written (atomically: a failed write leaves no file and an
        existing one untouched; parent folders are created).
    fps, dpi, progress
        As :func:`unisst_lib.views.animation.sequence_gif`.

    Returns
    -------
    pathlib.Path
        ``path``: one image per time step, titled with its time; maps of 2.8 inches
        (up to three in a row, else two rows) on one fixed °C colour scale.
    """
    return write_members_gif(
        members, path, observation=observation, fps=fps, dpi=dpi, max_members=max_members,
        progress=progress,
    )  # fmt: skip
