"""An animated GIF of an SST sequence: truth, observation and recovered, one image per step.

:func:`sequence_gif` draws the maps of :mod:`unisst_lib.views.maps` (same grid
checks, colours and offline Natural Earth coastlines) once, then only swaps the
data of each panel from frame to frame, so every image has the same geometry and
one fixed °C colour scale. Pillow (the ``notebooks`` extra) writes the GIF.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from unisst_lib.core.paths import atomic_path
from unisst_lib.views.map_panels import (
    MapInputError,
    check_fields,
    map_axes,
    mesh,
    missing_overlay,
    no_sst,
    require_extra,
    sst_cmap,
    sst_range,
    time_labels,
)
from unisst_lib.views.maps import configure_offline

log = logging.getLogger(__name__)


def _write_gif(frames: list[np.ndarray], path: Path, fps: float) -> None:
    """Write RGB frames (H, W, 3) uint8 as a looping GIF with one shared palette."""
    image = require_extra("PIL.Image")
    first = image.fromarray(frames[0])
    palette = first.quantize(colors=256, method=image.Quantize.MEDIANCUT)
    images = [
        image.fromarray(f).quantize(palette=palette, dither=image.Dither.NONE) for f in frames
    ]
    images[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=round(1000 / fps),
        loop=0,
        disposal=1,
    )


def _check_gif_options(path: str | os.PathLike[str], fps: float, dpi: int) -> Path:
    """``path`` as a Path ending in ``.gif``; MapInputError for it, ``fps`` or ``dpi``."""
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise MapInputError(f"{path}: the animation is a GIF; give a path ending in .gif")
    if not fps > 0:
        raise MapInputError(f"fps must be positive, got {fps}")
    if not (isinstance(dpi, int | np.integer) and dpi > 0):
        raise MapInputError(f"dpi must be a positive integer, got {dpi!r}")
    return path


GIF_TITLE_SIZE = 13
"""Font sizes of the GIF (points at its 100 dpi): the frame's time, panel titles, labels, ticks."""
GIF_PANEL_TITLE_SIZE = 11
GIF_LABEL_SIZE = 10
GIF_TICK_SIZE = 9


def _gif_layout(n_rows: int) -> tuple[tuple[float, float], list[tuple[int, int]], tuple[int, int]]:
    """(figure size in inches, (row, column) of each map, grid shape) for 3 or 2 maps.

    Three maps (truth, observation, recovered): a 2×2 grid whose fourth cell
    holds the colour bar and the cloud cover. Two (observation, recovered): one
    row, the colour bar under it. Either way each map is about 3 inches wide.
    """
    if n_rows == 3:
        return (7.5, 7.3), [(0, 0), (0, 1), (1, 0)], (2, 2)
    return (7.5, 4.3), [(0, 0), (0, 1)], (1, 2)


def _set_tick_size(ax, size: float) -> None:
    """A map's tick labels at ``size`` (its cartopy ``Gridliner`` is one of its artists)."""
    gridliner = require_extra("cartopy.mpl.gridliner").Gridliner
    for gl in ax.artists:
        if isinstance(gl, gridliner):
            gl.xlabel_style = gl.ylabel_style = {"size": size}


class _Animation:
    """Maps drawn at frame 0 (a 2×2 grid, or one row without truth) whose data change per frame.

    ``rows``: (name, field) in display order, fields (T, H, W) °C on ``grid``'s
    coordinates; ``missing``: (T, H, W) bool, pixels without SST. The title
    carries the frame's time, the spare cell (or the colour bar's label) its
    cloud cover.
    """

    def __init__(
        self,
        rows: list[tuple[str, xr.DataArray]],
        grid: xr.DataArray,
        missing: np.ndarray,
        sst_limits: tuple[float, float],
        dpi: int,
        clouds: np.ndarray,
    ) -> None:
        lo, hi = sst_limits
        self.rows, self.missing, self.labels = rows, missing, time_labels(grid)
        self.clouds = clouds
        size, cells, shape = _gif_layout(len(rows))
        self.fig = Figure(figsize=size, dpi=dpi, layout="constrained")
        self.canvas = FigureCanvasAgg(self.fig)
        spec = self.fig.add_gridspec(*shape)
        self.meshes, self.overlays, axes = [], [], []
        for (name, da), (r, c) in zip(rows, cells, strict=True):
            below = (r + 1, c) not in cells
            ax = map_axes(self.fig, spec[r, c], grid, left=c == 0, bottom=below)
            _set_tick_size(ax, GIF_TICK_SIZE)
            ax.set_title(name, fontsize=GIF_PANEL_TITLE_SIZE)
            self.meshes.append(mesh(ax, grid, da.values[0], cmap=sst_cmap(), vmin=lo, vmax=hi))
            self.overlays.append(missing_overlay(ax, grid, missing[0]))
            axes.append(ax)
        if len(cells) < shape[0] * shape[1]:  # the spare cell: colour bar and cloud cover
            host = self.fig.add_subplot(spec[shape[0] - 1, shape[1] - 1])
            host.set_axis_off()
            cax = host.inset_axes((0.08, 0.42, 0.84, 0.09))
            cb = self.fig.colorbar(self.meshes[-1], cax=cax, orientation="horizontal")
            self.cloud_text = host.text(
                0.5, 0.8, "", ha="center", va="center", fontsize=GIF_PANEL_TITLE_SIZE,
                transform=host.transAxes,
            )  # fmt: skip
        else:
            cb = self.fig.colorbar(
                self.meshes[-1], ax=axes, orientation="horizontal", shrink=0.7, aspect=30
            )
            self.cloud_text = None
        cb.set_label("SST (°C)", fontsize=GIF_LABEL_SIZE)
        cb.ax.tick_params(labelsize=GIF_TICK_SIZE)
        self.cb = cb
        self.suptitle = self.fig.suptitle(self._title(0), fontsize=GIF_TITLE_SIZE)
        self._set_clouds(0)
        self.canvas.draw()
        self.fig.set_layout_engine("none")  # freeze the layout: every frame has the same geometry

    def _title(self, t: int) -> str:
        label = self.labels[t]
        return label if label.startswith("frame") else f"{label} UTC"

    def _set_clouds(self, t: int) -> None:
        text = f"clouds over {100 * self.clouds[t]:.0f} % of the sea"
        if self.cloud_text is not None:
            self.cloud_text.set_text(text)
        else:
            self.cb.set_label(f"SST (°C) — {text}", fontsize=GIF_LABEL_SIZE)

    def image(self, t: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB of frame ``t``."""
        for (_, da), data_mesh, overlay in zip(self.rows, self.meshes, self.overlays, strict=True):
            data_mesh.set_array(np.ma.masked_invalid(da.values[t]))
            if overlay is not None:
                overlay.set_array(np.ma.masked_invalid(np.where(self.missing[t], 1.0, np.nan)))
        self.suptitle.set_text(self._title(t))
        self._set_clouds(t)
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def _cloud_cover(obs: xr.DataArray, missing: np.ndarray) -> np.ndarray:
    """(T,) fraction of the sea pixels (SST somewhere) that are cloudy (NaN) in the observation."""
    sea = ~missing
    cloudy = np.isnan(obs.values) & sea
    n_sea = np.maximum(sea.sum(axis=(1, 2)), 1)
    return cloudy.sum(axis=(1, 2)) / n_sea


def sequence_gif(
    truth_c: xr.DataArray | None,
    observed_c: xr.DataArray,
    recovered_c: xr.DataArray,
    path: str | os.PathLike[str],
    *,
    fps: float = 4,
    dpi: int = 100,
    progress: bool = False,
) -> Path:
    """An animated GIF of a sequence: truth, observation and recovered side by side.

    Parameters
    ----------
    truth_c, observed_c, recovered_c
        As :func:`unisst_lib.views.maps.comparison_figure` (``truth_c`` None: its
        row is left out).
    path
        The ``.gif`` file to write (atomically: a failed write leaves no file and
        an existing one untouched; parent folders are created).
    fps
        Frames per second.
    dpi
        Resolution: the image is 7.5 × 7.3 inches (truth, observation and
        recovered in a 2×2 grid whose fourth cell holds the colour bar and the
        frame's cloud cover), 7.5 × 4.3 without truth, at this dpi (100: 750 ×
        730 pixels, each map about 300 pixels wide, tick labels 9 pt).
    progress
        Show a progress bar over the frames.

    Returns
    -------
    pathlib.Path
        ``path``. The GIF loops, has one image per time step (titled with its
        time, so no two are identical) and a fixed °C colour scale; 24 frames of
        the twin take about 2 MB.
    """
    configure_offline()
    truth, obs, rec = check_fields(truth_c, observed_c, recovered_c)
    path = _check_gif_options(path, fps, dpi)
    n_time = obs.sizes["time"]
    limits = sst_range(truth, obs, rec, list(range(n_time)))
    rows = [("truth", truth)] if truth is not None else []
    rows += [("observation", obs), ("recovered", rec)]
    missing = no_sst(truth, rec)
    animation = _Animation(rows, obs, missing, limits, dpi, _cloud_cover(obs, missing))
    steps = tqdm(range(n_time), desc="GIF frames", disable=not progress, leave=False)
    images = [animation.image(t) for t in steps]
    with atomic_path(path) as tmp:
        _write_gif(images, tmp, fps)
    log.info("wrote %s (%d frames, %dx%d px)", path, n_time, *images[0].shape[1::-1])
    return path
