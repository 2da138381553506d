"""Cloud-mask exploration: what notebook ``02_mask_exploration`` shows, without widgets.

A :class:`MaskExplorer` holds one SST sequence (T, H, W) in °C and the liquid water
path (LWP, kg m-2) of the cloud window that occludes it. For an LWP threshold in
**g m-2** (as the paper quotes them: 55..80, default 70) and a frame index it gives
the LWP frame, the cloud mask (``lwp_to_mask``: occluded where LWP > threshold),
the occluded SST frame and an occlusion-rate readout string; it also gives the LWP
histogram, the occlusion-rate-vs-threshold curve (``occlusion_rate_curve``), their
table (:func:`rate_table`) and the step of the twin clouds' LWP density at their
clear-sky level (:func:`clear_sky_step`, explained in the notebook).
Everything is computed with :mod:`unisst_lib.data.masks`, so the numbers are the ones
training and evaluation use.

:func:`load_explorer` builds one from a manifest split, with the cloud window the
evaluation data set gives that sequence. The figures are drawn by
:mod:`unisst_lib.views.explore_figures`;
:class:`unisst_lib.views.explore_widgets.ExplorerWidgets` wires ipywidgets sliders
(threshold, time) to an explorer for the notebook; the computations stay here.

The readout has one stable, parseable format (:data:`READOUT_RE`)::

    occlusion rate: 39.3 % (threshold 70 g m⁻², frame 0)

Examples
--------
>>> import numpy as np
>>> lwp = np.full((10, 2, 2), 0.050, dtype=np.float32)  # (steps, ny, nx), kg m-2
>>> lwp[0] = [[0.060, 0.072], [0.080, 0.100]]
>>> sst = np.full((2, 2, 2), 20.0, dtype=np.float32)  # (T, H, W), °C
>>> ex = MaskExplorer(lwp, sst, cloud_interval=5)
>>> ex.readout(70, 0)
'occlusion rate: 75.0 % (threshold 70 g m⁻², frame 0)'
>>> ex.frame(75, 0).mask.tolist()
[[False, False], [True, True]]
>>> parse_readout(ex.readout(75, 1))
(0.0, 75.0, 1)
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from unisst_lib.core.errors import DataNotFoundError, UnisstError
from unisst_lib.core.manifest import Manifest
from unisst_lib.core.paths import DATA_DIR_ENV
from unisst_lib.data.masks import (
    CloudSampler,
    CloudWindow,
    check_threshold_gm2,
    gm2_to_kgm2,
    kgm2_to_gm2,
    lwp_to_mask,
    occlusion_rate,
    occlusion_rate_curve,
)
from unisst_lib.data.twin.clouds import DEFAULT_CLOUDS
from unisst_lib.views import explore_figures

log = logging.getLogger(__name__)

#: Thresholds of the occlusion-rate curve, g m-2: 55..80 in steps of 1 (the paper's range).
CURVE_THRESHOLDS_GM2: tuple[float, ...] = tuple(float(t) for t in range(55, 81))
#: Legend labels of the two scopes of :meth:`MaskExplorer.histogram` and ``curve``.
SCOPE_LABELS = {"window": "this window", "dataset": "whole cloud data set"}
#: Default histogram bin edges, g m-2 (values above the last edge go into the last bin).
HISTOGRAM_EDGES_GM2 = np.arange(0.0, 302.5, 2.5)
#: The readout: rate in % with one decimal, threshold in g m-2 (``:g``), frame index.
READOUT_RE = re.compile(
    r"^occlusion rate: (?P<rate>\d+\.\d) % "
    r"\(threshold (?P<threshold>[0-9.e+-]+) g m⁻², frame (?P<frame>\d+)\)$"
)


class FrameIndexError(UnisstError, IndexError):
    """A frame (time) index outside the sequence."""


# ----------------------------------------------------------------- readout
def format_readout(rate: float, threshold_gm2: float, time_index: int) -> str:
    """The readout string: ``"occlusion rate: 39.3 % (threshold 70 g m⁻², frame 0)"``.

    Parameters
    ----------
    rate
        Occluded fraction in [0, 1] (shown in % with one decimal).
    threshold_gm2
        LWP threshold, g m-2 (shown with ``:g``: 70, 72.5).
    time_index
        Frame index within the sequence.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"occlusion rate must be a fraction in [0, 1], got {rate}")
    return (
        f"occlusion rate: {100.0 * rate:.1f} % "
        f"(threshold {float(threshold_gm2):g} g m⁻², frame {int(time_index)})"
    )


def parse_readout(text: str) -> tuple[float, float, int]:
    """Inverse of :func:`format_readout`: ``(rate in %, threshold g m-2, frame)``.

    >>> parse_readout("occlusion rate: 39.3 % (threshold 72.5 g m⁻², frame 3)")
    (39.3, 72.5, 3)
    """
    m = READOUT_RE.match(text.strip())
    if m is None:
        raise ValueError(f"not an occlusion-rate readout: {text!r}")
    return float(m["rate"]), float(m["threshold"]), int(m["frame"])


# ------------------------------------------------------------------ frames
@dataclass(frozen=True)
class FrameView:
    """One frame of the explorer at one threshold.

    Attributes
    ----------
    threshold_gm2 : float
        LWP threshold, g m-2.
    time_index : int
        Frame index within the sequence, 0..T-1.
    time : numpy.datetime64 or None
        The frame's time (None when the SST has no time coordinate).
    lwp_kgm2 : numpy.ndarray
        (H, W) float32 liquid water path, kg m-2.
    mask : numpy.ndarray
        (H, W) bool, True = occluded by cloud (LWP > threshold).
    sst_c : numpy.ndarray
        (H, W) float32 SST, °C (NaN where the SST itself is missing).
    observed_c : numpy.ndarray
        (H, W) float32 SST as a satellite would see it, °C: NaN under clouds.
    occlusion_rate : float
        Fraction of the frame's pixels under cloud, in [0, 1] (:func:`occlusion_rate`
        of ``mask``).
    readout : str
        :func:`format_readout` of the above.
    """

    threshold_gm2: float
    time_index: int
    time: np.datetime64 | None
    lwp_kgm2: np.ndarray
    mask: np.ndarray
    sst_c: np.ndarray
    observed_c: np.ndarray
    occlusion_rate: float
    readout: str


class MaskExplorer:
    """One SST sequence and the LWP of the cloud window over it.

    Parameters
    ----------
    lwp
        (n_steps, ny, nx) liquid water path of the whole cloud data set, kg m-2
        (a ``np.memmap`` is fine: only the window is read, plus one pass for the
        data-set-wide histogram and curve).
    sst
        (T, H, W) SST in °C: an ``xarray.DataArray`` with dims (time, latitude,
        longitude) (its coordinates label the figures) or a plain array.
    cloud_interval
        Cloud steps between successive frames (the manifest's ``cloud_interval``).
    cloud_start
        First cloud step of the window.
    offset
        (row, col) of the crop of the cloud tile; default centred (as
        :meth:`CloudSampler.window`).

    Raises
    ------
    CloudDataError
        The LWP array is not 3-D, too short for a window or its tile smaller than
        the SST grid (from :class:`CloudSampler`).
    IndexError
        ``cloud_start`` or ``offset`` outside the cloud data set.
    """

    def __init__(
        self,
        lwp: np.ndarray,
        sst: xr.DataArray | np.ndarray,
        *,
        cloud_interval: int,
        cloud_start: int = 0,
        offset: tuple[int, int] | None = None,
    ) -> None:
        if isinstance(sst, xr.DataArray):
            if sst.ndim != 3:
                raise ValueError(f"sst must be (time, latitude, longitude), got dims {sst.dims}")
            da = sst
        else:
            arr = np.asarray(sst)
            if arr.ndim != 3:
                raise ValueError(f"sst must be (T, H, W), got shape {arr.shape}")
            da = xr.DataArray(arr, dims=("time", "latitude", "longitude"))
        self.sst = da.astype(np.float32).load()
        t, h, w = self.sst.shape
        # The sampler validates the cloud array against the grid and numbers the frames
        # exactly as training does; its own threshold is not used here.
        self.sampler = CloudSampler(
            lwp,
            seq_len=t,
            cloud_interval=cloud_interval,
            threshold_kgm2=gm2_to_kgm2(70.0),
            size=(h, w),
        )
        row, col = self.sampler.centre_offset() if offset is None else offset
        self.window = CloudWindow(int(cloud_start), int(row), int(col))
        self.sampler.mask(self.window)  # raises IndexError for a start or crop outside
        #: (T,) cloud steps of the window's frames.
        self.cloud_steps = self.sampler.frames(self.window.start)
        s, r, c = self.window
        ci = self.sampler.cloud_interval
        #: (T, H, W) float32 liquid water path of the window, kg m-2.
        self.lwp_kgm2 = np.asarray(
            self.sampler.lwp[s : s + self.sampler.span : ci, r : r + h, c : c + w]
        )
        self._sst_values = np.asarray(self.sst.values, dtype=np.float32)
        finite = self._sst_values[np.isfinite(self._sst_values)]
        #: (min, max) of the SST over the sequence, °C: one colour scale for every frame.
        self.sst_range = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)

    def __repr__(self) -> str:
        t, h, w = self.sst.shape
        return (
            f"MaskExplorer(frames={t}, grid={h}×{w}, cloud_start={self.window.start}, "
            f"crop=({self.window.row}, {self.window.col}), "
            f"cloud_interval={self.sampler.cloud_interval}, "
            f"cloud steps in the data set={self.sampler.lwp.shape[0]})"
        )

    @property
    def n_frames(self) -> int:
        """T, frames in the sequence."""
        return int(self.sst.shape[0])

    def check_time(self, time_index: int) -> int:
        """``time_index`` as an int in 0..T-1; :class:`FrameIndexError` otherwise."""
        try:
            i = int(time_index)
        except (TypeError, ValueError) as err:
            raise FrameIndexError(f"frame index {time_index!r} is not an integer") from err
        if i != time_index:
            raise FrameIndexError(f"frame index {time_index!r} is not an integer")
        if not 0 <= i < self.n_frames:
            raise FrameIndexError(
                f"frame index {time_index} outside 0..{self.n_frames - 1}: the sequence has "
                f"{self.n_frames} frames."
            )
        return i

    def time_of(self, time_index: int) -> np.datetime64 | None:
        """Time of frame ``time_index`` (None without a time coordinate)."""
        i = self.check_time(time_index)
        if "time" in self.sst.coords:
            return self.sst["time"].values[i]
        return None

    # -- masks and rates ------------------------------------------------------
    def mask(self, threshold_gm2: float) -> np.ndarray:
        """(T, H, W) bool cloud mask of the sequence, True where LWP > threshold (g m-2)."""
        t = check_threshold_gm2(threshold_gm2)
        return lwp_to_mask(self.lwp_kgm2, gm2_to_kgm2(t))

    def occlusion_rate(self, threshold_gm2: float, time_index: int | None = None) -> float:
        """Occluded fraction in [0, 1] of frame ``time_index`` (None: the whole sequence)."""
        m = self.mask(threshold_gm2)
        return occlusion_rate(m if time_index is None else m[self.check_time(time_index)])

    def frame(self, threshold_gm2: float, time_index: int) -> FrameView:
        """Everything the notebook shows for one threshold (g m-2) and frame."""
        thr = check_threshold_gm2(threshold_gm2)
        i = self.check_time(time_index)
        lwp = self.lwp_kgm2[i]
        mask = lwp_to_mask(lwp, gm2_to_kgm2(thr))
        sst = self._sst_values[i]
        rate = occlusion_rate(mask)
        return FrameView(
            threshold_gm2=thr,
            time_index=i,
            time=self.time_of(i),
            lwp_kgm2=lwp,
            mask=mask,
            sst_c=sst,
            observed_c=np.where(mask, np.float32(np.nan), sst),
            occlusion_rate=rate,
            readout=format_readout(rate, thr, i),
        )

    def readout(self, threshold_gm2: float, time_index: int) -> str:
        """The readout string of one threshold (g m-2) and frame."""
        return self.frame(threshold_gm2, time_index).readout

    # -- statistics -----------------------------------------------------------
    def _scope_lwp(self, scope: str) -> np.ndarray:
        if scope == "window":
            return self.lwp_kgm2
        if scope == "dataset":
            return self.sampler.lwp
        raise ValueError(f"scope must be 'window' or 'dataset', got {scope!r}")

    def histogram(
        self,
        *,
        scope: Literal["window", "dataset"] = "window",
        edges_gm2: Sequence[float] | np.ndarray | None = None,
        chunk_steps: int = 256,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Histogram of the LWP in g m-2.

        Parameters
        ----------
        scope
            ``"window"``: the T frames over the sequence; ``"dataset"``: every step of
            the cloud data set (read ``chunk_steps`` at a time).
        edges_gm2
            Increasing bin edges, g m-2 (default 0, 2.5, ..., 300). Values below the
            first edge go into the first bin, above the last into the last bin, so
            every finite value is counted.

        Returns
        -------
        counts, edges_gm2
            (K,) int64 counts and (K + 1,) float64 edges, g m-2.
        """
        edges = np.asarray(HISTOGRAM_EDGES_GM2 if edges_gm2 is None else edges_gm2, float)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("edges_gm2 must be at least two strictly increasing values (g m-2)")
        lwp = self._scope_lwp(scope)
        counts = np.zeros(edges.size - 1, dtype=np.int64)
        for s in range(0, lwp.shape[0], chunk_steps):
            v = kgm2_to_gm2(np.asarray(lwp[s : s + chunk_steps], dtype=np.float64)).ravel()
            v = np.clip(v[np.isfinite(v)], edges[0], edges[-1])
            counts += np.histogram(v, bins=edges)[0]
        return counts, edges

    def curve(
        self,
        thresholds_gm2: Sequence[float] = CURVE_THRESHOLDS_GM2,
        *,
        scope: Literal["window", "dataset"] = "window",
    ) -> xr.DataArray:
        """Occluded fraction against the threshold (g m-2): :func:`occlusion_rate_curve`.

        ``scope="window"`` counts the T frames over the sequence (equals
        :meth:`occlusion_rate` with ``time_index=None``), ``"dataset"`` every step of
        the cloud data set. Returns a DataArray with dim ``threshold`` (g m-2).
        """
        for t in thresholds_gm2:
            check_threshold_gm2(t)
        return occlusion_rate_curve(self._scope_lwp(scope), list(thresholds_gm2))

    # -- figures (drawn by unisst_lib.views.explore_figures) -----------------
    def frame_figure(self, threshold_gm2: float, time_index: int) -> Figure:
        """LWP (g m-2, threshold contour), cloud mask and occluded SST (°C) of one frame."""
        return explore_figures.frame_figure(self, threshold_gm2, time_index)

    def lwp_figure(self, time_indices: Sequence[int] | None = None) -> Figure:
        """LWP fields (g m-2) of a few frames (default 4 evenly spaced)."""
        return explore_figures.lwp_figure(self, time_indices)


# ------------------------------------------------------------------- tables
#: Name of :func:`rate_table`'s index.
RATE_TABLE_INDEX = "threshold (g m⁻²)"


def rate_column(label: str) -> str:
    """:func:`rate_table`'s header of a curve: ``"this window: occluded (%)"``."""
    return f"{label}: occluded (%)"


def rate_table(
    curves: dict[str, xr.DataArray], thresholds_gm2: Sequence[float] = (55, 60, 65, 70, 75, 80)
):
    """Occluded pixels in % at a few thresholds: a ``pandas.DataFrame``.

    Index :data:`RATE_TABLE_INDEX` (``threshold (g m⁻²)``), one column
    :func:`rate_column` (``"<label>: occluded (%)"``) per curve of
    :meth:`MaskExplorer.curve` (each must contain the thresholds), values rounded
    to 0.1 %.
    """
    import pandas as pd

    thr = [float(t) for t in thresholds_gm2]
    cols = {}
    for label, c in curves.items():
        missing = sorted(set(thr) - {float(v) for v in c["threshold"].values})
        if missing:
            raise ValueError(f"curve {label!r} has no value at thresholds {missing} g m-2")
        cols[rate_column(label)] = np.round(100 * c.sel(threshold=thr).values, 1)
    return pd.DataFrame(cols, index=pd.Index(thr, name=RATE_TABLE_INDEX))


# ------------------------------------------------------- twin clear-sky step
def clear_sky_gm2(clouds: str = "twin") -> float | None:
    """The twin clouds' clear-sky level, g m-2 (45); None for other cloud data sets.

    Below it the twin generator compresses the LWP toward zero
    (:mod:`unisst_lib.data.twin.clouds`), which makes the density step there.
    """
    if clouds != "twin":
        return None
    return float(kgm2_to_gm2(DEFAULT_CLOUDS.clear_sky_lwp))


@dataclass(frozen=True)
class ClearSkyStep:
    """Pixels either side of the twin's clear-sky level ``c`` (:func:`clear_sky_step`).

    ``below`` / ``above``: pixels with LWP in ``[c - width, c)`` / ``[c, c + width)``;
    ``n_below`` / ``total``: pixels with LWP < ``c`` / all pixels counted (``scope``);
    ``power``: the generator's exponent ``p`` (the predicted density ratio); g m-2.
    """

    level_gm2: float
    power: float
    width_gm2: float
    below: int
    above: int
    n_below: int
    total: int
    scope: str

    @property
    def ratio(self) -> float:
        """``above / below``: how many times denser the LWP is just above ``c`` (inf if 0)."""
        return self.above / self.below if self.below else float("inf")

    @property
    def fraction_below(self) -> float:
        """Fraction of pixels with LWP < ``c`` (clear at every threshold >= ``c``)."""
        return self.n_below / self.total if self.total else 0.0

    def __str__(self) -> str:
        c, w = self.level_gm2, self.width_gm2
        lo, hi = explore_figures.STUDIED_RANGE_GM2
        where = "the whole cloud data set" if self.scope == "dataset" else "this window"
        return (
            f"Measured on {where} ({self.total:,} pixels): {self.below:,} pixels between "
            f"{c - w:g} and {c:g} g m⁻², {self.above:,} between {c:g} and {c + w:g} g m⁻², "
            f"so the density jumps ×{self.ratio:.2f} at the clear-sky level {c:g} g m⁻² "
            f"(the compression predicts ×{self.power:g}). "
            f"{100 * self.fraction_below:.1f} % of the pixels lie below {c:g} g m⁻²: "
            f"clear at every threshold of {lo:g}–{hi:g} g m⁻², "
            "as they would be without the compression."
        )

    def _repr_markdown_(self) -> str:
        return str(self)


def clear_sky_step(
    explorer: MaskExplorer,
    *,
    scope: Literal["window", "dataset"] = "dataset",
    width_gm2: float = 1.0,
    level_gm2: float | None = None,
) -> ClearSkyStep:
    """Count the pixels on either side of the twin's clear-sky level.

    The twin generator replaces every LWP below ``c`` (``clear_sky_lwp``, 45 g m-2)
    by ``c (LWP / c)**p`` (``p = clear_sky_power``, 4): continuous at ``c`` but four
    times steeper, so the density of LWP just below ``c`` is ``1/p`` of that just
    above. This measures that step.

    Parameters
    ----------
    explorer
        Sequence and clouds.
    scope
        As :meth:`MaskExplorer.histogram`.
    width_gm2
        Width of the two bands compared, g m-2.
    level_gm2
        The level, g m-2; default :func:`clear_sky_gm2` of the twin.
    """
    c = clear_sky_gm2("twin") if level_gm2 is None else float(level_gm2)
    w = float(width_gm2)
    if not (np.isfinite(w) and 0 < w < c):
        raise ValueError(f"width_gm2 must be in (0, {c:g}) g m-2, got {width_gm2!r}")
    top = max(c + w, float(HISTOGRAM_EDGES_GM2[-1])) + 1.0
    counts, _ = explorer.histogram(scope=scope, edges_gm2=[0.0, c - w, c, c + w, top])
    return ClearSkyStep(
        level_gm2=c,
        power=float(DEFAULT_CLOUDS.clear_sky_power),
        width_gm2=w,
        below=int(counts[1]),
        above=int(counts[2]),
        n_below=int(counts[0] + counts[1]),
        total=int(counts.sum()),
        scope=scope,
    )


# ------------------------------------------------------------------ loading
def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data directory for a notebook.

    ``data_dir`` if given; else ``$UNISST_DATA_DIR``; else the first ``data`` folder
    found in the working directory or its parent (a notebook in ``notebooks/`` runs
    with that folder as its working directory, the data live in ``../data``).
    """
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    cwd = Path.cwd()
    for cand in (cwd / "data", cwd.parent / "data"):
        if cand.is_dir():
            return cand
    return cwd / "data"


def load_explorer(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    split_set: str = "twin",
    split: str = "val",
    index: int = 0,
    clouds: str = "twin",
    seed: int = 0,
    manifest: Manifest | None = None,
) -> MaskExplorer:
    """Sequence ``index`` of a manifest split, with its evaluation cloud window.

    The window is ``clouds.draw_for_index(index, seed)`` of the evaluation data set
    (:func:`unisst_lib.data.dataset.make_dataset` with ``mode="eval"``), i.e. the clouds
    that data set puts over that sequence (unless they hide every pixel, when the
    data set redraws).

    Parameters
    ----------
    data_dir
        Data directory (:func:`resolve_data_dir`).
    split_set, split, clouds, seed, manifest
        As :func:`unisst_lib.data.dataset.make_dataset`.
    index
        Sequence of the split.

    Raises
    ------
    DataNotFoundError
        SST or cloud file missing (the message names the command that makes it).
    FrameIndexError
        ``index`` outside the split.
    """
    from unisst_lib.data.dataset import make_dataset

    root = resolve_data_dir(data_dir)
    try:
        ds = make_dataset(
            split_set,
            split,
            clouds=clouds,
            mode="eval",
            seed=seed,
            manifest=manifest,
            data_dir=root,
            preload=False,
        )
    except DataNotFoundError as err:
        raise DataNotFoundError(f"{err} (data directory: {root.resolve()})") from err
    n = len(ds.sequences)
    if not 0 <= int(index) < n:
        raise FrameIndexError(
            f"sequence index {index} outside 0..{n - 1}: split {split_set}/{split} has {n} "
            "sequences."
        )
    where = ds.clouds.draw_for_index(int(index), ds.seed)
    log.info("sequence %d of %s/%s, cloud window %s", index, split_set, split, where)
    return MaskExplorer(
        ds.clouds.lwp,
        ds.sequences[int(index)],
        cloud_interval=ds.clouds.cloud_interval,
        cloud_start=where.start,
        offset=(where.row, where.col),
    )
