"""The ``unisst`` command line.

Every sub-command calls one library function; errors that unisst raises on
purpose (:class:`unisst_lib.core.errors.UnisstError`) end as a one-line
``error: …`` on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from unisst_lib import __version__
from unisst_lib.core.errors import UnisstError

log = logging.getLogger("unisst")


def _cmd_data_make(args: argparse.Namespace) -> int:
    from unisst_lib.core.paths import data_dir
    from unisst_lib.data.twin.make import make_twin

    t0 = time.perf_counter()
    files = make_twin(args.size, args.out, overwrite=args.overwrite, progress=not args.quiet)
    root = data_dir(args.out)
    for f in files:
        how = f"generated in {f.seconds:.1f} s" if f.seconds else "already there"
        print(f"{f.path}  {f.kind} {'x'.join(map(str, f.shape))}  ({how})")
    print(f"twin '{args.size}' ready in {root} ({time.perf_counter() - t0:.1f} s)")
    return 0


def _cmd_data_summary(args: argparse.Namespace) -> int:
    from unisst_lib.data.summary import (
        format_summary,
        summarise_clouds,
        summarise_sst,
        summary_dict,
    )

    ssts = [summarise_sst(name, root=args.dir) for name in args.datasets]
    clouds = [summarise_clouds(args.clouds, root=args.dir)]
    if args.json:
        print(json.dumps(summary_dict(ssts, clouds), indent=2))
    else:
        print(format_summary(ssts, clouds))
    return 0


def _cmd_data_checksums(args: argparse.Namespace) -> int:
    from unisst_lib.data.twin.make import twin_checksums

    for rel, digest in twin_checksums(args.dir).items():
        print(f"{rel}: {digest}")
    return 0


def _cmd_data_verify(args: argparse.Namespace) -> int:
    from unisst_lib.sources.verify import format_report, verify_all

    rows = verify_all(args.dir, checksums=not args.no_checksums)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(format_report(rows))
    return 1 if any(r["status"] == "problem" for r in rows) else 0


def _cmd_download_sst(args: argparse.Namespace) -> int:
    from unisst_lib.sources.copernicus import download_sst

    if args.dry_run:
        return _download_sst_plan(args)
    results = download_sst(
        variant=args.variant,
        splits=tuple(args.split),
        root=args.dir,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    for r in results:
        how = f"downloaded in {r.seconds:.0f} s" if not r.cached else "already there, checked"
        print(f"{r.path}: {r.dataset} {r.dataset_id}, {r.period}, {r.shape_text} ({how})")
    if results:
        r = results[0]
        print(f"variant '{r.variant}': {r.variant_note}")
    return 0


def _download_sst_plan(args: argparse.Namespace) -> int:
    """``unisst download sst --dry-run``: what would be fetched, and how; nothing is contacted."""
    from unisst_lib.core.manifest import load_manifest
    from unisst_lib.core.paths import data_dir
    from unisst_lib.sources.copernicus import (
        credentials_source,
        datasets_for,
        resolve_variant,
        subset_command,
    )

    m = load_manifest()
    variant = resolve_variant(args.variant, manifest=m)
    print(f"variant '{variant}': {' '.join(m.download.sst.variants[variant].split())}")
    for name in datasets_for(variant, tuple(args.split), manifest=m):
        dest = data_dir(args.dir) / m.sst_dataset(name).file
        state = "on disk (checked before any download)" if dest.is_file() else "to download"
        print(f"\n{name} -> {dest} ({state}), cropped to the region's 64x64 grid:")
        print(f"  {subset_command(name, manifest=m)}")
    where = credentials_source()
    print(f"\ncredentials: {where or 'none found (see `unisst download sst --help`)'}")
    return 0


def _cmd_download_clouds(args: argparse.Namespace) -> int:
    from unisst_lib.sources.figshare import download_clouds

    res = download_clouds(
        root=args.dir,
        timeout_s=args.timeout,
        retries=args.retries,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    how = f"downloaded from {res.url} in {res.seconds:.0f} s" if not res.cached else "already there"
    shape = "x".join(map(str, res.shape))
    print(f"{res.path}: {shape} kg m-2, md5 {res.md5} ({how})")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from unisst_lib.data.summary import format_summary, summarise_clouds, summarise_sst
    from unisst_lib.data.twin.make import make_twin

    t0 = time.perf_counter()
    out = args.out
    if out is None and args.size == "tiny":
        out = "data/tiny"  # never mix the tiny twin into the full one's directory
    files = make_twin(args.size, out, progress=not args.quiet)
    for f in files:
        how = f"generated in {f.seconds:.1f} s" if f.seconds else "cached"
        print(f"{f.path}: {'x'.join(map(str, f.shape))} ({how})")
    ssts = [summarise_sst(n, root=out) for n in ("twin_train_val", "twin_test")]
    clouds = [summarise_clouds("twin", root=out)]
    print()
    print(format_summary(ssts, clouds))
    failed = 0
    if not args.no_notebooks:
        from unisst_lib.notebooks.params import demo_parameters
        from unisst_lib.notebooks.runner import run_all

        common, overrides = demo_parameters(
            size=args.size, data_dir=out, steps=args.steps, readme_figure=args.readme_figure
        )
        print(f"\nrunning the notebooks into {args.notebooks_out}/ (papermill)")
        reports = run_all(
            args.notebooks_out,
            parameters=common,
            overrides=overrides,
            progress=not args.quiet,
            on_report=_print_report,
        )
        failed = sum(not r.ok for r in reports)
        if args.readme_figure and Path(args.readme_figure).is_file():
            print(f"README picture: {args.readme_figure}")
    print(f"\ndemo finished in {time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0


def _print_report(report) -> None:
    if report.ok:
        print(f"  {report.notebook}: ok in {report.seconds:.0f} s -> {report.output}")
    else:
        print(f"  {report.notebook}: FAILED after {report.seconds:.0f} s: {report.error}")


def _notebook_parameters(args: argparse.Namespace):
    """(ParameterFile, command-line parameters) of `unisst notebooks` / `unisst sweep`."""
    from unisst_lib.notebooks.params import ParameterFile, load_parameter_file, parse_assignments

    path = getattr(args, "params", None) or getattr(args, "config", None)
    pfile = load_parameter_file(path) if path else ParameterFile()
    return pfile, parse_assignments(args.param)


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from unisst_lib.notebooks.runner import run_all

    pfile, cli = _notebook_parameters(args)
    names = args.names or pfile.notebooks or None
    out = args.out or pfile.out or "notebooks/_executed"
    t0 = time.perf_counter()
    reports = run_all(
        out,
        names=names,
        parameters={**pfile.parameters, **cli},
        overrides=pfile.overrides,
        kernel=args.kernel,
        progress=not args.quiet,
        on_report=_print_report,
    )
    failed = [r for r in reports if not r.ok]
    print(
        f"{len(reports) - len(failed)} of {len(reports)} notebooks ran in "
        f"{time.perf_counter() - t0:.0f} s; executed copies in {out}/"
    )
    return 1 if failed else 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from unisst_lib.notebooks.sweep import SWEEP_NOTEBOOKS, sweep

    pfile, cli = _notebook_parameters(args)
    thresholds = args.thresholds or pfile.thresholds
    if not thresholds:
        from unisst_lib.core.manifest import load_manifest

        thresholds = load_manifest().thresholds.studied
    t0 = time.perf_counter()
    res = sweep(
        thresholds,
        {**pfile.parameters, **cli},
        args.out or pfile.out or "runs/sweep",
        notebooks=args.notebooks or pfile.notebooks or SWEEP_NOTEBOOKS,
        overrides=pfile.overrides,
        kernel=args.kernel,
        progress=not args.quiet,
    )
    print(res.markdown.read_text())
    print(f"summary: {res.csv}, {res.markdown}" + (f", {res.figure}" if res.figure else ""))
    failed = [r for r in res.rows if r["status"] != "ok"]
    print(
        f"{len(res.rows) - len(failed)} of {len(res.rows)} thresholds ran in "
        f"{time.perf_counter() - t0:.0f} s"
    )
    return 1 if failed else 0


def _cmd_kernel(args: argparse.Namespace) -> int:
    from unisst_lib.notebooks.kernel import ensure_kernel, quiet_lab_settings

    path = ensure_kernel(args.name)
    print(f"Jupyter kernel {args.name!r} -> {sys.executable} ({path})")
    print(f"JupyterLab settings: news and update checks off ({quiet_lab_settings()})")
    return 0


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


#: ``unisst evaluate`` options of one mode only (--data: cross-validation; --checkpoint: a model).
_EVALUATE_ONLY = {
    "data": ("methods", "share", "seed", "min_quality", "truth"),
    "checkpoint": ("split", "split_set", "thresholds", "max_items", "data_dir", "device"),
}


def _cmd_evaluate(args: argparse.Namespace) -> int:
    if (args.data is None) == (args.checkpoint is None):
        raise UnisstError(
            "evaluate takes either --data ARCHIVE (cross-validation of the baselines on an SST "
            "archive) or --checkpoint FILE (a trained model's errors per LWP threshold)"
            + (", not both" if args.data else "")
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

    res = evaluate_archive(
        args.data,
        methods=args.methods or "interp,dineof,climatology",
        share=0.1 if args.share is None else args.share,
        seed=args.seed or 0,
        min_quality=args.min_quality,
        truth=args.truth,
    )
    print(json.dumps(res.to_dict(), indent=2) if args.json else res.to_markdown().rstrip())
    return 0


def _cmd_fill(args: argparse.Namespace) -> int:
    from unisst_lib.core.errors import DataNotFoundError
    from unisst_lib.core.paths import atomic_path
    from unisst_lib.data.io import open_netcdf
    from unisst_lib.methods.fill import fill

    src, dst = Path(args.input), Path(args.output)
    if not src.is_file():
        raise DataNotFoundError(f"input file {src} does not exist")
    if dst.exists() and not args.overwrite:
        raise UnisstError(f"{dst} exists: pass --overwrite to replace it, or another OUTPUT")
    with open_netcdf(src) as ds:
        res = fill(
            ds,
            method=args.method,
            checkpoint=args.checkpoint,
            variable=args.variable,
            mask_variable=args.mask_variable,
            device=args.device,
            resample=args.resample,
            progress=not args.quiet,
            history=_fill_history(args),
        )
        with atomic_path(dst) as tmp:
            res.to_netcdf(tmp)
    name = next(iter(res.data_vars))
    n = int(res[f"{name}_filled_mask"].sum())
    print(f"{dst}: {name} {'x'.join(map(str, res[name].shape))}, {n} values filled ({args.method})")
    return 0


def _fill_history(args: argparse.Namespace) -> str:
    """The ``unisst fill`` command as it ran, for the output's ``history`` attribute."""
    words = ["unisst fill", str(args.input), str(args.output), f"--method {args.method}"]
    for opt in ("checkpoint", "variable", "mask_variable", "device"):
        if getattr(args, opt) is not None:
            words.append(f"--{opt.replace('_', '-')} {getattr(args, opt)}")
    words += [f"--{f}" for f in ("resample", "overwrite") if getattr(args, f)]
    return " ".join(words)


def _add_papermill_args(parser: argparse.ArgumentParser) -> None:
    """Options shared by the commands that run notebooks with papermill."""
    parser.add_argument(
        "-p", "--param", action="append", default=[], metavar="NAME=VALUE",
        help="a parameter for every notebook that declares it (repeatable)",
    )  # fmt: skip
    parser.add_argument("--kernel", default="unisst", help="Jupyter kernel (default: unisst)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unisst",
        description="Unsupervised gap filling of cloudy SST sequences (UNISST).",
    )
    parser.add_argument("--version", action="version", version=f"unisst {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    _add_data_commands(sub)
    _add_download_commands(sub)
    _add_train_command(sub)
    _add_evaluate_command(sub)
    _add_demo_command(sub)
    _add_notebook_commands(sub)
    _add_fill_command(sub)
    _add_kernel_command(sub)
    return parser


def _add_data_commands(sub) -> None:
    """``unisst data make|summary|checksums|verify``."""
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

    ver = data_sub.add_parser("verify", help="check every data file on disk against the manifest")
    ver.add_argument("--dir", default=None, help="data directory ($UNISST_DATA_DIR or ./data)")
    ver.add_argument("--no-checksums", action="store_true", help="skip SHA-256 / MD5 sums")
    ver.add_argument("--json", action="store_true", help="print JSON")
    ver.set_defaults(func=_cmd_data_verify)


def _add_download_commands(sub) -> None:
    """``unisst download sst|clouds``."""
    dl = sub.add_parser(
        "download", help="fetch the real data (Copernicus Marine SST, figshare clouds)"
    )
    dl_sub = dl.add_subparsers(dest="download_command", required=True)
    dsst = dl_sub.add_parser(
        "sst",
        help="SST from Copernicus Marine (credentials: COPERNICUSMARINE_SERVICE_USERNAME/"
        "_PASSWORD or `copernicusmarine login`)",
    )
    dsst.add_argument(
        "--split", nargs="+", choices=("train", "val", "test"), default=["train", "val", "test"],
        help="which splits' data (train and val share one file; default: all)",
    )  # fmt: skip
    dsst.add_argument(
        "--variant", default=None,
        help="anfc: hourly, recent years, the paper's regions (default); "
        "reanalysis: daily, the paper's dates (see data_manifest.yaml: download.sst)",
    )  # fmt: skip
    dsst.add_argument("--dir", default=None, help="data directory ($UNISST_DATA_DIR or ./data)")
    dsst.add_argument("--overwrite", action="store_true", help="download again even if present")
    dsst.add_argument(
        "--dry-run", action="store_true",
        help="print the copernicusmarine requests and where the files go; fetch nothing",
    )  # fmt: skip
    dsst.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    dsst.set_defaults(func=_cmd_download_sst)

    dcl = dl_sub.add_parser("clouds", help="the paper's liquid-water-path fields from figshare")
    dcl.add_argument("--dir", default=None, help="data directory ($UNISST_DATA_DIR or ./data)")
    dcl.add_argument("--timeout", type=float, default=None, help="seconds (default: manifest)")
    dcl.add_argument("--retries", type=int, default=None, help="resumes (default: manifest)")
    dcl.add_argument("--overwrite", action="store_true", help="download again even if present")
    dcl.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    dcl.set_defaults(func=_cmd_download_clouds)


def _add_train_command(sub) -> None:
    """``unisst train``."""
    tr = sub.add_parser("train", help="train a UNISST model (resumes from OUT if possible)")
    tr.add_argument("--config", default="fast", help="tiny, fast, paper or a YAML file")
    tr.add_argument("--out", required=True, help="run directory")
    tr.add_argument("--steps", type=int, default=None, help="generator updates (override)")
    tr.add_argument("--threshold", type=float, default=None, help="LWP threshold, g m-2")
    tr.add_argument("--data-dir", default=None, help="data directory (override)")
    tr.add_argument(
        "--split-set", default=None, help="manifest split set: twin, anfc, reanalysis (override)"
    )
    tr.add_argument("--clouds", default=None, help="cloud set: twin or figshare (override)")
    tr.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:1 (override)")
    tr.add_argument("--no-resume", action="store_true", help="start afresh")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    tr.set_defaults(func=_cmd_train)


def _add_evaluate_command(sub) -> None:
    """``unisst evaluate``."""
    ev = sub.add_parser(
        "evaluate",
        help="errors of a checkpoint per LWP threshold, or of the baselines on an archive (°C)",
    )
    ev.add_argument("--checkpoint", default=None, help="a checkpoint (.pt)")
    ev.add_argument("--split", choices=("train", "val", "test"), default=None, help="default test")
    ev.add_argument("--split-set", default=None, help="manifest split set (default: training's)")
    ev.add_argument("--thresholds", type=float, nargs="+", default=None, help="g m-2")
    ev.add_argument("--max-items", type=int, default=None, help="at most this many sequences")
    ev.add_argument("--data-dir", default=None, help="data directory")
    ev.add_argument("--device", default=None, help="default auto")
    ev.add_argument(
        "--data", default=None, metavar="PATH_OR_GLOB",
        help="an SST archive (file, folder or glob): cross-validate the baselines on it",
    )  # fmt: skip
    ev.add_argument("--methods", default=None, help="--data: default interp,dineof,climatology")
    ev.add_argument("--share", type=float, default=None, help="--data: share hidden, default 0.1")
    ev.add_argument("--seed", type=int, default=None, help="--data: default 0")
    ev.add_argument("--min-quality", type=int, default=None, help="--data: GHRSST quality_level")
    ev.add_argument("--truth", default=None, help="--data: the twin's truth file (scores only)")
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.set_defaults(func=_cmd_evaluate)


def _add_demo_command(sub) -> None:
    """``unisst demo``."""
    demo = sub.add_parser(
        "demo", help="build the embedded default and run every notebook on it (make demo)"
    )
    demo.add_argument("--size", choices=("full", "tiny"), default="full")
    demo.add_argument("--out", default=None, help="data directory")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    demo.add_argument(
        "--no-notebooks", action="store_true", help="only build and summarise the data"
    )
    demo.add_argument(
        "--steps", type=int, default=40, help="training steps of the demo model (default 40)"
    )
    demo.add_argument(
        "--notebooks-out", default="notebooks/_executed", help="folder of the executed notebooks"
    )
    demo.add_argument(
        "--readme-figure",
        default="docs/unisst_demo.png",
        help="the README picture that 04_visualisation writes ('' = none)",
    )
    demo.set_defaults(func=_cmd_demo)


def _add_notebook_commands(sub) -> None:
    """``unisst notebooks`` and ``unisst sweep``."""
    nbs = sub.add_parser("notebooks", help="run the numbered notebooks headlessly (papermill)")
    nbs.add_argument("names", nargs="*", help="notebooks (03_training or 03); default: all")
    nbs.add_argument("--out", default=None, help="folder of the executed copies")
    nbs.add_argument("--params", default=None, help="YAML file: parameters / overrides")
    _add_papermill_args(nbs)
    nbs.set_defaults(func=_cmd_notebooks)

    sw = sub.add_parser("sweep", help="training + maps notebooks at each LWP threshold")
    sw.add_argument("--config", default=None, help="sweep YAML (e.g. sweep.yaml)")
    sw.add_argument("--thresholds", type=float, nargs="+", default=None, help="g m-2")
    sw.add_argument("--out", default=None, help="output folder (default runs/sweep)")
    sw.add_argument("--notebooks", nargs="+", default=None, help="default: 03 and 04")
    _add_papermill_args(sw)
    sw.set_defaults(func=_cmd_sweep)


def _add_fill_command(sub) -> None:
    """``unisst fill``."""
    fl = sub.add_parser("fill", help="gap-fill an SST netCDF file (writes a CF netCDF)")
    fl.add_argument("input", help="netCDF file with an SST variable")
    fl.add_argument("output", help="netCDF file to write")
    fl.add_argument("--method", choices=("unisst", "dineof", "interp"), default="unisst")
    fl.add_argument("--checkpoint", default=None, help="model (.pt); default: the bundled one")
    fl.add_argument("--variable", default=None, help="SST variable (default: found)")
    fl.add_argument("--mask-variable", default=None, help="variable that is 1 where missing")
    fl.add_argument("--device", default="cpu", help="cpu, cuda, auto")
    fl.add_argument(
        "--resample",
        action="store_true",
        help="frames k times closer than the model's: keep every k-th frame only "
        "(default: fill every frame, as k interleaved series)",
    )
    fl.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    fl.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    fl.set_defaults(func=_cmd_fill)


def _add_kernel_command(sub) -> None:
    """``unisst kernel``."""
    ker = sub.add_parser("kernel", help="register the 'unisst' Jupyter kernel for this Python")
    ker.add_argument("--name", default="unisst")
    ker.set_defaults(func=_cmd_kernel)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``unisst`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # papermill announces every notebook's paths at INFO
        logging.getLogger("papermill").setLevel(logging.WARNING)
    # copernicusmarine logs through its own handler: not twice through ours too
    logging.getLogger("copernicusmarine").propagate = False
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
