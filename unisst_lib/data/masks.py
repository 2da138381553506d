"""Cloud masks from liquid water path (LWP): thresholds, occlusion rates, windows.

A pixel is *occluded* (``True``) where the cloud liquid water path is above a
threshold, as in Yin et al. 2019: ``mask = lwp > threshold``. Cloud arrays
(``cloud_dataset.npy``) are in **kg m-2**; the manifest and the paper quote
thresholds in **g m-2** (55..80, default 70 g m-2 = 0.070 kg m-2). Functions
here say in their name or argument which unit they take.

A cloud *window* is ``seq_len`` LWP frames ``cloud_interval`` steps apart,
``start, start + ci, ..., start + (seq_len - 1) * ci``, cropped to the SST
grid; :class:`CloudSampler` draws them.

Examples
--------
>>> import numpy as np
>>> lwp = np.array([[[0.05, 0.07, 0.09]]], dtype=np.float32)  # (1, 1, 3), kg m-2
>>> lwp_to_mask(lwp, gm2_to_kgm2(70)).tolist()
[[[False, False, True]]]
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import xarray as xr

from unisst_lib.core.errors import CloudDataError, ThresholdError

log = logging.getLogger(__name__)

#: Largest accepted LWP threshold, kg m-2. Thresholds of interest are ~0.05..0.1 kg m-2;
#: anything above 1 kg m-2 is almost surely a value in g m-2.
MAX_THRESHOLD_KGM2 = 1.0


# ------------------------------------------------------------------- units
def gm2_to_kgm2(x):
    """Convert g m-2 to kg m-2 (scalars or arrays): ``x / 1000``.

    >>> gm2_to_kgm2(70)
    0.07
    """
    return x / 1000.0


def kgm2_to_gm2(x):
    """Convert kg m-2 to g m-2 (scalars or arrays): ``x * 1000``.

    >>> kgm2_to_gm2(0.07)
    70.0
    """
    return x * 1000.0


def check_threshold(threshold_kgm2: float) -> float:
    """Return ``threshold_kgm2`` as a float, or raise :class:`ThresholdError`.

    Parameters
    ----------
    threshold_kgm2
        LWP threshold in kg m-2; must be finite and in (0, 1].

    Raises
    ------
    ThresholdError
        Not a number, NaN/inf, <= 0, or > 1 kg m-2 (a value in g m-2 such as 70
        gets a message proposing 0.070).
    """
    try:
        t = float(threshold_kgm2)
    except (TypeError, ValueError) as err:
        raise ThresholdError(
            f"LWP threshold {threshold_kgm2!r} is not a number: pass a threshold in kg m-2, "
            "e.g. 0.070 (= 70 g m-2, the paper's default)."
        ) from err
    if not math.isfinite(t):
        raise ThresholdError(
            f"LWP threshold is {t}: pass a finite threshold in kg m-2 within "
            f"(0, {MAX_THRESHOLD_KGM2:g}], e.g. 0.070 (= 70 g m-2, the paper's default)."
        )
    if t <= 0:
        raise ThresholdError(
            f"LWP threshold {t:g} kg m-2 is not positive: every pixel with any cloud water "
            "would count as occluded. Pass a threshold within (0, 1] kg m-2, e.g. 0.070 "
            "(= 70 g m-2; the paper studies 0.055..0.080)."
        )
    if t > MAX_THRESHOLD_KGM2:
        if t < 1000:
            raise ThresholdError(
                f"LWP threshold {t:g} kg m-2 looks like g m-2; pass {t / 1000:.3f} (kg m-2) "
                f"instead, or convert with gm2_to_kgm2({t:g}). Cloud arrays are in kg m-2."
            )
        raise ThresholdError(
            f"LWP threshold {t:g} kg m-2 is far above any liquid water path (> "
            f"{MAX_THRESHOLD_KGM2:g} kg m-2): pass a threshold in kg m-2 within (0, 1], "
            "e.g. 0.070 (= 70 g m-2)."
        )
    return t


def check_threshold_gm2(threshold_gm2: float) -> float:
    """Return an LWP threshold in **g m-2** as a float, or raise :class:`ThresholdError`.

    Accepts (0, 1000] g m-2 (the range :func:`check_threshold`
    accepts in kg m-2). A value below 1 is almost surely in kg m-2 (0.070 meant as
    70 g m-2) and is refused with a message saying so.

    >>> check_threshold_gm2(70)
    70.0
    """
    try:
        t = float(threshold_gm2)
    except (TypeError, ValueError) as err:
        raise ThresholdError(
            f"LWP threshold {threshold_gm2!r} is not a number: pass a threshold in g m-2, "
            "e.g. 70 (the paper's default; it studies 55..80)."
        ) from err
    limit = kgm2_to_gm2(MAX_THRESHOLD_KGM2)
    if not math.isfinite(t) or t <= 0:
        raise ThresholdError(
            f"LWP threshold {t:g} g m-2 is not a positive number: pass a threshold in g m-2 "
            f"within (0, {limit:g}], e.g. 70 (the paper studies 55..80)."
        )
    if t < 1:
        raise ThresholdError(
            f"LWP threshold {t:g} g m-2 looks like kg m-2: thresholds here are in g m-2, "
            f"pass {kgm2_to_gm2(t):g} (= {t:g} kg m-2)."
        )
    if t > limit:
        raise ThresholdError(
            f"LWP threshold {t:g} g m-2 is above any liquid water path of interest: pass a "
            f"threshold within (0, {limit:g}] g m-2, e.g. 70."
        )
    check_threshold(gm2_to_kgm2(t))  # the library's own guard, in kg m-2
    return t


def _threshold_in_dtype(threshold_kgm2: float, dtype: np.dtype) -> np.floating:
    """The threshold cast to the LWP array's float dtype, so that comparing is exact.

    A float32 LWP value stored for exactly 0.070 equals ``np.float32(0.070)``; comparing
    it with the float64 0.070 would call it "above" 70 g m-2. Comparing in the
    array's own dtype keeps ``lwp > threshold`` true to what was written.
    """
    dtype = np.dtype(dtype) if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)
    return dtype.type(threshold_kgm2)


# ------------------------------------------------------------------- masks
def lwp_to_mask(lwp: np.ndarray, threshold_kgm2: float) -> np.ndarray:
    """Occlusion mask: ``True`` where LWP is strictly above the threshold.

    Parameters
    ----------
    lwp
        Liquid water path, any shape (typically (T, H, W)), kg m-2.
    threshold_kgm2
        Threshold in kg m-2, within (0, 1] (70 g m-2 = 0.070 kg m-2).

    Returns
    -------
    numpy.ndarray
        bool, same shape as ``lwp``: True = occluded (LWP > threshold). A value
        equal to the threshold is *not* occluded (the comparison is made in the
        LWP array's float dtype). NaN LWP (unknown cloud) counts as occluded.

    Raises
    ------
    ThresholdError
        ``threshold_kgm2`` not in (0, 1] kg m-2.
    """
    t = check_threshold(threshold_kgm2)
    lwp = np.asarray(lwp)
    # ~(lwp <= t) rather than lwp > t: NaN compares False both ways, so NaN -> occluded.
    return ~(lwp <= _threshold_in_dtype(t, lwp.dtype))


def occlusion_counts(mask: np.ndarray, sea: np.ndarray | None = None) -> tuple[int, int]:
    """(occluded sea pixels, sea pixels) of ``mask``: the two counts of :func:`occlusion_rate`.

    Parameters
    ----------
    mask
        Any shape, bool: True where occluded.
    sea
        Same shape (or broadcastable), bool: True over sea. Land is not counted at all,
        whether masked or not; default: every pixel is sea.
    """
    mask = np.asarray(mask, dtype=bool)
    if sea is None:
        return int(np.count_nonzero(mask)), int(mask.size)
    sea = np.broadcast_to(np.asarray(sea, dtype=bool), mask.shape)
    return int(np.count_nonzero(mask & sea)), int(np.count_nonzero(sea))


def occlusion_rate(mask: np.ndarray, sea: np.ndarray | None = None) -> float:
    """Fraction of the *sea* pixels that are occluded, in [0, 1] (the kit's one definition).

    >>> occlusion_rate(np.array([True, False, True, True]), sea=np.array([1, 1, 1, 0], bool))
    0.6666666666666666
    """
    occluded, n_sea = occlusion_counts(mask, sea)
    if n_sea == 0:
        raise ValueError("occlusion_rate of a mask without sea pixels is undefined")
    return occluded / n_sea


def occlusion_rate_per_frame(mask: np.ndarray) -> np.ndarray:
    """Occluded fraction of each frame.

    Parameters
    ----------
    mask
        (T, H, W) bool, True = occluded.

    Returns
    -------
    numpy.ndarray
        (T,) float64 in [0, 1].
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"mask must be (T, H, W), got shape {mask.shape}")
    if mask.shape[1] * mask.shape[2] == 0:
        raise ValueError(f"mask frames are empty: shape {mask.shape}")
    return np.count_nonzero(mask, axis=(1, 2)) / float(mask.shape[1] * mask.shape[2])


def occlusion_rate_curve(
    lwp: np.ndarray,
    thresholds_gm2: Sequence[float] | None = None,
    *,
    chunk_steps: int = 256,
) -> xr.DataArray:
    """Exact occluded fraction of all pixels of ``lwp`` for each threshold.

    Reads ``lwp`` ``chunk_steps`` time steps at a time (fine on a memory-mapped
    10800×64×64 array: one pass, O(N log K) for K thresholds).

    Parameters
    ----------
    lwp
        (n_steps, H, W) liquid water path in kg m-2 (a ``np.memmap`` is fine).
    thresholds_gm2
        Thresholds in **g m-2** (e.g. ``[55, 60, 65, 70, 75, 80]``); default the
        manifest's ``thresholds.studied``.
    chunk_steps
        Time steps read at once.

    Returns
    -------
    xarray.DataArray
        ``occlusion_rate`` with dim ``threshold`` (coordinate in g m-2, in the
        order given), values = fraction of pixels with LWP > threshold, in [0, 1].
        Same semantics as :func:`lwp_to_mask` (strict ``>``, NaN occluded).
    """
    if thresholds_gm2 is None:
        from unisst_lib.core.manifest import load_manifest

        thresholds_gm2 = load_manifest().thresholds.studied
    thr_gm2 = np.asarray([float(t) for t in thresholds_gm2], dtype=np.float64)
    if thr_gm2.ndim != 1 or thr_gm2.size == 0:
        raise ValueError("thresholds_gm2 must be a non-empty sequence of numbers (g m-2)")
    for t in thr_gm2:
        if 0 < t < 1:
            raise ThresholdError(
                f"threshold {t:g} g m-2 looks like kg m-2: occlusion_rate_curve takes "
                f"thresholds in g m-2, pass {kgm2_to_gm2(t):g}."
            )
        if not 0 < t <= kgm2_to_gm2(MAX_THRESHOLD_KGM2):
            raise ThresholdError(
                f"threshold {t:g} g m-2 is outside (0, {kgm2_to_gm2(MAX_THRESHOLD_KGM2):g}] "
                "g m-2: pass thresholds in g m-2, e.g. [55, 60, 65, 70, 75, 80]."
            )
    if chunk_steps < 1:
        raise ValueError(f"chunk_steps must be >= 1, got {chunk_steps}")
    if np.ndim(lwp) < 1 or np.size(lwp) == 0:
        raise CloudDataError(f"LWP array is empty: shape {np.shape(lwp)}")
    lwp = lwp if isinstance(lwp, np.ndarray) else np.asarray(lwp)

    dtype = lwp.dtype if np.issubdtype(lwp.dtype, np.floating) else np.dtype(np.float64)
    thr = np.array([_threshold_in_dtype(gm2_to_kgm2(t), dtype) for t in thr_gm2], dtype=dtype)
    order = np.argsort(thr, kind="stable")
    thr_sorted = thr[order]
    # counts[j] = number of values v with exactly j sorted thresholds strictly below v;
    # v > thr_sorted[k] <=> j > k, so the count above thr_sorted[k] is sum(counts[k+1:]).
    # NaN sorts after everything in searchsorted: it lands in bin K, i.e. occluded.
    counts = np.zeros(thr.size + 1, dtype=np.int64)
    for s in range(0, lwp.shape[0], chunk_steps):
        block = np.asarray(lwp[s : s + chunk_steps], dtype=dtype).ravel()
        counts += np.bincount(
            np.searchsorted(thr_sorted, block, side="left"), minlength=thr.size + 1
        )
    above_sorted = counts[::-1].cumsum()[::-1][1:]  # (K,)
    above = np.empty_like(above_sorted)
    above[order] = above_sorted
    rate = above / float(lwp.size)
    return xr.DataArray(
        rate,
        dims=("threshold",),
        coords={"threshold": ("threshold", thr_gm2, {"units": "g m-2"})},
        name="occlusion_rate",
        attrs={
            "units": "1",
            "long_name": "fraction of pixels with liquid water path above the threshold",
        },
    )


# ----------------------------------------------------------------- windows
class CloudWindow(NamedTuple):
    """Where a cloud window lies: first cloud step and the crop's top-left pixel."""

    start: int
    row: int
    col: int


class CloudSampler:
    """Draw cloud-mask sequences (T, H, W) from an LWP array.

    A window starting at cloud step ``s`` is frames ``s, s + ci, ..., s + (T - 1) ci``
    (``ci`` = ``cloud_interval``), cropped to ``size`` and thresholded.

    Parameters
    ----------
    lwp
        (n_steps, ny, nx) liquid water path, kg m-2. May be a ``np.memmap``: only
        the frames of a window are read when it is drawn.
    seq_len
        Frames per window, T (24 in the paper).
    cloud_interval
        Cloud steps between successive frames (10 in the paper).
    threshold_kgm2
        Occluded where LWP > threshold, kg m-2 (0.070 = 70 g m-2).
    size
        (H, W) of the masks, i.e. the SST grid; default the cloud tile (ny, nx).
        A tile larger than ``size`` is cropped: at a random place in :meth:`draw`,
        at a place drawn from the per-index seed in :meth:`for_index`.
    segment
        Cloud steps ``[lo, hi)`` every window lies in (default: the whole record);
        :func:`unisst_lib.data.cloud_splits.cloud_segments` gives train, val and test disjoint ones.

    Raises
    ------
    CloudDataError
        ``lwp`` is not 3-D, holds fewer steps than one window spans
        (``(seq_len - 1) * cloud_interval + 1``), or the tile is smaller than ``size``.
    ThresholdError
        ``threshold_kgm2`` not in (0, 1] kg m-2.

    Examples
    --------
    >>> lwp = np.zeros((100, 8, 8), dtype=np.float32)
    >>> s = CloudSampler(lwp, seq_len=4, cloud_interval=10, threshold_kgm2=0.07, size=(6, 6))
    >>> s.n_windows, s.frames(5).tolist(), s.mask(CloudWindow(5, 1, 1)).shape
    (70, [5, 15, 25, 35], (4, 6, 6))
    """

    def __init__(
        self,
        lwp: np.ndarray,
        *,
        seq_len: int,
        cloud_interval: int,
        threshold_kgm2: float,
        size: tuple[int, int] | None = None,
        segment: tuple[int, int] | None = None,
    ) -> None:
        if not isinstance(lwp, np.ndarray):
            lwp = np.asarray(lwp)
        if lwp.ndim != 3:
            raise CloudDataError(
                f"liquid water path must be (n_steps, ny, nx), got shape {lwp.shape}"
            )
        if int(seq_len) < 1 or int(cloud_interval) < 1:
            raise ValueError(
                f"seq_len and cloud_interval must be >= 1, got {seq_len} and {cloud_interval}"
            )
        self.lwp = lwp
        self.seq_len = int(seq_len)
        self.cloud_interval = int(cloud_interval)
        self.threshold_kgm2 = check_threshold(threshold_kgm2)
        self._thr = _threshold_in_dtype(self.threshold_kgm2, lwp.dtype)
        self._path: str | None = None  # set by from_file: pickling then re-opens the file

        n_steps, ny, nx = lwp.shape
        self.span = (self.seq_len - 1) * self.cloud_interval + 1
        if n_steps < self.span:
            raise CloudDataError(
                f"the cloud array has {n_steps} steps, but one window of {self.seq_len} frames "
                f"{self.cloud_interval} steps apart spans {self.span}: use a longer cloud data "
                "set (the paper's has 10800 steps), a shorter seq_len or a smaller "
                "cloud_interval."
            )
        h, w = (ny, nx) if size is None else (int(size[0]), int(size[1]))
        if h < 1 or w < 1:
            raise ValueError(f"size must be positive, got {size}")
        if h > ny or w > nx:
            raise CloudDataError(
                f"the cloud tile is {ny}×{nx} pixels but masks of {h}×{w} (the SST grid) were "
                f"asked for: the clouds cannot cover the grid. Subset the SST to at most "
                f"{ny}×{nx} pixels or use a cloud data set with larger tiles."
            )
        self.size = (h, w)
        self.tile = (ny, nx)
        self.segment = self._check_segment(segment, n_steps)
        self.n_windows = self.segment[1] - self.segment[0] - self.span + 1
        if (h, w) != (ny, nx):
            log.info("cloud tile %d×%d is cropped to the SST grid %d×%d", ny, nx, h, w)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        seq_len: int,
        cloud_interval: int,
        threshold_kgm2: float,
        size: tuple[int, int] | None = None,
        segment: tuple[int, int] | None = None,
    ) -> CloudSampler:
        """Memory-map an LWP ``.npy`` file (:func:`unisst_lib.data.io.load_clouds`) and wrap it.

        A sampler made this way pickles as its path (DataLoader workers started
        with ``spawn`` re-open the file instead of copying the array).
        """
        from unisst_lib.data.io import load_clouds

        sampler = cls(
            load_clouds(path, mmap=True),
            seq_len=seq_len,
            cloud_interval=cloud_interval,
            threshold_kgm2=threshold_kgm2,
            size=size,
            segment=segment,
        )
        sampler._path = os.fspath(path)
        return sampler

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if self._path is not None:
            state["lwp"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.lwp is None:
            from unisst_lib.data.io import load_clouds

            self.lwp = load_clouds(self._path, mmap=True)

    def _check_segment(self, segment: tuple[int, int] | None, n_steps: int) -> tuple[int, int]:
        """The cloud steps ``[lo, hi)`` windows are drawn from (default: all of them)."""
        if segment is None:
            return (0, n_steps)
        lo, hi = int(segment[0]), int(segment[1])
        if not 0 <= lo < hi <= n_steps:
            raise CloudDataError(
                f"cloud segment [{lo}, {hi}) is not inside the record's {n_steps} steps"
            )
        if hi - lo < self.span:
            raise CloudDataError(
                f"cloud segment [{lo}, {hi}) holds {hi - lo} steps but one window spans "
                f"{self.span}: give the split a larger share of the cloud record "
                "(split_fractions in the manifest) or use a longer cloud data set."
            )
        return (lo, hi)

    def __repr__(self) -> str:
        return (
            f"CloudSampler(n_steps={self.lwp.shape[0]}, segment={list(self.segment)}, "
            f"tile={self.tile}, size={self.size}, "
            f"seq_len={self.seq_len}, cloud_interval={self.cloud_interval}, "
            f"threshold_kgm2={self.threshold_kgm2:g}, n_windows={self.n_windows})"
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """(T, H, W) of the masks drawn."""
        return (self.seq_len, *self.size)

    # -- positions ----------------------------------------------------------
    def frames(self, start: int) -> np.ndarray:
        """Cloud step indices (T,) of the window starting at ``start``."""
        return self._check_start(start) + self.cloud_interval * np.arange(self.seq_len)

    def _check_start(self, start: int) -> int:
        start, lo = int(start), self.segment[0]
        if not lo <= start < lo + self.n_windows:
            raise IndexError(
                f"cloud window start {start} outside {lo}..{lo + self.n_windows - 1} "
                f"(segment {list(self.segment)} of {self.lwp.shape[0]} steps, windows span "
                f"{self.span})"
            )
        return start

    def centre_offset(self) -> tuple[int, int]:
        """(row, col) of the centred crop."""
        return ((self.tile[0] - self.size[0]) // 2, (self.tile[1] - self.size[1]) // 2)

    def _random_offset(self, rng: np.random.Generator) -> tuple[int, int]:
        row = int(rng.integers(0, self.tile[0] - self.size[0] + 1))
        col = int(rng.integers(0, self.tile[1] - self.size[1] + 1))
        return row, col

    def draw(self, rng: np.random.Generator, *, avoid: int | None = None) -> CloudWindow:
        """A uniformly random window (start and crop).

        Parameters
        ----------
        rng
            Source of randomness.
        avoid
            A start to stay away from: the window drawn then shares no cloud step
            range with ``avoid``'s (at least one span away, any other start if the array
            is too short). Training draws its re-occlusion and hiding masks this way.
        """
        if avoid is None:
            start = self.segment[0] + int(rng.integers(0, self.n_windows))
        else:
            start = self._start_away_from(int(avoid), rng)
        return CloudWindow(start, *self._random_offset(rng))

    def draw_for_index(self, index: int, seed: int, attempt: int = 0) -> CloudWindow:
        """The window of sample ``index``: a pure function of ``(index, seed, attempt)``.

        Each ``(seed, index, attempt)`` seeds its own generator, so neighbouring
        indices get unrelated windows and the result does not depend on the order
        of calls (DataLoader workers, shuffling). ``attempt`` > 0 gives alternative
        windows for the same index (used when a window hides everything).
        """
        if index < 0 or seed < 0 or attempt < 0:
            raise ValueError(
                f"index, seed and attempt must be >= 0, got {index}, {seed}, {attempt}"
            )
        # Always a 3-element key: SeedSequence([a, b]) equals SeedSequence([a, b, 0]).
        rng = np.random.default_rng([int(seed), int(index), int(attempt)])
        start = self.segment[0] + int(rng.integers(0, self.n_windows))
        return CloudWindow(start, *self._random_offset(rng))

    def _start_away_from(self, start: int, rng: np.random.Generator) -> int:
        """A start whose window shares no cloud step range with ``start``'s window.

        Prefers starts at least ``span`` steps away (no overlap in time at all); if
        the array is too short for that, any other start.
        """
        base = self.segment[0]
        start = self._check_start(start) - base  # counted from the segment's first start
        lo_end = max(0, start - self.span + 1)  # starts in [0, lo_end) end before `start`
        hi_begin = start + self.span  # starts >= hi_begin begin after the window
        n_lo = lo_end
        n_hi = max(0, self.n_windows - hi_begin)
        if n_lo + n_hi > 0:
            k = int(rng.integers(0, n_lo + n_hi))
            return base + (k if k < n_lo else hi_begin + (k - n_lo))
        if self.n_windows < 2:
            raise CloudDataError(
                f"the cloud array holds a single window ({self.lwp.shape[0]} steps, windows "
                f"span {self.span}): cannot draw a second, different one. Use a longer cloud "
                "data set."
            )
        log.debug("cloud array too short for non-overlapping windows; drawing any other start")
        k = int(rng.integers(0, self.n_windows - 1))
        return base + (k if k < start else k + 1)

    # -- masks --------------------------------------------------------------
    def mask(self, where: CloudWindow) -> np.ndarray:
        """The (T, H, W) bool mask (True = occluded) of a :class:`CloudWindow`."""
        start = self._check_start(where.start)
        row, col = int(where.row), int(where.col)
        h, w = self.size
        if not (0 <= row <= self.tile[0] - h and 0 <= col <= self.tile[1] - w):
            raise IndexError(f"crop at ({row}, {col}) of size {h}×{w} leaves the tile {self.tile}")
        # Basic slicing of a memmap reads only these frames and pixels.
        lwp = self.lwp[
            start : start + self.span : self.cloud_interval, row : row + h, col : col + w
        ]
        return ~(np.asarray(lwp) <= self._thr)  # NaN -> occluded, as lwp_to_mask

    def for_index(self, index: int, seed: int) -> np.ndarray:
        """The deterministic mask (T, H, W) bool of sample ``index`` (val/test).

        Same ``index`` and ``seed`` → same mask, in any process and call order.
        """
        return self.mask(self.draw_for_index(index, seed))
