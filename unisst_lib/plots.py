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
