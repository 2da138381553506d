"""Fit a UNISST model on the archive to be filled, within a time budget (``unisst fill --fit``).

The DINEOF-like one command: the model learns from the archive's own
observations and real clouds (:mod:`unisst_lib.training.archive_data`), its
``best`` checkpoint chosen on observed pixels withheld from training, and then
fills the archive. The budget is met by measuring this machine: a short probe
run gives the seconds per step and the fixed cost of a run, and
the real run gets the steps that fit in what is left (its cosine schedule needs
the count up front), with a hard stop at the budget in case this machine slows
down. The probe and the run both count against the budget. Last, the model is
never worse than its own first guess on the withheld pixels
(:func:`unisst_lib.training.guess_check.keep_better_than_guess`).
"""

from __future__ import annotations

import csv
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from unisst_lib.core.errors import UnisstError
from unisst_lib.data.archive import open_archive
from unisst_lib.training.checkpoints import export_generator
from unisst_lib.training.config import TrainConfig, load_config, replace_config
from unisst_lib.training.guess_check import keep_better_than_guess
from unisst_lib.training.loop import train

log = logging.getLogger(__name__)

DEFAULT_FIT_MINUTES = 10.0
#: The recipe a fit starts from: the ``archive`` config (``fast`` with a first guess
#: from the record around each window).
FIT_CONFIG = "archive"
#: The recipe of a fit for an ensemble (``--fit --members N``): ``archive`` with noise inputs.
FIT_ENSEMBLE_CONFIG = "archive_ensemble"
#: Evaluations (and checkpoints) per fit: the best of these is kept.
FIT_EVALUATIONS = 4
MIN_FIT_STEPS = 4
PROBE_STEPS = 4


class FitError(UnisstError, ValueError):
    """A fit cannot run: a budget too small for this machine, or bad options."""


@dataclass
class FitResult:
    """What :func:`fit_archive` produced: the generator-only checkpoint and how it was made.

    ``steps``: the steps trained (fewer than planned when the budget's hard stop ended it).
    """

    checkpoint: Path
    steps: int
    seconds: float
    seconds_per_step: float
    holdout_rmse_c: float
    config: TrainConfig
    first_guess_rmse_c: float = math.nan  # the first guess alone, on the same withheld pixels
    kept: str = "model"  # or "first guess": the model was worse than its own guess


def fit_config(
    *, steps: int, seed: int = 0, device: str = "auto", config: str = FIT_CONFIG
) -> TrainConfig:
    """A fit's config: ``config``'s recipe on the archive, ``steps`` long, evaluated 4 times."""
    return load_config(
        config,
        name=f"fit-{config}",
        steps=int(steps),
        eval_every=max(1, int(steps) // FIT_EVALUATIONS),
        log_every=max(1, min(10, int(steps))),
        seed=int(seed),
        device=device,
        data={"archive": None},
    )


def fit_archive(
    data,
    *,
    out: str | os.PathLike[str],
    minutes: float = DEFAULT_FIT_MINUTES,
    steps: int | None = None,
    seed: int = 0,
    device: str = "auto",
    config: str = FIT_CONFIG,
    progress: bool = True,
) -> FitResult:
    """Train a model on ``data`` itself within ``minutes`` and save its best generator at ``out``.

    Parameters
    ----------
    data
        The archive: a Dataset from :func:`unisst_lib.data.archive.open_archive`
        (e.g. with cross-validation pixels removed) or files for it.
    out
        The generator-only checkpoint to write (``.pt``), atomically.
    minutes
        The wall-clock budget, probes included. Ignored when ``steps`` is given.
    steps
        Train exactly this many generator steps (reproducible across machines).
    seed, device, config
        The run's seed, device (``auto`` takes a GPU when present) and base recipe.
    """
    if steps is None and not (isinstance(minutes, int | float) and minutes > 0):
        raise FitError(f"--fit-minutes must be a positive number, got {minutes!r}")
    if steps is not None and steps < 1:
        raise FitError(f"--fit-steps must be >= 1, got {steps}")
    t0 = time.perf_counter()
    if not isinstance(data, xr.Dataset):
        data = open_archive(data)
    data = data.load()  # read once: the probes and the run share it
    with tempfile.TemporaryDirectory(prefix="unisst-fit-") as tmp:
        per_step = math.nan
        if steps is None:
            steps, per_step = _steps_for_budget(data, minutes * 60, t0, tmp, seed, device, config)
        cfg = fit_config(steps=steps, seed=seed, device=device, config=config)
        # the step estimate is a measurement: a hard stop keeps a slower machine in budget
        limit = None if per_step != per_step else minutes * 60 - (time.perf_counter() - t0)
        res = train(
            cfg, Path(tmp) / "run", resume=False, progress=progress, tensorboard=False,
            data=data, max_seconds=limit,
        )  # fmt: skip
        best = Path(tmp) / "run" / "checkpoints" / "best.pt"
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        export_generator(best if best.is_file() else res.out_dir / "checkpoints/latest.pt", out)
        shutil.rmtree(Path(tmp) / "run", ignore_errors=True)
    check = keep_better_than_guess(out, cfg, data)
    seconds = time.perf_counter() - t0
    log.info(
        "fit: %d steps in %.0f s (budget %s), best RMSE %.3f °C on withheld observed pixels -> %s",
        res.step, seconds, f"{minutes:g} min" if per_step == per_step else "steps given",
        res.best_holdout_rmse_c, out,
    )  # fmt: skip
    result = FitResult(out, res.step, seconds, per_step, res.best_holdout_rmse_c, cfg)
    if check is not None:
        result.first_guess_rmse_c, result.kept = check.guess_rmse_c, check.kept
        result.holdout_rmse_c = min(check.model_rmse_c, check.guess_rmse_c)
    return result


def _steps_for_budget(data, budget_s: float, t0: float, tmp: str, seed, device, config):
    """(steps, seconds per step) that fit in what is left of ``budget_s`` on this machine.

    One probe run of :data:`PROBE_STEPS` steps: its log gives the seconds of a step
    (the median after the first, which warms up), the rest of its time is the
    fixed cost of a run (set-up and one evaluation).
    """
    cfg = fit_config(steps=PROBE_STEPS, seed=seed, device=device, config=config)
    cfg = replace_config(cfg, log_every=1, eval_every=PROBE_STEPS)  # one evaluation, at the end
    probe = Path(tmp) / "probe"
    t = time.perf_counter()
    train(cfg, probe, resume=False, progress=False, tensorboard=False, data=data)
    probe_s = time.perf_counter() - t
    with open(probe / "train_log.csv", newline="") as f:
        rates = [float(r["sequences_per_s"]) for r in csv.DictReader(f)][1:]
    per_step = cfg.batch_size * cfg.critic_steps / float(np.median(rates))
    fixed = max(probe_s - PROBE_STEPS * per_step, 0.0)
    left = budget_s - (time.perf_counter() - t0)
    # the run pays its set-up once and FIT_EVALUATIONS evaluations (each about half the
    # fixed cost), and leaves a margin of one evaluation
    steps = int((left - fixed * (2 + FIT_EVALUATIONS) / 2) // per_step)
    if steps < MIN_FIT_STEPS:
        raise FitError(
            f"a fit step takes {per_step:.1f} s here and a run {fixed:.0f} s to set up: "
            f"{budget_s / 60:g} minutes leave {max(steps, 0)} steps. Give more --fit-minutes, "
            "a smaller area or period, or a GPU."
        )
    log.info(
        "fit: %.2f s per step and %.0f s set-up here: %d steps fit in the %.0f s left",
        per_step, fixed, steps, left,
    )  # fmt: skip
    return steps, per_step
