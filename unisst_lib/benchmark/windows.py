"""The benchmark's test windows: every method is scored on the same cloudy sequences.

:func:`load_test_set` takes the evaluation windows of a manifest split with their
deterministic cloud masks at one LWP threshold, in °C, as every method sees them;
a :class:`TestSet` holds them with what the fillers and the scores need (the
observation, the land mask, the grid spacing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.data.dataset import OccludedSequenceDataset, make_dataset
from unisst_lib.data.masks import occlusion_rate
from unisst_lib.data.stats import grid_spacing_km


@dataclass
class TestSet:
    """The test windows at one threshold, in °C.

    Attributes
    ----------
    truth : (N, T, H, W) float32, °C (NaN where the SST itself is missing)
    mask : (N, T, H, W) bool, True where occluded (clouds or missing SST)
    frames : (N, T) int, time index of each frame in the split's SST series
    dataset : the :class:`OccludedSequenceDataset` the windows come from
    threshold_gm2 : LWP threshold, g m-2
    dy_km, dx_km : grid spacings at the box centre, km
    """

    truth: np.ndarray
    mask: np.ndarray
    frames: np.ndarray
    dataset: OccludedSequenceDataset
    threshold_gm2: float
    dy_km: float
    dx_km: float

    @property
    def occlusion_rate(self) -> float:
        """Fraction of pixels occluded by clouds (SST-missing pixels excluded)."""
        return occlusion_rate(self.mask, sea=np.isfinite(self.truth))

    @property
    def observation(self) -> np.ndarray:
        """(N, T, H, W) °C: the truth with NaN where occluded — what a user has."""
        return np.where(self.mask, np.float32(np.nan), self.truth)

    @property
    def land(self) -> np.ndarray:
        """(H, W) bool: pixels without SST in every frame (land), known to every method.

        A pixel under cloud in all 24 frames of a window is *not* land: it must be filled.
        """
        return ~np.isfinite(self.truth).any(axis=(0, 1))

    def __len__(self) -> int:
        return self.truth.shape[0]


def load_test_set(
    split_set: str = "twin",
    split: str = "test",
    *,
    threshold_gm2: float = 70.0,
    clouds: str = "twin",
    seed: int = 0,
    max_items: int | None = None,
    manifest: Manifest | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> TestSet:
    """The evaluation windows of ``split`` and their cloud masks at ``threshold_gm2`` (g m-2).

    The clouds are the same deterministic windows that :func:`..evaluation.validation.evaluate`
    uses (``mode="eval"``, ``seed``), so every method is scored on the same pixels.
    """
    m = manifest or load_manifest()
    ds = make_dataset(
        split_set, split, threshold_gm2=threshold_gm2, clouds=clouds, mode="eval", seed=seed,
        manifest=m, data_dir=data_dir, include_truth=False,
    )  # fmt: skip
    n = len(ds) if max_items is None else min(len(ds), max_items)
    truth, mask, frames = [], [], []
    for i in range(n):
        item = ds[i]
        truth.append(np.asarray(ds.sequences[i].values, dtype=np.float32))
        mask.append(item["mask"][0].numpy() > 0.5)
        frames.append(ds.sequences.frame_indices(i))
    seq0 = ds.sequences[0]
    dy, dx = grid_spacing_km(seq0["latitude"].values, seq0["longitude"].values)
    return TestSet(
        truth=np.stack(truth),
        mask=np.stack(mask),
        frames=np.stack(frames),
        dataset=ds,
        threshold_gm2=float(threshold_gm2),
        dy_km=dy,
        dx_km=dx,
    )
