"""Evaluating a gap-filling generator: withheld-pixel and truth-based errors in °C.

* ``holdout``: a further cloud window hides *observed* pixels from the generator
  and the error is measured there against the observation. It needs no truth:
  a real user can compute it, and training selects ``best`` with it.
* ``truth``: MAE/RMSE on the occluded (and all) pixels against the truth — only
  possible on the twin or with simulated clouds over complete fields.
* ``mean_fill``: the same for filling with the sequence mean of the observed
  pixels, the simplest baseline.

:func:`recover_sequence` turns one reconstructed sequence into labelled maps
(an :class:`xarray.Dataset` in °C) for figures and notebooks.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr
from torch import nn

from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.data.dataset import OccludedSequenceDataset, make_dataset
from unisst_lib.data.normalise import denormalise
from unisst_lib.evaluation.metrics import ErrorAccumulator, GapMetrics, gap_errors
from unisst_lib.models import reconstruct
from unisst_lib.models.device import autocast_context


def occlude(x: torch.Tensor, mask: torch.Tensor, fill_value: float) -> torch.Tensor:
    """Set the pixels where ``mask`` is 1 to ``fill_value`` (the simulated observation)."""
    return torch.where(mask.bool(), torch.full_like(x, fill_value), x)


@dataclass
class EvalResult:
    """Validation numbers (°C). ``holdout_*`` need no truth and select ``best``."""

    holdout: ErrorAccumulator
    truth: GapMetrics
    mean_fill: GapMetrics

    def as_dict(self) -> dict[str, float]:
        return {
            "holdout_rmse_c": self.holdout.rmse,
            "holdout_mae_c": self.holdout.mae,
            **self.truth.as_dict(),
            "mean_fill_rmse_occluded_c": self.mean_fill.occluded.rmse,
        }


@torch.no_grad()
def evaluate(
    generator: nn.Module,
    ds: OccludedSequenceDataset,
    *,
    device: torch.device,
    max_items: int | None = None,
    seed: int = 0,
    autocast: bool = False,
    batch_size: int = 4,
) -> EvalResult:
    """Errors of ``generator`` on an evaluation data set, in °C.

    * holdout: a further cloud window hides observed pixels from the generator;
      the error there is measured against the observation (no truth needed);
    * truth: MAE/RMSE on the occluded (and all) pixels against the truth — only
      possible on the twin, logged for evaluation, never used for selection;
    * mean_fill: the same for filling with the sequence mean of observed pixels.
    """
    was_training = generator.training
    generator.eval()
    n = len(ds) if max_items is None else min(len(ds), max_items)
    holdout, truth, mean_fill = ErrorAccumulator(), GapMetrics(), GapMetrics()
    fill = ds.fill_value
    for lo in range(0, n, batch_size):
        items = [ds[i] for i in range(lo, min(n, lo + batch_size))]
        y = torch.stack([it["y"] for it in items]).to(device)
        m = torch.stack([it["mask"] for it in items]).to(device)
        hides = [torch.from_numpy(holdout_clouds(ds, it, seed))[None] for it in items]
        hide = torch.stack(hides).to(device) * (1 - m)  # withheld observed pixels
        mean = torch.stack([it["mean"] for it in items]).view(-1, 1, 1, 1, 1)
        std = torch.stack([it["std"] for it in items]).view(-1, 1, 1, 1, 1)
        with autocast_context(device, autocast):
            x_hat = reconstruct(generator, y, m).float()
            m_h = torch.clamp(m + hide, max=1.0)
            x_hold = reconstruct(generator, occlude(y, m_h, fill), m_h).float()
        to_c = functools.partial(to_celsius, mean=mean, std=std, std_factor=ds.std_factor)
        y_c = to_c(y)
        holdout.update(to_c(x_hold), y_c, hide.cpu() > 0.5)
        if "x" in items[0]:
            x_c = to_c(torch.stack([it["x"] for it in items]))
            truth.update(to_c(x_hat), x_c, m.cpu())
            mean_fill.update(torch.where(m.cpu() > 0.5, mean, y_c), x_c, m.cpu())
    generator.train(was_training)
    return EvalResult(holdout, truth, mean_fill)


def holdout_clouds(ds: OccludedSequenceDataset, item: dict, seed: int) -> np.ndarray:
    """(T, H, W) float32, 1 under the cloud window that hides observed pixels of ``item``.

    A window of the data set's own cloud segment other than the item's, drawn from
    (``seed``, the item's index): the same for every caller, so validation, model
    selection and the calibration of an ensemble's spread withhold the same pixels.
    """
    rng = np.random.default_rng([seed, item["index"], 0x401D])
    w = ds.clouds.mask(ds.clouds.draw(rng, avoid=item["cloud_start"]))
    return w.astype(np.float32)


def to_celsius(t: torch.Tensor, *, mean, std, std_factor: float) -> torch.Tensor:
    """De-normalise a (batch of) normalised field(s) to °C in float64 on the CPU."""
    return denormalise(t.double().cpu(), mean, std, std_factor=std_factor)


def evaluate_thresholds(
    generator: nn.Module,
    *,
    split_set: str = "twin",
    split: str = "test",
    thresholds_gm2: tuple[float, ...] | None = None,
    clouds: str = "twin",
    device: torch.device | str = "cpu",
    max_items: int | None = None,
    seed: int = 0,
    manifest: Manifest | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> list[dict[str, float]]:
    """:func:`evaluate` at each LWP threshold (default: the manifest's 55…80 g m-2).

    Returns one dict per threshold with ``threshold_gm2`` and the errors of
    :meth:`EvalResult.as_dict` (°C), including the occlusion rate.
    """
    m = manifest or load_manifest()
    device = torch.device(device)
    rows = []
    for thr in thresholds_gm2 or m.thresholds.studied:
        ds = make_dataset(
            split_set, split, threshold_gm2=thr, clouds=clouds, mode="eval", seed=seed,
            manifest=m, data_dir=data_dir,
        )  # fmt: skip
        res = evaluate(generator, ds, device=device, max_items=max_items, seed=seed)
        rows.append({"threshold_gm2": float(thr), **res.as_dict()})
    return rows


@torch.no_grad()
def recover_sequence(
    generator: nn.Module,
    ds: OccludedSequenceDataset,
    i: int,
    *,
    device: torch.device | str = "cpu",
) -> xr.Dataset:
    """Item ``i`` of ``ds`` reconstructed by ``generator``, as labelled maps in °C.

    Parameters
    ----------
    generator
        A unisst generator (e.g. from :func:`unisst_lib.training.checkpoints.load_generator`).
    ds
        An occluded-sequence data set (e.g. ``make_dataset("twin", "test")``); in
        ``eval`` mode item ``i`` always gets the same clouds.
    i
        Item (sequence) index.
    device
        Where the generator runs.

    Returns
    -------
    xarray.Dataset
        Variables, each ``(time, latitude, longitude)`` with the coordinates of
        ``ds.sequences[i]``:

        - ``truth``: float32 °C, the SST under the clouds too (only when ``ds``
          includes the truth; a twin or simulated clouds over complete fields);
        - ``observation``: float32 °C, NaN under the clouds (what a satellite sees);
        - ``recovered``: float32 °C, the observation with the occluded pixels filled
          (observed pixels equal the observation; NaN where the SST itself is missing);
        - ``mask``: uint8, 1 where occluded (cloud or missing SST), 0 where observed.

        Attributes: ``sequence_index``, ``threshold_gm2`` and ``occlusion_rate``
        (fraction of pixels hidden by clouds, missing SST excluded).
    """
    device = torch.device(device)
    item = ds[i]
    was_training = generator.training
    generator.eval()
    y = item["y"][None].to(device)
    m = item["mask"][None].to(device)
    x_hat = reconstruct(generator, y, m).float()
    generator.train(was_training)
    to_c = functools.partial(
        to_celsius, mean=item["mean"], std=item["std"], std_factor=ds.std_factor
    )
    mask = item["mask"][0].numpy() > 0.5  # (T, H, W)
    missing = item["missing"][0].numpy() > 0.5
    observed_c = np.where(mask, np.nan, to_c(item["y"])[0].numpy()).astype(np.float32)
    recovered_c = np.where(missing, np.nan, to_c(x_hat[0].cpu())[0].numpy()).astype(np.float32)
    coords_src = ds.sequences[item["index"]]
    coords = {name: coords_src[name].values for name in ("time", "latitude", "longitude")}
    dims = ("time", "latitude", "longitude")
    temp = {"units": "degrees_C"}
    data = {
        "observation": (dims, observed_c, {**temp, "long_name": "observed SST (NaN: occluded)"}),
        "recovered": (dims, recovered_c, {**temp, "long_name": "recovered SST"}),
        "mask": (
            dims,
            mask.astype(np.uint8),
            {"units": "1", "long_name": "occluded (1: cloud or missing SST, 0: observed)"},
        ),
    }
    if "x" in item:
        truth_c = to_c(item["x"])[0].numpy().astype(np.float32)
        data = {"truth": (dims, truth_c, {**temp, "long_name": "true SST"}), **data}
    clouds = mask & ~missing
    valid = ~missing
    rate = float(clouds.sum() / valid.sum()) if valid.any() else math.nan
    return xr.Dataset(
        data,
        coords=coords,
        attrs={
            "sequence_index": int(item["index"]),
            "threshold_gm2": float(ds.clouds.threshold_kgm2 * 1000.0),
            "occlusion_rate": rate,
        },
    )


def recovery_errors(rec: xr.Dataset) -> dict[str, float]:
    """MAE/RMSE (°C) on the occluded and all pixels of a :func:`recover_sequence` result.

    Needs the ``truth`` variable (a twin); returns the keys of
    :meth:`unisst_lib.evaluation.metrics.GapMetrics.as_dict`.
    """
    if "truth" not in rec:
        raise ValueError(
            "this recovered sequence has no truth (real data): errors against the truth "
            "cannot be computed; use the withheld-pixel errors of evaluate() instead"
        )
    return gap_errors(rec["recovered"].values, rec["truth"].values, rec["mask"].values)
