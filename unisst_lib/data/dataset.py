"""The occluded-sequence dataset: SST sequences under cloud windows, normalised, as tensors.

:class:`OccludedSequenceDataset` yields dicts of tensors ``y``, ``mask``, ``x``,
``mean``, ``std``, ``index``, ``cloud_start``. **``x`` is the truth under the
clouds: for evaluation only. A training step must never read it** — the whole
point of the method is that it learns without it (use ``include_truth=False``
to leave it out).
"""

from __future__ import annotations

import logging
import os
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from unisst_lib.core.errors import DataNotFoundError, GridError
from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.core.paths import data_dir as resolve_data_dir
from unisst_lib.data.cloud_splits import cloud_segments
from unisst_lib.data.io import load_clouds
from unisst_lib.data.masks import CloudSampler, check_threshold_gm2, gm2_to_kgm2
from unisst_lib.data.normalise import NormalisationError, normalise
from unisst_lib.data.sequences import SSTSequences

log = logging.getLogger(__name__)


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
    n_steps = load_clouds(path, mmap=True).shape[0]
    span = (seqs.seq_len - 1) * cloud_ds.cloud_interval + 1
    # Each split draws its clouds from its own segment of the record: no test mask
    # is ever a training or validation mask.
    segment = cloud_segments(n_steps, span=span, fractions=cloud_ds.split_fractions)[split]
    sampler = CloudSampler.from_file(
        path,
        seq_len=seqs.seq_len,
        cloud_interval=cloud_ds.cloud_interval,
        threshold_kgm2=gm2_to_kgm2(check_threshold_gm2(threshold)),
        size=seqs.grid,
        segment=segment,
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
