"""The streamed fill's plan: output chunks (the tasks) and what each one needs.

The in-memory fill blends time windows (``window`` frames, overlapping by
``overlap``) and, for the generator, 64×64 tiles (overlapping by ``tile_overlap``).
A chunk of the output is exactly the in-memory result when its task runs every
window and every tile that covers one of its pixels: :func:`windows_for` and
:func:`tiles_for` find them. Windows and tiles that straddle a chunk edge are
computed by both chunks (the price of independent tasks: about
``(chunk + tile) / chunk`` per axis for the generator).
"""

from __future__ import annotations

from dataclasses import dataclass

from unisst_lib.methods.tiling import starts

__all__ = ["Geometry", "Task", "series_range", "tasks", "tiles_for", "windows_for"]


@dataclass(frozen=True)
class Geometry:
    """The shape of a streamed fill: the grid, the series, the windows, tiles and chunks."""

    frames: int  # output frames, on the regular time axis (after resample)
    height: int
    width: int
    window: int  # frames per time window
    overlap: int  # frames shared by consecutive windows
    phases: int = 1  # interleaved series (frames p, p + phases, …)
    tile: int = 64  # generator tiles; 0: the method sees the chunk and its halo
    tile_overlap: int = 16
    halo: int = 32  # baselines: pixels read around a chunk for context
    chunk: int = 256  # output chunk, pixels along latitude and longitude
    chunk_frames: int = 48  # output chunk, frames

    def series_length(self, phase: int) -> int:
        """Frames of the interleaved series ``phase``."""
        return len(range(phase, self.frames, self.phases))


@dataclass(frozen=True)
class Task:
    """One output chunk: frames ``t0:t1``, rows ``y0:y1``, columns ``x0:x1``."""

    t0: int
    t1: int
    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def key(self) -> str:
        """A name for the chunk (file names of its marker, dask keys)."""
        return f"t{self.t0}-{self.t1}_y{self.y0}-{self.y1}_x{self.x0}-{self.x1}"

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.t1 - self.t0, self.y1 - self.y0, self.x1 - self.x0)


def tasks(geom: Geometry) -> list[Task]:
    """Every output chunk, in time-major order."""
    ct, c, n_t, h, w = geom.chunk_frames, geom.chunk, geom.frames, geom.height, geom.width
    return [
        Task(t0, min(n_t, t0 + ct), y0, min(h, y0 + c), x0, min(w, x0 + c))
        for t0 in range(0, n_t, ct)
        for y0 in range(0, h, c)
        for x0 in range(0, w, c)
    ]


def series_range(geom: Geometry, phase: int, t0: int, t1: int) -> tuple[int, int]:
    """Indices ``j0:j1`` of series ``phase`` whose frames ``phase + phases*j`` are in ``t0:t1``."""
    k = geom.phases
    j0 = max(0, -(-(t0 - phase) // k))
    j1 = max(j0, -(-(t1 - phase) // k))
    return j0, min(j1, geom.series_length(phase))


def windows_for(n: int, window: int, overlap: int, j0: int, j1: int) -> list[int]:
    """Starts of the windows (the in-memory fill's, of ``n`` frames) covering a frame of j0:j1."""
    return [s for s in starts(n, window, overlap) if s < j1 and min(n, s + window) > j0]


def tiles_for(n: int, tile: int, overlap: int, c0: int, c1: int) -> list[int]:
    """Starts of the tiles (of the in-memory fill of ``n`` pixels) covering a pixel of ``c0:c1``."""
    return [s for s in starts(n, tile, overlap) if s < c1 and min(n, s + tile) > c0]
