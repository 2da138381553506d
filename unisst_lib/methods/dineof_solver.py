"""The numerical core of :func:`unisst_lib.methods.dineof.dineof`.

:class:`EOFSolver` is the DINEOF iteration on an anomaly matrix (the EOF
reconstruction copied into the gaps, with an optional temporal filter of the
EOFs), :func:`time_filter` that filter, and :func:`cv_clumps` the random
cross-validation clumps. Kept apart from :mod:`unisst_lib.methods.dineof`, which
holds the algorithm's steps, options and defaults.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

__all__ = ["BLOCK_MARGIN", "EOFSolver", "cv_clumps", "time_filter"]

#: Temporal vectors the subspace block holds beyond the EOFs in use (their accuracy
#: depends on the gap to the first vector left out).
BLOCK_MARGIN = 10


class EOFSolver:
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
    it once. The block widens (:meth:`widen`) when more EOFs are asked for than
    it holds with a margin of :data:`BLOCK_MARGIN`.
    """

    def __init__(
        self,
        x: np.ndarray,
        seen: np.ndarray,
        *,
        width: int,
        alpha: float,
        rng: np.random.Generator,
        exact_max_dim: int,
    ) -> None:
        self.x = x  # (rows, cols) float32 C-contiguous; gaps hold the current estimate
        self.set_seen(seen)
        n_cols = x.shape[1]
        self.alpha = alpha
        self.rng = rng
        self.full = n_cols <= max(exact_max_dim, width)
        self.f = time_filter(np.eye(n_cols, dtype=x.dtype), alpha) if self.full else None
        self.q = None
        if not self.full:
            start = rng.standard_normal((n_cols, min(width, n_cols)))  # (cols, width)
            self.q = np.linalg.qr(start)[0].astype(x.dtype)
        self.chunk = max(1, (1 << 20) // (n_cols * x.itemsize))  # about 1 MiB of rows

    def widen(self, k: int) -> None:
        """Make the subspace block hold at least ``k + BLOCK_MARGIN`` vectors (all frames at most).

        New random directions, orthogonal to the block, join it: the power steps of
        the next iterations turn them towards the next EOFs.
        """
        if self.full or self.q.shape[1] >= min(k + BLOCK_MARGIN, self.q.shape[0]):
            return
        n_cols, width = self.q.shape
        add = min(n_cols, max(2 * width, k + BLOCK_MARGIN)) - width
        extra = self.rng.standard_normal((n_cols, add)).astype(self.q.dtype)
        self.q = np.linalg.qr(np.hstack([self.q, extra]))[0].astype(self.x.dtype)

    def step(self, k: int) -> float:
        """One DINEOF iteration at ``k`` EOFs; returns the RMS change of the gap entries."""
        x, alpha = self.x, self.alpha
        if self.full:
            w_ = x  # x @ I: the whole temporal basis
            wf = x @ self.f if alpha > 0 else x  # (rows, cols)
        else:
            m = self.q.shape[1]
            both = np.hstack([self.q, time_filter(self.q, alpha)]) if alpha > 0 else self.q
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
            self.q = np.linalg.qr(time_filter(z, alpha) if alpha > 0 else z)[0]
        return math.sqrt(sumsq / self.n_gaps) if self.n_gaps else 0.0

    def set_seen(self, seen: np.ndarray) -> None:
        """Set the observed entries (bool (rows, cols)), which the iteration never changes."""
        self.gap = (~seen).astype(self.x.dtype)  # (rows, cols) 1.0 on the entries to fill
        self.n_gaps = int(np.count_nonzero(~seen))

    def iterate(self, k: int, *, tol: float, max_iter: int, scale: float) -> tuple[int, bool]:
        """Iterate at ``k`` EOFs until the RMS change of the gaps is below ``tol * scale``.

        Returns the iterations made and whether the change fell below the threshold.
        """
        self.widen(k)
        for it in range(1, max_iter + 1):
            if self.step(k) <= tol * scale:
                return it, True
        return max_iter, False


def time_filter(a: np.ndarray, alpha: float) -> np.ndarray:
    """One pass of (I + α Δ_t) along axis 0 (time) of ``a`` (cols, m), no flux at the ends."""
    out = (1.0 - 2.0 * alpha) * a
    out[1:] += alpha * a[:-1]
    out[:-1] += alpha * a[1:]
    out[0] += alpha * a[0]
    out[-1] += alpha * a[-1]
    return out


def cv_clumps(
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
