"""``unisst fill``: gap-fill a file or an archive."""

from __future__ import annotations

import argparse
import glob
import shlex
from pathlib import Path

from unisst_lib.core.errors import UnisstError

#: Options that only an archive fill (a folder, a glob, several files, an L3 file) takes.
_ARCHIVE_OPTIONS = ("min_quality", "apply_bias", "land_mask", "all_days")
#: Options that only a single plain netCDF file takes.
_FILE_OPTIONS = ("mask_variable", "resample")


def _cmd_fill(args: argparse.Namespace) -> int:
    _check_fit_options(args)
    _check_ensemble_options(args)
    args.history = _fill_history(args)  # the command as given, before --fit adds a model
    if args.fit:
        args.checkpoint = _fit(args)
    archive = _is_archive(args.input)
    if _streamed(args, archive):
        return _fill_streamed(args, archive)
    if archive:
        return _fill_archive(args)
    _refuse(
        args,
        _ARCHIVE_OPTIONS,
        "an archive (a folder, a quoted glob, several files or an L3 file with "
        "quality_level); give INPUT as one of those and OUTPUT as a folder",
    )
    return _fill_file(args)


def _fill_file(args: argparse.Namespace) -> int:
    """One plain netCDF file to one filled CF netCDF file."""
    from unisst_lib.core.errors import DataNotFoundError
    from unisst_lib.core.paths import atomic_path
    from unisst_lib.data.io import open_netcdf
    from unisst_lib.methods.fill import fill

    src, dst = Path(args.input[0]), Path(args.output)
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
            device=args.device or "cpu",
            resample=args.resample,
            progress=not args.quiet,
            history=args.history,
            **_ensemble_kwargs(args),
        )
        with atomic_path(dst) as tmp:
            res.to_netcdf(tmp)
    name = next(iter(res.data_vars))
    n = int(res[f"{name}_filled_mask"].sum())
    print(f"{dst}: {name} {'x'.join(map(str, res[name].shape))}, {n} values filled ({args.method})")
    return 0


def _fill_archive(args: argparse.Namespace) -> int:
    """An archive (folder, glob, files) to a folder of filled files in the inputs' layout."""
    from unisst_lib.data.archive import resolve_paths
    from unisst_lib.methods.archive_fill import count_filled, fill_archive

    _refuse(args, _FILE_OPTIONS, "a single plain netCDF file, not with an archive")
    out = Path(args.output)
    if out.suffix == ".nc" and not out.is_dir():
        raise UnisstError(
            f"OUTPUT {out} looks like a file, but {' '.join(args.input)} is an archive (a "
            "folder, a glob, several files or an L3 file with quality_level): OUTPUT is the "
            "folder that gets one filled file per input file, under its name. Give a folder."
        )
    paths = args.input[0] if len(args.input) == 1 else args.input
    written = fill_archive(
        paths,
        out,
        method=args.method,
        checkpoint=args.checkpoint,
        variable=args.variable,
        min_quality=args.min_quality,
        apply_bias=args.apply_bias,
        land_mask=args.land_mask,
        all_days=args.all_days,
        overwrite=args.overwrite,
        device=args.device or "cpu",
        progress=not args.quiet,
        history=args.history,
        **_ensemble_kwargs(args),
    )
    inputs = {p.name for p in resolve_paths(paths)}
    absent = sum(p.name not in inputs for p in written)
    extra = f" ({absent} for absent dates)" if args.all_days else ""
    print(
        f"{out}: {len(written)} files written{extra}, {count_filled(written)} values "
        f"filled ({args.method})"
    )
    return 0


#: Options of the streamed fill only.
_STREAM_OPTIONS = ("workers", "scheduler", "chunk", "chunk_frames")


def _streamed(args: argparse.Namespace, archive: bool) -> bool:
    """Stream when asked (a cluster, chunks, a Zarr output) or when memory would not do."""
    if str(args.output).rstrip("/").endswith(".zarr"):
        return True
    if any(getattr(args, o) is not None for o in _STREAM_OPTIONS):
        return True
    from unisst_lib.methods.stream.sizing import too_big_for_memory

    return too_big_for_memory(args.input, archive=archive, variable=args.variable)


def _fill_streamed(args: argparse.Namespace, archive: bool) -> int:
    """The streamed fill: chunk by chunk, on this machine or a dask cluster."""
    if args.members > 1:
        raise UnisstError(
            "--members: ensembles are filled in memory only, and this fill streams (--workers, "
            "--scheduler, --chunk, a .zarr OUTPUT, or an input too big for memory). Fill a "
            "smaller region or period per command, or leave --members out."
        )
    if args.worker_processes and args.workers is None:
        raise UnisstError("--worker-processes belongs to --workers N (a local dask cluster)")
    from unisst_lib.methods.stream.run import (
        DEFAULT_CHUNK,
        DEFAULT_CHUNK_FRAMES,
        fill_streamed,
    )

    if archive:
        _refuse(args, ("mask_variable", "resample"), "a single plain netCDF file, not an archive")
    else:
        _refuse(args, _ARCHIVE_OPTIONS, "an archive (a folder, a quoted glob, several files)")
    paths = args.input[0] if len(args.input) == 1 else args.input
    written = fill_streamed(
        paths,
        args.output,
        archive=archive,
        method=args.method,
        checkpoint=args.checkpoint,
        variable=args.variable,
        mask_variable=args.mask_variable,
        min_quality=args.min_quality,
        apply_bias=args.apply_bias,
        land_mask=args.land_mask,
        all_days=args.all_days,
        resample=args.resample,
        overwrite=args.overwrite,
        device=args.device or "cpu",
        chunk=DEFAULT_CHUNK if args.chunk is None else args.chunk,
        chunk_frames=DEFAULT_CHUNK_FRAMES if args.chunk_frames is None else args.chunk_frames,
        workers=args.workers,
        scheduler=args.scheduler,
        processes=args.worker_processes,
        progress=not args.quiet,
        history=args.history,
    )
    what = f"{len(written)} files" if len(written) > 1 else str(written[0])
    print(f"{args.output}: {what} written ({args.method}, streamed)")
    return 0


def _check_fit_options(args: argparse.Namespace) -> None:
    fit_only = [o for o in ("fit_minutes", "fit_steps", "save_model") if getattr(args, o)]
    if fit_only and not args.fit:
        names = ", ".join(f"--{o.replace('_', '-')}" for o in fit_only)
        raise UnisstError(f"{names} belong to --fit: add --fit (fit a model on INPUT, then fill)")
    if args.fit and (args.checkpoint or args.method != "unisst"):
        raise UnisstError(
            "--fit trains the unisst model on INPUT itself: it does not take --checkpoint "
            "(a trained model) or another --method"
        )


def _check_ensemble_options(args: argparse.Namespace) -> None:
    if args.members < 1:
        raise UnisstError(f"--members must be >= 1, got {args.members}")
    if args.members == 1:
        given = [o for o in ("keep_members", "calibration") if getattr(args, o)]
        if given:
            names = ", ".join(f"--{o.replace('_', '-')}" for o in given)
            raise UnisstError(f"{names}: only with an ensemble; add --members N (N >= 2)")


def _ensemble_kwargs(args: argparse.Namespace) -> dict:
    """fill()'s ensemble keywords from the options (none for one member)."""
    if args.members == 1:
        return {}
    cal = args.calibration or "auto"
    try:
        cal = float(cal)
    except ValueError:
        pass
    return {"members": args.members, "keep_members": args.keep_members, "calibration": cal,
            "seed": args.seed}  # fmt: skip


def _fit(args: argparse.Namespace) -> Path:
    """``--fit``: train a model on INPUT itself within the budget; the checkpoint's path."""
    from unisst_lib.methods.fit import (
        DEFAULT_FIT_MINUTES,
        FIT_CONFIG,
        FIT_ENSEMBLE_CONFIG,
        fit_archive,
    )

    out = Path(args.output)
    default = (out if out.suffix != ".nc" else out.parent) / "unisst_fit.pt"
    save = Path(args.save_model) if args.save_model else default
    if save.exists() and not args.overwrite:
        raise UnisstError(f"{save} exists: pass --overwrite to replace it, or --save-model PATH")
    res = fit_archive(
        args.input[0] if len(args.input) == 1 else args.input,
        out=save,
        minutes=args.fit_minutes or DEFAULT_FIT_MINUTES,
        steps=args.fit_steps,
        device=args.device or "auto",  # a fit takes a GPU when there is one
        progress=not args.quiet,
        config=FIT_ENSEMBLE_CONFIG if args.members > 1 else FIT_CONFIG,
    )
    print(
        f"fitted {save}: {res.steps} steps in {res.seconds:.0f} s, RMSE "
        f"{res.holdout_rmse_c:.3f} °C on observed pixels withheld from training"
    )
    return save


def _is_archive(inputs: list[str]) -> bool:
    """Several inputs, a folder, a glob, or one netCDF file with a ``quality_level`` (L3)."""
    if len(inputs) > 1:
        return True
    path = Path(inputs[0]).expanduser()
    if path.is_dir() or (glob.has_magic(inputs[0]) and not path.exists()):
        return True
    if not path.is_file():
        return False
    from unisst_lib.data.io import open_netcdf

    with open_netcdf(path) as ds:
        return "quality_level" in ds.variables


def _refuse(args: argparse.Namespace, options: tuple[str, ...], why: str) -> None:
    given = [o for o in options if getattr(args, o) is not None and getattr(args, o) is not False]
    if given:
        names = ", ".join(f"--{o.replace('_', '-')}" for o in given)
        raise UnisstError(f"{names} can only be used with {why}.")


def _fill_history(args: argparse.Namespace) -> str:
    """The ``unisst fill`` command as it ran, for the output's ``history`` attribute."""
    words = ["unisst fill", *map(shlex.quote, args.input), shlex.quote(str(args.output))]
    words.append(f"--method {args.method}")
    if args.fit:
        words.append("--fit")
    # the default device said (cpu), so a re-run on a GPU machine is the same; a fit's is auto
    given = {"device": args.device or (None if args.fit else "cpu")}
    opts = ("checkpoint", "variable", "mask_variable", "device", "min_quality", "land_mask")
    for opt in (*opts, "fit_minutes", "fit_steps", "save_model", "chunk", "chunk_frames"):
        value = given.get(opt, getattr(args, opt))
        if value is not None:
            words.append(f"--{opt.replace('_', '-')} {shlex.quote(str(value))}")
    if args.members > 1:
        words.append(f"--members {args.members} --seed {args.seed}")
        if args.calibration:
            words.append(f"--calibration {shlex.quote(args.calibration)}")
    flags = ("resample", "apply_bias", "all_days", "overwrite", "keep_members")
    words += [f"--{f.replace('_', '-')}" for f in flags if getattr(args, f)]
    return " ".join(words)


def _add_fill_command(sub) -> None:
    """``unisst fill``."""
    fl = sub.add_parser(
        "fill",
        help="gap-fill an SST netCDF file, or an L3 archive file by file",
        description="Fill the gaps of one netCDF file (OUTPUT: a CF netCDF file), or of an "
        "archive of L3 files: a folder, a quoted glob ('sst/2018*.nc'), several files or an "
        "L3 file with quality_level (OUTPUT: a folder; each input file gets a filled copy "
        "there, under its name and in its own layout, with <sst>_filled_mask). OUTPUT ending in "
        ".zarr: one Zarr store. Inputs too big for memory (or with --workers, --scheduler, "
        "--chunk) are filled chunk by chunk, restartably: re-run the same command to resume.",
    )
    fl.add_argument("input", nargs="+", help="netCDF file, folder, quoted glob or several files")
    fl.add_argument("output", help="netCDF file to write (a folder for an archive)")
    fl.add_argument("--method", choices=("unisst", "dineof", "interp"), default="unisst")
    fl.add_argument("--checkpoint", default=None, help="model (.pt); default: the bundled one")
    fl.add_argument("--variable", default=None, help="SST variable (default: found)")
    fl.add_argument("--mask-variable", default=None, help="variable that is 1 where missing")
    fl.add_argument("--device", default=None, help="cpu, cuda, auto (default: cpu; auto for --fit)")
    fl.add_argument(
        "--resample",
        action="store_true",
        help="frames k times closer than the model's: keep every k-th frame only "
        "(default: fill every frame, as k interleaved series)",
    )
    fl.add_argument(
        "--min-quality",
        type=int,
        default=None,
        metavar="N",
        help="archive: keep pixels with quality_level >= N (0..5, default 4); the others are "
        "replaced by the fill and flagged",
    )
    fl.add_argument(
        "--apply-bias", action="store_true", help="archive: fill the SST minus sses_bias"
    )
    fl.add_argument(
        "--land-mask",
        default=None,
        metavar="FILE[:VAR]",
        help="archive: netCDF land/sea mask on the grid (default: the l2p_flags land bit, a "
        "mask variable, else pixels never observed)",
    )
    fl.add_argument(
        "--all-days",
        action="store_true",
        help="archive: also write a filled file for each absent date",
    )
    fl.add_argument(
        "--overwrite", action="store_true", help="replace existing output file(s), never inputs"
    )
    fl.add_argument(
        "--fit", action="store_true",
        help="fit a unisst model on INPUT itself first (its own observations and clouds, the "
        "model chosen on withheld observed pixels), save it, then fill with it",
    )  # fmt: skip
    fl.add_argument(
        "--fit-minutes", type=float, default=None, metavar="M",
        help="--fit: wall-clock budget of the fit, default 10 (on a GPU when there is one, "
        "unless --device cpu)",
    )  # fmt: skip
    fl.add_argument(
        "--fit-steps", type=int, default=None, metavar="N",
        help="--fit: train exactly N steps instead (reproducible across machines)",
    )  # fmt: skip
    fl.add_argument(
        "--save-model", default=None, metavar="PATH",
        help="--fit: where the fitted model goes (default: unisst_fit.pt next to OUTPUT)",
    )  # fmt: skip
    fl.add_argument(
        "--workers", type=int, default=None, metavar="N",
        help="stream the fill on a local dask cluster of N workers (threads of this process)",
    )  # fmt: skip
    fl.add_argument(
        "--worker-processes", action="store_true",
        help="--workers: worker processes, each with its share of the cores, instead of threads",
    )  # fmt: skip
    fl.add_argument(
        "--scheduler", default=None, metavar="ADDRESS",
        help="stream the fill on an existing dask cluster: its scheduler's address "
        "(tcp://host:8786) or scheduler file (.json)",
    )  # fmt: skip
    fl.add_argument(
        "--chunk", type=int, default=None, metavar="PIXELS",
        help="stream the fill in chunks of PIXELS x PIXELS (default 256): memory grows with "
        "the chunk, not the domain",
    )  # fmt: skip
    fl.add_argument(
        "--chunk-frames", type=int, default=None, metavar="N",
        help="stream the fill in chunks of N frames (default 48)",
    )  # fmt: skip
    fl.add_argument(
        "--members", type=int, default=1, metavar="N",
        help="an ensemble of N fills from a stochastic model (default 1): OUTPUT's SST is "
        "their mean and <sst>_error its predicted standard deviation; N times the time and "
        "memory of one fill (with --fit, the fitted model has noise inputs)",
    )  # fmt: skip
    fl.add_argument(
        "--keep-members", action="store_true",
        help="--members: also write the members (<sst>_members on a member dimension)",
    )  # fmt: skip
    fl.add_argument(
        "--calibration", default=None, metavar="HOW",
        help="--members: how the spread is corrected: auto (default: fitted on observed pixels "
        "of INPUT withheld under other dates' clouds, the members run twice; the model's own "
        "when INPUT is too short), data (the same, never the model's), checkpoint, none, or "
        "a factor",
    )  # fmt: skip
    fl.add_argument("--seed", type=int, default=0, help="--members: the noise seed (default 0)")
    fl.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    fl.set_defaults(func=_cmd_fill)
