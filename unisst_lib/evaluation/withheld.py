"""Validation on an archive: the error at observed pixels withheld from training, in °C.

A real archive has no truth, so a model trained on it is selected by how well it
fills observations it never saw (:func:`unisst_lib.data.archive_samples.split_archive`
withholds them under the real clouds of other dates). The items are those of
:class:`unisst_lib.data.archive_samples.ArchiveSequences` in ``"eval"`` mode.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from unisst_lib.models import reconstruct
from unisst_lib.models.device import autocast_context


@torch.no_grad()
def evaluate_withheld(
    generator: nn.Module,
    ds,
    *,
    device: torch.device,
    autocast: bool = False,
    batch_size: int = 4,
) -> dict[str, float]:
    """RMSE, MAE and bias (filled − observed, °C) of ``generator`` on the withheld pixels.

    Returns ``holdout_rmse_c``, ``holdout_mae_c``, ``holdout_bias_c`` and
    ``holdout_pixels`` — the keys training logs and selects ``best`` by.
    """
    was_training = generator.training
    generator.eval()
    sq = ab = sm = 0.0
    n = 0
    for lo in range(0, len(ds), batch_size):
        items = [ds[i] for i in range(lo, min(len(ds), lo + batch_size))]
        y = torch.stack([it["y"] for it in items]).to(device)
        m = torch.stack([it["mask"] for it in items]).to(device)
        guess = None
        if "guess" in items[0]:
            guess = torch.stack([it["guess"] for it in items]).to(device)
        with autocast_context(device, autocast):
            x_hat = reconstruct(generator, y, m, guess).float().cpu().double()
        where = torch.stack([it["withheld"] for it in items]) > 0.5
        scale = torch.stack([ds.std_factor * it["std"] for it in items]).view(-1, 1, 1, 1, 1)
        err = ((x_hat - torch.stack([it["target"] for it in items]).double()) * scale)[where]
        sq += float((err**2).sum())
        ab += float(err.abs().sum())
        sm += float(err.sum())
        n += int(err.numel())
    generator.train(was_training)
    nan = math.nan
    return {
        "holdout_rmse_c": math.sqrt(sq / n) if n else nan,
        "holdout_mae_c": ab / n if n else nan,
        "holdout_bias_c": sm / n if n else nan,
        "holdout_pixels": float(n),
    }
