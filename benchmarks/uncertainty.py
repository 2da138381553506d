"""Uncertainty benchmark: ensembles of plausible fills, calibrated without truth, scored.

    .venv/bin/python benchmarks/uncertainty.py --train-only   # fine-tune the candidates (~25 min)
    .venv/bin/python benchmarks/uncertainty.py --reuse        # choose, calibrate, score (twin + L3)

1. Candidates (:mod:`unisst_lib.benchmark.ensembles`), each from the accuracy
   benchmark's hybrid runs (``runs/bench``; run benchmarks/accuracy.py first): a deep
   ensemble of the hybrid seeds, and the ``ensemble`` generator (noise inputs)
   fine-tuned per seed with the fair CRPS or with the hybrid's L1.
2. Validation only: each candidate fills the validation windows with further observed
   pixels withheld (validation's own hiding clouds), its spread calibration is fitted
   there and its CRPS compared; the lowest CRPS is the method (``meta.chosen``). The
   calibration on the data being filled (``fill(calibration="data")``: 10 % of the
   observed pixels withheld under other frames' clouds) is checked out of sample on
   the same withheld pixels.
3. The test split, once: every seed of the chosen candidate on the test windows at each
   threshold, calibrated twice: with its validation calibration, and on the test
   windows' own observed pixels (``_data_calibrated`` rows; no truth): CRPS,
   spread–skill, ±1σ/±2σ coverage, rank histogram against the truth under the clouds;
   the deterministic hybrid and temporal interpolation ± local standard deviation
   (calibrated both ways) on the same pixels.
4. Cross-validation on the embedded L3 archive (:mod:`unisst_lib.benchmark.uncertainty_real`).

Writes benchmarks/uncertainty.json and uncertainty.md.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch

from unisst_lib.benchmark import uncertainty as unc
from unisst_lib.benchmark.ensembles import ENSEMBLE_RECIPES, ensemble_config, hybrid_checkpoint
from unisst_lib.benchmark.recipes import train_or_reuse
from unisst_lib.benchmark.report import run_meta
from unisst_lib.benchmark.uncertainty_real import merge_real_cv
from unisst_lib.benchmark.uncertainty_report import uncertainty_markdown
from unisst_lib.benchmark.windows import load_test_set
from unisst_lib.core.paths import atomic_path
from unisst_lib.training.checkpoints import (
    export_generator,
    load_checkpoint,
    load_generator,
    save_checkpoint,
)

HERE = Path(__file__).resolve().parent
#: The suffix of a test row calibrated on the data being filled (not on validation).
DATA = "_data_calibrated"
log = logging.getLogger("benchmarks.uncertainty")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--members", type=int, default=8, help="ensemble members (default 8)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=100, help="fine-tuning steps per candidate")
    p.add_argument("--thresholds", type=float, nargs="+", default=[70.0], help="every seed")
    p.add_argument(
        "--first-seed-thresholds", type=float, nargs="*", default=[55.0, 80.0],
        help="thresholds scored with the first seed only (the model was trained at 70)",
    )  # fmt: skip
    p.add_argument("--bench-runs", type=Path, default=Path("runs/bench"))
    p.add_argument("--runs", type=Path, default=Path("runs/ensemble"))
    p.add_argument("--data-dir", default=None, help="data directory (default: UNISST_DATA_DIR)")
    p.add_argument("--l3-seeds", type=int, nargs="*", default=[0, 1, 2], help="L3 CV seeds")
    p.add_argument("--l3-fit-steps", type=int, default=330, help="steps of each L3 CV fit")
    p.add_argument("--out", type=Path, default=HERE)
    p.add_argument(
        "--add-real-cv", nargs="*", type=Path, default=None, metavar="JSON",
        help="add the L3 cross-validation of RUNS/real_cv.json, or of these files (from "
        "--real-cv-only runs beside this one, one seed each: merged), to OUT/uncertainty.json "
        "and re-render uncertainty.md; train and score nothing",
    )  # fmt: skip
    p.add_argument(
        "--real-cv-only", action="store_true",
        help="run the L3 cross-validation only, into RUNS/real_cv.json (reused by --reuse)",
    )  # fmt: skip
    p.add_argument("--reuse", action="store_true", help="reuse finished runs with the same config")
    p.add_argument("--train-only", action="store_true", help="fine-tune the candidates and stop")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-items", type=int, default=None, help="windows per split (smoke runs)")
    p.add_argument("--note", action="append", default=[], help="a note for the results file")
    p.add_argument(
        "--export", type=Path, default=None, metavar="PT",
        help="write the chosen noise model of the first seed, with its validation calibration, "
        "here (the bundled unisst_lib/checkpoints/ensemble_twin.pt)",
    )  # fmt: skip
    return p.parse_args(argv)


def export(args, chosen: str, cals: dict) -> None:
    """The chosen model of the first seed as a generator-only checkpoint with its calibration."""
    if chosen == "deep":
        log.warning("the deep ensemble was chosen: nothing to export (it is several models)")
        return
    run = args.runs / chosen / f"seed{args.seeds[0]}" / "checkpoints" / "best.pt"
    export_generator(run, args.export)
    state = load_checkpoint(args.export)
    state["spread_calibration"] = cals[chosen][0].to_dict()
    save_checkpoint(args.export, state)
    log.info("exported %s with its calibration to %s", run, args.export)


def train_candidates(args) -> dict[str, list]:
    """Candidate name -> one generator list per seed (a deep ensemble: one list of all)."""
    data = {"data_dir": args.data_dir} if args.data_dir else None
    hybrids = [load_generator(hybrid_checkpoint(args.bench_runs, s))[0] for s in args.seeds]
    out = {"deep": [hybrids]} if len(hybrids) > 1 else {}  # one member per seed
    for name in ENSEMBLE_RECIPES:
        for seed in args.seeds:
            cfg = ensemble_config(name, seed=seed, bench_dir=args.bench_runs, steps=args.steps,
                                  data=data)  # fmt: skip
            rec = train_or_reuse(name, cfg, args.runs / name / f"seed{seed}", args.reuse)
            out.setdefault(name, []).append([load_generator(rec["checkpoint"])[0]])
    return out


def validation(args, candidates: dict) -> tuple[dict, dict, dict]:
    """Every candidate's calibration and scores on the validation withheld pixels, and the
    calibration on the data being filled checked out of sample there (observations only)."""
    val = load_test_set(
        "twin", "val", threshold_gm2=70.0, data_dir=args.data_dir, max_items=args.max_items
    )
    hidden = unc.validation_withheld(val)
    rows, cals, checks = {}, {}, {}
    for name, per_seed in candidates.items():
        for i, gens in enumerate(per_seed):
            m = len(gens) if name == "deep" else args.members
            cal, row, check = unc.validate_candidate(gens, val, hidden, members=m, seed=i)
            rows.setdefault(name, []).append(_rounded(row))
            cals.setdefault(name, []).append(cal)
            log.info("validation %s #%d: CRPS %.4f, weight %g", name, i, row["crps_c"], cal.weight)
            checks.setdefault(name, []).append(_rounded(check))
    interp_cal = unc.interp_sigma_scale(val, hidden)
    cals["interp_local_std"] = [interp_cal]
    return rows, cals, checks


def test_split(args, candidates, cals, chosen: str) -> dict:
    """The test split, scored once: the chosen ensemble per seed, the baselines."""
    out = {}
    hybrids = [load_generator(hybrid_checkpoint(args.bench_runs, s))[0] for s in args.seeds]
    for th in [*args.thresholds, *args.first_seed_thresholds]:
        test = load_test_set(
            "twin", "test", threshold_gm2=th, data_dir=args.data_dir, max_items=args.max_items
        )
        rows = {}
        n_seeds = len(args.seeds) if th in args.thresholds else 1
        for i, gens in enumerate(candidates[chosen][:n_seeds]):
            m = len(gens) if chosen == "deep" else args.members
            on_data = unc.data_calibration(gens, test, members=m, seed=200 + i)
            scored = unc.score_test(gens, test, {"": cals[chosen][i], DATA: on_data},
                                    members=m, seed=100 + i)  # fmt: skip
            for suffix, row in scored.items():
                rows.setdefault(chosen + suffix, []).append(_rounded(row))
        for i, g in enumerate(hybrids[:n_seeds]):
            det = unc.window_members([g, g], test, members=2)[0]
            err = (det - test.truth)[unc.gaps(test)]
            rows.setdefault("hybrid_deterministic", []).append(
                {
                    "rmse_c": float(np.sqrt(np.mean(err**2))),
                    "mae_c": float(np.mean(np.abs(err))),
                    "seed": args.seeds[i],
                }
            )
        interp_cals = {"": cals["interp_local_std"][0], DATA: unc.interp_data_scale(test, seed=200)}
        for suffix, row in unc.score_interp_test(test, interp_cals).items():
            rows["interp_local_std" + suffix] = [_rounded(row)]
        out[f"{th:g}"] = rows
        log.info("test %g g m-2: %s", th, {k: v[0].get("crps_c") for k, v in rows.items()})
    return out


def real_cv(args) -> dict:
    """The L3 cross-validation rows (reused from RUNS/real_cv.json with --reuse)."""
    saved = args.runs / "real_cv.json"
    if args.reuse and saved.is_file():
        rec = json.loads(saved.read_text())
        if rec["seeds"] == args.l3_seeds and rec["fit_steps"] == args.l3_fit_steps:
            log.info("reusing the L3 cross-validation of %s", saved)
            return rec["rows"]
    rows = _run_real_cv(args)
    saved.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(saved) as tmp:
        tmp.write_text(json.dumps({"seeds": args.l3_seeds, "fit_steps": args.l3_fit_steps,
                                   "members": args.members, "rows": rows}, indent=1))  # fmt: skip
    return rows


def add_real_cv(args) -> int:
    """OUT/uncertainty.json with the saved L3 cross-validation added, and its report."""
    results = json.loads((args.out / "uncertainty.json").read_text())
    saved = args.runs / "real_cv.json"
    files = args.add_real_cv or [saved]
    rec = merge_real_cv([json.loads(Path(f).read_text()) for f in files])
    if args.add_real_cv:  # what --reuse reads next time
        with atomic_path(saved) as tmp:
            tmp.write_text(json.dumps(rec, indent=1))
    results["real_cv"] = rec["rows"]
    results["meta"]["real_cv_command"] = run_meta("benchmarks/uncertainty.py")["command"]
    results["meta"]["real_cv"] = {"seeds": rec["seeds"], "fit_steps": rec["fit_steps"]}
    _write(args.out, results)
    return 0


def _write(out: Path, results: dict) -> None:
    with atomic_path(out / "uncertainty.json") as tmp:
        tmp.write_text(json.dumps(results, indent=1))
    with atomic_path(out / "uncertainty.md") as tmp:
        tmp.write_text(uncertainty_markdown(results))


def _run_real_cv(args) -> dict:
    from unisst_lib.benchmark.uncertainty_real import ensemble_cv
    from unisst_lib.core.paths import data_dir as default_dir
    from unisst_lib.data.archive import open_archive

    root = Path(args.data_dir) if args.data_dir else default_dir(None)
    arch = open_archive(sorted((root / "sst" / "twin_l3").glob("*.nc"))).load()
    rows: dict = {}
    for seed in args.l3_seeds:
        for name, row in ensemble_cv(arch, seed=seed, members=args.members,
                                     fit_steps=args.l3_fit_steps).items():  # fmt: skip
            rows.setdefault(name, []).append(_rounded(row))
    return rows


def _rounded(row: dict) -> dict:
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    if args.real_cv_only:
        real_cv(args)
        return 0
    if args.add_real_cv is not None:
        return add_real_cv(args)
    candidates = train_candidates(args)
    if args.train_only:
        return 0
    val_rows, cals, checks = validation(args, candidates)
    chosen = min(val_rows, key=lambda n: float(np.mean([r["crps_c"] for r in val_rows[n]])))
    log.info("chosen on validation (lowest CRPS on withheld observed pixels): %s", chosen)
    if args.export:
        export(args, chosen, cals)
    results = {
        "meta": {
            **run_meta("benchmarks/uncertainty.py"),
            "members": args.members,
            "seeds": args.seeds,
            "steps": args.steps,
            "chosen": chosen,
            "notes": args.note,
        },
        "validation": val_rows,
        "validation_data_calibration": checks,
        "calibration": {k: [c.to_dict() for c in v] for k, v in cals.items()},
        "test": test_split(args, candidates, cals, chosen),
        "real_cv": real_cv(args) if args.l3_seeds else {},
    }
    if args.l3_seeds:
        results["meta"]["real_cv"] = {"seeds": args.l3_seeds, "fit_steps": args.l3_fit_steps}
    _write(args.out, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
