"""The uncertainty benchmark's ensembles: how members are made, on one budget.

Each candidate starts from the benchmark's hybrid checkpoint of the same seed
(``runs/bench/unisst_hybrid/seed<k>/checkpoints/best.pt``) and is compared on the
validation split's withheld *observed* pixels (never the truth under the clouds):

* ``deep`` — a deep ensemble: the hybrid runs of the other seeds as members
  (no further training; as many members as seeds);
* ``noise_l1`` — the ``ensemble`` generator (noise inputs) fine-tuned with the
  hybrid's own loss (critics + L1 on withheld pixels): the classic GAN way, where
  only the adversarial term rewards diversity;
* ``noise_crps`` — the same generator fine-tuned with the fair CRPS of two
  members on withheld pixels (the ``ensemble`` config): spread rewarded by a
  proper score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from unisst_lib.training.config import TrainConfig, load_config


@dataclass(frozen=True)
class EnsembleRecipe:
    """A trained ensemble candidate: overrides of the ``ensemble`` config, and a label."""

    label: str
    overrides: dict


ENSEMBLE_RECIPES: dict[str, EnsembleRecipe] = {
    "noise_l1": EnsembleRecipe(
        label="noise inputs, L1 + critics (GAN)",
        overrides={"loss": {"self_supervised_norm": "l1"}},
    ),
    "noise_crps": EnsembleRecipe(
        label="noise inputs, fair CRPS + critics",
        overrides={},
    ),
}


def hybrid_checkpoint(bench_dir: Path, seed: int) -> Path:
    """The benchmark hybrid run of ``seed``, chosen on validation (its ``best.pt``)."""
    return Path(bench_dir) / "unisst_hybrid" / f"seed{seed}" / "checkpoints" / "best.pt"


def ensemble_config(
    name: str, *, seed: int, bench_dir: Path, steps: int = 100, evaluations: int = 5,
    data: dict | None = None,
) -> TrainConfig:  # fmt: skip
    """The fine-tuning config of candidate ``name`` for ``seed``."""
    if name not in ENSEMBLE_RECIPES:
        raise KeyError(
            f"unknown ensemble recipe {name!r}: use one of {', '.join(ENSEMBLE_RECIPES)}"
        )
    return load_config(
        "ensemble",
        steps=steps,
        eval_every=max(1, steps // evaluations),
        seed=seed,
        init_from=str(hybrid_checkpoint(bench_dir, seed)),
        **({"data": data} if data else {}),
        **ENSEMBLE_RECIPES[name].overrides,
    )
