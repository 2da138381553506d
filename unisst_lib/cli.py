"""The ``unisst`` command line.

Every sub-command calls one library function; errors that unisst raises on
purpose (:class:`unisst_lib.errors.UnisstError`) end as a one-line
``error: …`` on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence

from unisst_lib import __version__
from unisst_lib.errors import UnisstError

log = logging.getLogger("unisst")


def _cmd_data_make(args: argparse.Namespace) -> int:
    from unisst_lib.paths import data_dir
    from unisst_lib.twin.make import make_twin

    t0 = time.perf_counter()
    files = make_twin(args.size, args.out, overwrite=args.overwrite, progress=not args.quiet)
    root = data_dir(args.out)
    for f in files:
        how = f"generated in {f.seconds:.1f} s" if f.seconds else "already there"
        print(f"{f.path}  {f.kind} {'x'.join(map(str, f.shape))}  ({how})")
    print(f"twin '{args.size}' ready in {root} ({time.perf_counter() - t0:.1f} s)")
    return 0


def _cmd_data_summary(args: argparse.Namespace) -> int:
    from unisst_lib.summary import format_summary, summarise_clouds, summarise_sst, summary_dict

    ssts = [summarise_sst(name, root=args.dir) for name in args.datasets]
    clouds = [summarise_clouds(args.clouds, root=args.dir)]
    if args.json:
        print(json.dumps(summary_dict(ssts, clouds), indent=2))
    else:
        print(format_summary(ssts, clouds))
    return 0


def _cmd_data_checksums(args: argparse.Namespace) -> int:
    from unisst_lib.manifest import load_manifest
    from unisst_lib.paths import data_dir
    from unisst_lib.twin.make import sha256

    m = load_manifest()
    root = data_dir(args.dir)
    files = [m.sst_dataset(n).file for n in ("twin_train_val", "twin_test")]
    files.append(m.cloud_dataset("twin").file)
    for rel in files:
        print(f"{rel}: {sha256(root / rel)}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from unisst_lib.summary import format_summary, summarise_clouds, summarise_sst
    from unisst_lib.twin.make import make_twin

    t0 = time.perf_counter()
    files = make_twin(args.size, args.out, progress=not args.quiet)
    for f in files:
        how = f"generated in {f.seconds:.1f} s" if f.seconds else "cached"
        print(f"{f.path}: {'x'.join(map(str, f.shape))} ({how})")
    ssts = [summarise_sst(n, root=args.out) for n in ("twin_train_val", "twin_test")]
    clouds = [summarise_clouds("twin", root=args.out)]
    print()
    print(format_summary(ssts, clouds))
    print(f"\ndemo finished in {time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from unisst_lib.train import load_config, train

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
    if data:
        overrides["data"] = data
    cfg = load_config(args.config, **overrides)
    res = train(cfg, args.out, resume=not args.no_resume, progress=not args.no_progress)
    if res.last_eval:
        e = res.last_eval
        print(
            f"step {res.step}: withheld-pixel RMSE {e['holdout_rmse_c']:.3f} °C "
            f"(best {res.best_holdout_rmse_c:.3f}); RMSE on occluded pixels "
            f"{e['rmse_occluded_c']:.3f} °C vs {e['mean_fill_rmse_occluded_c']:.3f} °C for "
            f"the sequence mean; {res.seconds:.0f} s"
        )
    print(f"checkpoints in {res.out_dir / 'checkpoints'}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from unisst_lib.evaluation import evaluate_thresholds
    from unisst_lib.train import load_generator, select_device

    device = select_device(args.device)
    generator, cfg = load_generator(args.checkpoint, device=device)
    rows = evaluate_thresholds(
        generator,
        split_set=args.split_set or cfg.data.split_set,
        split=args.split,
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unisst",
        description="Unsupervised gap filling of cloudy SST sequences (UNISST).",
    )
    parser.add_argument("--version", action="version", version=f"unisst {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="build, inspect and verify data sets")
    data_sub = data.add_subparsers(dest="data_command", required=True)

    make = data_sub.add_parser("make", help="generate the embedded default data set (the twin)")
    make.add_argument("--size", choices=("full", "tiny"), default="full")
    make.add_argument("--out", default=None, help="data directory ($UNISST_DATA_DIR or ./data)")
    make.add_argument("--overwrite", action="store_true", help="regenerate existing files")
    make.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    make.set_defaults(func=_cmd_data_make)

    summ = data_sub.add_parser("summary", help="statistics of the data on disk")
    summ.add_argument("--dir", default=None, help="data directory")
    summ.add_argument(
        "--datasets", nargs="+", default=["twin_train_val", "twin_test"], help="SST data sets"
    )
    summ.add_argument("--clouds", default="twin", help="cloud data set")
    summ.add_argument("--json", action="store_true", help="print JSON")
    summ.set_defaults(func=_cmd_data_summary)

    chk = data_sub.add_parser("checksums", help="SHA-256 of the twin's files")
    chk.add_argument("--dir", default=None, help="data directory")
    chk.set_defaults(func=_cmd_data_checksums)

    tr = sub.add_parser("train", help="train a UNISST model (resumes from OUT if possible)")
    tr.add_argument("--config", default="fast", help="tiny, fast, paper or a YAML file")
    tr.add_argument("--out", required=True, help="run directory")
    tr.add_argument("--steps", type=int, default=None, help="generator updates (override)")
    tr.add_argument("--threshold", type=float, default=None, help="LWP threshold, g m-2")
    tr.add_argument("--data-dir", default=None, help="data directory (override)")
    tr.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:1 (override)")
    tr.add_argument("--no-resume", action="store_true", help="start afresh")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    tr.set_defaults(func=_cmd_train)

    ev = sub.add_parser("evaluate", help="errors of a checkpoint per LWP threshold (°C)")
    ev.add_argument("--checkpoint", required=True, help="a checkpoint (.pt)")
    ev.add_argument("--split", choices=("train", "val", "test"), default="test")
    ev.add_argument("--split-set", default=None, help="manifest split set (default: training's)")
    ev.add_argument("--thresholds", type=float, nargs="+", default=None, help="g m-2")
    ev.add_argument("--max-items", type=int, default=None, help="at most this many sequences")
    ev.add_argument("--data-dir", default=None, help="data directory")
    ev.add_argument("--device", default="auto")
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.set_defaults(func=_cmd_evaluate)

    demo = sub.add_parser("demo", help="the main job on the embedded default (make demo)")
    demo.add_argument("--size", choices=("full", "tiny"), default="full")
    demo.add_argument("--out", default=None, help="data directory")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``unisst`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except UnisstError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
