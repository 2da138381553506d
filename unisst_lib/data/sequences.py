"""SST sequences cut from an hourly (or daily) SST file, as in Yin et al. (2019).

Hourly frames are re-ordered by *phase* (hour index modulo the interval), each
phase's frames are cut into non-overlapping windows of ``seq_len`` frames, and
sequences are numbered phase-major over the listed phases. With an interval of
6 frames and 24-frame sequences, sequence ``k`` of phase ``p`` starts at frame
``p + k * 6 * 24`` and holds frames ``start, start + 6, ..., start + 23 * 6``.
A split then takes ``[first:stop]`` of that list.

Normalisation is in :mod:`unisst_lib.data.normalise`, the occluded-sequence dataset
in :mod:`unisst_lib.data.dataset`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence

import numpy as np
import xarray as xr

from unisst_lib.core.errors import (
    DataNotFoundError,
    GridError,
    ManifestError,
)
from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.core.paths import data_dir as resolve_data_dir

log = logging.getLogger(__name__)

SST_DIMS = ("time", "latitude", "longitude")
#: Smallest grid the networks accept (6 stride-2 layers of the discriminators: 64 = 2**6).
MIN_GRID = 64


# ----------------------------------------------------------------- cutting
def interval_frames_for(interval_hours: int, frequency_hours: int) -> int:
    """Frames between successive frames of a sequence: ``interval_hours / frequency_hours``.

    Raises
    ------
    ManifestError
        The ratio is not a whole number >= 1 (e.g. a 6 h interval on daily data).

    >>> interval_frames_for(6, 1), interval_frames_for(24, 24)
    (6, 1)
    """
    if frequency_hours <= 0 or interval_hours <= 0:
        raise ManifestError(
            f"interval_hours ({interval_hours}) and frequency_hours ({frequency_hours}) "
            "must be positive"
        )
    ratio, rem = divmod(int(interval_hours), int(frequency_hours))
    if rem or ratio < 1 or interval_hours != int(interval_hours):
        raise ManifestError(
            f"a sequence interval of {interval_hours} h is not a whole number of frames of "
            f"a data set with one frame every {frequency_hours} h: set the split set's "
            f"interval_hours to a multiple of {frequency_hours}."
        )
    return ratio


def sequence_starts(
    n_frames: int, *, seq_len: int, interval_frames: int, phases: Sequence[int]
) -> np.ndarray:
    """First frame index of every complete sequence, phase-major.

    Parameters
    ----------
    n_frames
        Frames in the series (time steps).
    seq_len
        Frames per sequence.
    interval_frames
        Frames between successive frames of a sequence (whole number >= 1).
    phases
        Phases to use, each in ``0 .. interval_frames - 1``, in this order.

    Returns
    -------
    numpy.ndarray
        (n_sequences,) int64: for each phase ``p`` in order, ``p + k * interval_frames *
        seq_len`` for ``k = 0, 1, ...`` while the last frame ``start + (seq_len - 1) *
        interval_frames`` is inside the series.

    Examples
    --------
    >>> s = sequence_starts(8760, seq_len=24, interval_frames=6, phases=range(6))
    >>> len(s), s[:2].tolist(), s[60].tolist(), s[300].tolist()
    (360, [0, 144], 1, 5)
    """
    if isinstance(interval_frames, float) and interval_frames.is_integer():
        interval_frames = int(interval_frames)
    if not isinstance(interval_frames, (int, np.integer)) or interval_frames < 1:
        raise ValueError(
            f"interval_frames must be a whole number >= 1, got {interval_frames!r} "
            "(interval_hours / frequency_hours; see interval_frames_for)"
        )
    if int(seq_len) < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    if int(n_frames) < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    phases = [int(p) for p in phases]
    bad = [p for p in phases if not 0 <= p < interval_frames]
    if bad:
        raise ValueError(f"phases {bad} outside 0..{interval_frames - 1}")
    if len(set(phases)) != len(phases):
        raise ValueError(f"phases repeat: {phases}")
    stride = interval_frames * seq_len  # frames between the starts of consecutive sequences
    span = (seq_len - 1) * interval_frames  # last frame - first frame of one sequence
    out = []
    for p in phases:
        last_start = int(n_frames) - 1 - span
        if last_start >= p:
            out.append(np.arange(p, last_start + 1, stride, dtype=np.int64))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _starts_within(
    starts: np.ndarray, span: tuple[float, float], n_frames: int, last_offset: int
) -> np.ndarray:
    """The starts whose whole sequence lies in the fraction ``span`` of the time axis.

    >>> _starts_within(np.array([0, 10, 20, 30]), (0.2, 0.8), 50, 15).tolist()
    [10, 20]
    """
    lo, hi = float(span[0]), float(span[1])
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"span {list(span)} must satisfy 0 <= lo < hi <= 1")
    first, end = math.ceil(lo * n_frames), math.floor(hi * n_frames)  # frames [first, end)
    keep = (starts >= first) & (starts + last_offset < end)
    return starts[keep]


class SSTSequences:
    """Indexable SST sequences of a split (no torch).

    Parameters
    ----------
    sst
        ``(time, latitude, longitude)`` SST in °C, NaN where missing (as
        :func:`unisst_lib.data.io.open_sst` returns).
    seq_len
        Frames per sequence (24).
    interval_frames
        Frames between successive frames of a sequence (6 for hourly data and a
        6 h interval).
    phases
        Phases used, numbered phase-major (see :func:`sequence_starts`).
    first, stop
        The split takes sequences ``[first:stop]`` of that list (``stop=None``: to the end).
    span
        Only sequences lying wholly in this fraction ``[lo, hi)`` of the time axis (a
        held-out period); applied before ``first``/``stop``.
    preload
        Read the whole array into memory once as float32 (fast random access for
        training); ``False`` reads each sequence from the (lazy) array when asked.
    min_size
        Smallest accepted latitude and longitude size (64, what the networks need).

    Attributes
    ----------
    starts : numpy.ndarray
        (len,) first frame index of each sequence of the split.

    Raises
    ------
    GridError
        Wrong dims, grid smaller than ``min_size``, or no complete sequence selected.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> sst = xr.DataArray(np.zeros((300, 64, 64), np.float32), dims=SST_DIMS)
    >>> seqs = SSTSequences(sst, seq_len=24, interval_frames=6, phases=[0, 1])
    >>> len(seqs), seqs.starts.tolist(), seqs[1].sizes["time"]
    (4, [0, 144, 1, 145], 24)
    """

    def __init__(
        self,
        sst: xr.DataArray,
        *,
        seq_len: int,
        interval_frames: int,
        phases: Sequence[int],
        first: int = 0,
        stop: int | None = None,
        span: tuple[float, float] = (0.0, 1.0),
        preload: bool = True,
        min_size: int = MIN_GRID,
    ) -> None:
        if not isinstance(sst, xr.DataArray):
            raise TypeError(f"sst must be an xarray.DataArray, got {type(sst).__name__}")
        if set(sst.dims) != set(SST_DIMS):
            raise GridError(
                f"SST must have dims {SST_DIMS}, got {sst.dims}: open files with "
                "unisst_lib.data.io.open_sst, which standardises them."
            )
        sst = sst.transpose(*SST_DIMS)
        ny, nx = sst.sizes["latitude"], sst.sizes["longitude"]
        if ny < min_size or nx < min_size:
            raise GridError(
                f"the SST grid is {ny}×{nx} (latitude×longitude) but unisst needs at least "
                f"{min_size}×{min_size} (the networks halve the grid 6 times): subset a "
                "larger region."
            )
        self.seq_len = int(seq_len)
        self.interval_frames = int(interval_frames)
        self.phases = tuple(int(p) for p in phases)
        self.last_offset = (self.seq_len - 1) * self.interval_frames
        all_starts = sequence_starts(
            sst.sizes["time"],
            seq_len=self.seq_len,
            interval_frames=interval_frames,
            phases=self.phases,
        )
        all_starts = _starts_within(all_starts, span, sst.sizes["time"], self.last_offset)
        if first < 0 or (stop is not None and stop < first):
            raise ValueError(f"need 0 <= first <= stop, got first={first}, stop={stop}")
        if stop is not None and stop > len(all_starts):
            log.warning(
                "split asks for sequences up to %d but the data hold %d (phases %s): taking %d..%d",
                stop,
                len(all_starts),
                list(self.phases),
                first,
                len(all_starts),
            )
        self.starts = all_starts[first:stop]
        if len(self.starts) == 0:
            raise GridError(
                f"no complete sequence: the time axis has {sst.sizes['time']} frames, which "
                f"make {len(all_starts)} sequences of {self.seq_len} frames "
                f"{self.interval_frames} apart over phases {list(self.phases)}, and "
                f"[first:stop] = [{first}:{stop}] selects none. Use a longer data set or "
                "change the split in the manifest."
            )
        self.preload = bool(preload)
        if self.preload:
            # One read into memory as float32; later items are views into it.
            sst = sst.astype(np.float32).load()
        self.sst = sst
        log.info(
            "%d SST sequences of %d frames %d apart (phases %s), grid %d×%d, %s",
            len(self.starts),
            self.seq_len,
            self.interval_frames,
            list(self.phases),
            ny,
            nx,
            "preloaded" if self.preload else "read lazily",
        )

    @classmethod
    def from_manifest(
        cls,
        split_set: str,
        split: str,
        *,
        manifest: Manifest | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        preload: bool = True,
    ) -> SSTSequences:
        """The sequences of ``split`` ("train", "val", "test") of a manifest split set.

        The file is ``manifest.sst_dataset(name).file`` under
        :func:`unisst_lib.core.paths.data_dir` (``data_dir``, ``$UNISST_DATA_DIR`` or ``./data``).

        Raises
        ------
        DataNotFoundError
            The file is missing; the message names the command that makes it.
        GridError
            The grid is smaller than 64×64, or no complete sequence.
        ManifestError
            Unknown split set/split, or an interval that is not a whole number of frames.
        """
        from unisst_lib.data.io import open_sst

        m = manifest if manifest is not None else load_manifest()
        ss = m.split_set(split_set)
        sel = ss.split(split)
        ds = m.sst_dataset(sel.dataset)
        source = m.source_of(sel.dataset)
        interval = interval_frames_for(ss.interval_hours, source.frequency_hours)
        root = resolve_data_dir(data_dir)
        path = root / ds.file
        if not path.is_file():
            raise DataNotFoundError(_missing_sst_message(m, split_set, split, sel.dataset, path))
        sst = open_sst(path, variable=source.variable)
        return cls(
            sst,
            seq_len=ss.seq_len,
            interval_frames=interval,
            phases=sel.phases,
            first=sel.first,
            stop=sel.stop,
            span=sel.span,
            preload=preload,
        )

    def __len__(self) -> int:
        return len(self.starts)

    def frame_indices(self, i: int) -> np.ndarray:
        """(seq_len,) time indices of sequence ``i`` in the full series."""
        start = int(self.starts[self._check_index(i)])
        return start + self.interval_frames * np.arange(self.seq_len)

    def _check_index(self, i: int) -> int:
        n = len(self)
        i = int(i)
        if not -n <= i < n:
            raise IndexError(f"sequence {i} out of range: this split has {n}")
        return i % n

    def __getitem__(self, i: int) -> xr.DataArray:
        """Sequence ``i``: ``(time, latitude, longitude)`` float32 in °C, with coordinates.

        With ``preload`` the result is a view of the cached array: copy it before
        modifying it in place.
        """
        start = int(self.starts[self._check_index(i)])
        stop = start + (self.seq_len - 1) * self.interval_frames + 1
        seq = self.sst.isel(time=slice(start, stop, self.interval_frames))
        if not self.preload:
            seq = seq.astype(np.float32).load()
        return seq

    def __repr__(self) -> str:
        return (
            f"SSTSequences(n={len(self)}, seq_len={self.seq_len}, "
            f"interval_frames={self.interval_frames}, phases={list(self.phases)}, "
            f"grid={self.sst.sizes['latitude']}×{self.sst.sizes['longitude']}, "
            f"preload={self.preload})"
        )

    @property
    def grid(self) -> tuple[int, int]:
        """(H, W) = (latitude, longitude) sizes."""
        return self.sst.sizes["latitude"], self.sst.sizes["longitude"]


def _missing_sst_message(m: Manifest, split_set: str, split: str, dataset: str, path) -> str:
    source = m.source_of(dataset)
    head = f"SST data set {dataset!r} (split {split_set}/{split}) is not at {path}. "
    if source.provider == "embedded":
        return head + (
            "Generate the embedded twin with `unisst data make --size full` (it writes under "
            "the data directory: ./data, or $UNISST_DATA_DIR if set)."
        )
    if not source.available:
        return head + (
            f"Its source {m.sst_dataset(dataset).source!r} ({source.dataset_id}) can no longer "
            "be downloaded; place the file there yourself, or use another split set "
            f"(`unisst download sst --split <name>` with one of: "
            f"{', '.join(_downloadable_split_sets(m))})."
        )
    return head + (
        f"Download it with `unisst download sst --split {split_set}` (Copernicus Marine "
        "credentials needed; it writes under ./data, or $UNISST_DATA_DIR if set)."
    )


def _downloadable_split_sets(m: Manifest) -> list[str]:
    out = []
    for name, ss in m.splits.items():
        sources = [m.source_of(ss.split(s).dataset) for s in ("train", "val", "test")]
        if all(src.available and src.provider != "embedded" for src in sources):
            out.append(name)
    return out
