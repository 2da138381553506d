"""How the `fast` recipe is chosen: validation numbers only (benchmarks/tuning.md).

    .venv/bin/python benchmarks/tuning.py            # the sweep, then tuning.json and tuning.md
    .venv/bin/python benchmarks/tuning.py --report-only

Every choice is made on the validation split — a held-out period of the training
ocean, with cloud masks from a segment of the cloud record that neither training
nor the test uses — by the error on *withheld observed pixels*: no truth under
the clouds and nothing of the test region. Three kinds of choice:

* the recipe (critics, self-supervised term, both): the benchmark's own runs,
  every seed (``results.json`` → ``validation``);
* the step count: the evaluation each run's ``best.pt`` holds;
* the knobs of the hybrid (learning rate, self-supervised weight, the first
  guess): one change at a time from the `fast` config, seed 0, the benchmark's
  budget, trained here into runs/tuning/.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import torch

from unisst_lib.benchmark.recipes import recipe_config, train_or_reuse
from unisst_lib.benchmark.report import method_label, run_meta
from unisst_lib.benchmark.selection import selected
from unisst_lib.core.config import to_dict
from unisst_lib.core.paths import atomic_path
from unisst_lib.training.config import replace_config

HERE = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.tuning")

VARIANTS = {
    "fast (as shipped)": {},
    "lr_g 3e-4": {"optim": {"lr_g": 3e-4}},
}
"""One change at a time from the `fast` config (the hybrid recipe)."""


def sweep(args: argparse.Namespace) -> dict:
    """Train (or reuse) every variant; their selected validation error."""
    out = {}
    base = recipe_config("unisst_hybrid", steps=args.steps, seed=args.seed)
    for name, over in [*list(VARIANTS.items())[1:], next(iter(VARIANTS.items()))]:
        if over:
            rec = train_or_reuse(
                name, replace_config(base, **over), args.runs / name.replace(" ", "_"), True
            )
        else:  # the unchanged config is the benchmark's own hybrid run of this seed
            rec = _bench_run(args.bench_runs / "unisst_hybrid" / f"seed{args.seed}", base)
        best = selected(rec["validation"])
        out[name] = {
            "overrides": over,
            "holdout_rmse_c": best["holdout_rmse_c"],
            "best_step": int(best["step"]),
            "steps": base.steps,
            "train_seconds": rec["train_seconds"],
            "curve": [[int(v["step"]), v["holdout_rmse_c"]] for v in rec["validation"]],
        }
        log.info("%s: %.4f °C at step %d", name, best["holdout_rmse_c"], best["step"])
    return out


def _bench_run(where: Path, cfg) -> dict:
    """The benchmark's record of the unchanged recipe (never trained here: no race with it)."""
    record = where / "benchmark_train.json"
    saved = json.loads(record.read_text()) if record.is_file() else None
    if saved is None or saved["config"] != to_dict(cfg):
        raise SystemExit(
            f"no finished benchmark run of the `fast` recipe at {where} with this budget: run "
            "`python benchmarks/accuracy.py` (same --steps) first"
        )
    return saved


def markdown(tuning: dict, validation: dict | None) -> str:
    """tuning.md: the recipe, the steps and the knobs, each with its validation numbers."""
    meta = tuning["meta"]
    out = [
        "# How the `fast` recipe was chosen (validation only)",
        "",
        f"Made by `{meta['command']}` on {meta['date']}, {meta['machine']}.",
        "",
        "Every number below is the RMSE (°C) on observed pixels withheld from the model in the "
        "validation split (a held-out period of the training ocean; cloud masks from a segment "
        "of the cloud record no other split uses) at the checkpoint the run keeps. No truth "
        "under the clouds and nothing of the test region entered any choice; the test is scored "
        "once, by `benchmarks/accuracy.py`, after these choices.",
    ]
    if validation:
        out += ["", "## The recipe (the benchmark's runs, every seed)", ""]
        out += ["| recipe | mean | per seed | best step per seed |", "| --- | ---: | --- | --- |"]
        for name, v in validation.items():
            if name == "oracle_supervised":
                continue  # trained and selected on the truth: not a choice a user can make
            seeds = ", ".join(f"{x:.4f}" for x in v["holdout_rmse_c"]["seeds"])
            steps = ", ".join(map(str, v["best_step"]))
            out.append(
                f"| {method_label(name)} | {v['holdout_rmse_c']['mean']:.4f} | {seeds} | {steps} |"
            )
        chosen = min(
            (n for n in validation if n != "oracle_supervised"),
            key=lambda n: validation[n]["holdout_rmse_c"]["mean"],
        )
        out += ["", f"Chosen: **{method_label(chosen)}** (the lowest mean)."]
        last = [
            n for n, v in validation.items()
            if n != "oracle_supervised" and v["best_step"] == v["steps_run"]
        ]  # fmt: skip
        if last:
            out += [
                "",
                "The steps: every seed of "
                + ", ".join(method_label(n) for n in last)
                + " kept its last evaluation: the validation error was still falling when the "
                "budget ended, so the budget, not the recipe, sets the step count (longer runs, "
                "e.g. on a GPU, should do better; `--steps`).",
            ]
    knobs = tuning["variants"]
    ref = knobs["fast (as shipped)"]["holdout_rmse_c"]
    out += [
        "",
        f"## The hybrid's knobs (seed {meta['seed']}, {meta['steps']} steps each)",
        "",
        "| variant | withheld-pixel RMSE (°C) | vs fast | best step | training (s) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, v in knobs.items():
        out.append(
            f"| {name} | {v['holdout_rmse_c']:.4f} | {v['holdout_rmse_c'] - ref:+.4f} | "
            f"{v['best_step']} | {v['train_seconds']:.0f} |"
        )
    best = min(knobs, key=lambda n: knobs[n]["holdout_rmse_c"])
    out += [
        "",
        f"Lowest: **{best}**. One seed per variant: a difference smaller than the spread "
        "between the benchmark's hybrid seeds (table above) is not evidence for a change.",
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=200, help="the benchmark's budget")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", type=Path, default=Path("runs/tuning"))
    p.add_argument("--bench-runs", type=Path, default=Path("runs/bench"))
    p.add_argument("--results", type=Path, default=HERE / "results.json")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.report_only:
        tuning = json.loads((HERE / "tuning.json").read_text())
    else:
        torch.set_num_threads(args.threads)
        meta = run_meta("benchmarks/tuning.py", argv)
        meta["machine"] += f", {args.threads} torch threads, {os.cpu_count()} cores"
        tuning = {"meta": {**meta, "seed": args.seed, "steps": args.steps}}
        tuning["variants"] = sweep(args)
        with atomic_path(HERE / "tuning.json") as tmp:
            tmp.write_text(json.dumps(tuning, indent=1) + "\n")
    validation = None
    if args.results.is_file():
        validation = json.loads(args.results.read_text()).get("validation")
    with atomic_path(HERE / "tuning.md") as tmp:
        tmp.write_text(markdown(tuning, validation))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
