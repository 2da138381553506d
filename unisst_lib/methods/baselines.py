"""Classic gap-filling baselines for SST sequences: mean, temporal, Laplace and DINEOF.

Every method has the same call shape::

    filled = fill_xxx(sst, mask=None, **options)

* ``sst``: (T, H, W) SST in °C (any real dtype), NaN where missing.
* ``mask``: (T, H, W) bool (or 0/1 numbers), True where occluded/missing. A
  pixel counts as *observed* where ``mask`` is False **and** ``sst`` is finite;
  the values of ``sst`` under the mask are never read. ``mask=None`` means
  ``~np.isfinite(sst)``.
* The result has the shape and dtype of ``sst`` (float64 for integer input):
  observed pixels are copied bit for bit, every other *ocean* pixel is filled
  (never NaN), and *land* stays NaN.

Land
----
``land`` (an (H, W) bool option of every method) marks pixels that are not
part of the domain: they stay NaN, are left out of every solver, and act as a
closed (no-flux) boundary for the spatial fill. By default land is where
``sst`` is non-finite in **every** frame, whatever ``mask`` says — so passing
the truth (NaN on land only) with a cloud ``mask`` fills a pixel hidden in
every frame, while passing an observation that is NaN under the clouds leaves
such a pixel NaN unless ``land`` is given explicitly.

Methods
-------
* :func:`fill_mean`: the mean of the observed pixels of the sequence.
* :func:`fill_temporal`: per-pixel linear interpolation in time between the
  nearest observed frames (held constant before the first and after the last).
* :func:`fill_laplace`: per-frame harmonic inpainting (∇²u = 0 in the gaps,
  observed pixels as Dirichlet boundary, no flux across the grid edge and
  the coast).
* :func:`fill_dineof` / :func:`dineof`: DINEOF (Beckers & Rixen 2003;
  Alvera-Azcárate et al. 2005), EOF reconstruction with the number of EOFs
  chosen by cross-validation, optional temporal filter (Alvera-Azcárate et
  al. 2009).

:func:`fill_baseline` calls one of them by name.

Fallbacks (shared by every method): a pixel the method cannot reach (no
observation at that pixel for :func:`fill_temporal`, no observation in the
frame for :func:`fill_laplace`, ...) is interpolated in time from the frames
where it was filled, then harmonically in space from the pixels filled in that
frame, and finally set to the sequence mean (an ocean basin never observed).

Examples
--------
>>> import numpy as np
>>> sst = np.array([[[20.0, np.nan]], [[22.0, 23.0]]])  # (T=2, H=1, W=2), °C
>>> fill_baseline("temporal", sst)[:, 0, 1].tolist()
[23.0, 23.0]
>>> fill_mean(sst)[0, 0].tolist()
[20.0, 21.666666666666668]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from scipy import ndimage
from scipy.sparse.linalg import splu

from unisst_lib.core.errors import UnisstError

__all__ = [
    "BASELINE_NAMES",
    "BaselineInputError",
    "DineofResult",
    "dineof",
    "fill_baseline",
    "fill_dineof",
    "fill_laplace",
    "fill_mean",
    "fill_temporal",
]

BaselineName = Literal["mean", "temporal", "laplace", "dineof"]

#: Names accepted by :func:`fill_baseline`.
BASELINE_NAMES: tuple[str, ...] = ("mean", "temporal", "laplace", "dineof")

#: DINEOF uses an exact SVD when the data matrix has at most this many frames
#: (columns), and a warm-started randomised subspace iteration above it.
EXACT_SVD_MAX_DIM = 64


class BaselineInputError(UnisstError, ValueError):
    """The SST, mask or options given to a baseline cannot be used."""


# ------------------------------------------------------------------ inputs
@dataclass
class _Problem:
    """A validated gap-filling problem (all arrays (T, H, W) unless said)."""

    sst: np.ndarray  # the caller's array, untouched: observed values are copied from it
    values: np.ndarray  # float64 °C, NaN where not observed
    observed: np.ndarray  # bool: mask False and sst finite
    land: np.ndarray  # (H, W) bool: outside the domain, NaN in the output
    mean: float  # °C, mean of the observed pixels
    out_dtype: np.dtype

    @property
    def ocean(self) -> np.ndarray:
        return ~self.land


def _prepare(sst, mask, land, *, method: str) -> _Problem:
    x = np.asarray(sst)
    if x.ndim != 3:
        raise BaselineInputError(
            f"{method}: sst must be a (T, H, W) array (time, latitude, longitude); got shape "
            f"{x.shape}. Add a time axis for a single frame (sst[None])."
        )
    if x.size == 0:
        raise BaselineInputError(f"{method}: sst is empty (shape {x.shape})")
    if np.iscomplexobj(x) or not (
        np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)
    ):
        raise BaselineInputError(f"{method}: sst must hold real numbers (°C); got {x.dtype}")
    finite = np.isfinite(x)
    if mask is None:
        occluded = ~finite
    else:
        m = np.asarray(mask)
        if m.shape != x.shape:
            raise BaselineInputError(
                f"{method}: mask has shape {m.shape} but sst has {x.shape}: give one mask "
                "value per SST pixel (True where occluded), or mask=None to use ~isfinite(sst)."
            )
        if m.dtype != np.bool_:
            if not (np.issubdtype(m.dtype, np.number) and np.isin(m, (0, 1)).all()):
                raise BaselineInputError(
                    f"{method}: mask must be bool or hold only 0 and 1 (1 = occluded); got "
                    f"dtype {m.dtype} with other values."
                )
            m = m.astype(bool)
        occluded = m | ~finite
    observed = ~occluded
    if land is None:
        land_hw = ~finite.any(axis=0)
    else:
        land_hw = np.asarray(land)
        if land_hw.shape != x.shape[1:] or land_hw.dtype != np.bool_:
            raise BaselineInputError(
                f"{method}: land must be a bool (H, W) = {x.shape[1:]} array (True on land); "
                f"got {land_hw.dtype} of shape {land_hw.shape}."
            )
        clash = int(np.count_nonzero(observed & land_hw[None]))
        if clash:
            raise BaselineInputError(
                f"{method}: {clash} observed pixels lie on the given land mask: fix the land "
                "mask or occlude those pixels in `mask`."
            )
    n_obs = int(np.count_nonzero(observed))
    if n_obs == 0:
        raise BaselineInputError(
            f"{method}: no observed pixel in sst of shape {x.shape} (every pixel is masked or "
            "NaN): there is nothing to fill from. Check the mask convention (True = occluded) "
            "or use a longer / less cloudy sequence."
        )
    values = np.where(observed, x, np.nan).astype(np.float64, copy=False)
    mean = float(values[observed].mean())
    out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
    return _Problem(x, values, observed, land_hw, mean, out_dtype)


def _finish(p: _Problem, filled: np.ndarray) -> np.ndarray:
    """Observed pixels bit for bit from ``sst``, ``filled`` elsewhere, NaN on land."""
    filled = np.where(p.land[None], np.nan, filled).astype(p.out_dtype, copy=False)
    return np.where(p.observed, p.sst, filled).astype(p.out_dtype, copy=False)


# ------------------------------------------------------------ spatial solver
class _OceanGraph:
    """4-neighbour graph of the ocean pixels of an (H, W) grid; harmonic fills on it.

    The discrete equation at an unknown pixel ``i`` is
    ``sum_{j ocean neighbour of i} (u_i - u_j) = 0``: the 5-point Laplacian in
    the interior, and no flux across the grid edge and the coast (a missing
    neighbour simply drops out — a Neumann condition).
    """

    def __init__(self, ocean: np.ndarray) -> None:
        h, w = ocean.shape
        self.shape = (h, w)
        self.ocean = ocean.ravel()
        idx = np.arange(h * w).reshape(h, w)
        pairs = [(idx[:, :-1], idx[:, 1:]), (idx[:-1, :], idx[1:, :])]
        a = np.concatenate([p[0].ravel() for p in pairs])
        b = np.concatenate([p[1].ravel() for p in pairs])
        keep = self.ocean[a] & self.ocean[b]
        a, b = a[keep], b[keep]
        n = h * w
        ones = np.ones(2 * a.size)
        self.adj = sp.csr_matrix(
            (ones, (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n)
        )
        self.deg = np.asarray(self.adj.sum(axis=1)).ravel()
        labels, self.n_labels = ndimage.label(ocean)  # default structure: 4-connectivity
        self.labels = labels.ravel()  # 0 on land

    def harmonic(self, values: np.ndarray, unknown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Harmonic fill of the ``unknown`` pixels of ``K`` frames sharing one gap pattern.

        Parameters
        ----------
        values
            (K, N) float64 with N = H·W; must be finite at ocean pixels not ``unknown``.
        unknown
            (N,) bool, ocean pixels to solve for.

        Returns
        -------
        solution
            (K, n) values at the solvable unknown pixels.
        solvable
            (N,) bool: unknown pixels whose ocean basin holds a known pixel (the
            others have no boundary data and are left to the caller).
        """
        known = self.ocean & ~unknown
        basin_has_known = np.bincount(self.labels[known], minlength=self.n_labels + 1) > 0
        basin_has_known[0] = False  # label 0 is land
        solvable = unknown & basin_has_known[self.labels]
        iu = np.flatnonzero(solvable)
        if iu.size == 0:
            return np.empty((values.shape[0], 0)), solvable
        ik = np.flatnonzero(known)
        rows = self.adj[iu]
        a = sp.diags(self.deg[iu]) - rows[:, iu]  # (n, n), irreducibly diagonally dominant
        b = rows[:, ik]  # (n, n_known): coupling to the Dirichlet pixels
        lu = splu(a.tocsc())
        rhs = b @ values[:, ik].T  # (n, K)
        sol = lu.solve(np.ascontiguousarray(rhs))
        return sol.T, solvable


def _interp_time(values: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel linear interpolation in time of (T, N) ``values`` from the ``known`` entries.

    Before the first / after the last known frame of a pixel its nearest known
    value is held. Vectorised: the index of the previous (next) known frame of
    every entry comes from a running maximum (minimum) along time.

    Returns the (T, N) filled values (exact at known entries, arbitrary where a
    pixel is never known) and the (N,) bool of pixels known at least once.
    """
    n_t = values.shape[0]
    t = np.arange(n_t, dtype=np.int32)[:, None]  # (T, 1)
    prev = np.maximum.accumulate(np.where(known, t, -1), axis=0)  # (T, N)
    nxt = np.minimum.accumulate(np.where(known, t, n_t)[::-1], axis=0)[::-1]  # (T, N)
    lo = np.where(prev >= 0, prev, nxt)  # only the next one: hold it
    hi = np.where(nxt < n_t, nxt, lo)  # only the previous one: hold it
    lo = np.clip(lo, 0, n_t - 1)
    hi = np.clip(hi, 0, n_t - 1)
    v_lo = np.take_along_axis(values, lo, axis=0)
    v_hi = np.take_along_axis(values, hi, axis=0)
    span = hi - lo
    w = np.divide(t - lo, span, out=np.zeros(span.shape), where=span > 0)
    out = v_lo + w * (v_hi - v_lo)
    out = np.where(known, values, out)  # exact at known entries
    return out, known.any(axis=0)


def _complete(
    p: _Problem, values: np.ndarray, known: np.ndarray, graph: _OceanGraph | None = None
) -> np.ndarray:
    """Fill the ocean entries of (T, H, W) ``values`` that are not ``known``.

    In time (per pixel, linear) where the pixel is known in some frame; then in
    space (harmonic, frame by frame, from the pixels filled so far) for pixels
    never known; then the sequence mean for basins with no known pixel at all.
    """
    n_t, h, w = values.shape
    known = (known & p.ocean[None]).reshape(n_t, h * w)
    flat = values.reshape(n_t, h * w).copy()
    has_any = known.any(axis=0)  # (N,)
    # Interpolate in time only the pixels that have both known and unknown frames.
    cols = np.flatnonzero(has_any & ~known.all(axis=0))
    if cols.size:
        flat[:, cols] = _interp_time(flat[:, cols], known[:, cols])[0]
    todo = p.ocean.ravel() & ~has_any
    if todo.any():
        graph = graph or _OceanGraph(p.ocean)
        sol, solvable = graph.harmonic(np.where(has_any, flat, 0.0), todo)
        flat[:, solvable] = sol
        flat[:, todo & ~solvable] = p.mean
    return flat.reshape(n_t, h, w)


# ------------------------------------------------------------ simple methods
def fill_mean(
    sst: np.ndarray, mask: np.ndarray | None = None, *, land: np.ndarray | None = None
) -> np.ndarray:
    """Fill every gap with the mean of the observed pixels of the sequence.

    Parameters
    ----------
    sst
        (T, H, W) SST, °C; NaN where missing.
    mask
        (T, H, W) bool, True where occluded; ``None``: ``~np.isfinite(sst)``.
    land
        (H, W) bool, pixels outside the domain (stay NaN); default: pixels
        where ``sst`` is NaN in every frame.

    Returns
    -------
    ndarray
        Same shape and dtype as ``sst``: observed pixels unchanged, the others
        equal to the mean (°C) of the observed pixels, land NaN.

    Examples
    --------
    >>> import numpy as np
    >>> sst = np.array([[[1.0, 3.0, np.nan]], [[np.nan, 5.0, 7.0]]])  # (T=2, H=1, W=3)
    >>> fill_mean(sst).tolist()
    [[[1.0, 3.0, 4.0]], [[4.0, 5.0, 7.0]]]
    >>> fill_mean(sst[:1]).tolist()  # NaN in every frame: land, left NaN
    [[[1.0, 3.0, nan]]]
    """
    p = _prepare(sst, mask, land, method="fill_mean")
    return _finish(p, np.full(p.values.shape, p.mean))


def fill_temporal(
    sst: np.ndarray, mask: np.ndarray | None = None, *, land: np.ndarray | None = None
) -> np.ndarray:
    """Per-pixel linear interpolation in time between the nearest observed frames.

    Frames are taken as equally spaced. Before the first and after the last
    observation of a pixel its nearest observed value is held. A pixel never
    observed in the sequence gets the harmonic (Laplace) fill of each frame
    from the pixels interpolated in time, or the sequence mean in a basin with
    no observation at all.

    Parameters
    ----------
    sst, mask, land
        As in :func:`fill_mean`.

    Returns
    -------
    ndarray
        Same shape and dtype as ``sst``, observed pixels unchanged, land NaN.

    Examples
    --------
    >>> import numpy as np
    >>> sst = np.array([10.0, np.nan, np.nan, 13.0, np.nan]).reshape(5, 1, 1)
    >>> fill_temporal(sst).ravel().tolist()
    [10.0, 11.0, 12.0, 13.0, 13.0]
    """
    p = _prepare(sst, mask, land, method="fill_temporal")
    return _finish(p, _complete(p, p.values, p.observed))


def fill_laplace(
    sst: np.ndarray, mask: np.ndarray | None = None, *, land: np.ndarray | None = None
) -> np.ndarray:
    """Per-frame harmonic inpainting: ∇²u = 0 in the gaps, observations as boundary values.

    The 5-point Laplace equation is solved on the ocean pixels of each frame
    (a sparse LU factorisation, built once per distinct gap pattern), with the
    observed pixels as Dirichlet values and no flux across the grid edge and
    the coast. A linear field is reproduced exactly in gaps that do not touch
    the edge or the coast. Frames (or separate basins) with no observation are
    interpolated in time from the frames filled around them, or set to the
    sequence mean.

    Parameters
    ----------
    sst, mask, land
        As in :func:`fill_mean`.

    Returns
    -------
    ndarray
        Same shape and dtype as ``sst``, observed pixels unchanged, land NaN.

    Examples
    --------
    >>> import numpy as np
    >>> sst = np.array([[[1.0, 9.0, 9.0, 4.0]]])  # (T=1, H=1, W=4), °C
    >>> hidden = np.array([[[False, True, True, False]]])  # the 9s are under a cloud
    >>> np.round(fill_laplace(sst, hidden), 6).tolist()
    [[[1.0, 2.0, 3.0, 4.0]]]
    """
    p = _prepare(sst, mask, land, method="fill_laplace")
    n_t, h, w = p.values.shape
    graph = _OceanGraph(p.ocean)
    values = p.values.reshape(n_t, h * w).copy()
    resolved = p.observed.reshape(n_t, h * w).copy()
    unknown = p.ocean.ravel()[None] & ~resolved  # (T, N)
    patterns: dict[bytes, list[int]] = {}
    for t in np.flatnonzero(unknown.any(axis=1)):
        patterns.setdefault(np.packbits(unknown[t]).tobytes(), []).append(int(t))
    for frames in patterns.values():
        sol, solvable = graph.harmonic(np.nan_to_num(values[frames]), unknown[frames[0]])
        values[np.ix_(frames, np.flatnonzero(solvable))] = sol
        resolved[np.ix_(frames, np.flatnonzero(solvable))] = True
    filled = _complete(p, values.reshape(n_t, h, w), resolved.reshape(n_t, h, w), graph)
    return _finish(p, filled)


# ------------------------------------------------------------------- DINEOF
@dataclass
class DineofResult:
    """What :func:`dineof` returns.

    Attributes
    ----------
    filled
        (T, H, W) filled SST, °C, same dtype as the input; observed pixels
        unchanged, land NaN.
    n_eofs
        Number of EOFs of the final reconstruction (chosen by cross-validation
        unless given).
    cv_rmse
        (K,) float64, °C: RMSE on the withheld cross-validation pixels with
        ``k = 1 … K`` EOFs (``cv_rmse[k - 1]``), ``K = min(k_max, pixels - 1,
        frames - 1)``; NaN for ``k`` not tried (early stop by ``patience``).
        Empty when ``n_eofs`` was given.
    iterations
        (K,) int: SVD iterations spent at each ``k`` during the
        cross-validation pass (with ``n_eofs`` given: the single pass,
        ``K = n_eofs``); 0 for ``k`` not tried.
    refit_iterations
        Iterations of the final refit with every observation at ``n_eofs`` (0
        when ``n_eofs`` was given: the single pass is the fit).
    converged
        True when the final fit met ``tol`` within ``max_iter`` iterations.
    center
        The mean removed before the EOF analysis, °C: a scalar (``"overall"``)
        or an (H, W) map (``"pixel"``, NaN where unused).
    """

    filled: np.ndarray
    n_eofs: int
    cv_rmse: np.ndarray
    iterations: np.ndarray
    refit_iterations: int
    converged: bool
    center: float | np.ndarray


class _EOFSolver:
    """The DINEOF iteration on an anomaly matrix ``x`` (rows = pixels, cols = frames).

    One :meth:`step` at ``k`` EOFs replaces the gap entries of ``x`` (in place)
    by its rank-``k`` EOF reconstruction ``x V_k V_kᵀ``, where ``V_k`` holds the
    ``k`` leading right singular vectors (temporal EOFs) of ``x F`` (``F`` the
    temporal filter, the identity when ``alpha == 0``).

    ``V_k`` comes from a Rayleigh–Ritz step on a block ``q`` of ``width``
    orthonormal temporal vectors. With few frames ``q`` is the identity (an
    exact SVD). Otherwise ``q`` is a randomised start refined by one power step
    per iteration: the matrix changes little from one DINEOF iteration to the
    next, so the block tracks the leading subspace, and at a fixed point of
    DINEOF the block is invariant and the EOFs exact. The matrix is float32 and
    the reconstruction, the gap update and the power step run over blocks of
    rows that stay in cache: each iteration reads the matrix twice and writes
    it once.
    """

    def __init__(
        self, x: np.ndarray, seen: np.ndarray, width: int, alpha: float, rng: np.random.Generator
    ) -> None:
        self.x = x  # (rows, cols) float32 C-contiguous; gaps hold the current estimate
        self.set_seen(seen)
        n_cols = x.shape[1]
        self.alpha = alpha
        self.full = n_cols <= max(EXACT_SVD_MAX_DIM, width)
        self.f = _time_filter(np.eye(n_cols, dtype=x.dtype), alpha) if self.full else None
        self.q = None
        if not self.full:
            start = rng.standard_normal((n_cols, min(width, n_cols)))  # (cols, width)
            self.q = np.linalg.qr(start)[0].astype(x.dtype)
        self.chunk = max(1, (1 << 20) // (n_cols * x.itemsize))  # about 1 MiB of rows

    def step(self, k: int) -> float:
        """One DINEOF iteration at ``k`` EOFs; returns the RMS change of the gap entries."""
        x, alpha = self.x, self.alpha
        if self.full:
            w_ = x  # x @ I: the whole temporal basis
            wf = x @ self.f if alpha > 0 else x  # (rows, cols)
        else:
            m = self.q.shape[1]
            both = np.hstack([self.q, _time_filter(self.q, alpha)]) if alpha > 0 else self.q
            a = x @ both  # (rows, m or 2m): the first read of the matrix
            w_, wf = (a[:, :m], a[:, m:]) if alpha > 0 else (a, a)
        # Rayleigh–Ritz from the small Gram matrix of wf, in float64: its eigenvectors
        # rotate the block into the right singular vectors of x F (much cheaper than an
        # SVD of the tall wf, and accurate for the leading modes that matter here).
        wf64 = wf.astype(np.float64)
        rot = np.linalg.eigh(wf64.T @ wf64)[1][:, ::-1]  # (m, m), by decreasing variance
        v = (rot if self.full else self.q.astype(np.float64) @ rot).astype(x.dtype)  # (cols, m)
        y = (wf64 @ rot).astype(x.dtype)  # (rows, m) = x F v
        xv = w_ @ rot.astype(x.dtype) if alpha > 0 else y  # (rows, m) = x v
        vk_t = np.ascontiguousarray(v[:, :k].T)  # (k, cols)
        z = None if self.full else np.zeros((x.shape[1], y.shape[1]), dtype=x.dtype)
        sumsq = 0.0
        for r0 in range(0, x.shape[0], self.chunk):
            rows = slice(r0, r0 + self.chunk)
            xc = x[rows]  # a view, updated in place
            d = xv[rows, :k] @ vk_t  # (chunk, cols) reconstruction ...
            d -= xc  # ... minus the current values
            d *= self.gap[rows]  # observed entries never move (a product: copyto-where is slow)
            flat = d.reshape(-1)
            sumsq += float(np.dot(flat, flat))
            xc += d
            if z is not None:
                z += xc.T @ y[rows]  # power step: (x F)ᵀ (x F v), filter applied below
        if z is not None:
            self.q = np.linalg.qr(_time_filter(z, alpha) if alpha > 0 else z)[0]
        return math.sqrt(sumsq / self.n_gaps) if self.n_gaps else 0.0

    def set_seen(self, seen: np.ndarray) -> None:
        """Set the observed entries (bool (rows, cols)), which the iteration never changes."""
        self.gap = (~seen).astype(self.x.dtype)  # (rows, cols) 1.0 on the entries to fill
        self.n_gaps = int(np.count_nonzero(~seen))

    def iterate(self, k: int, *, tol: float, max_iter: int, scale: float) -> tuple[int, bool]:
        """Iterate at ``k`` EOFs until the RMS change of the gaps is below ``tol * scale``."""
        for it in range(1, max_iter + 1):
            if self.step(k) <= tol * scale:
                return it, True
        return max_iter, False


def _time_filter(a: np.ndarray, alpha: float) -> np.ndarray:
    """One pass of (I + α Δ_t) along axis 0 (time) of ``a`` (cols, m), no flux at the ends."""
    out = (1.0 - 2.0 * alpha) * a
    out[1:] += alpha * a[:-1]
    out[:-1] += alpha * a[1:]
    out[0] += alpha * a[0]
    out[-1] += alpha * a[-1]
    return out


def _cv_clumps(
    observed: np.ndarray, fraction: float, rng: np.random.Generator, radius: int
) -> np.ndarray:
    """About ``fraction`` of the ``observed`` (T, H, W) pixels, in round clumps of ``radius``."""
    n_obs = int(np.count_nonzero(observed))
    target = max(1, round(fraction * n_obs))
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disk = (yy**2 + xx**2 <= radius**2 + radius)[None]  # (1, 2r+1, 2r+1): clumps within frames
    cv = np.zeros_like(observed)
    for _ in range(50):
        count = int(np.count_nonzero(cv))
        if count >= target:
            break
        free = np.flatnonzero(observed & ~cv)
        if free.size == 0:
            break
        # Each new clump hides about disk.sum() * (observed fraction) observed pixels.
        per_clump = max(1.0, disk.sum() * n_obs / observed.size)
        n_new = min(free.size, max(1, math.ceil((target - count) / per_clump)))
        seeds = np.zeros(observed.size, dtype=bool)
        seeds[rng.choice(free, size=n_new, replace=False)] = True
        grown = ndimage.binary_dilation(seeds.reshape(observed.shape), structure=disk)
        cv |= grown & observed
    return cv


def dineof(
    sst: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    land: np.ndarray | None = None,
    k_max: int = 20,
    n_eofs: int | None = None,
    tol: float = 1e-3,
    max_iter: int = 100,
    cv_fraction: float = 0.03,
    cv_mask: np.ndarray | None = None,
    cv_radius: int = 2,
    center: Literal["overall", "pixel"] = "overall",
    temporal_filter: float = 0.0,
    patience: int | None = None,
    seed: int = 0,
) -> DineofResult:
    """DINEOF gap filling (Beckers & Rixen 2003; Alvera-Azcárate et al. 2005).

    The algorithm:

    1. The ocean pixels observed at least once and the frames with at least one
       observation form the data matrix ``X`` (space × time) of anomalies:
       ``center`` is removed and missing entries start at 0 (the mean).
    2. For ``k = 1 … k_max``: repeat "rank-``k`` EOF reconstruction of ``X``,
       copy it into the missing entries" until the RMS change of the missing
       entries is below ``tol`` times the standard deviation of the observed
       anomalies (the stopping rule of the reference DINEOF), or ``max_iter``
       iterations. Each ``k`` starts from the state reached at ``k - 1``.
    3. During this pass about ``cv_fraction`` of the observed entries are
       withheld (treated as missing); the ``k`` with the lowest RMSE there is
       chosen. The withheld entries are then restored and the reconstruction
       at that ``k`` is iterated to convergence again (starting from the
       cross-validation state).
    4. Pixels never observed (but not land) get the harmonic fill of each
       reconstructed frame; frames with no observation are interpolated in
       time between reconstructed frames.

    Parameters
    ----------
    sst, mask, land
        As in :func:`fill_mean`. Land is left out of the matrix and stays NaN.
    k_max
        Largest number of EOFs tried (capped at ``min(pixels, frames) - 1``).
    n_eofs
        Use this many EOFs (at most ``min(pixels, frames) - 1``) and skip the
        cross-validation (``cv_*`` and ``patience`` are then unused).
    tol
        Convergence threshold (relative to the standard deviation of the
        observed anomalies) of the inner iteration.
    max_iter
        Most iterations at each ``k`` and for the refit.
    cv_fraction
        Fraction of the observed pixels withheld for cross-validation when
        ``cv_mask`` is not given (0 < ``cv_fraction`` <= 0.5).
    cv_mask
        (T, H, W) bool: withhold the observed pixels under it (e.g. a cloud
        window from another sequence) instead of random clumps.
    cv_radius
        Radius, pixels, of the random round clumps withheld within a frame.
    center
        ``"overall"`` (default, as the reference DINEOF): remove the mean of all
        observed pixels. ``"pixel"``: remove each pixel's temporal mean of its
        observations — better for long series with a strong steady pattern,
        noisier for short, cloudy windows where some pixels are seen only once.
    temporal_filter
        Strength ``α`` (0 ≤ α ≤ 0.25, 0 = off) of a Laplacian filter in time in
        the spirit of Alvera-Azcárate et al. (2009): the temporal EOFs are those
        of ``F Xᵀ X F`` with ``F = I + α Δ_t`` (Δ_t the second difference
        between consecutive frames, no flux at the ends), which damps spurious
        frame-to-frame jumps of the temporal modes; the reconstruction projects
        the unfiltered ``X`` on them. 0.25 removes a two-frame oscillation
        entirely. Frames without any observation are skipped by the filter.
    patience
        Stop the cross-validation pass once ``patience`` successive ``k`` have
        not improved the lowest cross-validation RMSE (``None``: try all).
    seed
        Seed of the withheld pixels and of the randomised SVD: the result is a
        deterministic function of the inputs and ``seed``.

    Returns
    -------
    DineofResult

    Raises
    ------
    BaselineInputError
        Bad shapes or options, no observation, fewer than 2 observed pixels or
        frames, or no pixel left to withhold for cross-validation.

    Notes
    -----
    The anomaly matrix is held in float32 (about 1e-6 °C resolution; errors
    and the removed mean are computed in float64). The leading EOFs come from
    an exact SVD when there are at most :data:`EXACT_SVD_MAX_DIM` frames (a
    24-frame window), and otherwise from a block of ``k_max + 10`` temporal
    vectors, randomly started and refined by one power step per DINEOF
    iteration (exact at convergence).

    Examples
    --------
    >>> import numpy as np
    >>> t, y = np.arange(8.0)[:, None, None], np.arange(6.0)[None, :, None]
    >>> sst = 20 + np.sin(t) * np.cos(y) * np.ones((8, 6, 6))  # (T, H, W), one mode
    >>> cloudy = sst.copy(); cloudy[2, 1:3, 1:3] = np.nan
    >>> res = dineof(cloudy, n_eofs=2, tol=1e-8, max_iter=500)  # the mode and the offset
    >>> bool(np.allclose(res.filled, sst, atol=1e-6)), res.n_eofs
    (True, 2)
    """
    p = _prepare(sst, mask, land, method="dineof")
    _check_dineof_options(k_max, n_eofs, tol, max_iter, cv_fraction, cv_radius, center,
                          temporal_filter, patience, seed)  # fmt: skip
    n_t, h, w = p.values.shape
    vals = p.values.reshape(n_t, h * w)  # (T, N)
    obs = p.observed.reshape(n_t, h * w)
    rows = np.flatnonzero(obs.any(axis=0) & p.ocean.ravel())  # pixels in the matrix
    cols = np.flatnonzero(obs.any(axis=1))  # frames in the matrix
    if rows.size < 2 or cols.size < 2:
        raise BaselineInputError(
            f"dineof: the data hold {rows.size} observed pixel(s) and {cols.size} frame(s) with "
            "observations; an EOF analysis needs at least 2 of each. Use fill_laplace for a "
            "single frame or fill_temporal for a single pixel."
        )
    # A rank-min(rows, cols) reconstruction reproduces the matrix: the gaps would never move.
    k_top = min(n_eofs if n_eofs is not None else k_max, min(rows.size, cols.size) - 1)
    data = np.ascontiguousarray(vals[np.ix_(cols, rows)].T)  # (rows, cols) °C, NaN = missing
    seen = np.isfinite(data)
    rng = np.random.default_rng([seed, 0xD1E0F])

    if n_eofs is None:
        if cv_mask is not None:
            cvm = np.asarray(cv_mask)
            if cvm.shape != p.values.shape or cvm.dtype != np.bool_:
                raise BaselineInputError(
                    f"dineof: cv_mask must be a bool array of the shape of sst {p.values.shape}; "
                    f"got {cvm.dtype} of shape {cvm.shape}"
                )
            cv_full = cvm & p.observed
        else:
            cv_full = _cv_clumps(p.observed & p.ocean[None], cv_fraction, rng, cv_radius)
        withheld = np.ascontiguousarray(cv_full.reshape(n_t, h * w)[np.ix_(cols, rows)].T)
        if not withheld.any() or np.array_equal(withheld, seen):
            raise BaselineInputError(
                "dineof: the cross-validation set is empty or holds every observation "
                f"({int(withheld.sum())} of {int(seen.sum())} observed pixels): give a cv_mask "
                "that hides some (a few %) but not all observed pixels, or set n_eofs."
            )
        fit_seen = seen & ~withheld
    else:
        withheld = None
        fit_seen = seen

    # ---- pass 1: k = 1..k_top, withholding the cross-validation pixels
    centre = _centre(data, fit_seen, center)  # (rows, 1) °C
    x = np.where(fit_seen, data - centre, 0.0).astype(np.float32)  # (rows, cols) anomalies
    solver = _EOFSolver(x, fit_seen, k_top + 10, temporal_filter, rng)
    opts = {"tol": tol, "max_iter": max_iter, "scale": _anomaly_scale(x, fit_seen)}
    iterations = np.zeros(k_top, dtype=int)
    cv_rmse = np.full(k_top, np.nan)
    best_k, best_rmse, best_state = 0, math.inf, None
    converged = False
    for k in range(1, k_top + 1):
        iterations[k - 1], converged = solver.iterate(k, **opts)
        if withheld is None:
            continue
        err = (solver.x[withheld] + centre[withheld.nonzero()[0], 0]) - data[withheld]  # °C
        cv_rmse[k - 1] = math.sqrt(float(np.mean(err**2)))
        if cv_rmse[k - 1] < best_rmse:
            best_k, best_rmse, best_state = k, cv_rmse[k - 1], solver.x + centre  # °C
        elif patience is not None and k - best_k >= patience:
            break

    # ---- pass 2: every observation back in, iterate at the chosen k from the best state
    if withheld is None:
        k_opt, refit_iter = k_top, 0  # pass 1 used every observation: it is the fit
    else:
        k_opt = best_k
        centre = _centre(data, seen, center)
        solver.x = (np.where(seen, data, best_state) - centre).astype(np.float32)
        solver.set_seen(seen)
        opts["scale"] = _anomaly_scale(solver.x, seen)
        refit_iter, converged = solver.iterate(k_opt, **opts)
    recon = solver.x + centre  # (rows, cols) °C

    values = np.full((n_t, h * w), np.nan)
    values[np.ix_(cols, rows)] = recon.T
    known = np.zeros((n_t, h * w), dtype=bool)
    known[np.ix_(cols, rows)] = True
    filled = _complete(p, values.reshape(n_t, h, w), known.reshape(n_t, h, w))
    if center == "pixel":
        centre_map = np.full(h * w, np.nan)
        centre_map[rows] = centre[:, 0]
        centre_out: float | np.ndarray = centre_map.reshape(h, w)
    else:
        centre_out = float(centre[0, 0])
    return DineofResult(
        filled=_finish(p, filled),
        n_eofs=int(k_opt),
        cv_rmse=cv_rmse if withheld is not None else np.empty(0),
        iterations=iterations,
        refit_iterations=int(refit_iter),
        converged=bool(converged),
        center=centre_out,
    )


def _centre(data: np.ndarray, seen: np.ndarray, how: str) -> np.ndarray:
    """(rows, 1) mean removed before the EOF analysis, °C (see ``center`` of :func:`dineof`)."""
    if how == "overall":
        return np.full((data.shape[0], 1), float(data[seen].mean()))
    count = seen.sum(axis=1, keepdims=True)
    total = np.where(seen, data, 0.0).sum(axis=1, keepdims=True)
    overall = float(data[seen].mean())
    # A pixel whose every observation is withheld for cross-validation uses the overall mean.
    return np.where(count > 0, total / np.maximum(count, 1), overall)


def _anomaly_scale(x: np.ndarray, seen: np.ndarray) -> float:
    """Standard deviation of the observed anomalies (floored: a constant field converges)."""
    s = float(x[seen].std(dtype=np.float64))
    return s if s > 0 else 1e-12


def _check_dineof_options(
    k_max, n_eofs, tol, max_iter, cv_fraction, cv_radius, center, temporal_filter, patience, seed
) -> None:
    def positive_int(name, v):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise BaselineInputError(f"dineof: {name} must be an integer >= 1; got {v!r}")

    positive_int("k_max", k_max)
    positive_int("max_iter", max_iter)
    positive_int("cv_radius", cv_radius)
    if n_eofs is not None:
        positive_int("n_eofs", n_eofs)
    if patience is not None:
        positive_int("patience", patience)
    if not (isinstance(seed, int | np.integer) and seed >= 0):
        raise BaselineInputError(f"dineof: seed must be an integer >= 0; got {seed!r}")
    if not (np.isfinite(tol) and tol > 0):
        raise BaselineInputError(f"dineof: tol must be > 0 (e.g. 1e-3); got {tol!r}")
    if not (0 < cv_fraction <= 0.5):
        raise BaselineInputError(
            f"dineof: cv_fraction must be in (0, 0.5] (a few %, e.g. 0.03); got {cv_fraction!r}"
        )
    if center not in ("overall", "pixel"):
        raise BaselineInputError(f"dineof: center must be 'overall' or 'pixel'; got {center!r}")
    if not (0.0 <= temporal_filter <= 0.25):
        raise BaselineInputError(
            f"dineof: temporal_filter must be in [0, 0.25] (0 = off); got {temporal_filter!r}"
        )


def fill_dineof(sst: np.ndarray, mask: np.ndarray | None = None, **options) -> np.ndarray:
    """DINEOF gap filling; :func:`dineof` with the same options, returning only the filled array.

    Examples
    --------
    >>> import numpy as np
    >>> sst = 20 + np.outer(np.sin(np.arange(10.0)), np.cos(np.arange(16.0))).reshape(10, 4, 4)
    >>> cloudy = sst.copy(); cloudy[3, 0, :2] = np.nan
    >>> filled = fill_dineof(cloudy, n_eofs=2, tol=1e-8, max_iter=500)
    >>> bool(np.abs(filled - sst).max() < 1e-6)
    True
    """
    return dineof(sst, mask, **options).filled


# --------------------------------------------------------------- dispatcher
_METHODS: dict[str, Callable[..., np.ndarray]] = {
    "mean": fill_mean,
    "temporal": fill_temporal,
    "laplace": fill_laplace,
    "dineof": fill_dineof,
}


def fill_baseline(
    name: BaselineName, sst: np.ndarray, mask: np.ndarray | None = None, **options
) -> np.ndarray:
    """Fill ``sst`` with the baseline called ``name`` (one of :data:`BASELINE_NAMES`).

    ``options`` go to that function as keywords; an option it does not take
    raises ``TypeError`` (no silent typos).

    Examples
    --------
    >>> import numpy as np
    >>> fill_baseline("mean", np.array([[[1.0, 2.0]]]), np.array([[[False, True]]])).tolist()
    [[[1.0, 1.0]]]
    """
    try:
        fn = _METHODS[name]
    except (KeyError, TypeError):
        raise BaselineInputError(
            f"unknown baseline {name!r}: use one of {', '.join(map(repr, BASELINE_NAMES))}"
        ) from None
    return fn(sst, mask, **options)
