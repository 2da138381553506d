"""Training data: on disk first, then batches that are a pure function of the step.

:class:`StepBatches` draws every training batch from ``(seed, iteration, rank)``
alone, so a resumed run sees exactly the batches an uninterrupted one would, and
DataLoader workers can prefetch them (:func:`batch_loader`) without changing a bit.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from unisst_lib.core.errors import DataNotFoundError
from unisst_lib.core.manifest import Manifest
from unisst_lib.core.paths import data_dir
from unisst_lib.data.dataset import OccludedSequenceDataset
from unisst_lib.training.config import DataConfig, TrainConfig

log = logging.getLogger(__name__)


def ensure_data(cfg: DataConfig, manifest: Manifest) -> Path:
    """Make sure the training data are on disk; generate the embedded twin if needed."""
    root = data_dir(cfg.data_dir)
    split_set = manifest.split_set(cfg.split_set)
    names = {split_set.split(s).dataset for s in ("train", "val", "test")}
    missing = [n for n in sorted(names) if not (root / manifest.sst_dataset(n).file).is_file()]
    cloud = manifest.cloud_dataset(cfg.clouds)
    cloud_missing = not (root / cloud.file).is_file()
    if not missing and not cloud_missing:
        return root
    embedded = all(manifest.source_of(n).provider == "embedded" for n in names)
    if embedded and cloud.provider == "embedded":
        from unisst_lib.data.twin.make import make_twin

        log.warning(
            "the embedded data set is not in %s: generating the '%s' twin first",
            root,
            cfg.twin_size,
        )
        make_twin(cfg.twin_size, root, manifest=manifest)
        return root
    if missing:
        raise DataNotFoundError(
            f"SST data {', '.join(missing)} not found under {root}: download them with "
            f"`unisst download sst --split train` (and val/test), or train on the embedded "
            "default (data.split_set: twin)."
        )
    raise DataNotFoundError(
        f"cloud data {cfg.clouds!r} not found at {root / cloud.file}: download it with "
        "`unisst download clouds`, or use the embedded clouds (data.clouds: twin)."
    )


class StepBatches:
    """Training batches as a pure function of (seed, step, rank): exact resume, no RNG state.

    Each item also carries the re-occlusion mask ``m′`` and, for the
    self-supervised term, a further hiding mask — independent cloud windows.
    """

    def __init__(self, ds: OccludedSequenceDataset, cfg: TrainConfig, rank: int) -> None:
        self.ds, self.cfg, self.rank = ds, cfg, rank

    def batch(self, iteration: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.cfg.seed, iteration, self.rank, 0x5E5])
        items = []
        for _ in range(self.cfg.batch_size):
            i = int(rng.integers(len(self.ds)))
            item = self.ds.sample(i, rng)
            clouds = self.ds.clouds
            start = item["cloud_start"]
            reocc = clouds.mask(clouds.draw(rng, avoid=start))
            hide = clouds.mask(clouds.draw(rng, avoid=start))
            reocc = reocc | (item["missing"][0].numpy() > 0.5)  # land stays hidden in ŷ
            item["reocclusion"] = torch.from_numpy(reocc.astype(np.float32))[None]
            item["hide"] = torch.from_numpy(hide.astype(np.float32))[None]
            if getattr(self.ds, "interp", None) is not None:  # a first guess from the record
                # made without the pixels hidden from G, which the self-supervised term scores
                hidden = hide if self.cfg.hides_observed else None
                g = self.ds.guess(item["window"], item["mean"], item["std"], hide=hidden)
                item["guess"] = torch.from_numpy(g)[None]
            if self.cfg.data.augment:
                # Mirror the whole sample north-south and/or east-west: the model must not
                # learn one region's gradient direction or eddy rotation sense (a test
                # region in the other hemisphere has both reversed).
                dims = [d for d in (-2, -1) if rng.random() < 0.5]
                if dims:
                    item = {
                        k: v.flip(dims) if isinstance(v, torch.Tensor) and v.ndim == 4 else v
                        for k, v in item.items()
                    }
            items.append(item)
        keys = ("y", "mask", "reocclusion", "hide")
        keys += tuple(k for k in ("x", "guess") if k in items[0])
        return {k: torch.stack([it[k] for it in items]) for k in keys}


class IterationBatches(torch.utils.data.Dataset):
    """Iteration number -> training batch, for a DataLoader that prefetches in workers."""

    def __init__(self, batches: StepBatches, n_iterations: int) -> None:
        self.batches, self.n = batches, n_iterations

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, iteration: int) -> dict[str, torch.Tensor]:
        return self.batches.batch(iteration)


def batch_loader(
    batches: StepBatches, *, start_step: int, pin_memory: bool
) -> torch.utils.data.DataLoader:
    """The batches of the generator steps ``start_step`` … ``cfg.steps``, in order.

    ``data.num_workers`` processes prefetch them; each generator step takes
    ``cfg.critic_steps`` batches.
    """
    cfg = batches.cfg
    k, workers = cfg.critic_steps, cfg.data.num_workers
    return torch.utils.data.DataLoader(
        IterationBatches(batches, cfg.steps * k),
        batch_size=None,
        sampler=range(start_step * k, cfg.steps * k),
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=4 if workers else None,
    )
