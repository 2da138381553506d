"""Download a satellite L3 SST product as daily files (``unisst download l3``).

An entry of ``l3_products`` in ``data_manifest.yaml`` names a Copernicus Marine
data set (e.g. the ODYSSEA global L3S, ``cmems_obs-sst_glo_phy_l3s_pir_P1D-m``),
its variables and a default region and period. :func:`download_l3` sends one
:func:`copernicusmarine.subset` request for the region's box and the whole
period, then splits the answer into one netCDF file per day, named
``YYYYMMDDhhmmss-<file_suffix>`` after the product's own time stamp, values and
integer packing untouched (kelvin, ``scale_factor``/``add_offset`` as the
product has them). The files are written to a staging folder, checked with
:func:`unisst_lib.data.archive.open_archive`, then renamed into place one by
one: a reader never sees a partial file, and the folder opens with
``open_archive`` (``unisst evaluate --data FOLDER``).

Credentials are copernicusmarine's own (environment or ``copernicusmarine
login``), checked as :mod:`unisst_lib.sources.copernicus` does; unisst never
reads, prints, logs or stores the password.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shlex
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from unisst_lib.core.errors import (
    CredentialsError,
    DataFormatError,
    RemoteDataError,
    UnisstError,
)
from unisst_lib.core.manifest import L3Product, Manifest, Region, load_manifest
from unisst_lib.core.paths import data_dir
from unisst_lib.sources import copernicus

log = logging.getLogger(__name__)

_KELVIN_UNITS = {"k", "kelvin", "degrees_k", "degree_k"}


@dataclass(frozen=True)
class L3Request:
    """What :func:`download_l3` asks for: the manifest entry, region, period and folder."""

    name: str
    product: L3Product
    region_name: str
    region: Region
    start: dt.date
    end: dt.date
    folder: Path

    @property
    def days(self) -> list[dt.date]:
        """Every day of the period, first to last."""
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def subset_arguments(self) -> dict[str, object]:
        """The keyword arguments of :func:`copernicusmarine.subset` (no output options).

        The region's box as it is (cells of the product's own grid inside it) and
        whole days: ``start`` 00:00:00 to ``end`` 23:59:59 UTC, so a daily stamp at
        any hour of a day falls in that day.
        """
        r = self.region
        return {
            "dataset_id": self.product.dataset_id,
            "variables": list(self.product.variables),
            "minimum_longitude": round(r.lon_min, 6),
            "maximum_longitude": round(r.lon_max, 6),
            "minimum_latitude": round(r.lat_min, 6),
            "maximum_latitude": round(r.lat_max, 6),
            "start_datetime": f"{self.start.isoformat()}T00:00:00",
            "end_datetime": f"{self.end.isoformat()}T23:59:59",
            "coordinates_selection_method": "inside",
            "file_format": "netcdf",
        }

    def subset_command(self) -> str:
        """The ``copernicusmarine subset`` command line of :meth:`subset_arguments`.

        It holds no credentials (the toolbox finds them itself).
        """
        words = ["copernicusmarine", "subset"]
        for key, value in self.subset_arguments().items():
            flag = "--" + ("variable" if key == "variables" else key.replace("_", "-"))
            for v in value if isinstance(value, list) else [value]:
                words += [flag, str(v)]
        return shlex.join(words)


@dataclass(frozen=True)
class L3DownloadResult:
    """What :func:`download_l3` did (or, with ``dry_run``, would do)."""

    name: str
    product_id: str
    dataset_id: str
    verified: bool
    region: str
    start: dt.date
    end: dt.date
    folder: Path
    command: str
    dry_run: bool = False
    written: tuple[Path, ...] = ()
    kept: tuple[Path, ...] = ()
    absent: tuple[dt.date, ...] = ()
    seconds: float = 0.0

    @property
    def days_written(self) -> int:
        return len(self.written)


# ---------------------------------------------------------------- the request
def unverified_warning(name: str, product: L3Product) -> str | None:
    """The warning to give for an entry whose ids were not confirmed, else None."""
    if product.verified:
        return None
    return (
        f"the ids of l3_products.{name} (product {product.product_id}, dataset "
        f"{product.dataset_id}) are not verified: if Copernicus Marine does not know them, "
        f"find the right ones with `copernicusmarine describe --contains {product.product_id}` "
        "and correct data_manifest.yaml"
    )


def plan_l3(
    name: str | None = None,
    *,
    region: str | None = None,
    start=None,
    end=None,
    out_dir: str | os.PathLike[str] | None = None,
    manifest: Manifest | None = None,
    today: dt.date | None = None,
) -> L3Request:
    """The request :func:`download_l3` would send, every input checked; nothing is contacted.

    Raises
    ------
    ManifestError
        Unknown product or region (the message lists the known ones).
    UnisstError
        A date that is not YYYY-MM-DD, ``end`` not after ``start``, a period
        outside the product's coverage.
    """
    m = manifest or load_manifest()
    if name is None:
        if not m.l3_products:
            raise UnisstError("the manifest lists no l3_products: add one to data_manifest.yaml")
        name = next(iter(m.l3_products))
    product = m.l3_product(name)
    region_name = region or product.region
    if region_name not in m.regions:
        raise UnisstError(
            f"unknown region {region_name!r}: choose one of {', '.join(m.regions)} "
            "(data_manifest.yaml: regions)"
        )
    first = _as_date(start, "start") if start is not None else product.start
    last = _as_date(end, "end") if end is not None else product.end
    _check_period(name, product, first, last, today or dt.datetime.now(dt.timezone.utc).date())
    folder = Path(out_dir) if out_dir is not None else data_dir() / product.directory / region_name
    return L3Request(name, product, region_name, m.regions[region_name], first, last, folder)


def _as_date(value, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise UnisstError(
            f"{what} date {value!r} is not a day: give it as YYYY-MM-DD (e.g. 2024-06-01)"
        ) from None


def _check_period(name: str, product: L3Product, start, end, today: dt.date) -> None:
    if end <= start:
        raise UnisstError(
            f"the period {start} .. {end} is empty or a single day: end must be after start "
            "(an archive needs at least two days)"
        )
    last = product.coverage_end or today - dt.timedelta(days=product.latency_days)
    if start < product.coverage_start or end > last:
        held = f"{product.coverage_start} .. {last}"
        if product.coverage_end is None:
            held += f"; near real time: up to {product.latency_days} day(s) before today"
        raise UnisstError(
            f"the period {start} .. {end} is outside what {product.dataset_id} holds ({held}): "
            f"choose --start and --end within it (l3_products.{name} in data_manifest.yaml)"
        )


# ------------------------------------------------------------------- download
def download_l3(
    name: str | None = None,
    *,
    region: str | None = None,
    start=None,
    end=None,
    out_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    dry_run: bool = False,
    progress: bool = True,
    manifest: Manifest | None = None,
) -> L3DownloadResult:
    """Download an ``l3_products`` entry as one file per day, a folder ``open_archive`` reads.

    Parameters
    ----------
    name
        The ``l3_products`` entry; default the manifest's first.
    region
        A manifest region (default the entry's); the product's own grid inside its box.
    start, end
        First and last day (``YYYY-MM-DD``, a date or a datetime), inclusive;
        default the entry's period.
    out_dir
        Folder of the daily files; default ``<data dir>/<directory>/<region>``.
    overwrite
        Replace the days already there (each only once its new file passed the checks).
        Without it a day with a file is kept as it is, and nothing is requested
        when every day of the period has one (a day the product has no frame for
        gets no file, so it is asked for again next time).
    dry_run
        Check the inputs and return the plan (``command``: the equivalent
        ``copernicusmarine subset``); nothing is contacted or written.

    Returns
    -------
    L3DownloadResult
        The folder, the files written and kept, the days the product had no frame for.

    Raises
    ------
    ManifestError, UnisstError
        Bad name, region or period (see :func:`plan_l3`).
    CredentialsError, NetworkError, RemoteDataError, DataFormatError, DownloadError
        No credentials, or the toolbox or its answer failed; each says what to do.
    """
    t0 = time.perf_counter()
    req = plan_l3(name, region=region, start=start, end=end, out_dir=out_dir, manifest=manifest)
    warning = unverified_warning(req.name, req.product)
    if warning:
        log.warning(warning)
    result = L3DownloadResult(
        name=req.name,
        product_id=req.product.product_id,
        dataset_id=req.product.dataset_id,
        verified=req.product.verified,
        region=req.region_name,
        start=req.start,
        end=req.end,
        folder=req.folder,
        command=req.subset_command(),
        dry_run=dry_run,
    )
    if dry_run:
        return result
    period = (req.start, req.end)
    on_disk = {day: _day_file(req, day) for day in req.days}
    kept = tuple(p for p in on_disk.values() if p is not None and not overwrite)
    if len(kept) == len(on_disk):
        log.info("%s: every day of %s .. %s is there, nothing requested", req.folder, *period)
        return _done(result, kept=kept, t0=t0)
    where = require_credentials()
    log.info(
        "requesting %s (%s) %s .. %s over %s from Copernicus Marine, credentials from %s",
        req.product.dataset_id, req.name, req.start, req.end, req.region_name, where,
    )  # fmt: skip
    req.folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".l3-download.", dir=req.folder))
    try:
        raw = _fetch(req, staging, where, progress)
        skip = {day for day, p in on_disk.items() if p is not None and not overwrite}
        staged, absent = _split_days(raw, req, staging / "days", skip)
        written = _move_into_place(staged, on_disk, req.folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("%s: %d day(s) written, %d kept", req.folder, len(written), len(kept))
    return _done(result, written=written, kept=kept, absent=absent, t0=t0)


def _done(result: L3DownloadResult, *, t0: float, **changes) -> L3DownloadResult:
    return replace(result, seconds=time.perf_counter() - t0, **changes)


def require_credentials() -> str:
    """Where copernicusmarine will find credentials (in words), or a CredentialsError."""
    where = copernicus.credentials_source()
    if where is None:
        raise CredentialsError(
            "no Copernicus Marine credentials found: " + copernicus.HOW_TO_LOG_IN
        )
    if where.startswith("the environment") and copernicus._toolbox_missed_environment():
        raise CredentialsError(
            f"{copernicus.USERNAME_ENV} and {copernicus.PASSWORD_ENV} were set after "
            "copernicusmarine was imported in this Python session, and it reads them only when "
            "it is imported: restart the kernel (or Python) with them set beforehand, or run "
            "`copernicusmarine login` once in a terminal (the credentials file works at any time)."
        )
    return where


def _day_file(req: L3Request, day: dt.date) -> Path | None:
    """The file of ``day`` already in the folder (any time stamp that day), or None."""
    found = sorted(req.folder.glob(f"{day:%Y%m%d}??????-{req.product.file_suffix}"))
    return found[0] if found else None


def _fetch(req: L3Request, staging: Path, where: str, progress: bool) -> Path:
    """The toolbox's answer, its failures turned into errors that speak of this product."""
    import copernicusmarine as cm

    kwargs = dict(
        req.subset_arguments(),
        output_directory=str(staging),
        output_filename="subset.nc",
        disable_progress_bar=not progress,
    )
    try:
        return copernicus._subset(kwargs, where)
    except RemoteDataError as err:
        cause = err.__cause__
        p = req.product
        fix = f"correct l3_products.{req.name} in data_manifest.yaml"
        if isinstance(cause, cm.VariableDoesNotExistInTheDataset):
            raise RemoteDataError(
                f"Copernicus Marine has not every variable of {', '.join(p.variables)} in "
                f"{p.dataset_id} ({cause}): remove the missing one from `variables` ({fix})."
            ) from cause
        if isinstance(cause, cm.CoordinatesOutOfDatasetBounds):
            raise RemoteDataError(
                f"Copernicus Marine cannot serve {req.start} .. {req.end} over "
                f"{req.region_name} from {p.dataset_id} ({cause}): choose a period the data "
                f"set holds (`copernicusmarine describe --dataset-id {p.dataset_id}`), or {fix}."
            ) from cause
        raise RemoteDataError(
            f"Copernicus Marine has no data set {p.dataset_id!r} (product {p.product_id}) any "
            f"more ({type(cause).__name__}): find its successor with `copernicusmarine describe "
            f"--contains {p.product_id}` and {fix}."
        ) from cause


# -------------------------------------------------------------- daily files
def _split_days(raw: Path, req: L3Request, out: Path, skip: set[dt.date]):
    """One file per day of ``raw`` into ``out`` (except ``skip``); (files, absent days)."""
    from unisst_lib.core.errors import CorruptFileError
    from unisst_lib.data.io import open_netcdf

    try:
        ds = open_netcdf(raw, mask_and_scale=False)
    except CorruptFileError as err:
        raise CorruptFileError(
            f"the file Copernicus Marine returned for {req.product.dataset_id} cannot be read "
            f"as netCDF ({err}): run the same command again."
        ) from err
    with ds:
        days = _check_answer(ds, req)
        out.mkdir()
        files: dict[dt.date, Path] = {}
        for i, day in enumerate(days):
            if day not in skip:
                files[day] = _write_day(ds.isel(time=slice(i, i + 1)), req, out)
    _check_archive(out, req)
    absent = tuple(d for d in req.days if d not in days)
    if absent:
        log.info("no frame for %d day(s): %s", len(absent), ", ".join(map(str, absent)))
    return files, absent


def _check_answer(ds: xr.Dataset, req: L3Request) -> list[dt.date]:
    """The day of each frame; errors for an answer that is not this product's daily L3."""
    p = req.product
    what = f"the file Copernicus Marine returned for {p.dataset_id}"
    nothing = f"; nothing was written to {req.folder}"
    missing = [v for v in p.variables if v not in ds.data_vars]
    if missing:
        raise DataFormatError(
            f"{what} has no {', '.join(missing)} (it has "
            f"{', '.join(map(str, ds.data_vars)) or 'no variables'}){nothing}"
        )
    sst = ds[p.variable]
    if "time" not in sst.dims or not np.issubdtype(ds["time"].dtype, np.datetime64):
        raise DataFormatError(f"{what} has no decodable time axis (dims {sst.dims}){nothing}")
    units = str(sst.attrs.get("units", "")).strip().lower()
    if units not in _KELVIN_UNITS:
        raise DataFormatError(
            f"{what} has {p.variable} in {units or 'no units'!r}, the manifest says kelvin "
            f"({p.units}){nothing}. Update l3_products.{req.name} if the product changed."
        )
    stamps = pd.DatetimeIndex(ds["time"].values)
    days = [t.date() for t in stamps]
    if len(set(days)) != len(days):
        twice = sorted({d for d in days if days.count(d) > 1})
        raise DataFormatError(
            f"{what} has more than one frame on {', '.join(map(str, twice[:5]))}: not the daily "
            f"cadence (P1D) of l3_products.{req.name}{nothing}"
        )
    outside = [d for d in days if not req.start <= d <= req.end]
    if outside or not days:
        raise DataFormatError(
            f"{what} holds {'no day' if not days else f'days outside {req.start} .. {req.end}'}"
            f" of the request{nothing}. Run the same command again."
        )
    return days


def _write_day(day: xr.Dataset, req: L3Request, out: Path) -> Path:
    """Write one frame as it came (raw integers, their packing attributes) with provenance."""
    from unisst_lib import __version__

    stamp = pd.Timestamp(day["time"].values[0])
    path = out / f"{stamp:%Y%m%d%H%M%S}-{req.product.file_suffix}"
    p = req.product
    day = day.copy()
    day.attrs = {
        **day.attrs,
        "unisst_product": req.name,
        "unisst_region": req.region_name,
        "source_product_id": p.product_id,
        "source_dataset_id": p.dataset_id,
        "history": (
            f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} unisst {__version__} "
            f"download l3: {req.subset_command()} ; the day {stamp:%Y-%m-%d} of the answer"
            + (f"\n{day.attrs['history']}" if "history" in day.attrs else "")
        ),
    }
    encoding = {}
    for name, var in day.variables.items():
        enc = {k: v for k, v in var.encoding.items() if k in ("dtype", "units", "calendar")}
        if name in day.data_vars:
            enc.update(zlib=True, complevel=4, shuffle=True)
        elif name != "time":  # CF: no fill value on a coordinate
            enc["_FillValue"] = None
            var.attrs.pop("_FillValue", None)
        encoding[name] = enc
    day.load().to_netcdf(path, format="NETCDF4", engine="netcdf4", encoding=encoding)
    return path


def _check_archive(out: Path, req: L3Request) -> None:
    """The day files open as an archive (when there are two or more), else nothing moves."""
    from unisst_lib.data.archive import open_archive

    files = sorted(out.glob("*.nc"))
    if len(files) < 2:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # land from data, small box: said when opened
            open_archive(files, min_quality=0 if "quality_level" in req.product.variables else None)
    except UnisstError as err:
        raise DataFormatError(
            f"the daily files made from the answer for {req.product.dataset_id} do not open as "
            f"an archive ({err}); nothing was written to {req.folder}"
        ) from err


def _move_into_place(
    staged: dict[dt.date, Path], on_disk: dict[dt.date, Path | None], folder: Path
) -> tuple[Path, ...]:
    """Rename each staged file into ``folder`` (atomic), replacing the day's old file."""
    written = []
    for day, path in sorted(staged.items()):
        dest = folder / path.name
        os.replace(path, dest)
        old = on_disk.get(day)
        if old is not None and old != dest:  # the same day under another time stamp
            old.unlink(missing_ok=True)
        written.append(dest)
    return tuple(written)
