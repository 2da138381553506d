"""One chunk of a streamed fill: :func:`fill_chunk`.

A chunk runs the in-memory fill's windows and tiles that cover it (:mod:`.plan`) on
the pixels they need, and blends them as :func:`unisst_lib.methods.tiling.fill_series`
does, so it equals the in-memory fill there up to float round-off (the model sees its
tiles in other batches). The baselines (``dineof``, ``interp``) see the chunk with a
halo of ``halo`` pixels around it instead of the whole domain: their result differs
from the in-memory one where the rest of the domain would have changed it (DINEOF's
modes are those of the chunk and its halo).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np
import torch

from unisst_lib.core.malloc import tune_allocator
from unisst_lib.methods.fill import _predict_baseline, _record_guess, load_model
from unisst_lib.methods.stream.plan import Geometry, Task, series_range, tiles_for, windows_for
from unisst_lib.methods.stream.source import Source
from unisst_lib.methods.tiling import predict_tiles, ramp

__all__ = ["Job", "fill_chunk", "worker_model"]


@dataclass
class Job:
    """What every task of a streamed fill shares (sent once to each worker)."""

    source: Source
    land: np.ndarray  # (H, W) bool
    mean: float  # of the observed values: the value of a gap no window reaches
    geometry: Geometry
    method: str
    checkpoint: str | None = None  # unisst: the model, loaded once per worker process
    device: str = "cpu"
    batch_size: int = 8
    context: int = 0  # frames either side of a window for a record first guess
    torch_threads: int = 0  # per task (0: torch's default)


@lru_cache(maxsize=2)
def worker_model(checkpoint: str, device: str) -> dict:
    """The model of ``checkpoint``, loaded once per process (each dask worker)."""
    return load_model(checkpoint, device)


def fill_chunk(task: Task, job: Job) -> tuple[np.ndarray, np.ndarray]:
    """The filled values and the reconstructed flag of ``task``'s chunk, (t, y, x) each."""
    tune_allocator()  # once per worker process (see unisst_lib.core.malloc)
    if job.torch_threads:
        torch.set_num_threads(job.torch_threads)
    g = job.geometry
    out = np.empty(task.shape, dtype=job.source.dtype)
    needed = np.zeros(task.shape, bool)
    for phase in range(g.phases):
        j0, j1 = series_range(g, phase, task.t0, task.t1)
        if j1 > j0:
            rows = slice(phase + g.phases * j0 - task.t0, phase + g.phases * (j1 - 1) - task.t0 + 1)
            out[rows.start : rows.stop : g.phases], needed[rows.start : rows.stop : g.phases] = (
                _fill_series_chunk(task, job, phase, j0, j1)
            )
    return out, needed


def _fill_series_chunk(task: Task, job: Job, phase: int, j0: int, j1: int):
    """Frames ``j0:j1`` of the interleaved series ``phase`` on the chunk's pixels."""
    g, src = job.geometry, job.source
    n = g.series_length(phase)
    frames = phase + g.phases * np.arange(n)  # the series' frames on the axis
    core = (slice(task.y0, task.y1), slice(task.x0, task.x1))
    x, missing = src.read(frames[j0:j1], *core, job.land)
    needed = missing & ~job.land[core][None]
    out = x.astype(src.dtype)
    if not needed.any():
        return out, needed
    ext, predict = _extent_and_predictor(task, job)
    inner = (slice(task.y0 - ext[0].start, task.y1 - ext[0].start),
             slice(task.x0 - ext[1].start, task.x1 - ext[1].start))  # fmt: skip
    w_t = ramp(min(g.window, n), g.overlap) if n > g.window else np.ones(n)
    acc_v = np.zeros(needed.shape)
    acc_w = np.zeros(needed.shape)
    for s in windows_for(n, g.window, g.overlap, j0, j1):
        e = min(n, s + g.window)
        a, b = max(s, j0), min(e, j1)  # the window's frames in the chunk
        if not needed[a - j0 : b - j0].any():
            continue  # no gap of the chunk in this window: it changes nothing here
        xw, mw = src.read(frames[s:e], *ext, job.land)
        guess = None
        if job.context:  # the in-memory fill's first guess, read on the chunk's extent

            def read(a: int, b: int, ext=ext):
                return src.read(frames[a:b], *ext, job.land)

            guess = _record_guess(read, n, job.context, s, e)
        pred, wgt = predict(xw, mw, guess)
        pred, wgt = pred[(slice(None), *inner)], wgt[(slice(None), *inner)]
        wt = w_t[: e - s, None, None] * wgt
        acc_v[a - j0 : b - j0] += (np.where(wt > 0, pred, 0.0) * wt)[a - s : b - s]
        acc_w[a - j0 : b - j0] += wt[a - s : b - s]
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(acc_w > 0, acc_v / acc_w, job.mean)
    out[needed] = v[needed].astype(out.dtype)
    return out, needed


def _extent_and_predictor(task: Task, job: Job):
    """The pixels a chunk's windows are read on, and the method's predictor on them."""
    g = job.geometry
    if job.method != "unisst":  # the chunk with its halo
        ys = slice(max(0, task.y0 - g.halo), min(g.height, task.y1 + g.halo))
        xs = slice(max(0, task.x0 - g.halo), min(g.width, task.x1 + g.halo))
        land = job.land[ys, xs]
        return (ys, xs), lambda x, m, _g: _predict_baseline(job.method, x, m, land=land)
    ty = tiles_for(g.height, g.tile, g.tile_overlap, task.y0, task.y1)
    tx = tiles_for(g.width, g.tile, g.tile_overlap, task.x0, task.x1)
    ys = slice(ty[0], min(g.height, ty[-1] + g.tile))
    xs = slice(tx[0], min(g.width, tx[-1] + g.tile))
    predict = partial(
        predict_tiles,
        worker_model(job.checkpoint, job.device),
        tile_overlap=g.tile_overlap,
        batch_size=job.batch_size,
        tile_starts=([t - ys.start for t in ty], [t - xs.start for t in tx]),
        domain_hw=(g.height, g.width),
    )
    return (ys, xs), predict
