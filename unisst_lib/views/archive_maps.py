"""Maps of a real L3 archive: what it holds, how a method fills it, where it errs.

The inputs are what :func:`unisst_lib.data.archive.open_archive` returns
(``sst (time, latitude, longitude)`` °C, NaN where missing; ``land``;
``quality_level`` when the files have one) and, for the error maps, a
cross-validation result of :func:`unisst_lib.benchmark.crossval.cross_validate`
run with ``keep_fills=True`` (its ``hidden`` mask and ``fills`` arrays; taken by
attribute, so this module does not import the benchmark):

* :func:`observed_share`, :func:`quality_counts`, :func:`frame_coverage`: the numbers;
* :func:`coverage_figure`: per pixel, the share of frames with a usable SST, and per
  frame the share of the sea observed (absent dates marked);
* :func:`quality_figure`: per pixel, the share of frames whose value the quality filter
  removed, and the values per ``quality_level``;
* :func:`cv_error_figure`: one date — observed, what the method saw (the hidden pixels
  removed), its fill and its error on the hidden pixels;
* :func:`cv_errors_by_method_figure`: the error maps of every method on one date;
* :func:`filled_figure`: one date, observed and filled.

Maps use the pieces of :mod:`unisst_lib.views.map_panels` (cartopy PlateCarree panels,
Natural Earth 110m offline, cmocean ``thermal`` for SST, a symmetric cmocean ``balance``
for errors, land dark grey); shares use cmocean ``dense`` and ``amp``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cmocean
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from unisst_lib.data.ghrsst import quality_levels
from unisst_lib.views.map_panels import (
    CLOUD_GREY,
    LABEL_SIZE,
    TICK_SIZE,
    TITLE_SIZE,
    GridError,
    MapInputError,
    colorbar_extend,
    err_cmap,
    error_limit,
    map_axes,
    mesh,
    missing_overlay,
    sst_cmap,
    time_labels,
)
from unisst_lib.views.maps import PANEL_IN, configure_offline

DIMS = ("time", "latitude", "longitude")
HIDDEN_BACKGROUND = "#f2f2f2"  # error maps: pixels that were not hidden (no error to show)
KEPT_COLOUR = "#1b9e77"
REMOVED_COLOUR = "#d95f02"
ABSENT_COLOUR = "#7570b3"


# --------------------------------------------------------------------------- inputs
def _sst(ds: xr.Dataset) -> xr.DataArray:
    """``ds.sst`` checked, in (time, latitude, longitude) order (grid as it is), float64."""
    if not isinstance(ds, xr.Dataset) or "sst" not in ds:
        raise GridError(
            "archive maps need the Dataset open_archive returns, with an 'sst' variable "
            f"(time, latitude, longitude); got {type(ds).__name__}"
            + (f" with {list(ds.data_vars)}" if isinstance(ds, xr.Dataset) else "")
        )
    sst = ds["sst"]
    if set(sst.dims) != set(DIMS):
        raise GridError(
            f"sst has dims {sst.dims}; archive maps need (time, latitude, longitude): open the "
            "files with unisst_lib.data.archive.open_archive"
        )
    for c in ("latitude", "longitude"):
        if sst.sizes[c] < 2:
            raise GridError(f"sst has {sst.sizes[c]} {c} value(s); a map needs at least 2")
    return sst.transpose(*DIMS).astype(np.float64)


def _land(ds: xr.Dataset, sst: xr.DataArray) -> np.ndarray:
    """(H, W) bool land mask: ``ds.land``, else pixels never observed."""
    if "land" in ds:
        return ds["land"].transpose("latitude", "longitude").values.astype(bool)
    return ~np.isfinite(sst.values).any(axis=0)


def observed_share(ds: xr.Dataset) -> xr.DataArray:
    """Per pixel, the percentage of frames with a usable SST (after the quality filter).

    Land is NaN. Absent dates count as frames without an observation.
    """
    sst = _sst(ds)
    share = 100.0 * np.isfinite(sst.values).mean(axis=0)
    out = xr.DataArray(
        np.where(_land(ds, sst), np.nan, share),
        dims=("latitude", "longitude"),
        coords={"latitude": sst["latitude"], "longitude": sst["longitude"]},
        attrs={"units": "%", "long_name": "frames with a usable SST"},
    )
    return out


def frame_coverage(ds: xr.Dataset) -> pd.Series:
    """Per frame (indexed by time), the percentage of sea pixels with a usable SST."""
    sst = _sst(ds)
    sea = ~_land(ds, sst)
    n_sea = max(int(sea.sum()), 1)
    seen = (np.isfinite(sst.values) & sea[None]).sum(axis=(1, 2))
    return pd.Series(100.0 * seen / n_sea, index=pd.Index(sst["time"].values, name="time"))


def quality_counts(ds: xr.Dataset) -> dict[int, int]:
    """Values over the sea per ``quality_level`` 1..5 (0, no data, is left out).

    Raises
    ------
    GridError
        The archive has no ``quality_level``.
    """
    if "quality_level" not in ds:
        raise GridError("the archive has no quality_level: its files carry no per-pixel quality")
    sea = ~_land(ds, _sst(ds))
    ql = ds["quality_level"].transpose(*DIMS).values
    levels = sorted(k for k in quality_levels(ds["quality_level"].attrs) if k > 0)
    return {int(k): int(((ql == k) & sea[None]).sum()) for k in levels}


def removed_share(ds: xr.Dataset) -> xr.DataArray:
    """Per pixel, the percentage of frames whose value the quality filter removed.

    A value is removed when its ``quality_level`` is at least 1 (a value in the file)
    and below the archive's ``min_quality``. Land is NaN.
    """
    if "quality_level" not in ds:
        raise GridError("the archive has no quality_level: nothing was removed for quality")
    sst = _sst(ds)
    min_quality = int(ds.attrs.get("min_quality", 0))
    ql = ds["quality_level"].transpose(*DIMS).values
    removed = (ql >= 1) & (ql < min_quality)
    share = 100.0 * removed.mean(axis=0)
    return xr.DataArray(
        np.where(_land(ds, sst), np.nan, share),
        dims=("latitude", "longitude"),
        coords={"latitude": sst["latitude"], "longitude": sst["longitude"]},
        attrs={"units": "%", "long_name": f"frames with quality_level below {min_quality}"},
    )


def pick_date(ds: xr.Dataset, date: Any = None, *, hidden: np.ndarray | None = None) -> int:
    """The frame index of ``date`` (an index, a date string, a datetime64).

    ``None``: the frame with the most ``hidden`` pixels when given, else the frame whose
    sea coverage is closest to the median of the frames with data.

    Raises
    ------
    MapInputError
        An index outside the archive, or a date farther than half a frame from any frame.
    """
    times = ds["time"].values
    n = times.size
    if date is None:
        if hidden is not None:
            return int(np.argmax(np.asarray(hidden).reshape(n, -1).sum(axis=1)))
        cover = frame_coverage(ds).to_numpy()
        with_data = np.flatnonzero(cover > 0)
        if with_data.size == 0:
            return 0
        target = float(np.median(cover[with_data]))
        return int(with_data[np.argmin(np.abs(cover[with_data] - target))])
    if isinstance(date, int | np.integer) and not isinstance(date, bool):
        if not 0 <= date < n:
            raise MapInputError(f"frame {date} is outside 0..{n - 1} (the archive's frames)")
        return int(date)
    return _index_of_date(times, date)


def _index_of_date(times: np.ndarray, date: Any) -> int:
    """The frame nearest ``date`` within half a frame; a bare date picks its day's only frame."""
    try:
        stamp = pd.Timestamp(date)
    except (ValueError, TypeError) as err:
        raise MapInputError(f"date {date!r} is neither a frame index nor a date: {err}") from err
    when = np.datetime64(stamp.tz_localize(None) if stamp.tzinfo else stamp, "ns")
    days = times.astype("datetime64[D]")
    same_day = np.flatnonzero(days == when.astype("datetime64[D]"))
    if stamp == stamp.normalize() and same_day.size == 1:  # "2018-03-14": that day's frame
        return int(same_day[0])
    step = np.min(np.diff(times)) if times.size > 1 else np.timedelta64(1, "D")
    gap = np.abs(times - when)
    i = int(np.argmin(gap))
    if gap[i] > step / 2:
        first, last = (str(t)[:16].replace("T", " ") for t in (times[0], times[-1]))
        raise MapInputError(
            f"date {date!r} is not in the archive ({first} to {last}, one frame every "
            f"{pd.Timedelta(step)}): give a date in that range, or a frame index"
        )
    return i


# -------------------------------------------------------------------------- drawing
@dataclass(frozen=True)
class _Panel:
    """One map panel: a (H, W) field, how to colour it and the colorbar label."""

    title: str
    values: np.ndarray
    kind: str  # "sst", "error", "observed", "removed"
    label: str


def _cmaps(kind: str):
    if kind == "sst":
        return sst_cmap()
    if kind == "error":
        return err_cmap().with_extremes(bad=HIDDEN_BACKGROUND)
    base = cmocean.cm.dense if kind == "observed" else cmocean.cm.amp
    return base.with_extremes(bad=CLOUD_GREY)


def _limits(panels: Sequence[_Panel]) -> dict[str, tuple[float, float]]:
    """Colour range of each kind over all its panels (SST shared, errors symmetric, shares
    rounded out to 5 %)."""
    out = {}
    for kind in dict.fromkeys(p.kind for p in panels):
        vals = np.concatenate([p.values[np.isfinite(p.values)] for p in panels if p.kind == kind])
        if kind == "error":
            e = error_limit(vals) if vals.size else 1.0
            out[kind] = (-e, e)
        elif kind == "sst":
            lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
            out[kind] = (lo - 0.5, hi + 0.5) if hi - lo < 1e-6 else (lo, hi)
        else:  # a share (%): its own range in steps of 5 %, so that the pattern shows
            lo = 5.0 * np.floor(vals.min() / 5) if vals.size else 0.0
            hi = 5.0 * np.ceil(vals.max() / 5) if vals.size else 100.0
            out[kind] = (lo, max(hi, lo + 5.0))
    return out


def _map_row(
    ds: xr.Dataset, panels: Sequence[_Panel], title: str, *, extra: int = 0
) -> tuple[Figure, Any]:
    """One row of cartopy panels on ``ds``'s grid, a colorbar per kind of panel.

    The panels' arrays are in ``ds``'s (latitude, longitude) order; they are drawn on an
    ascending grid. ``extra``: grid columns left free on the right (for a plot; the
    returned gridspec's ``[0, len(panels):]``). Each map's label (``ax.get_label()``)
    is its panel's kind; the colorbars' are ``colorbar:<kind>``.
    """
    configure_offline()
    sst = _sst(ds)
    flip_y, flip_x = (bool(sst[c].values[0] > sst[c].values[-1]) for c in ("latitude", "longitude"))
    sy, sx = slice(None, None, -1 if flip_y else 1), slice(None, None, -1 if flip_x else 1)
    grid = sst.isel(time=0).sortby(["latitude", "longitude"])
    land = _land(ds, sst)[sy, sx]
    n = len(panels)
    fig = Figure(figsize=(PANEL_IN * (n + extra) + 0.4, PANEL_IN + 1.3), layout="constrained")
    spec = fig.add_gridspec(1, n + extra)
    limits = _limits(panels)
    images: dict[str, tuple[Any, list, _Panel]] = {}
    for i, p in enumerate(panels):
        ax = map_axes(fig, spec[0, i], grid, left=i == 0, bottom=True)
        ax.set_label(p.kind)
        lo, hi = limits[p.kind]
        im = mesh(ax, grid, p.values[sy, sx], cmap=_cmaps(p.kind), vmin=lo, vmax=hi)
        missing_overlay(ax, grid, land)
        ax.set_title(p.title, fontsize=TITLE_SIZE)
        images.setdefault(p.kind, (im, [], p))[1].append(ax)
    for kind, (im, axes, p) in images.items():
        lo, hi = limits[kind]
        values = [q.values for q in panels if q.kind == kind]
        cb = fig.colorbar(
            im, ax=axes, orientation="horizontal", shrink=0.9, aspect=20 * len(axes),
            extend=colorbar_extend(lo, hi, *values),
        )  # fmt: skip
        cb.ax.set_label(f"colorbar:{kind}")
        cb.set_label(p.label, fontsize=LABEL_SIZE)
        cb.ax.tick_params(labelsize=TICK_SIZE)
    fig.suptitle(title, fontsize=TITLE_SIZE + 1)
    return fig, spec


# -------------------------------------------------------------------------- figures
SST_LABEL = "sea-surface temperature (°C)"


def coverage_figure(ds: xr.Dataset) -> Figure:
    """(a) Map: % of frames with a usable SST per pixel; (b) % of the sea observed per frame.

    Absent dates (no file) are marked on (b). The axes' labels are ``observed`` (the map)
    and ``frames``; the y axis of (b) is in %.
    """
    share = observed_share(ds).values
    sea_mean = float(np.nanmean(share)) if np.isfinite(share).any() else 0.0
    panel = _Panel(
        f"(a) observed in {sea_mean:.0f} % of frames\n(mean over the sea)",
        share, "observed", "frames with a usable SST (%)",
    )  # fmt: skip
    fig, spec = _map_row(ds, [panel], _archive_title(ds), extra=2)
    _frames_axes(fig.add_subplot(spec[0, 1:]), ds)
    return fig


def _frames_axes(ax, ds: xr.Dataset) -> None:
    """Bars: % of the sea observed per frame; absent dates marked on the axis."""
    cover = frame_coverage(ds)
    times = pd.DatetimeIndex(cover.index)
    step = (times[1] - times[0]) if len(times) > 1 else pd.Timedelta(days=1)
    ax.set_label("frames")
    ax.bar(times, cover.to_numpy(), width=step * 0.9, color=KEPT_COLOUR, label="observed")
    absent = pd.DatetimeIndex(pd.to_datetime(list(ds.attrs.get("absent_dates", []))))
    if len(absent):
        ax.plot(
            absent, np.zeros(len(absent)), "v", color=ABSENT_COLOUR, clip_on=False,
            label=f"no file ({len(absent)} {'date' if len(absent) == 1 else 'dates'})",
        )  # fmt: skip
        ax.legend(fontsize=TICK_SIZE, loc="upper right")
    ax.set_ylim(0, 100)
    ax.set_ylabel("sea observed (%)", fontsize=LABEL_SIZE)
    ax.set_title(f"(b) each frame ({ds.attrs.get('cadence', '')})", fontsize=TITLE_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)
    ax.tick_params(axis="x", labelrotation=30)


def quality_figure(ds: xr.Dataset) -> Figure | None:
    """(a) Map: % of frames whose value the quality filter removed; (b) values per level.

    None (nothing to draw) when the archive has no ``quality_level``. The bars of (b)
    (axes label ``levels``) are the percentages of the sea values in the files at each
    level 1..5, the kept levels (``quality_level >= min_quality``) in green.
    """
    if "quality_level" not in ds:
        return None
    min_quality = int(ds.attrs.get("min_quality", 0))
    panel = _Panel(
        f"(a) removed: quality_level < {min_quality}",
        removed_share(ds).values, "removed", "frames with a value removed (%)",
    )  # fmt: skip
    fig, spec = _map_row(ds, [panel], _archive_title(ds), extra=2)
    _levels_axes(fig.add_subplot(spec[0, 1:]), ds, min_quality)
    return fig


def _levels_axes(ax, ds: xr.Dataset, min_quality: int) -> None:
    counts = quality_counts(ds)
    names = quality_levels(ds["quality_level"].attrs)
    total = max(sum(counts.values()), 1)
    levels = list(counts)
    share = [100.0 * counts[k] / total for k in levels]
    colours = [KEPT_COLOUR if k >= min_quality else REMOVED_COLOUR for k in levels]
    ax.set_label("levels")
    ax.bar(range(len(levels)), share, color=colours)
    ax.set_xticks(range(len(levels)))
    ax.set_xticklabels([f"{k}\n{names.get(k, '').replace('_', ' ')}" for k in levels])
    ax.set_xlabel("quality_level (kept in green)", fontsize=LABEL_SIZE)
    ax.set_ylabel("sea values in the files (%)", fontsize=LABEL_SIZE)
    ax.set_title(f"(b) quality ({ds.attrs.get('quality_filter', 'no filter')})",
                 fontsize=TITLE_SIZE)  # fmt: skip
    ax.tick_params(labelsize=TICK_SIZE)


def _archive_title(ds: xr.Dataset) -> str:
    sst = ds["sst"]
    first, last = (str(t)[:10] for t in sst["time"].values[[0, -1]])
    files = ds.attrs.get("source_files")
    head = f"{files} files, " if files else ""
    return (
        f"{head}{sst.sizes['time']} frames ({first} to {last}), "
        f"{sst.sizes['latitude']}×{sst.sizes['longitude']} pixels"
    )


def _check_cv(ds: xr.Dataset, result: Any, methods: Sequence[str]) -> None:
    shape = tuple(_sst(ds).shape)
    fills = getattr(result, "fills", None)
    hidden = getattr(result, "hidden", None)
    if fills is None or hidden is None:
        raise MapInputError(
            "the CV error maps need a cross_validate(...) result (its `hidden` and `fills`)"
        )
    for m in methods:
        if m not in fills:
            raise MapInputError(
                f"no fill of {m!r} in the cross-validation result (it has: "
                f"{', '.join(fills) or 'none'}): run cross_validate(..., keep_fills=True) with "
                f"{m!r} among the methods, and check that it did not fail"
            )
    if np.shape(hidden) != shape:
        raise MapInputError(
            f"the cross-validation result is for a {np.shape(hidden)} archive, this one is "
            f"{shape}: pass the Dataset that was cross-validated"
        )


def _cv_error(result: Any, method: str, f: int, observed: np.ndarray) -> np.ndarray:
    """(H, W) fill − observation on the pixels hidden in frame ``f``, NaN elsewhere."""
    hidden = np.asarray(result.hidden[f], dtype=bool)
    filled = np.asarray(result.fills[method][f], dtype=np.float64)
    return np.where(hidden, filled - observed, np.nan)


def _rmse(err: np.ndarray) -> str:
    e = err[np.isfinite(err)]
    return f"RMSE {np.sqrt(np.mean(e**2)):.2f} °C" if e.size else "no hidden pixel"


def cv_error_figure(
    ds: xr.Dataset, result: Any, *, method: str = "unisst", date: Any = None
) -> Figure:
    """One date of a cross-validation: observed, CV input, the method's fill, its error.

    Parameters
    ----------
    ds
        The archive that was cross-validated (:func:`~unisst_lib.data.archive.open_archive`).
    result
        Its ``cross_validate(..., keep_fills=True)`` result.
    method
        The method whose fill is drawn (a key of ``result.fills``).
    date
        A frame index or date; default: the frame with the most hidden pixels.

    Returns
    -------
    matplotlib.figure.Figure
        Four cartopy panels (axes labels ``sst``, ``sst``, ``sst``, ``error``): the
        observation, what the method saw (the hidden pixels removed), its fill (°C, one
        cmocean ``thermal`` scale), and fill − observation on the hidden pixels (°C,
        cmocean ``balance``, symmetric; the panel title gives their RMSE).

    Raises
    ------
    MapInputError
        The result has no fill of ``method``, is for another archive, or ``date`` is not in it.
    """
    _check_cv(ds, result, [method])
    sst = _sst(ds)
    f = pick_date(ds, date, hidden=result.hidden)
    obs = sst.values[f]
    hidden = np.asarray(result.hidden[f], dtype=bool)
    err = _cv_error(result, method, f, obs)
    name = _method_name(method)
    panels = [
        _Panel("observed", obs, "sst", SST_LABEL),
        _Panel(f"what {name} saw\n({int(hidden.sum())} pixels hidden)",
               np.where(hidden, np.nan, obs), "sst", SST_LABEL),
        _Panel(f"{name} fill", np.asarray(result.fills[method][f], float), "sst", SST_LABEL),
        _Panel(f"{name} − observed, hidden pixels\n{_rmse(err)}", err, "error",
               f"{name} − observed (°C)"),
    ]  # fmt: skip
    title = f"Cross-validation, {time_labels(sst)[f]}: pixels observed, hidden, filled"
    return _map_row(ds, panels, title)[0]


def cv_errors_by_method_figure(
    ds: xr.Dataset, result: Any, *, methods: Sequence[str] | None = None, date: Any = None
) -> Figure:
    """The error (fill − observed, °C, hidden pixels) of each method on one date, one scale.

    ``methods``: default every method in ``result.fills``. Axes labels are ``error``;
    each title gives the method and its RMSE on that date.
    """
    methods = list(methods) if methods is not None else list(getattr(result, "fills", {}) or {})
    if not methods:
        raise MapInputError("no method to draw: run cross_validate(..., keep_fills=True)")
    _check_cv(ds, result, methods)
    sst = _sst(ds)
    f = pick_date(ds, date, hidden=result.hidden)
    panels = []
    for m in methods:
        err = _cv_error(result, m, f, sst.values[f])
        panels.append(_Panel(f"{_method_name(m)}\n{_rmse(err)}", err, "error",
                             "fill − observed on the hidden pixels (°C)"))  # fmt: skip
    return _map_row(ds, panels, f"Cross-validation errors, {time_labels(sst)[f]}")[0]


def filled_figure(ds: xr.Dataset, filled: xr.Dataset, *, date: Any = None) -> Figure:
    """One date: the observation and the filled field (``filled.sst``, °C), one colour scale.

    ``filled``: what :func:`unisst_lib.methods.fill.fill` returns for ``ds[["sst"]]``
    (``sst``, and ``sst_filled_mask`` when present: the title counts the filled pixels).
    ``date``: a frame index or date; default a frame of typical coverage.
    """
    if not isinstance(filled, xr.Dataset) or "sst" not in filled:
        raise GridError("filled must be the Dataset fill() returns, with an 'sst' variable")
    sst = _sst(ds)
    out = _sst(filled)
    if out.shape != sst.shape:
        raise GridError(
            f"filled.sst has shape {dict(out.sizes)} but the archive {dict(sst.sizes)}: "
            "pass the fill of this archive"
        )
    f = pick_date(ds, date)
    n = ""
    if "sst_filled_mask" in filled:
        n = f"\n({int(filled['sst_filled_mask'].transpose(*DIMS).values[f].sum())} pixels filled)"
    panels = [
        _Panel("observed", sst.values[f], "sst", SST_LABEL),
        _Panel(f"filled{n}", out.values[f], "sst", SST_LABEL),
    ]
    return _map_row(ds, panels, time_labels(sst)[f])[0]


_NAMES = {"unisst": "UNISST", "interp": "linear in time", "dineof": "DINEOF",
          "climatology": "climatology"}  # fmt: skip


def _method_name(method: str) -> str:
    return _NAMES.get(method, method)
