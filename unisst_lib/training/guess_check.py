"""Never worse than its first guess: a fitted model against its own first guess, on withheld pixels.

A model that corrects a first guess (``generator.first_guess`` ``temporal`` or
``record``) can, after a short or unlucky adversarial run, fill worse than the
guess it started from. :func:`keep_better_than_guess` scores both on the
observed pixels withheld from training (the same pixels that selected the
checkpoint; no truth) and, when the guess alone is better, rewrites the
checkpoint with the correction switched off (the output is then the guess).
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass

import torch
from torch import nn

from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.evaluation.withheld import evaluate_withheld
from unisst_lib.models import FastGenerator
from unisst_lib.training.archive_data import archive_datasets
from unisst_lib.training.checkpoints import load_checkpoint, load_generator, save_checkpoint
from unisst_lib.training.config import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class GuessCheck:
    """The model's and its first guess's RMSE (°C) on the withheld pixels, and which was kept."""

    model_rmse_c: float
    guess_rmse_c: float
    kept: str  # "model" or "first guess"


def guess_only(generator: nn.Module) -> nn.Module:
    """A copy of a first-guess generator whose output is exactly its first guess."""
    if not isinstance(generator, FastGenerator) or generator.first_guess == "none":
        raise ValueError("only a fast generator with a first guess has a guess to fall back to")
    g = copy.deepcopy(generator)
    last = g.head[-1]
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)  # no correction: guess + bound·tanh(0) = guess
    return g


def keep_better_than_guess(
    checkpoint: str | os.PathLike[str],
    cfg: TrainConfig,
    data,
    *,
    manifest: Manifest | None = None,
) -> GuessCheck | None:
    """Score ``checkpoint`` and its first guess on the run's withheld pixels; keep the better.

    ``cfg`` and ``data`` are the run's (the same split, hence the same pixels). Returns
    None for a generator without a first guess.
    """
    generator, _ = load_generator(checkpoint)
    if not isinstance(generator, FastGenerator) or generator.first_guess == "none":
        return None
    _, val_ds, _ = archive_datasets(cfg, manifest or load_manifest(), data)
    cpu = torch.device("cpu")
    model = evaluate_withheld(generator, val_ds, device=cpu)["holdout_rmse_c"]
    plain = guess_only(generator)
    guess = evaluate_withheld(plain, val_ds, device=cpu)["holdout_rmse_c"]
    if guess < model:
        log.warning(
            "the fitted model (RMSE %.3f °C on withheld observed pixels) is worse than its own "
            "first guess (%.3f °C): keeping the first guess alone. A longer fit may do better.",
            model, guess,
        )  # fmt: skip
        state = load_checkpoint(checkpoint)
        state["models"]["generator"] = plain.state_dict()
        state["first_guess_only"] = True
        save_checkpoint(checkpoint, state)
        return GuessCheck(model, guess, "first guess")
    log.info(
        "the fitted model beats its first guess on withheld observed pixels: %.3f vs %.3f °C",
        model, guess,
    )  # fmt: skip
    return GuessCheck(model, guess, "model")
