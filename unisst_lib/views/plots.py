"""Figures: truth / observation / recovered panels in °C, training curves, benchmark results.

Kept free of notebook state so the training loop, the CLI and the notebooks
draw the same figures. Uses matplotlib's Agg-safe object API (no pyplot state).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import cmocean
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

GM2 = "g m⁻²"
"""How figures and tables write the unit of liquid water path (grams per square metre)."""
FIG_TEXT_PT = 9
"""Smallest font size of the figures here (points): legible at 100 % at their width."""
FIG_TICK_PT = 9
FIG_TITLE_PT = 10


def latitude_label(v: float, _pos=None) -> str:
    """``16°S``, ``0°``, ``20°N``: a latitude in degrees north as a reader writes it."""
    v = round(float(v), 6) + 0.0
    return f"{abs(v):g}°" + ("N" if v > 0 else "S" if v < 0 else "")


def longitude_label(v: float, _pos=None) -> str:
    """``15°W``, ``0°``, ``35°E``: a longitude in degrees east as a reader writes it."""
    v = round(float(v), 6) + 0.0
    return f"{abs(v):g}°" + ("E" if v > 0 else "W" if v < 0 else "")


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
    fig = Figure(figsize=(2.0 * len(frames) + 0.9, 2.0 * len(rows)), layout="constrained")
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


def benchmark_figure(results: dict, *, labels: Mapping[str, str] | None = None) -> Figure:
    """Three panels from a benchmark's ``results.json``, sized for a notebook column.

    (a) RMSE on occluded pixels (°C) against the LWP threshold (g m⁻²); (b) power
    spectra (°C² km) of the true and reconstructed frames against wavelength
    (km); (c) the spectral error-to-signal ratio, whose crossing of 0.5 defines
    the effective resolution. The methods' legend has a cell of its own (bottom
    right), so it hides no line. ``labels``: method key -> name in the legend
    (e.g. :data:`unisst_lib.benchmark.report.METHOD_LABELS`; default the keys).
    """
    labels = labels or {}
    rows = results["rows"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig = Figure(figsize=(9, 7), layout="constrained")
    (ax_rmse, ax_psd), (ax_ratio, ax_legend) = fig.subplots(2, 2)
    for mth in methods:
        color, ls = _METHOD_STYLE.get(mth, (None, "-"))
        rs = sorted((r for r in rows if r["method"] == mth), key=lambda r: r["threshold_gm2"])
        ax_rmse.plot(
            [r["threshold_gm2"] for r in rs], [r["rmse_c"] for r in rs], marker="o", ms=3,
            color=color, ls=ls, label=labels.get(mth, mth),
        )  # fmt: skip
    ax_rmse.set(xlabel=f"LWP threshold ({GM2})", ylabel="RMSE under the clouds (°C)")
    ax_rmse.set_ylim(bottom=0)
    ax_rmse.set_title("(a) accuracy", fontsize=FIG_TITLE_PT)
    spec = results.get("spectra") or {}
    if spec:
        wavelength = 1.0 / np.asarray(spec["k_cpkm"])
        truth = np.asarray(spec["truth"])
        ax_psd.loglog(wavelength, truth, color="k", lw=2.5, alpha=0.4, label="truth")
        for mth, s in spec["methods"].items():
            color, ls = _METHOD_STYLE.get(mth, (None, "-"))
            name = labels.get(mth, mth)
            ax_psd.loglog(wavelength, s["filled"], color=color, ls=ls, lw=1, label=name)
            ax_ratio.semilogx(
                wavelength, np.asarray(s["error"]) / truth, color=color, ls=ls, lw=1, label=name
            )
        ax_ratio.axhline(0.5, color="0.3", lw=0.8)
        thr = spec.get("threshold_gm2")
        ticks = [t for t in (20, 50, 100, 200, 500) if wavelength.min() <= t <= wavelength.max()]
        for ax in (ax_psd, ax_ratio):
            ax.invert_xaxis()
            ax.set_xlabel("wavelength (km)")
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax_psd.set_ylabel("power spectral density (°C² km)")
        ax_psd.set_title(f"(b) spectra of the filled frames, {thr:g} {GM2}", fontsize=FIG_TITLE_PT)
        ax_ratio.set_ylabel("PSD(error) / PSD(truth)")
        ax_ratio.set_ylim(0, 1.5)
        ax_ratio.set_title("(c) error-to-signal ratio\n(0.5: effective resolution)",
                           fontsize=FIG_TITLE_PT)  # fmt: skip
    else:
        for ax in (ax_psd, ax_ratio):
            ax.set_axis_off()
        ax_psd.text(0.5, 0.5, "no spectra in these results", ha="center", va="center",
                    transform=ax_psd.transAxes, color="0.4")  # fmt: skip
    for ax in (ax_rmse, ax_psd, ax_ratio):
        ax.tick_params(labelsize=FIG_TICK_PT)
        ax.grid(alpha=0.3, which="major")
    handles: dict[str, object] = {}
    for ax in (ax_rmse, ax_psd):
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    ax_legend.set_axis_off()
    if handles:
        ax_legend.legend(list(handles.values()), list(handles), loc="center", fontsize=FIG_TEXT_PT,
                         title="method", title_fontsize=FIG_TEXT_PT, frameon=False)  # fmt: skip
    return fig


def read_log(path) -> list[dict[str, float]]:
    """A run's ``train_log.csv`` or ``val_log.csv`` as a list of rows (floats; NaN for blanks).

    A missing file gives an empty list (a run that has not logged yet).
    """
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: float(v) if v not in ("", None) else math.nan for k, v in r.items()} for r in rows]


def training_curves_figure(run_dir, *, title: str | None = None) -> Figure:
    """Loss and validation curves of a training run directory.

    Three panels stacked on one step axis, sized for a notebook column, each
    with its legend outside on the right: (a) the critics' hinge loss and the
    generator's adversarial loss; (b) the self-supervised loss on withheld
    observed pixels (normalised units); (c) the validation RMSE in °C: on
    withheld *observed* pixels (what selects ``best``, no truth needed), on the
    occluded pixels against the truth (twin only) and for filling with the
    sequence mean, with the best checkpoint marked.
    """
    run_dir = Path(run_dir)
    train = read_log(run_dir / "train_log.csv")
    val = read_log(run_dir / "val_log.csv")
    fig = Figure(figsize=(9, 7.5), layout="constrained")
    ax_adv, ax_ss, ax_val = fig.subplots(3, 1, sharex=True)

    def curve(ax, rows, key, **kw) -> None:
        pts = [(r["step"], r[key]) for r in rows if key in r and np.isfinite(r[key])]
        if pts:
            ax.plot(*zip(*pts, strict=True), **kw)

    curve(ax_adv, train, "loss_d", color="tab:blue", label="critics (hinge)")
    curve(ax_adv, train, "loss_g_adv", color="tab:red", label="generator (adversarial)")
    ax_adv.set(ylabel="loss")
    ax_adv.set_title("(a) adversarial game", fontsize=FIG_TITLE_PT)
    curve(ax_ss, train, "loss_self_supervised", color="tab:green", label="withheld pixels (L1)")
    curve(ax_ss, train, "loss_supervised", color="k", ls="-.", label="truth (oracle only)")
    ax_ss.set(ylabel="loss (normalised)")
    ax_ss.set_title("(b) self-supervised term", fontsize=FIG_TITLE_PT)
    if train and not ax_ss.lines:
        ax_ss.text(0.5, 0.5, "not used by this run (pure adversarial training)", ha="center",
                   va="center", transform=ax_ss.transAxes, color="0.4")  # fmt: skip
    curve(ax_val, val, "holdout_rmse_c", color="tab:purple", marker="o", ms=3,
          label="withheld observed pixels")  # fmt: skip
    curve(ax_val, val, "rmse_occluded_c", color="tab:orange", marker="o", ms=3,
          label="under the clouds\n(truth, twin only)")  # fmt: skip
    curve(ax_val, val, "mean_fill_rmse_occluded_c", color="0.5", ls=":",
          label="sequence mean\nunder the clouds")  # fmt: skip
    ax_val.set(xlabel="generator step", ylabel="RMSE (°C)")
    ax_val.set_title("(c) validation", fontsize=FIG_TITLE_PT)
    ax_val.set_ylim(bottom=0)
    best = [r for r in val if r.get("best") == 1]
    if best:
        b = best[-1]
        ax_val.axvline(b["step"], color="0.3", lw=0.8, ls="--")
        ax_val.annotate(f"best: step {b['step']:.0f} ", (b["step"], 0.02), ha="right",
                        xycoords=("data", "axes fraction"), fontsize=FIG_TEXT_PT,
                        color="0.3")  # fmt: skip
    for ax in (ax_adv, ax_ss, ax_val):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=FIG_TEXT_PT,
                      frameon=False)  # fmt: skip
        ax.tick_params(labelsize=FIG_TICK_PT)
        ax.grid(alpha=0.3)
    if not train and not val:
        ax_adv.text(0.5, 0.5, "no log yet", ha="center", va="center", transform=ax_adv.transAxes)
    if title:
        fig.suptitle(title, fontsize=FIG_TITLE_PT + 1)
    return fig


def first_look_figure(
    sst_frames: Sequence[tuple[str, np.ndarray]],
    lwp_kgm2: np.ndarray,
    threshold_gm2: float,
    *,
    extent: Sequence[tuple[float, float, float, float]] | None = None,
) -> Figure:
    """SST frames of the data sets, one LWP field and the cloud mask it gives.

    Parameters
    ----------
    sst_frames
        (label, (H, W) SST in °C) pairs, one panel each.
    lwp_kgm2
        (H, W) liquid water path, kg m⁻².
    threshold_gm2
        LWP threshold, g m⁻²: occluded where LWP exceeds it.
    extent
        (lon_min, lon_max, lat_min, lat_max) per SST frame, degrees east / north
        (ticks written ``15°W``, ``16°S``).

    Two panels a row, 9 inches wide (a notebook column).
    """
    n = len(sst_frames) + 2
    ncols = min(n, 2)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(9, 3.6 * nrows), layout="constrained")
    axes = list(np.ravel(fig.subplots(nrows, ncols, squeeze=False)))
    for ax in axes[n:]:
        ax.set_axis_off()
    axes = axes[:n]
    for k, (label, frame) in enumerate(sst_frames):
        ax = axes[k]
        ext = None if extent is None else extent[k]
        im = ax.imshow(frame, origin="lower", cmap=cmocean.cm.thermal, extent=ext)
        fig.colorbar(im, ax=ax, shrink=0.8, label="SST (°C)")
        ax.set_title(label, fontsize=FIG_TITLE_PT)
        if ext is not None:
            ax.xaxis.set_major_formatter(FuncFormatter(longitude_label))
            ax.yaxis.set_major_formatter(FuncFormatter(latitude_label))
        ax.tick_params(labelsize=FIG_TICK_PT)
    ax = axes[-2]
    im = ax.imshow(1000.0 * np.asarray(lwp_kgm2), origin="lower", cmap=cmocean.cm.gray_r)
    fig.colorbar(im, ax=ax, shrink=0.8, label=f"LWP ({GM2})")
    ax.set_title("liquid water path", fontsize=FIG_TITLE_PT)
    ax = axes[-1]
    mask = 1000.0 * np.asarray(lwp_kgm2) > threshold_gm2
    ax.imshow(mask, origin="lower", cmap="Greys", vmin=0, vmax=1.6)
    ax.set_title(f"cloud mask at {threshold_gm2:g} {GM2}: {mask.mean():.0%} hidden",
                 fontsize=FIG_TITLE_PT)  # fmt: skip
    for ax in axes[-2:]:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def image_grid_figure(
    panels: Sequence[tuple[str, object]], *, ncols: int = 3, panel_size: float = 4.0
) -> Figure:
    """A grid of saved images (e.g. one sample per LWP threshold of a sweep).

    ``panels``: (title, path of a PNG or None) pairs; a None or missing path
    gives an empty panel that says so (a failed run).
    """
    import matplotlib.image as mpimg

    n = max(len(panels), 1)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    images = []
    for _, path in panels:
        ok = path is not None and Path(path).is_file()
        images.append(mpimg.imread(str(path)) if ok else None)
    aspect = max((im.shape[0] / im.shape[1] for im in images if im is not None), default=0.75)
    fig = Figure(figsize=(panel_size * ncols, panel_size * aspect * nrows + 0.4 * nrows),
                 layout="constrained")  # fmt: skip
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, (title, _), im in zip(axes, panels, images, strict=False):
        if im is None:
            ax.text(0.5, 0.5, "no sample\n(run failed)", ha="center", va="center",
                    transform=ax.transAxes, color="tab:red")  # fmt: skip
        else:
            ax.imshow(im)
        ax.set_title(title, fontsize=10)
    return fig
