"""An animated GIF of an SST sequence: truth / observation / recovered, one image per step.

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
    LABEL_SIZE,
    TICK_SIZE,
    TITLE_SIZE,
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


class _Animation:
    """A figure of one map per row, drawn at frame 0, whose data and title change per frame.

    ``rows``: (name, field) top to bottom, fields (T, H, W) °C on ``grid``'s
    coordinates; ``missing``: (T, H, W) bool, pixels without SST.
    """

    def __init__(
        self,
        rows: list[tuple[str, xr.DataArray]],
        grid: xr.DataArray,
        missing: np.ndarray,
        sst_limits: tuple[float, float],
        dpi: int,
    ) -> None:
        lo, hi = sst_limits
        self.rows, self.missing, self.labels = rows, missing, time_labels(grid)
        self.fig = Figure(figsize=(2.8, 2.3 * len(rows) + 0.7), dpi=dpi, layout="constrained")
        self.canvas = FigureCanvasAgg(self.fig)
        spec = self.fig.add_gridspec(len(rows), 1)
        self.meshes, self.overlays, axes = [], [], []
        for r, (name, da) in enumerate(rows):
            ax = map_axes(self.fig, spec[r, 0], grid, left=True, bottom=r == len(rows) - 1)
            ax.set_title(name, fontsize=TITLE_SIZE)
            self.meshes.append(mesh(ax, grid, da.values[0], cmap=sst_cmap(), vmin=lo, vmax=hi))
            self.overlays.append(missing_overlay(ax, grid, missing[0]))
            axes.append(ax)
        cb = self.fig.colorbar(
            self.meshes[-1], ax=axes, orientation="horizontal", shrink=0.85, aspect=25
        )
        cb.set_label("SST (°C)", fontsize=LABEL_SIZE)
        cb.ax.tick_params(labelsize=TICK_SIZE)
        self.suptitle = self.fig.suptitle(self.labels[0], fontsize=TITLE_SIZE)
        self.canvas.draw()
        self.fig.set_layout_engine("none")  # freeze the layout: every frame has the same geometry

    def image(self, t: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB of frame ``t``."""
        for (_, da), data_mesh, overlay in zip(self.rows, self.meshes, self.overlays, strict=True):
            data_mesh.set_array(np.ma.masked_invalid(da.values[t]))
            if overlay is not None:
                overlay.set_array(np.ma.masked_invalid(np.where(self.missing[t], 1.0, np.nan)))
        label = self.labels[t]
        self.suptitle.set_text(label if label.startswith("frame") else f"{label} UTC")
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def sequence_gif(
    truth_c: xr.DataArray | None,
    observed_c: xr.DataArray,
    recovered_c: xr.DataArray,
    path: str | os.PathLike[str],
    *,
    fps: float = 4,
    dpi: int = 80,
    progress: bool = False,
) -> Path:
    """An animated GIF of a sequence: truth / observation / recovered, top to bottom.

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
        Resolution: the image is 2.8 × (2.3 × rows + 0.7) inches at this dpi
        (80: 224 × 608 pixels for three rows).
    progress
        Show a progress bar over the frames.

    Returns
    -------
    pathlib.Path
        ``path``. The GIF loops, has one image per time step (titled with its
        time, so no two are identical) and a fixed °C colour scale.
    """
    configure_offline()
    truth, obs, rec = check_fields(truth_c, observed_c, recovered_c)
    path = _check_gif_options(path, fps, dpi)
    n_time = obs.sizes["time"]
    limits = sst_range(truth, obs, rec, list(range(n_time)))
    rows = [("truth", truth)] if truth is not None else []
    rows += [("observation", obs), ("recovered", rec)]
    animation = _Animation(rows, obs, no_sst(truth, rec), limits, dpi)
    steps = tqdm(range(n_time), desc="GIF frames", disable=not progress, leave=False)
    images = [animation.image(t) for t in steps]
    with atomic_path(path) as tmp:
        _write_gif(images, tmp, fps)
    log.info("wrote %s (%d frames, %dx%d px)", path, n_time, *images[0].shape[1::-1])
    return path
