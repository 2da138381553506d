"""SST sequences, normalisation and the occluded-sequence dataset (xarray in, torch out).

Cutting sequences (as in Yin et al. 2019)
-----------------------------------------
Hourly frames are re-ordered by *phase* (hour index modulo the interval), each
phase's frames are cut into non-overlapping windows of ``seq_len`` frames, and
sequences are numbered phase-major over the listed phases. With an interval of
6 frames and 24-frame sequences, sequence ``k`` of phase ``p`` starts at frame
``p + k * 6 * 24`` and holds frames ``start, start + 6, ..., start + 23 * 6``.
A split then takes ``[first:stop]`` of that list.

Normalisation
-------------
Per sequence, ``xn = (x - mean) / (std_factor * std)`` with ``mean`` and ``std``
computed over the *observed* pixels only (the original computed them over the
whole truth, which leaks the hidden pixels into the input); the observation
``y`` is ``xn`` with occluded pixels set to ``fill_value`` (1.0).

The dataset
-----------
:class:`OccludedSequenceDataset` yields dicts of tensors ``y``, ``mask``, ``x``,
``mean``, ``std``, ``index``, ``cloud_start``. **``x`` is the truth under the
clouds: for evaluation only. A training step must never read it** — the whole
point of the method is that it learns without it (use ``include_truth=False``
to leave it out).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
import xarray as xr
from torch.utils.data import Dataset

from unisst_lib.core.errors import (
    DataNotFoundError,
    GridError,
    ManifestError,
    UnisstError,
)
from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.core.paths import data_dir as resolve_data_dir
from unisst_lib.data.masks import CloudSampler, check_threshold_gm2, gm2_to_kgm2

log = logging.getLogger(__name__)

SST_DIMS = ("time", "latitude", "longitude")
#: Smallest grid the networks accept (6 stride-2 layers of the discriminators: 64 = 2**6).
MIN_GRID = 64
#: Floor of the per-sequence standard deviation, °C (keeps a constant field finite).
MIN_STD = 1e-6


class NormalisationError(UnisstError, ValueError):
    """A sequence cannot be normalised: no observed (cloud-free, finite) pixel."""


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
        all_starts = sequence_starts(
            sst.sizes["time"],
            seq_len=self.seq_len,
            interval_frames=interval_frames,
            phases=self.phases,
        )
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


# ------------------------------------------------------------ normalisation
def normalise(
    x,
    observed,
    *,
    std_factor: float = 3.0,
    fill_value: float = 1.0,
    min_std: float = MIN_STD,
):
    """Per-sequence normalisation with statistics of the observed pixels only.

    Parameters
    ----------
    x
        SST, any shape (typically (T, H, W)), °C; NaN where missing. A numpy
        array or a torch tensor (the result is of the same kind).
    observed
        bool, same shape: True where the pixel is seen (cloud-free). Non-finite
        ``x`` counts as not observed whatever ``observed`` says.
    std_factor
        Divisor factor: ``xn = (x - mean) / (std_factor * std)`` (3.0 in the paper).
    fill_value
        Value of the occluded pixels of ``y`` (1.0 in the paper).
    min_std
        Floor of ``std``, °C. A constant observed field (std 0) gives ``std =
        min_std`` instead of a division by zero; the returned ``std`` is the
        floored one, so :func:`denormalise` stays the exact inverse.

    Returns
    -------
    y
        Same shape/dtype as ``x`` (float64 if ``x`` is not floating): ``xn`` where
        observed, ``fill_value`` elsewhere. Never NaN.
    xn
        Same shape/dtype: normalised truth everywhere (NaN where ``x`` is NaN).
    mean, std
        °C, float64 (numpy scalars, or 0-d float64 tensors for torch input):
        mean and population standard deviation of the observed pixels.

    Raises
    ------
    NormalisationError
        No pixel is both observed and finite.

    Notes
    -----
    Statistics are computed in float64 from the observed values alone, so the
    values under the clouds influence neither ``mean``, ``std`` nor ``y``.
    """
    if torch.is_tensor(x):
        # One implementation: tensors go through the NumPy code (float64 statistics) and come
        # back as tensors of x's dtype on x's device.
        obs = torch.as_tensor(observed).detach().cpu().numpy()
        y, xn, mean, std = normalise(
            x.detach().cpu().numpy(), obs, std_factor=std_factor, fill_value=fill_value,
            min_std=min_std,
        )  # fmt: skip
        back = functools.partial(torch.as_tensor, device=x.device)
        return back(y), back(xn), back(mean), back(std)
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
    obs = np.asarray(observed, dtype=bool)
    if obs.shape != x.shape:
        raise ValueError(f"observed has shape {obs.shape}, x has {x.shape}")
    obs = obs & np.isfinite(x)
    n = int(np.count_nonzero(obs))
    if n == 0:
        raise NormalisationError(
            f"no observed pixel in a sequence of shape {x.shape} (all occluded or missing): "
            "its mean and std are undefined. Lower the cloud cover (raise the LWP threshold) "
            "or draw another cloud window."
        )
    vals = x[obs].astype(np.float64)
    mean = vals.mean()
    std = max(float(vals.std()), float(min_std))
    scale = float(std_factor) * std
    xn = ((x.astype(np.float64) - mean) / scale).astype(dtype)
    y = np.where(obs, xn, dtype.type(fill_value)).astype(dtype, copy=False)
    return y, xn, np.float64(mean), np.float64(std)


def denormalise(xn, mean, std, *, std_factor: float = 3.0):
    """Inverse of :func:`normalise`: ``xn * std_factor * std + mean``, in °C.

    Parameters
    ----------
    xn
        Normalised values, numpy array or torch tensor; any shape, or (B, ...) for
        a batch.
    mean, std
        °C: scalars (0-d), or (B,) with ``xn`` of shape (B, ...) (what a DataLoader
        collates from the dataset's ``mean``/``std``).
    std_factor
        As given to :func:`normalise`.

    Returns
    -------
    Same kind, shape and dtype as ``xn`` (float64 if not floating), °C. Computed
    in float64, then cast.
    """
    if torch.is_tensor(xn):
        dtype = xn.dtype if xn.is_floating_point() else torch.float64
        mean_t = torch.as_tensor(mean, dtype=torch.float64, device=xn.device)
        std_t = torch.as_tensor(std, dtype=torch.float64, device=xn.device)
        mean_t, std_t = (_batch_shape(v, xn.ndim, xn.shape) for v in (mean_t, std_t))
        return (xn.to(torch.float64) * (float(std_factor) * std_t) + mean_t).to(dtype)
    xn = np.asarray(xn)
    dtype = xn.dtype if np.issubdtype(xn.dtype, np.floating) else np.dtype(np.float64)
    mean_a = _batch_shape(np.asarray(mean, dtype=np.float64), xn.ndim, xn.shape)
    std_a = _batch_shape(np.asarray(std, dtype=np.float64), xn.ndim, xn.shape)
    return (xn.astype(np.float64) * (float(std_factor) * std_a) + mean_a).astype(dtype)


def _batch_shape(v, ndim: int, shape):
    """Reshape a (B,) statistic to (B, 1, ..., 1) to broadcast over a (B, ...) batch."""
    if v.ndim == 0:
        return v
    if v.ndim == 1 and ndim >= 1 and v.shape[0] == shape[0]:
        return v.reshape((-1,) + (1,) * (ndim - 1))
    if v.ndim == ndim:
        return v
    raise ValueError(
        f"mean/std of shape {tuple(v.shape)} do not match values of shape {tuple(shape)}: "
        "give scalars, or (B,) for a (B, ...) batch"
    )


# ------------------------------------------------------------------ dataset
class OccludedSequenceDataset(Dataset):
    """Occluded SST sequences for training and evaluation.

    Item ``i`` is SST sequence ``i`` occluded by a cloud window; pixels missing
    in the SST itself (NaN: land, gaps) are occluded too. Normalisation uses the
    observed pixels only (:func:`normalise`).

    Parameters
    ----------
    sequences
        The SST sequences (°C).
    clouds
        Cloud windows; its ``shape`` must equal (seq_len, H, W) of the sequences.
    mode
        ``"train"``: a random cloud window per item, from a numpy generator seeded
        from ``(seed, torch.initial_seed())`` — so every DataLoader worker (and
        every epoch with non-persistent workers) draws differently, and a run
        is reproducible under ``torch.manual_seed``. ``"eval"``: the window of
        ``clouds.for_index(i, seed)``, the same for every call.
    seed
        Base seed.
    std_factor, fill_value
        Normalisation (manifest ``normalisation``: 3.0 and 1.0).
    include_truth
        Put the normalised truth ``"x"`` in the items (default). Set False for
        training loaders to make reading it impossible.
    max_redraws
        A window that leaves no pixel observed is redrawn (train: at random; eval:
        deterministically, ``draw_for_index(i, seed, attempt)``) up to this many times.

    Items
    -----
    A dict:

    - ``"y"``: (1, T, H, W) float32, normalised observation; occluded pixels = ``fill_value``.
    - ``"mask"``: (1, T, H, W) float32, 1.0 where occluded (cloud or missing SST), 0.0 observed.
    - ``"x"``: (1, T, H, W) float32, normalised truth, NaN where the SST is missing.
      **EVALUATION ONLY: the training step must never read ``x``** (UNISST learns
      from observations alone; reading it turns the method into supervised learning
      with information the real problem never has).
    - ``"mean"``, ``"std"``: 0-d float64 tensors, °C: ``denormalise(xn, mean, std)``
      gives °C back.
    - ``"index"``: int, the item index.
    - ``"missing"``: (1, T, H, W) float32, 1.0 where the SST itself is missing (land, gaps):
      observations simulated for the critics must hide these pixels too.
    - ``"cloud_start"``: int, first cloud step of the window (training draws its re-occlusion
      and hiding windows away from it: ``clouds.draw(rng, avoid=cloud_start)``).
    """

    def __init__(
        self,
        sequences: SSTSequences,
        clouds: CloudSampler,
        *,
        mode: Literal["train", "eval"] = "train",
        seed: int = 0,
        std_factor: float = 3.0,
        fill_value: float = 1.0,
        include_truth: bool = True,
        max_redraws: int = 10,
    ) -> None:
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        want = (sequences.seq_len, *sequences.grid)
        if tuple(clouds.shape) != want:
            raise GridError(
                f"cloud masks are {clouds.shape} (T, H, W) but the SST sequences are {want}: "
                "build the CloudSampler with seq_len=sequences.seq_len and "
                "size=sequences.grid."
            )
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.sequences = sequences
        self.clouds = clouds
        self.mode = mode
        self.seed = int(seed)
        self.std_factor = float(std_factor)
        self.fill_value = float(fill_value)
        self.include_truth = bool(include_truth)
        self.max_redraws = int(max_redraws)
        self._rng: np.random.Generator | None = None
        self._rng_key: int | None = None

    def __len__(self) -> int:
        return len(self.sequences)

    def _train_rng(self) -> np.random.Generator:
        # In a DataLoader worker torch.initial_seed() is base_seed + worker_id (a new
        # base_seed each epoch unless workers persist); in the main process it is the
        # seed of torch.manual_seed. Re-seed whenever it changes.
        key = torch.initial_seed()
        if self._rng is None or self._rng_key != key:
            self._rng = np.random.default_rng([self.seed, key])
            self._rng_key = key
        return self._rng

    def __getitem__(self, i: int) -> dict:
        return self.sample(i)

    def sample(self, i: int, rng: np.random.Generator | None = None) -> dict:
        """Item ``i``; in train mode its cloud window is drawn from ``rng`` when given.

        Passing the generator makes a training batch a pure function of the
        caller's seed (exact resume without saving RNG state); without it,
        ``__getitem__`` semantics apply.
        """
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"item {i} out of range: the dataset has {n}")
        i = int(i) % n
        x = np.asarray(self.sequences[i].values, dtype=np.float32)  # (T, H, W) °C
        missing = ~np.isfinite(x)
        for attempt in range(self.max_redraws + 1):
            if self.mode == "train":
                where = self.clouds.draw(rng if rng is not None else self._train_rng())
            else:
                where = self.clouds.draw_for_index(i, self.seed, attempt)
            occluded = self.clouds.mask(where) | missing  # (T, H, W) bool
            if not occluded.all():
                break
            log.debug("item %d: cloud window %s hides every pixel, redrawing", i, where)
        else:
            raise NormalisationError(
                f"item {i}: every pixel is occluded after {self.max_redraws + 1} cloud "
                f"windows (SST missing fraction {missing.mean():.2f}, threshold "
                f"{self.clouds.threshold_kgm2:g} kg m-2): raise the threshold or check the "
                "SST file."
            )
        y, xn, mean, std = normalise(
            x, ~occluded, std_factor=self.std_factor, fill_value=self.fill_value
        )
        item = {
            "y": torch.from_numpy(y)[None],  # (1, T, H, W)
            "mask": torch.from_numpy(occluded.astype(np.float32))[None],  # (1, T, H, W)
            "mean": torch.tensor(float(mean), dtype=torch.float64),
            "std": torch.tensor(float(std), dtype=torch.float64),
            "index": i,
            "cloud_start": int(where.start),
            "missing": torch.from_numpy(missing.astype(np.float32))[None],  # (1, T, H, W)
        }
        if self.include_truth:
            item["x"] = torch.from_numpy(xn)[None]  # (1, T, H, W), EVALUATION ONLY
        return item


def make_dataset(
    split_set: str,
    split: str,
    *,
    threshold_gm2: float | None = None,
    clouds: str = "twin",
    mode: Literal["train", "eval"] | None = None,
    seed: int = 0,
    manifest: Manifest | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    preload: bool = True,
    include_truth: bool = True,
) -> OccludedSequenceDataset:
    """The occluded dataset of a manifest split, with the manifest's settings.

    Parameters
    ----------
    split_set, split
        E.g. ``"twin"``, ``"train"``.
    threshold_gm2
        LWP threshold in **g m-2**; default the manifest's (70).
    clouds
        Cloud data set of the manifest (``"twin"`` or ``"figshare"``).
    mode
        Default ``"train"`` for the train split, ``"eval"`` otherwise.
    seed, include_truth
        See :class:`OccludedSequenceDataset`.
    manifest, data_dir, preload
        See :meth:`SSTSequences.from_manifest`.

    Raises
    ------
    DataNotFoundError
        The SST or cloud file is missing (the message names the command to run).
    ThresholdError
        The threshold is outside (0, 1000] g m-2.
    """
    m = manifest if manifest is not None else load_manifest()
    seqs = SSTSequences.from_manifest(
        split_set, split, manifest=m, data_dir=data_dir, preload=preload
    )
    cloud_ds = m.cloud_dataset(clouds)
    path = resolve_data_dir(data_dir) / cloud_ds.file
    if not path.is_file():
        cmd = (
            "unisst data make --size full"
            if cloud_ds.provider == "embedded"
            else "unisst download clouds"
        )
        raise DataNotFoundError(
            f"cloud data set {clouds!r} is not at {path}. Run `{cmd}` (it writes under the "
            "data directory: ./data, or $UNISST_DATA_DIR if set)."
        )
    threshold = m.thresholds.default if threshold_gm2 is None else threshold_gm2
    sampler = CloudSampler.from_file(
        path,
        seq_len=seqs.seq_len,
        cloud_interval=cloud_ds.cloud_interval,
        threshold_kgm2=gm2_to_kgm2(check_threshold_gm2(threshold)),
        size=seqs.grid,
    )
    if mode is None:
        mode = "train" if split == "train" else "eval"
    return OccludedSequenceDataset(
        seqs,
        sampler,
        mode=mode,
        seed=seed,
        std_factor=m.normalisation.std_factor,
        fill_value=m.normalisation.occluded_fill_value,
        include_truth=include_truth,
    )
