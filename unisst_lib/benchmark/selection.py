"""Choices the benchmark makes, on validation only: each run's checkpoint and the headline recipe.

Nothing here reads the test split; the truth under the clouds enters only the
oracle's own selection (it trains on the truth anyway). The validation rows are
those a run logs in ``val_log.csv``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

UNISST = ("unisst_paper", "unisst_self_supervised", "unisst_hybrid")
"""The recipes that learn without the truth; the headline is one of them."""


def read_val_log(path: Path) -> list[dict]:
    """The validation rows of a run: step, withheld-pixel RMSE, truth RMSE (logged only), best."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    keep = ("step", "holdout_rmse_c", "rmse_occluded_c", "best")
    return [{k: float(r[k]) for k in keep if r.get(k) not in (None, "")} for r in rows]


def selected(validation: list[dict]) -> dict:
    """The validation row of the checkpoint ``best.pt`` holds: the last one flagged best.

    Training flags an evaluation best when it lowers the run's selection metric
    (:attr:`unisst_lib.training.config.TrainConfig.selection_metric`).
    """
    best = [r for r in validation if r.get("best") == 1.0]
    if not best:
        raise ValueError("no validation row is flagged best: was the run evaluated at all?")
    return best[-1]


def validation_summary(records: dict[str, list[dict]]) -> dict:
    """Per recipe: the validation withheld-pixel RMSE of the checkpoint each seed kept."""
    out = {}
    for name, runs in records.items():
        metric = "rmse_occluded_c" if name == "oracle_supervised" else "holdout_rmse_c"
        best = [selected(r["validation"]) for r in runs]
        hold = [b["holdout_rmse_c"] for b in best]
        out[name] = {
            "selected_on": metric,
            "holdout_rmse_c": {"mean": float(np.mean(hold)), "seeds": hold},
            "best_step": [int(b["step"]) for b in best],
            "steps_run": [int(r["validation"][-1]["step"]) for r in runs],
            "curves": [
                [[int(v["step"]), v["holdout_rmse_c"]] for v in r["validation"]] for r in runs
            ],
        }
    return out


def headline(validation: dict) -> str:
    """The UNISST recipe with the lowest mean validation withheld-pixel RMSE (no truth)."""
    return min(
        (n for n in UNISST if n in validation),
        key=lambda n: validation[n]["holdout_rmse_c"]["mean"],
    )


def comparison_pairs(head: str, methods: list[str]) -> list[tuple[str, str]]:
    """The headline against every other method, and the ablation's own questions."""
    pairs = [(head, m) for m in methods if m != head]
    pairs += [
        ("unisst_hybrid", "unisst_self_supervised"),  # what the critics add
        ("unisst_self_supervised", "first_guess"),  # what training adds to the first guess
        ("unisst_paper", "first_guess"),
        ("oracle_supervised", "unisst_hybrid"),
    ]
    out: list[tuple[str, str]] = []
    for a, b in pairs:  # each unordered pair once, the first way it is asked
        if a != b and (a, b) not in out and (b, a) not in out:
            out.append((a, b))
    return out
