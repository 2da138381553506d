"""``unisst train`` and ``unisst evaluate``."""

from __future__ import annotations

import argparse
import json

from unisst_lib.core.errors import UnisstError


def _cmd_train(args: argparse.Namespace) -> int:
    from unisst_lib.training.config import load_config
    from unisst_lib.training.loop import train

    overrides: dict = {}
    if args.steps is not None:
        overrides["steps"] = args.steps
    if args.device is not None:
        overrides["device"] = args.device
    data: dict = {}
    if args.data_dir is not None:
        data["data_dir"] = args.data_dir
    if args.threshold is not None:
        data["threshold_gm2"] = args.threshold
    if args.split_set is not None:
        data["split_set"] = args.split_set
    if args.clouds is not None:
        data["clouds"] = args.clouds
    if args.data is not None:
        _refuse_twin_options(args)
        data["archive"] = args.data
        for opt in ("min_quality", "seq_len"):
            if getattr(args, opt) is not None:
                data[opt] = getattr(args, opt)
    elif args.min_quality is not None or args.seq_len is not None:
        raise UnisstError("--min-quality and --seq-len are options of --data (an archive)")
    if data:
        overrides["data"] = data
    cfg = load_config(args.config or ("archive" if args.data else "fast"), **overrides)
    res = train(cfg, args.out, resume=not args.no_resume, progress=not args.no_progress)
    if res.last_eval and "rmse_occluded_c" not in res.last_eval:
        e = res.last_eval
        print(
            f"step {res.step}: RMSE {e['holdout_rmse_c']:.3f} °C on observed pixels withheld "
            f"from training (best {res.best_holdout_rmse_c:.3f}); {res.seconds:.0f} s"
        )
    elif res.last_eval:
        e = res.last_eval
        print(
            f"step {res.step}: withheld-pixel RMSE {e['holdout_rmse_c']:.3f} °C "
            f"(best {res.best_holdout_rmse_c:.3f}); RMSE on occluded pixels "
            f"{e['rmse_occluded_c']:.3f} °C vs {e['mean_fill_rmse_occluded_c']:.3f} °C for "
            f"the sequence mean; {res.seconds:.0f} s"
        )
    print(f"checkpoints in {res.out_dir / 'checkpoints'}")
    return 0


def _refuse_twin_options(args: argparse.Namespace) -> None:
    """--data trains on an archive's own clouds: the twin's data options do not apply."""
    opts = ("threshold", "split_set", "clouds", "data_dir")
    given = [f"--{o.replace('_', '-')}" for o in opts if getattr(args, o) is not None]
    if given:
        raise UnisstError(
            f"--data trains on the archive's own observations and real clouds: "
            f"{', '.join(given)} (the twin's data options) do not apply"
        )


#: ``unisst evaluate`` options of one mode only (--data: cross-validation; --checkpoint: a model).
_EVALUATE_ONLY = {
    "data": (
        "methods",
        "share",
        "seed",
        "min_quality",
        "truth",
        "fit",
        "fit_minutes",
        "fit_steps",
        "save_model",
    ),
    "checkpoint": ("split", "split_set", "thresholds", "max_items", "data_dir", "device"),
}


def _cmd_evaluate(args: argparse.Namespace) -> int:
    if args.data is None and args.checkpoint is None:
        raise UnisstError(
            "evaluate takes either --data ARCHIVE (cross-validation of the methods on an SST "
            "archive; --checkpoint then gives the unisst model) or --checkpoint FILE alone (a "
            "trained model's errors per LWP threshold on the twin)"
        )
    mode, other = ("data", "checkpoint") if args.data else ("checkpoint", "data")
    stray = [
        f"--{o.replace('_', '-')}" for o in _EVALUATE_ONLY[other] if getattr(args, o) is not None
    ]
    if stray:
        raise UnisstError(f"evaluate --{mode} does not take {', '.join(stray)} (--{other} does)")
    if args.data:
        return _evaluate_data(args)
    from unisst_lib.evaluation.validation import evaluate_thresholds
    from unisst_lib.models.device import select_device
    from unisst_lib.training.checkpoints import load_generator

    device = select_device(args.device or "auto")
    generator, cfg = load_generator(args.checkpoint, device=device)
    rows = evaluate_thresholds(
        generator,
        split_set=args.split_set or cfg.data.split_set,
        split=args.split or "test",
        thresholds_gm2=tuple(args.thresholds) if args.thresholds else None,
        clouds=cfg.data.clouds,
        device=device,
        max_items=args.max_items,
        data_dir=args.data_dir or cfg.data.data_dir,
    )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{cfg.name} on {args.split}: errors in °C")
    print("threshold g/m2  occluded  RMSE    MAE   | mean fill RMSE | withheld RMSE")
    for r in rows:
        print(
            f"{r['threshold_gm2']:>14.0f}  {r['occlusion_rate']:>7.1%}  "
            f"{r['rmse_occluded_c']:.3f}  {r['mae_occluded_c']:.3f} | "
            f"{r['mean_fill_rmse_occluded_c']:>14.3f} | {r['holdout_rmse_c']:.3f}"
        )
    return 0


def _evaluate_data(args: argparse.Namespace) -> int:
    """``unisst evaluate --data``: the baselines cross-validated on an archive."""
    from unisst_lib.benchmark.crossval import evaluate_archive
    from unisst_lib.benchmark.cv_unisst import UnisstOptions

    methods = args.methods or "interp,dineof,climatology"
    fitting = args.fit or args.fit_minutes or args.fit_steps or args.save_model
    if "unisst" not in methods.split(",") and (args.checkpoint or fitting):
        raise UnisstError(
            "--checkpoint, --fit, --fit-minutes, --fit-steps and --save-model set the unisst "
            "model: add unisst to --methods (e.g. --methods unisst,dineof,interp,climatology)"
        )
    if args.checkpoint and fitting:
        raise UnisstError("give --checkpoint (a trained model) or the --fit options, not both")
    unisst = UnisstOptions(
        checkpoint=args.checkpoint,
        fit_minutes=args.fit_minutes or 10.0,
        fit_steps=args.fit_steps,
        save_model=args.save_model,
        progress=not args.json,
    )
    res = evaluate_archive(
        args.data,
        methods=methods,
        share=0.1 if args.share is None else args.share,
        seed=args.seed or 0,
        min_quality=args.min_quality,
        truth=args.truth,
        unisst=unisst,
    )
    print(json.dumps(res.to_dict(), indent=2) if args.json else res.to_markdown().rstrip())
    return 0


def _add_train_command(sub) -> None:
    """``unisst train``."""
    tr = sub.add_parser("train", help="train a UNISST model (resumes from OUT if possible)")
    tr.add_argument(
        "--config", default=None,
        help="tiny, fast, paper, archive or a YAML file (default: fast; archive with --data)",
    )  # fmt: skip
    tr.add_argument("--out", required=True, help="run directory")
    tr.add_argument("--steps", type=int, default=None, help="generator updates (override)")
    tr.add_argument("--threshold", type=float, default=None, help="LWP threshold, g m-2")
    tr.add_argument("--data-dir", default=None, help="data directory (override)")
    tr.add_argument(
        "--split-set", default=None, help="manifest split set: twin, anfc, reanalysis (override)"
    )
    tr.add_argument("--clouds", default=None, help="cloud set: twin or figshare (override)")
    tr.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:1 (override)")
    tr.add_argument(
        "--data", default=None, metavar="PATH_OR_GLOB",
        help="train on this cloudy archive (file, folder or quoted glob of L3 files): its own "
        "observations and real clouds, no gap-free data needed",
    )  # fmt: skip
    tr.add_argument("--min-quality", type=int, default=None, help="--data: lowest quality_level")
    tr.add_argument("--seq-len", type=int, default=None, help="--data: frames per window")
    tr.add_argument("--no-resume", action="store_true", help="start afresh")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    tr.set_defaults(func=_cmd_train)


def _add_evaluate_command(sub) -> None:
    """``unisst evaluate``."""
    ev = sub.add_parser(
        "evaluate",
        help="errors of a checkpoint per LWP threshold, or of the baselines on an archive (°C)",
    )
    ev.add_argument(
        "--checkpoint", default=None,
        help="a checkpoint (.pt): its errors on the twin, or with --data the unisst model",
    )  # fmt: skip
    ev.add_argument("--split", choices=("train", "val", "test"), default=None, help="default test")
    ev.add_argument("--split-set", default=None, help="manifest split set (default: training's)")
    ev.add_argument("--thresholds", type=float, nargs="+", default=None, help="g m-2")
    ev.add_argument("--max-items", type=int, default=None, help="at most this many sequences")
    ev.add_argument("--data-dir", default=None, help="data directory")
    ev.add_argument("--device", default=None, help="default auto")
    ev.add_argument(
        "--data", default=None, metavar="PATH_OR_GLOB",
        help="an SST archive (file, folder or glob): cross-validate the methods on it",
    )  # fmt: skip
    ev.add_argument(
        "--methods", default=None,
        help="--data: comma-separated, of unisst, interp, dineof, climatology (default: "
        "interp,dineof,climatology); unisst uses --checkpoint or fits a model on the CV input",
    )  # fmt: skip
    ev.add_argument(
        "--fit", action="store_const", const=True, default=None,
        help="--data: the unisst row fits its model on the CV input itself (the default "
        "without --checkpoint)",
    )  # fmt: skip
    ev.add_argument("--fit-minutes", type=float, default=None, help="--data: unisst fit budget")
    ev.add_argument("--fit-steps", type=int, default=None, help="--data: unisst fit steps")
    ev.add_argument("--save-model", default=None, help="--data: keep the fitted model (.pt)")
    ev.add_argument("--share", type=float, default=None, help="--data: share hidden, default 0.1")
    ev.add_argument("--seed", type=int, default=None, help="--data: default 0")
    ev.add_argument("--min-quality", type=int, default=None, help="--data: GHRSST quality_level")
    ev.add_argument("--truth", default=None, help="--data: the twin's truth file (scores only)")
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.set_defaults(func=_cmd_evaluate)
