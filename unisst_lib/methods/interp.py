"""The interpolating baselines: sequence mean, linear in time, harmonic in space.

* :func:`fill_mean`: the mean of the observed pixels of the sequence.
* :func:`fill_temporal`: per-pixel linear interpolation in time between the
  nearest observed frames (held constant before the first and after the last),
  by :func:`unisst_lib.models.time_interp.linear_in_time`, the interpolation the
  fast generator's first guess uses too.
* :func:`fill_laplace`: per-frame harmonic inpainting (∇²u = 0 in the gaps,
  observed pixels as Dirichlet boundary, no flux across the grid edge and
  the coast).

:func:`complete` is the fallback every baseline shares (DINEOF too): a pixel
the method cannot reach is interpolated in time from the frames where it was
filled, then (:func:`fill_in_space`) harmonically in space from the pixels
filled in that frame, and finally set to the sequence mean (an ocean basin
never observed). Inputs and outputs follow :mod:`unisst_lib.methods.problem`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy import ndimage
from scipy.sparse.linalg import splu

from unisst_lib.methods.problem import Problem, finish, prepare
from unisst_lib.models.time_interp import linear_in_time

__all__ = [
    "OceanGraph",
    "complete",
    "fill_in_space",
    "fill_in_time",
    "fill_laplace",
    "fill_mean",
    "fill_temporal",
]


# ------------------------------------------------------------ spatial solver
class OceanGraph:
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


def fill_in_time(values: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel linear interpolation in time of (T, N) float64 ``values`` from ``known`` entries.

    :func:`unisst_lib.models.time_interp.linear_in_time` on CPU float64 tensors
    sharing the arrays' memory. Returns the (T, N) filled values (exact at known
    entries, NaN where a pixel is never known) and the (N,) bool of pixels known
    at least once.
    """
    filled, defined = linear_in_time(torch.from_numpy(values), torch.from_numpy(known), dim=0)
    return filled.numpy(), defined[0].numpy()


def fill_in_space(
    p: Problem, flat: np.ndarray, has_any: np.ndarray, graph: OceanGraph | None = None
) -> None:
    """Fill in place the ocean pixels of (T, N) ``flat`` never known in any frame (``~has_any``).

    Each frame gets the harmonic fill from its pixels known or interpolated in
    time (no flux across the coast and the grid edge); a basin with no such
    pixel gets the sequence mean.
    """
    todo = p.ocean.ravel() & ~has_any
    if todo.any():
        graph = graph or OceanGraph(p.ocean)
        sol, solvable = graph.harmonic(np.where(has_any, flat, 0.0), todo)
        flat[:, solvable] = sol
        flat[:, todo & ~solvable] = p.mean


def complete(
    p: Problem, values: np.ndarray, known: np.ndarray, graph: OceanGraph | None = None
) -> np.ndarray:
    """Fill the ocean entries of (T, H, W) ``values`` that are not ``known``.

    In time (per pixel, linear: :func:`fill_in_time`) where the pixel is known
    in some frame; then in space (:func:`fill_in_space`) for pixels never known.
    """
    n_t, h, w = values.shape
    known = (known & p.ocean[None]).reshape(n_t, h * w)
    flat = values.reshape(n_t, h * w).copy()
    has_any = known.any(axis=0)  # (N,)
    # Interpolate in time only the pixels that have both known and unknown frames.
    cols = np.flatnonzero(has_any & ~known.all(axis=0))
    if cols.size:
        flat[:, cols] = fill_in_time(flat[:, cols], known[:, cols])[0]
    fill_in_space(p, flat, has_any, graph)
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
    p = prepare(sst, mask, land, method="fill_mean")
    return finish(p, np.full(p.values.shape, p.mean))


def fill_temporal(
    sst: np.ndarray, mask: np.ndarray | None = None, *, land: np.ndarray | None = None
) -> np.ndarray:
    """Per-pixel linear interpolation in time between the nearest observed frames.

    Two steps (:func:`complete`):

    1. :func:`fill_in_time`: frames are taken as equally spaced; before the
       first and after the last observation of a pixel its nearest observed value
       is held (:func:`unisst_lib.models.time_interp.linear_in_time`, the same
       numbers as the fast generator's first guess wherever a pixel is observed
       at least once);
    2. :func:`fill_in_space`: a pixel never observed in the sequence gets the
       harmonic (Laplace) fill of each frame from the pixels interpolated in
       time, or the sequence mean in a basin with no observation at all (where
       the generator's first guess puts the window mean instead).

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
    p = prepare(sst, mask, land, method="fill_temporal")
    return finish(p, complete(p, p.values, p.observed))


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
    p = prepare(sst, mask, land, method="fill_laplace")
    n_t, h, w = p.values.shape
    graph = OceanGraph(p.ocean)
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
    filled = complete(p, values.reshape(n_t, h, w), resolved.reshape(n_t, h, w), graph)
    return finish(p, filled)


def fill_climatology(
    sst: np.ndarray, mask: np.ndarray | None = None, *, land: np.ndarray | None = None
) -> np.ndarray:
    """Fill every gap with the per-pixel mean of the pixel's observations over the record.

    A sea pixel never observed gets the harmonic (Laplace) fill of that mean
    map (:func:`fill_laplace` on one frame); inputs
    and outputs follow :mod:`unisst_lib.methods.problem`.

    Examples
    --------
    >>> import numpy as np
    >>> sst = np.array([[[1.0, np.nan, 5.0]], [[3.0, np.nan, np.nan]]])  # (T=2, H=1, W=3)
    >>> fill_climatology(sst, land=np.zeros((1, 3), bool)).tolist()
    [[[1.0, 3.5, 5.0]], [[3.0, 3.5, 5.0]]]
    """
    p = prepare(sst, mask, land, method="climatology")
    count = p.observed.sum(axis=0)
    total = np.where(p.observed, p.values, 0.0).sum(axis=0)
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)  # (H, W) °C
    if (p.ocean & (count == 0)).any():
        mean = fill_laplace(mean[None], land=p.land)[0]
    return finish(p, np.broadcast_to(mean, p.values.shape))


def local_std(
    sst: np.ndarray, missing: np.ndarray, *, radius: int = 3, frames: int = 2
) -> np.ndarray:
    """The standard deviation of the observed values around each pixel (T, H, W).

    Over a box of ``2·radius + 1`` pixels square and ``2·frames + 1`` frames (cut at
    the edges); where fewer than two values are observed in the box, the standard
    deviation of every observed value of the sequence. The spread of
    :func:`fill_temporal`'s uncertainty baseline: interpolation errs more where SST
    varies more (fronts, eddies). Land and missing pixels count as unobserved.

    >>> x = np.zeros((1, 1, 4)); x[0, 0, 1] = 2.0
    >>> local_std(x, np.zeros(x.shape, bool), radius=1, frames=0).round(4).tolist()
    [[[1.0, 0.9428, 0.9428, 0.0]]]
    """
    obs = ~np.asarray(missing, bool) & np.isfinite(sst)
    if not obs.any():
        raise ValueError("local_std: no observed value to take a spread from")
    x = np.where(obs, sst, 0.0).astype(np.float64)
    size = (2 * frames + 1, 2 * radius + 1, 2 * radius + 1)
    n = ndimage.uniform_filter(obs.astype(np.float64), size, mode="constant")
    s1 = ndimage.uniform_filter(x, size, mode="constant")
    s2 = ndimage.uniform_filter(x * x, size, mode="constant")
    enough = n * np.prod(size) >= 2 - 1e-9
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = s2 / n - mean**2
    overall = float(np.std(sst[obs]))
    return np.where(enough, np.sqrt(np.clip(var, 0.0, None)), overall)
