"""The GIF of :func:`unisst_lib.views.ensemble.members_gif`: the members over time.

The maps are drawn once and only their data change from frame to frame (as
:mod:`unisst_lib.views.animation` does for a sequence), so every image has the same
geometry and one °C colour scale; the same GIF writer and option checks.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from unisst_lib.core.paths import atomic_path
from unisst_lib.views import animation
from unisst_lib.views.ensemble_inputs import members_and_shown, shared_limits
from unisst_lib.views.map_panels import map_axes, mesh, missing_overlay, sst_cmap, time_labels
from unisst_lib.views.maps import configure_offline

log = logging.getLogger(__name__)


class _MembersAnimation:
    """The member maps drawn once at frame 0 (one row up to 3, else two), data swapped per frame."""

    def __init__(self, shown, grid: xr.DataArray, land: np.ndarray, limits, dpi: int) -> None:
        n = len(shown)
        cols = n if n <= 3 else math.ceil(n / 2)  # 4 maps: 2×2, 5 or 6: 2×3
        rows = math.ceil(n / cols)
        self.shown, self.land, self.labels = shown, land, time_labels(grid)
        self.fig = Figure(
            figsize=(2.8 * cols + 0.5, 2.8 * rows + 1.0), dpi=dpi, layout="constrained"
        )
        self.canvas = FigureCanvasAgg(self.fig)
        spec = self.fig.add_gridspec(rows, cols)
        self.meshes, self.overlays, axes = [], [], []
        for i, (name, values) in enumerate(shown):
            r, c = divmod(i, cols)
            below = i + cols >= n
            ax = map_axes(self.fig, spec[r, c], grid, left=c == 0, bottom=below)
            animation._set_tick_size(ax, animation.GIF_TICK_SIZE)
            ax.set_title(name, fontsize=animation.GIF_PANEL_TITLE_SIZE)
            lo, hi = limits
            self.meshes.append(mesh(ax, grid, values[0], cmap=sst_cmap(), vmin=lo, vmax=hi))
            self.overlays.append(missing_overlay(ax, grid, land[0]))
            axes.append(ax)
        cb = self.fig.colorbar(
            self.meshes[-1], ax=axes, orientation="horizontal", shrink=0.7, aspect=30
        )
        cb.set_label("SST (°C)", fontsize=animation.GIF_LABEL_SIZE)
        cb.ax.tick_params(labelsize=animation.GIF_TICK_SIZE)
        self.suptitle = self.fig.suptitle(self._title(0), fontsize=animation.GIF_TITLE_SIZE)
        self.canvas.draw()
        self.fig.set_layout_engine("none")  # every frame with the same geometry

    def _title(self, t: int) -> str:
        label = self.labels[t]
        return label if label.startswith("frame") else f"{label} UTC"

    def image(self, t: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB of frame ``t``."""
        for (_, values), data_mesh, overlay in zip(
            self.shown, self.meshes, self.overlays, strict=True
        ):
            data_mesh.set_array(np.ma.masked_invalid(values[t]))
            if overlay is not None:
                overlay.set_array(np.ma.masked_invalid(np.where(self.land[t], 1.0, np.nan)))
        self.suptitle.set_text(self._title(t))
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def write_members_gif(
    members: xr.DataArray,
    path: str | os.PathLike[str],
    *,
    observation: xr.DataArray | None,
    fps: float,
    dpi: int,
    max_members: int,
    progress: bool,
) -> Path:
    """:func:`unisst_lib.views.ensemble.members_gif` (its parameters and result)."""
    configure_offline()
    mem, grid, shown = members_and_shown(members, observation, max_members)
    path = animation._check_gif_options(path, fps, dpi)
    n_time = grid.sizes["time"]
    land = np.isnan(mem.values).all(axis=0)
    anim = _MembersAnimation(shown, grid, land, shared_limits(shown, slice(None)), dpi)
    steps = tqdm(range(n_time), desc="GIF frames", disable=not progress, leave=False)
    images = [anim.image(t) for t in steps]
    with atomic_path(path) as tmp:
        animation._write_gif(images, tmp, fps)
    log.info("wrote %s (%d frames, %d maps)", path, n_time, len(shown))
    return path
