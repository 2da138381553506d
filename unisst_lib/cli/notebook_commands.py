"""``unisst demo``, ``notebooks``, ``sweep`` and ``kernel``: the notebooks, headless."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


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


def _add_papermill_args(parser: argparse.ArgumentParser) -> None:
    """Options shared by the commands that run notebooks with papermill."""
    parser.add_argument(
        "-p", "--param", action="append", default=[], metavar="NAME=VALUE",
        help="a parameter for every notebook that declares it (repeatable)",
    )  # fmt: skip
    parser.add_argument("--kernel", default="unisst", help="Jupyter kernel (default: unisst)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


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


def _add_kernel_command(sub) -> None:
    """``unisst kernel``."""
    ker = sub.add_parser("kernel", help="register the 'unisst' Jupyter kernel for this Python")
    ker.add_argument("--name", default="unisst")
    ker.set_defaults(func=_cmd_kernel)
