"""Small stochastic checkpoints for the ensemble tests (no training: noise weights set by hand)."""

from __future__ import annotations

import torch

from unisst_lib.core.config import to_dict
from unisst_lib.models import build_generator
from unisst_lib.training.checkpoints import CHECKPOINT_FORMAT, save_checkpoint
from unisst_lib.training.config import load_config, replace_config

#: A generator small enough for a test: widths 4 and 8.
SMALL = {"base_channels": 4, "channel_mults": [1, 2], "norm_groups": 2}


def stochastic_checkpoint(path, *, noise: int = 2, **extra) -> str:
    """A 6-hourly checkpoint of the tiny config's generator with ``noise`` noise channels.

    The noise weights (zero when built) are drawn N(0, 0.5), so its members differ;
    ``extra`` goes into the checkpoint as it is (``spread_calibration``, ``archive``, …).
    """
    gen = {"first_guess": "temporal", "noise_channels": noise, **SMALL}
    cfg = replace_config(load_config("tiny"), generator=gen)
    torch.manual_seed(0)
    g = build_generator(cfg.generator)
    if noise:
        with torch.no_grad():
            g.stem.weight[:, -noise:].normal_(0.0, 0.5)
            g.noise_proj.weight.normal_(0.0, 0.5)
    state = {
        "format": CHECKPOINT_FORMAT,
        "config": to_dict(cfg),
        "models": {"generator": g.state_dict()},
        **extra,
    }
    return str(save_checkpoint(path, state))
