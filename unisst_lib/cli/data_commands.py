"""``unisst data …`` and ``unisst download …``: build, inspect, verify and download data."""

from __future__ import annotations

import argparse
import json
import time


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


def _cmd_download_l3(args: argparse.Namespace) -> int:
    """``unisst download l3``: a satellite L3 product as daily files, or (--dry-run) the plan."""
    import shlex

    from unisst_lib.sources.copernicus import credentials_source
    from unisst_lib.sources.l3_download import download_l3

    res = download_l3(
        args.name,
        region=args.region,
        start=args.start,
        end=args.end,
        out_dir=args.dir,
        overwrite=args.overwrite,
        dry_run=args.dry_run,
        progress=not args.quiet,
    )  # an unverified manifest entry is named in a logged warning
    what = f"{res.name} ({res.product_id} / {res.dataset_id}), {res.region}"
    period = f"{res.start} .. {res.end}"
    if res.dry_run:
        where = credentials_source() or "none found (see `unisst download l3 --help`)"
        print(f"{what}, {period} -> {res.folder} (one file a day; nothing fetched):")
        print(f"  {res.command}")
        print(f"credentials: {where}")
        return 0
    print(f"{res.folder}: {res.days_written} day(s) written, {what}, {period}")
    if res.kept:
        print(f"  {len(res.kept)} day(s) already there, kept (--overwrite replaces them)")
    if res.absent:
        days = ", ".join(map(str, res.absent))
        print(f"  no data from the product on {len(res.absent)} day(s): {days}")
    print(f"next: unisst evaluate --data {shlex.quote(str(res.folder))}")
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
    """``unisst download sst|l3|clouds``."""
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

    _add_download_l3_command(dl_sub)

    dcl = dl_sub.add_parser("clouds", help="the paper's liquid-water-path fields from figshare")
    dcl.add_argument("--dir", default=None, help="data directory ($UNISST_DATA_DIR or ./data)")
    dcl.add_argument("--timeout", type=float, default=None, help="seconds (default: manifest)")
    dcl.add_argument("--retries", type=int, default=None, help="resumes (default: manifest)")
    dcl.add_argument("--overwrite", action="store_true", help="download again even if present")
    dcl.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    dcl.set_defaults(func=_cmd_download_clouds)


def _add_download_l3_command(dl_sub) -> None:
    """``unisst download l3``."""
    dl3 = dl_sub.add_parser(
        "l3",
        help="a satellite L3 SST product (data_manifest.yaml: l3_products) from Copernicus Marine "
        "as one file a day, a folder `unisst evaluate --data` reads",
        description="One copernicusmarine subset request for the region and period, split into "
        "one file per day. Credentials: COPERNICUSMARINE_SERVICE_USERNAME and "
        "COPERNICUSMARINE_SERVICE_PASSWORD in the environment, or `copernicusmarine login` once.",
    )
    dl3.add_argument("--name", default=None, help="l3_products entry (default: the first)")
    dl3.add_argument("--region", default=None, help="manifest region (default: the entry's)")
    dl3.add_argument("--start", default=None, metavar="YYYY-MM-DD", help="first day")
    dl3.add_argument("--end", default=None, metavar="YYYY-MM-DD", help="last day (inclusive)")
    dl3.add_argument(
        "--dir", default=None,
        help="folder of the daily files (default: <data dir>/<directory>/<region>)",
    )  # fmt: skip
    dl3.add_argument("--overwrite", action="store_true", help="replace the days already there")
    dl3.add_argument(
        "--dry-run", action="store_true",
        help="print the copernicusmarine request and the folder; fetch nothing",
    )  # fmt: skip
    dl3.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    dl3.set_defaults(func=_cmd_download_l3)
