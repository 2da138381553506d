"""Accuracy benchmark: every gap-filling method on the twin's untouched test region.

    .venv/bin/python benchmarks/accuracy.py            # or: make bench (about two hours on 2 cores)
    .venv/bin/python benchmarks/accuracy.py --reuse    # score already trained runs again
    .venv/bin/python benchmarks/accuracy.py --quick    # a few minutes: smoke run, not for the table

Trains the four recipes of :mod:`unisst_lib.benchmark.recipes` (adversarial
only, self-supervised only, the hybrid, and the oracle) with several seeds each,
at the same budget, on the twin's N. Atlantic training period; each keeps the
checkpoint its validation chooses (a held-out period, cloud masks from a segment
of the cloud record no other split uses). The recipe quoted as UNISST's result
(``meta.headline``) is the one with the lowest *validation* withheld-pixel error:
the test region plays no part in any choice. Then the test split (the twin's
S. Atlantic half-year, clouds from the record's last segment) is scored once, for
every method and threshold, with bootstrap intervals over independent blocks and
seeds and paired differences (:mod:`unisst_lib.benchmark.stats`). Writes
benchmarks/results.json, results.md and accuracy.png; ``benchmarks/quote.py``
then copies the numbers into the README, configs and checkpoint notes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import torch

from unisst_lib.benchmark.recipes import RECIPES, recipe_config, train_or_reuse
from unisst_lib.benchmark.report import METHOD_LABELS, results_markdown, run_meta
from unisst_lib.benchmark.runs import (
    DINEOF_SERIES_OPTIONS,
    INFORMATION,
    benchmark_thresholds,
)
from unisst_lib.benchmark.selection import (
    comparison_pairs,
    headline,
    validation_summary,
)
from unisst_lib.benchmark.windows import load_test_set
from unisst_lib.core.manifest import load_manifest
from unisst_lib.core.paths import atomic_path
from unisst_lib.training.checkpoints import load_generator
from unisst_lib.training.config import TrainConfig
from unisst_lib.views.plots import benchmark_figure

HERE = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.accuracy")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="fast", help="generator config (default fast)")
    p.add_argument("--steps", type=int, default=200, help="generator steps of every recipe")
    p.add_argument("--oracle-steps", type=int, default=None, help="oracle's most steps (2x)")
    p.add_argument("--evaluations", type=int, default=5, help="validations per run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--runs", type=Path, default=Path("runs/bench"))
    p.add_argument("--out", type=Path, default=HERE)
    p.add_argument("--reuse", action="store_true", help="reuse finished runs with the same config")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny twin, few steps")
    p.add_argument("--max-items", type=int, default=None, help="test windows (default all)")
    p.add_argument(
        "--thresholds",
        type=float,
        nargs="+",
        default=None,
        help="LWP thresholds, g m-2 (default: the manifest's studied ones)",
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--note", action="append", default=[], help="a note for the results file")
    p.add_argument(
        "--train-only", action="store_true",
        help="train (or reuse) every run and stop: score later with --reuse",
    )  # fmt: skip
    p.add_argument(
        "--report-only", action="store_true",
        help="re-render results.md and accuracy.png from OUT/results.json; train and score nothing",
    )  # fmt: skip
    args = p.parse_args(argv)
    args.data = None
    if args.quick:
        args.data = {"twin_size": "tiny", "data_dir": "data/tiny"}
        args.steps, args.evaluations, args.seeds = 4, 2, args.seeds[:2]
        args.max_items = args.max_items or 4
        args.runs = args.runs.with_name(args.runs.name + "_quick")
        args.out = args.runs  # never overwrite the committed results with a smoke run
    return args


def train_all(args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """Every recipe × seed: (generators per recipe, run records, configs of seed 0)."""
    generators, records, configs = {}, {}, {}
    for name in args.recipes:
        for seed in args.seeds:
            cfg = recipe_config(
                name, base=args.config, steps=args.steps, seed=seed,
                evaluations=args.evaluations, oracle_steps=args.oracle_steps, data=args.data,
            )  # fmt: skip
            rec = train_or_reuse(name, cfg, args.runs / name / f"seed{seed}", args.reuse)
            generator, _ = load_generator(rec["checkpoint"])
            generators.setdefault(name, []).append((generator, rec["train_seconds"]))
            records.setdefault(name, []).append(rec)
            configs.setdefault(name, cfg)
    return generators, records, configs


def describe(name: str, cfg: TrainConfig, runs: list[dict]) -> str:
    g, o, lc = cfg.generator, cfg.optim, cfg.loss
    secs = ", ".join(f"{r['train_seconds']:.0f}" for r in runs)
    notes = "; ".join(r["note"] for r in runs if r["note"])
    return (
        f"`{cfg.name}` generator ({g.arch}, width {g.base_channels}, guess {g.first_guess}); "
        f"{RECIPES[name].description}; weights adversarial {lc.adversarial_weight:g}, "
        f"self-supervised {lc.self_supervised_weight:g}, supervised {lc.supervised_weight:g}; "
        f"lr {o.lr_g:g}/{o.lr_d:g} ({o.schedule}), {o.d_steps_per_g} critic update(s) per step; "
        f"{cfg.steps} steps of batch {cfg.batch_size}, evaluated every {cfg.eval_every}"
        f"{f', patience {cfg.patience}' if cfg.patience else ''}; training seconds per seed: "
        f"{secs}" + (f"; {notes}" if notes else "")
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.report_only:
        write_report(json.loads((args.out / "results.json").read_text()), args.out)
        return 0
    torch.set_num_threads(args.threads)
    manifest = load_manifest()
    generators, records, configs = train_all(args)
    if args.train_only:
        return 0
    validation = validation_summary(records)
    head = headline(validation)
    log.info("headline recipe (lowest validation withheld-pixel RMSE): %s", head)
    data_dir = next(iter(configs.values())).data.data_dir
    methods = ["mean_fill", "temporal_interp", "laplace", "dineof_window", "dineof_series",
               "first_guess", *generators]  # fmt: skip
    results = benchmark_thresholds(
        generators, max_items=args.max_items, manifest=manifest, data_dir=data_dir,
        thresholds_gm2=tuple(args.thresholds) if args.thresholds else None,
        series_options=DINEOF_SERIES_OPTIONS, pairs=comparison_pairs(head, methods),
    )  # fmt: skip
    results["validation"] = validation
    results["methods"] = {
        m: {"label": METHOD_LABELS.get(m, m), "sees": INFORMATION.get(m, "window"),
            "trained": m in generators, "truth": m == "oracle_supervised"}
        for m in methods
    }  # fmt: skip
    results["meta"] = meta(args, argv, manifest, results, head, records, configs, data_dir)
    results["real_cv"] = real_cv(HERE / "real_cv.json")
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=1) + "\n")
    write_report(results, args.out)
    return 0


def meta(args, argv, manifest, results, head, records, configs, data_dir) -> dict:
    split_set = manifest.split_set("twin")
    split = split_set.split("test")
    ds_test = manifest.sst_dataset(split.dataset)
    probe = load_test_set(max_items=1, manifest=manifest, data_dir=data_dir)
    out = run_meta("benchmarks/accuracy.py", argv)
    out["machine"] += f", {torch.get_num_threads()} torch threads, {os.cpu_count()} cores"
    out.update({
        "torch": torch.__version__,
        "seeds": list(args.seeds),
        "headline": head,
        "steps": {n: c.steps for n, c in configs.items()},
        "n_windows": results["rows"][0]["n_windows"],
        "n_blocks": results["n_blocks"],
        "bootstrap": {
            "replicates": 2000, "level": 0.95,
            "unit": f"{results['n_blocks']} blocks: the two hourly phases of one 6-day "
            "sequence slot; seeds of a trained method are resampled too",
        },
        "default_threshold_gm2": float(manifest.thresholds.default),
        "thresholds_gm2": sorted({r["threshold_gm2"] for r in results["rows"]}),
        "test_region": f"{ds_test.region} ({split.dataset})",
        "test_description": "the twin's S. Atlantic half-year: no model saw this region",
        "seq_len": split_set.seq_len,
        "interval_hours": split_set.interval_hours,
        "dx_km": probe.dx_km,
        "dy_km": probe.dy_km,
        "dineof_series": dict(DINEOF_SERIES_OPTIONS),
        "models": {n: describe(n, configs[n], records[n]) for n in configs},
        "figure": "accuracy.png",
        "notes": list(args.note),
    })  # fmt: skip
    return out


def real_cv(path: Path) -> dict | None:
    """The cross-validation table of the embedded L3 archive (``benchmarks/real_cv.py``),
    carried into this results file with the command and date that made it."""
    if not path.is_file():
        log.warning("no %s: the results carry no real-data table", path)
        return None
    cv = json.loads(path.read_text())
    return {"file": f"benchmarks/{path.name}", "meta": cv["meta"], "summary": cv["summary"]}


def write_report(results: dict, out: Path) -> None:
    """results.md and accuracy.png from a results dict (what ``--report-only`` re-renders)."""
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(results_markdown(results, model=results["meta"].get("headline")))
    fig = benchmark_figure(results, labels=METHOD_LABELS)
    with atomic_path(out / "accuracy.png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    log.info("wrote %s and %s", out / "results.md", out / "accuracy.png")


if __name__ == "__main__":
    raise SystemExit(main())
