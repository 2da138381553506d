"""``unisst fill``: gap-fill a file or an archive."""

from __future__ import annotations

import argparse
from pathlib import Path

from unisst_lib.core.errors import UnisstError


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
