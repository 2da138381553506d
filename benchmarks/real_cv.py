"""Cross-validation on the embedded daily L3 archive, checked against its truth.

Real data has no truth under the clouds, so unisst scores methods on a real archive
by cross-validation (``unisst evaluate --data``: DINCAE's protocol, a share of the
observed pixels hidden under the clouds of other dates). The embedded archive is
made from the twin, so here the truth is known too: this script runs the
cross-validation with several seeds and reports, beside it, each method's error
under the real clouds, and whether the cross-validation ranks the methods as the
truth does. The truth is only reported, never used to choose anything.

The ``unisst`` row is ``unisst fill --fit``: a model fitted on the cross-validation
input itself (the archive without the hidden pixels), with the default budget of
10 minutes or, for a result that does not depend on how busy the machine is,
``--fit-steps N`` (the steps that budget buys here, as the fit's probe measures it).
The goal of issue 13: its RMSE under the real clouds at most 0.85× DINEOF's and
0.85× temporal interpolation's.

    python benchmarks/real_cv.py --data-dir DIR    # DIR holds `unisst data make --size full`

writes ``real_cv.json`` and ``real_cv.md`` next to this script (``--out``).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from pathlib import Path

from unisst_lib.benchmark.crossval import evaluate_archive
from unisst_lib.benchmark.cv_unisst import UnisstOptions
from unisst_lib.benchmark.report import run_meta
from unisst_lib.core.manifest import load_manifest
from unisst_lib.core.paths import atomic_path, data_dir

HERE = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.real_cv")


#: The goal: unisst's RMSE under the real clouds at most this times each baseline's.
GOAL_RATIO = 0.85
GOAL_BASELINES = ("dineof", "interp")


def run(root: Path, *, seeds, share: float, methods, unisst: UnisstOptions) -> dict:
    """Every seed's cross-validation (with the truth columns) and a summary per method."""
    m = load_manifest()
    archive, truth = m.archive("twin_l3"), m.archive("twin_l3_truth")
    runs = []
    for seed in seeds:
        res = evaluate_archive(
            str(root / archive.files), methods=methods, share=share, seed=seed,
            truth=root / truth.files, unisst=unisst,
        )  # fmt: skip
        runs.append(res.to_dict())
        log.info("seed %d:\n%s", seed, res.to_markdown())
    return {"runs": runs, "summary": summarise(runs, methods)}


def _ranking(rows: list[dict], key: str) -> list[str]:
    ok = [r for r in rows if r.get("status") == "ok" and r.get(key) is not None]
    return [r["method"] for r in sorted(ok, key=lambda r: r[key])]


def summarise(runs: list[dict], methods) -> dict:
    """Mean and spread over seeds per method; per seed, whether CV and truth rank alike."""
    per_method = {}
    for method in methods:
        rows = [r for run in runs for r in run["rows"] if r["method"] == method]
        cv = [r["rmse_c"] for r in rows if r.get("rmse_c") is not None]
        tr = [r["truth_rmse_c"] for r in rows if r.get("truth_rmse_c") is not None]
        per_method[method] = {
            "cv_rmse_c_mean": statistics.fmean(cv) if cv else None,
            "cv_rmse_c_sd": statistics.stdev(cv) if len(cv) > 1 else None,
            "truth_rmse_c_mean": statistics.fmean(tr) if tr else None,
            "truth_rmse_c_sd": statistics.stdev(tr) if len(tr) > 1 else None,
            "failed": sum(r.get("status") != "ok" for r in rows),
        }
    agree = [
        _ranking(run["rows"], "rmse_c") == _ranking(run["rows"], "truth_rmse_c") for run in runs
    ]
    return {"methods": per_method, "ranking_agrees": agree, "goals": goals(runs)}


def goals(runs: list[dict]) -> list[dict]:
    """Per baseline: unisst's truth RMSE over the baseline's, per seed, against GOAL_RATIO."""
    out = []
    for base in GOAL_BASELINES:
        ratios = []
        for run in runs:
            rows = {r["method"]: r for r in run["rows"] if r.get("truth_rmse_c") is not None}
            if "unisst" in rows and base in rows:
                ratios.append(rows["unisst"]["truth_rmse_c"] / rows[base]["truth_rmse_c"])
        if ratios:
            out.append({"baseline": base, "ratios": ratios, "met": max(ratios) <= GOAL_RATIO})
    return out


def markdown(results: dict) -> str:
    meta, summary = results["meta"], results["summary"]
    lines = [
        "# Cross-validation on the embedded L3 archive",
        "",
        f"Made by `{meta['command']}` on {meta['date']} ({meta['machine']}).",
        "",
        f"Archive: {meta['archive']}. Seeds {', '.join(map(str, meta['seeds']))}; "
        f"{100 * meta['share']:.0f} % of the observed sea pixels asked to be hidden "
        "under the clouds of other dates. CV: filled − observed on those pixels; truth: "
        "filled − truth on the sea pixels the archive misses (its real clouds and absent "
        "days), reported only, never used for any choice. Mean ± standard deviation over "
        "the seeds, °C.",
        "",
        "| method | CV RMSE | truth RMSE | failed runs |",
        "| --- | ---: | ---: | ---: |",
    ]

    def fmt(mean, sd):
        if mean is None:
            return "–"
        return f"{mean:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")

    for method, s in summary["methods"].items():
        lines.append(
            f"| {method} | {fmt(s['cv_rmse_c_mean'], s['cv_rmse_c_sd'])} | "
            f"{fmt(s['truth_rmse_c_mean'], s['truth_rmse_c_sd'])} | {s['failed']} |"
        )
    agree = summary["ranking_agrees"]
    lines += [
        "",
        f"The cross-validation ranks the methods as the truth does for {sum(agree)} of "
        f"{len(agree)} seeds.",
        "",
        "Per seed (hidden share reached, frames touched):",
        "",
    ]
    for g in summary.get("goals", []):
        verdict = "met" if g["met"] else "NOT met"
        lines.insert(
            lines.index("Per seed (hidden share reached, frames touched):"),
            f"Goal: unisst's truth RMSE ≤ {GOAL_RATIO}× {g['baseline']}'s — {verdict}: "
            f"ratios {', '.join(f'{r:.2f}' for r in g['ratios'])} (per seed).\n",
        )
    for run in results["runs"]:
        notes = "; ".join(f"{r['method']}: {r['note']}" for r in run["rows"] if r.get("note"))
        lines.append(
            f"- seed {run['seed']}: {run['hidden_pixels']} of {run['observed_pixels']} observed "
            f"pixels ({100 * run['share_hidden']:.1f} %) in {run['frames_with_hidden']} of "
            f"{run['frames']} frames" + (f"; {notes}" if notes else "")
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=None, help="default $UNISST_DATA_DIR or ./data")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--share", type=float, default=0.1)
    p.add_argument("--methods", default="unisst,interp,dineof,climatology")
    p.add_argument("--fit-minutes", type=float, default=10.0, help="unisst: the fit's budget")
    p.add_argument("--fit-steps", type=int, default=None, help="unisst: exactly N steps instead")
    p.add_argument("--out", type=Path, default=HERE)
    p.add_argument("--report-only", action="store_true", help="re-render real_cv.md from OUT")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.report_only:
        results = json.loads((args.out / "real_cv.json").read_text())
        with atomic_path(args.out / "real_cv.md") as tmp:
            tmp.write_text(markdown(results))
        return 0
    methods = [s.strip() for s in args.methods.split(",") if s.strip()]
    root = data_dir(args.data_dir)
    unisst = UnisstOptions(fit_minutes=args.fit_minutes, fit_steps=args.fit_steps, progress=False)
    results = run(root, seeds=args.seeds, share=args.share, methods=methods, unisst=unisst)
    m = load_manifest()
    results["meta"] = {
        **run_meta("benchmarks/real_cv.py", argv or sys.argv[1:]),
        "archive": f"{m.archive('twin_l3').files} "
        f"({len(list(root.glob(m.archive('twin_l3').files)))} daily files)",
        "seeds": args.seeds,
        "share": args.share,
        "methods": methods,
        "fit_minutes": None if args.fit_steps else args.fit_minutes,
        "fit_steps": args.fit_steps,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "real_cv.json") as tmp:
        tmp.write_text(json.dumps(results, indent=1) + "\n")
    with atomic_path(args.out / "real_cv.md") as tmp:
        tmp.write_text(markdown(results))
    log.info("wrote %s", args.out / "real_cv.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
