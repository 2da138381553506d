"""Sliding windows and tiles for :func:`unisst_lib.methods.fill.fill`, and their blending.

A series is filled window by window in time (:func:`fill_series`) and, for the
generator, tile by tile in space (:func:`predict_tiles`). Windows and tiles
overlap; overlapping predictions are averaged with a weight that ramps
linearly over the overlap (:func:`ramp`), so no seam shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from unisst_lib.data.normalise import NormalisationError, denormalise, normalise
from unisst_lib.models import reconstruct

__all__ = ["TILE_SIZE", "Predictor", "fill_series", "predict_tiles", "ramp", "starts"]

TILE_SIZE = 64

Predictor = Callable[..., tuple[np.ndarray, np.ndarray]]
"""``predict(x, missing[, guess]) -> (values, weights)`` for one (T', H, W) window: the
fill and the blending weight of each value (0 where it has none); ``guess`` is the
window's first guess from a longer record when :func:`fill_series` is given one."""


def ramp(n: int, overlap: int) -> np.ndarray:
    """Blending weight of a tile of ``n`` samples: linear ramps over ``overlap`` at each end."""
    i = np.arange(n, dtype=np.float64)
    if overlap <= 0:
        return np.ones(n)
    return np.minimum(1.0, np.minimum(i + 0.5, n - i - 0.5) / overlap)


def starts(n: int, size: int, overlap: int) -> list[int]:
    """Window starts covering ``0..n`` with windows of ``size`` overlapping by ≥ ``overlap``."""
    if n <= size:
        return [0]
    stride = max(1, size - overlap)
    out = list(range(0, n - size + 1, stride))
    if out[-1] != n - size:
        out.append(n - size)
    return out


def fill_series(
    read: Callable[[int, int], tuple[np.ndarray, np.ndarray]],
    shape: tuple[int, int, int],
    dtype: np.dtype,
    land: np.ndarray,
    global_mean: float,
    *,
    predict: Predictor,
    window: int,
    overlap: int,
    progress: bool,
    desc: str,
    guess: Callable[[int, int], np.ndarray] | None = None,
    noise: Callable[[int, int], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill one equally spaced series (frames read by ``read(s, e)``) window by window.

    ``guess(s, e)``, when given, is the first guess of frames ``s:e`` from a longer
    record, passed to ``predict`` as its third argument; ``noise(s, e)`` the noise of
    one ensemble member on those frames (:func:`unisst_lib.methods.ensemble.member_noise`),
    passed as ``noise=``.

    ``read(s, e)`` returns frames ``s:e`` and where they are missing. Each window
    with a gap is given to ``predict``; its values are blended with a ramp in
    time over ``overlap`` frames, frame by frame as soon as no later window
    covers it. A gap no window predicts gets ``global_mean``.

    Returns
    -------
    out
        (T, H, W) of ``dtype``: the observations, filled where missing (NaN on land).
    needed
        (T, H, W) bool: the reconstructed pixels (missing, not land).
    """
    n_t, h, w = shape
    out = np.empty(shape, dtype=dtype)
    needed = np.zeros(shape, bool)
    w_t = ramp(min(window, n_t), overlap) if n_t > window else np.ones(n_t)
    # streaming accumulators over frames [buf0, buf0 + window)
    buf0 = 0
    bw = min(window, n_t)
    acc_v = np.zeros((bw, h, w))
    acc_w = np.zeros((bw, h, w))
    window_starts = starts(n_t, window, overlap)
    bar = tqdm(total=len(window_starts), desc=desc, disable=not progress, unit="window")
    for s in window_starts:
        e = min(n_t, s + window)
        if s > buf0:  # no later window reaches frames before s: finalise them
            n = s - buf0
            _finalise(out, needed, acc_v[:n], acc_w[:n], buf0, global_mean)
            acc_v = np.concatenate([acc_v[n:], np.zeros((n, h, w))])
            acc_w = np.concatenate([acc_w[n:], np.zeros((n, h, w))])
            buf0 = s
        x, missing = read(s, e)
        out[s:e] = x
        need = missing & ~land[None]
        needed[s:e] = need
        if need.any():
            args = () if guess is None else (guess(s, e),)
            kwargs = {} if noise is None else {"noise": noise(s, e)}
            pred, wgt = predict(x, missing, *args, **kwargs)
            wt = w_t[: e - s, None, None] * wgt
            off = s - buf0
            acc_v[off : off + e - s] += np.where(wt > 0, pred, 0.0) * wt
            acc_w[off : off + e - s] += wt
        bar.update(1)
    bar.close()
    _finalise(out, needed, acc_v[: n_t - buf0], acc_w[: n_t - buf0], buf0, global_mean)
    return out, needed


def _finalise(out, needed, acc_v, acc_w, t0, global_mean) -> None:
    """Write the blended values of frames ``t0 …`` into the ``needed`` pixels of ``out``."""
    n = len(acc_v)
    sl = slice(t0, t0 + n)
    nd = needed[sl]
    if not nd.any():
        return
    with np.errstate(invalid="ignore", divide="ignore"):
        v = acc_v / acc_w
    v = np.where(acc_w > 0, v, global_mean)
    block = out[sl]
    block[nd] = v[nd].astype(out.dtype)
    out[sl] = block


def predict_tiles(
    model: dict,
    x: np.ndarray,
    missing: np.ndarray,
    guess: np.ndarray | None = None,
    *,
    tile_overlap: int,
    batch_size: int,
    tile_starts: tuple[list[int], list[int]] | None = None,
    domain_hw: tuple[int, int] | None = None,
    noise: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The generator's values for one time window (T', H, W), and their blending weights.

    The window is cut into :data:`TILE_SIZE` tiles overlapping by ``tile_overlap``
    pixels, each normalised on its own observations, padded to the model's
    sequence length and tile size with occluded pixels, and given to the model
    ``batch_size`` at a time. A tile with no observation is skipped (weight 0).
    ``model`` is the dict of :func:`unisst_lib.methods.fill.load_model`; ``guess``
    (T', H, W, input units, NaN where undefined) is a first guess from a longer record
    for a ``first_guess="record"`` model, normalised with each tile.

    ``x`` may be a part of a larger domain (the streamed fill): ``tile_starts`` are then
    the (rows, columns) where the domain's tiles start in ``x`` and ``domain_hw`` the
    domain's size, which decides where tiles are blended (default: ``x`` is the domain).

    ``noise`` (K, T', H, W): one member's noise for a generator with K noise channels,
    cropped with each tile (zero on padding); None: the central member.
    """
    ys, xs = tile_starts or (
        starts(x.shape[1], TILE_SIZE, tile_overlap),
        starts(x.shape[2], TILE_SIZE, tile_overlap),
    )
    items = [
        it for y0 in ys for x0 in xs if (it := _tile(model, x, missing, y0, x0, guess)) is not None
    ]
    w2 = _tile_weight(domain_hw or x.shape[1:], tile_overlap)
    pred = np.zeros(x.shape)
    wsum = np.zeros(x.shape)
    gen, dev = model["generator"], model["device"]
    for b in range(0, len(items), batch_size):
        batch = items[b : b + batch_size]
        y = torch.from_numpy(np.stack([it.y for it in batch])[:, None]).to(dev)
        m = torch.from_numpy(np.stack([it.mask for it in batch])[:, None]).to(dev)
        g = z = None
        if guess is not None:
            g = torch.from_numpy(np.stack([it.guess for it in batch])[:, None]).to(dev)
        if noise is not None:
            z = torch.from_numpy(np.stack([_tile_noise(model, noise, it) for it in batch]))
            z = z.to(dev)  # (batch, K, L, P, P)
        with torch.no_grad():
            out = reconstruct(gen, y, m, g, z).float().cpu().numpy()[:, 0]  # (batch, L, P, P)
        for it, o in zip(batch, out, strict=True):
            _add_tile(model, it, o, x.shape[0], w2, pred, wsum)
    with np.errstate(invalid="ignore", divide="ignore"):
        res = np.where(wsum > 0, pred / wsum, 0.0)
    return res, (wsum > 0).astype(np.float64)


@dataclass
class _Tile:
    """One normalised tile of a window, padded to the model's (L, P, P) input."""

    y0: int
    x0: int
    h: int  # size of the tile inside the domain (< P at a small domain's edge)
    w: int
    mean: float  # normalisation of the tile, input units
    std: float
    y: np.ndarray  # (L, P, P) float32 normalised observation, the fill value where occluded
    mask: np.ndarray  # (L, P, P) float32, 1 where occluded or padded
    guess: np.ndarray | None = None  # (L, P, P) float32 normalised first guess, 0 where none


def _tile(model: dict, x, missing, y0: int, x0: int, guess=None) -> _Tile | None:
    """The tile of (T', H, W) ``x`` at (y0, x0); None when nothing in it is observed."""
    p, n_t, fill_v = TILE_SIZE, x.shape[0], float(model["fill_value"])
    sub = x[:, y0 : y0 + p, x0 : x0 + p].astype(np.float64)
    obs = ~missing[:, y0 : y0 + p, x0 : x0 + p]
    try:
        yv, _, mean, std = normalise(sub, obs, std_factor=model["std_factor"], fill_value=fill_v)
    except NormalisationError:
        return None  # nothing observed in this tile and window
    h, w = sub.shape[1:]
    seq_len = model["seq_len"]
    y_pad = np.full((seq_len, p, p), fill_v, np.float32)
    m_pad = np.ones((seq_len, p, p), np.float32)
    y_pad[:n_t, :h, :w] = yv
    m_pad[:n_t, :h, :w] = ~(obs & np.isfinite(sub))
    g_pad = None
    if guess is not None:
        g = (guess[:, y0 : y0 + p, x0 : x0 + p] - mean) / (model["std_factor"] * std)
        g_pad = np.zeros((seq_len, p, p), np.float32)
        g_pad[:n_t, :h, :w] = np.where(np.isfinite(g), g, 0.0)
    return _Tile(y0, x0, h, w, mean, std, y_pad, m_pad, g_pad)


def _tile_noise(model: dict, noise: np.ndarray, tile: _Tile) -> np.ndarray:
    """The (K, L, P, P) crop of a window's (K, T', H, W) noise under ``tile``, 0 on padding."""
    k, n_t = noise.shape[:2]
    out = np.zeros((k, model["seq_len"], TILE_SIZE, TILE_SIZE), np.float32)
    out[:, :n_t, : tile.h, : tile.w] = noise[
        :, :, tile.y0 : tile.y0 + tile.h, tile.x0 : tile.x0 + tile.w
    ]
    return out


def _tile_weight(hw: tuple[int, int], tile_overlap: int) -> np.ndarray:
    """(P, P) blending weight of a tile: ramps along each axis the domain is tiled in."""
    p = TILE_SIZE
    wy = ramp(p, tile_overlap) if hw[0] > p else np.ones(p)
    wx = ramp(p, tile_overlap) if hw[1] > p else np.ones(p)
    return wy[:, None] * wx[None, :]


def _add_tile(model, tile: _Tile, out: np.ndarray, n_t: int, w2, pred, wsum) -> None:
    """Add the model's (L, P, P) ``out`` for ``tile``, in input units, to the blend sums."""
    h, w = tile.h, tile.w
    v = denormalise(
        out[:n_t, :h, :w].astype(np.float64), tile.mean, tile.std, std_factor=model["std_factor"]
    )
    ok = np.isfinite(v)
    wt = np.where(ok, w2[None, :h, :w], 0.0)
    pred[:, tile.y0 : tile.y0 + h, tile.x0 : tile.x0 + w] += np.where(ok, v, 0.0) * wt
    wsum[:, tile.y0 : tile.y0 + h, tile.x0 : tile.x0 + w] += wt
