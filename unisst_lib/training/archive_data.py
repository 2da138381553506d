"""The training and validation sets of a run on a cloudy archive (``data.archive`` / ``data=``).

The archive is read once into memory (``open_archive``: quality filter, land
mask, regular axis), split by :func:`unisst_lib.data.archive_samples.split_archive`
into what training sees and the withheld observed pixels that select ``best``,
and described by :func:`archive_info` — what a checkpoint records so that
``unisst fill`` knows the model's cadence, window and grid.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import xarray as xr

from unisst_lib.core.manifest import Manifest
from unisst_lib.data.archive import open_archive
from unisst_lib.data.archive_samples import ArchiveSequences, ArchiveTrainingError, split_archive
from unisst_lib.models.time_interp import linear_in_time_numpy
from unisst_lib.training.config import TrainConfig

log = logging.getLogger(__name__)

#: Observed values a training run reads into memory at most (float32: 4 bytes each).
MAX_IN_MEMORY_VALUES = 500_000_000


def open_training_archive(cfg: TrainConfig, data=None) -> xr.Dataset:
    """The archive to train on: ``data`` (a Dataset, path, glob or list) or ``cfg.data.archive``."""
    source = data if data is not None else cfg.data.archive
    if source is None:
        raise ArchiveTrainingError("no archive to train on: pass data=... or set data.archive")
    if isinstance(source, xr.Dataset):
        ds = source
    else:
        ds = open_archive(source, min_quality=cfg.data.min_quality)
    if "sst" not in ds or "land" not in ds:
        raise ArchiveTrainingError(
            "an archive to train on needs 'sst' (time, latitude, longitude) and 'land': open it "
            "with unisst_lib.open_archive"
        )
    if ds["sst"].size > MAX_IN_MEMORY_VALUES:
        raise ArchiveTrainingError(
            f"the archive holds {ds['sst'].size:,} values, more than training reads into memory "
            f"({MAX_IN_MEMORY_VALUES:,}): train on a sub-region or a shorter period "
            "(ds.sel(latitude=..., longitude=..., time=...))"
        )
    return ds


def archive_datasets(
    cfg: TrainConfig, manifest: Manifest, data=None
) -> tuple[ArchiveSequences, ArchiveSequences, dict]:
    """(training set, validation set, :func:`archive_info`) of a run on an archive."""
    ds = open_training_archive(cfg, data)
    sst = ds["sst"].transpose("time", "latitude", "longitude").values.astype(np.float32)
    land = ds["land"].values.astype(bool)
    split = split_archive(
        sst, land, val_share=cfg.data.val_share, seed=cfg.seed, times=ds["time"].values
    )
    norm = manifest.normalisation
    record = cfg.generator.first_guess == "record"
    common = dict(
        seq_len=cfg.data.seq_len,
        tile=cfg.data.tile,
        std_factor=norm.std_factor,
        fill_value=norm.occluded_fill_value,
        interp=interp_in_time if record else None,
        guess_context=cfg.data.guess_context if record else 0,
    )
    train_ds = ArchiveSequences(split, mode="train", **common)
    val_ds = ArchiveSequences(
        split, mode="eval", seed=cfg.seed, max_items=cfg.data.val_sequences, **common
    )
    info = archive_info(ds, cfg)
    info.update(std_factor=norm.std_factor, fill_value=norm.occluded_fill_value)
    log.info(
        "training on the archive %s: %d frames (%s), %d×%d pixels, %d observed sea pixels for "
        "training, %d withheld to select the model (%d validation windows)",
        info["source"], sst.shape[0], info["cadence"], *sst.shape[1:],
        int(split.train_observed.sum()), int(split.withheld.sum()), len(val_ds),
    )  # fmt: skip
    return train_ds, val_ds, info


def interp_in_time(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation along axis 0 of ``values`` (NaN: not observed); (filled, defined)."""
    return linear_in_time_numpy(np.asarray(values, dtype=np.float64), axis=0)


def archive_info(ds: xr.Dataset, cfg: TrainConfig) -> dict:
    """What a checkpoint records of the archive it was trained on."""
    times = pd.DatetimeIndex(ds["time"].values)
    step = times[1:] - times[:-1]
    hours = float(np.median(step / pd.Timedelta(hours=1))) if len(times) > 1 else math.nan
    return {
        "source": str(cfg.data.archive or ds.attrs.get("source_first_file", "a data set")),
        "cadence": str(ds.attrs.get("cadence", f"PT{hours:g}H")),
        "interval_hours": hours,
        "grid_spacing_deg": float(ds.attrs.get("grid_spacing_deg", math.nan)),
        "min_quality": ds.attrs.get("min_quality"),
        "bias_applied": bool(ds.attrs.get("bias_applied", False)),
        "seq_len": cfg.data.seq_len,
        "tile": cfg.data.tile,
        "guess_context": cfg.data.guess_context if cfg.generator.first_guess == "record" else 0,
        "frames": int(ds.sizes["time"]),
        "first_time": str(times[0]) if len(times) else "",
        "last_time": str(times[-1]) if len(times) else "",
    }
