"""The trained methods of the benchmark: one generator, four recipes, the same budget.

Every recipe trains the same ``fast`` generator on the same training split (the
same batches: they are a function of the seed and the step), for the same
number of generator steps, and keeps the checkpoint its own validation chooses:

* ``unisst_paper`` — adversarial only: the paper's recipe (critics, no other
  term; its learning rate 1e-4 for both sides, 2 critic updates per generator
  update, ×0.99 decay per evaluation);
* ``unisst_self_supervised`` — the self-supervised term on withheld observed
  pixels alone, critics off: what the hybrid is without the GAN;
* ``unisst_hybrid`` — the ``fast`` config: critics + self-supervised term;
* ``oracle_supervised`` — the same input as the hybrid (the same further pixels
  hidden) and L1 against the TRUTH at every hidden pixel, selected on the truth
  of the validation split and trained until that stops improving: an upper
  bound no user can have.

The three UNISST recipes never see the truth under the clouds, in training or
in selection (``best.pt`` minimises the withheld-pixel error of the validation
split: :attr:`TrainConfig.selection_metric`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from unisst_lib.benchmark.selection import read_val_log
from unisst_lib.core.config import to_dict
from unisst_lib.core.paths import atomic_path
from unisst_lib.training.config import TrainConfig, load_config
from unisst_lib.training.loop import train
from unisst_lib.training.step import TrainingError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """How a benchmark method trains: overrides of the base config and a description."""

    label: str
    overrides: dict
    description: str


RECIPES: dict[str, Recipe] = {
    "unisst_paper": Recipe(
        label="UNISST adversarial only (paper recipe)",
        overrides={
            "loss": {"adversarial_weight": 1.0, "self_supervised_weight": 0.0},
            "optim": {"lr_g": 1e-4, "lr_d": 1e-4, "d_steps_per_g": 2, "schedule": "paper"},
        },
        description="critics only (the paper's recipe: lr 1e-4, 2 critic updates per step)",
    ),
    "unisst_self_supervised": Recipe(
        label="UNISST self-supervised only (no critics)",
        overrides={"loss": {"adversarial_weight": 0.0}},
        description="the self-supervised term on withheld observed pixels alone, critics off",
    ),
    "unisst_hybrid": Recipe(
        label="UNISST hybrid (default `fast`)",
        overrides={},
        description="critics + self-supervised term on withheld observed pixels",
    ),
    "oracle_supervised": Recipe(
        label="oracle: same network and input, trained on the truth",
        overrides={
            "loss": {
                "adversarial_weight": 0.0,
                "self_supervised_weight": 0.0,
                "supervised_weight": 1.0,
            },
        },
        description="L1 against the TRUTH at every hidden pixel, selected on the truth",
    ),
}


def recipe_config(
    name: str,
    *,
    base: str = "fast",
    steps: int,
    seed: int,
    evaluations: int = 5,
    oracle_steps: int | None = None,
    oracle_patience: int = 3,
    data: dict | None = None,
) -> TrainConfig:
    """The training config of benchmark method ``name`` for one seed.

    Every recipe gets ``steps`` generator steps and ``evaluations`` validations
    (``best.pt`` is chosen among them). The oracle gets up to ``oracle_steps``
    (default twice ``steps``) at the same evaluation cadence and stops once its
    validation error has not improved for ``oracle_patience`` evaluations.
    """
    if name not in RECIPES:
        raise KeyError(f"unknown benchmark recipe {name!r}: use one of {', '.join(RECIPES)}")
    if steps < 1 or evaluations < 1:
        raise ValueError(f"steps and evaluations must be >= 1, got {steps} and {evaluations}")
    every = max(1, steps // evaluations)
    over = dict(RECIPES[name].overrides)
    n_steps, patience = steps, 0
    if name == "oracle_supervised":
        n_steps, patience = oracle_steps or 2 * steps, oracle_patience
    return load_config(
        base,
        steps=n_steps,
        eval_every=every,
        patience=patience,
        seed=seed,
        **({"data": data} if data else {}),
        **over,
    )


def train_or_reuse(name: str, cfg: TrainConfig, out: Path, reuse: bool) -> dict:
    """Train ``cfg`` into ``out`` (or reuse a finished run of the same config).

    Returns the run's record: checkpoint, seconds, note, and its validation log.
    """
    record = out / "benchmark_train.json"
    if reuse and record.is_file():
        saved = json.loads(record.read_text())
        if saved["config"] == to_dict(cfg):
            log.info("%s: reusing %s (%.0f s of training)", name, out, saved["train_seconds"])
            return saved
        log.warning("%s: the run in %s has another config: training again", name, out)
    t0 = time.perf_counter()
    note = ""
    try:
        train(cfg, out, resume=False, tensorboard=False)
    except TrainingError as err:  # e.g. the pure adversarial recipe collapsing: keep its best
        log.error("%s: training stopped early: %s", name, err)
        note = f"stopped early ({err})"
    saved = {
        "config": to_dict(cfg),
        "train_seconds": time.perf_counter() - t0,
        "note": note,
        "checkpoint": str(out / "checkpoints" / "best.pt"),
        "validation": read_val_log(out / "val_log.csv"),
    }
    with atomic_path(record) as tmp:
        tmp.write_text(json.dumps(saved, indent=1))
    return saved
