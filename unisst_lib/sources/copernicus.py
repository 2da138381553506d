"""Download SST from Copernicus Marine (``unisst download sst``).

Every argument sent to :func:`copernicusmarine.subset` comes from
``data_manifest.yaml``: the data set's source (dataset id, variable), its
region widened by ``download.sst.margin_deg`` (then cropped to exactly the
region's grid), the surface depth range and the period (widened by half a frame
on each side, so hourly means stamped hh:00 or hh:30 are both taken).

The paper's hourly 2018–2019 product is retired, so a real download is one of
two *variants* (``download.sst.variants``, each a split set of the manifest):

* ``anfc`` (default): the paper's regions and hourly frames, from the hourly
  analysis-forecast of recent years (2024 train/val, 2025-01..06 test);
* ``reanalysis``: the paper's dates, from daily reanalysis means (one frame a day).

The result says which one the user got, and so does every file (global
attributes ``unisst_variant`` and ``unisst_variant_note``).

Credentials are read by copernicusmarine itself, from the environment
(``COPERNICUSMARINE_SERVICE_USERNAME`` / ``COPERNICUSMARINE_SERVICE_PASSWORD``)
or the credentials file that ``copernicusmarine login`` writes; unisst never
reads, prints, logs or stores the password. A download goes to a temporary
directory next to its destination and is renamed into place only after it
opens with xarray and passes :func:`unisst_lib.sources.verify.check_sst_file`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unisst_lib.core.errors import (
    CredentialsError,
    DataFormatError,
    DownloadError,
    NetworkError,
    RemoteDataError,
    UnisstError,
)
from unisst_lib.core.manifest import SPLIT_NAMES, Manifest, load_manifest
from unisst_lib.core.paths import data_dir
from unisst_lib.sources.verify import check_sst_file

log = logging.getLogger(__name__)

USERNAME_ENV = "COPERNICUSMARINE_SERVICE_USERNAME"
PASSWORD_ENV = "COPERNICUSMARINE_SERVICE_PASSWORD"
CREDENTIALS_DIR_ENV = "COPERNICUSMARINE_CREDENTIALS_DIRECTORY"
CREDENTIALS_FILENAME = ".copernicusmarine-credentials"
REGISTER_URL = "https://data.marine.copernicus.eu/register"

HOW_TO_LOG_IN = (
    f"set {USERNAME_ENV} and {PASSWORD_ENV} in the environment before starting Python "
    "(or Jupyter), or run `copernicusmarine login` once (it writes "
    f"~/.copernicusmarine/{CREDENTIALS_FILENAME}). No account? Sign up for free at "
    f"{REGISTER_URL}."
)


@dataclass(frozen=True)
class SSTDownloadResult:
    """One SST file fetched (or found valid on disk) by :func:`download_sst`."""

    dataset: str
    variant: str
    variant_note: str
    dataset_id: str
    path: Path
    shape: tuple[int, int, int]
    period: str
    cached: bool
    seconds: float

    @property
    def shape_text(self) -> str:
        t, ny, nx = self.shape
        return f"{t} frames of {ny}×{nx}"


# ------------------------------------------------------------------ what to fetch
def resolve_variant(variant: str | None = None, *, manifest: Manifest | None = None) -> str:
    """The variant to download: ``variant`` or the manifest's default.

    Raises
    ------
    RemoteDataError
        ``paper``: the paper's hourly product is retired (the message says what
        to use instead).
    UnisstError
        ``twin`` (generated locally, not downloaded) or an unknown name.
    """
    m = manifest or load_manifest()
    dl = m.download.sst
    name = variant or dl.default_variant
    if name in dl.variants:
        return name
    choices = "; ".join(f"--variant {k}: {v}" for k, v in dl.variants.items())
    if name in m.splits:
        sources = {m.source_of(m.split_set(name).split(s).dataset) for s in SPLIT_NAMES}
        if any(s.provider == "embedded" for s in sources):
            raise UnisstError(
                f"the {name!r} data are generated here, not downloaded: run "
                "`unisst data make`. To download real SST choose " + choices
            )
        if any(not s.available for s in sources):
            gone = next(s for s in sources if not s.available)
            raise RemoteDataError(
                f"the {name!r} data ({gone.dataset_id}) cannot be downloaded any more: "
                f"{' '.join(gone.description.split())} Choose instead " + choices
            )
    raise UnisstError(f"unknown SST variant {name!r}: choose " + choices)


def datasets_for(
    variant: str, splits: tuple[str, ...] = SPLIT_NAMES, *, manifest: Manifest | None = None
) -> list[str]:
    """The manifest data sets that hold ``splits`` of ``variant``, each once, in order."""
    m = manifest or load_manifest()
    split_set = m.split_set(variant)
    names: list[str] = []
    for split in splits:
        ds = split_set.split(split).dataset
        if ds not in names:
            names.append(ds)
    return names


def subset_arguments(dataset: str, *, manifest: Manifest | None = None) -> dict[str, object]:
    """The keyword arguments of :func:`copernicusmarine.subset` for a manifest data set.

    Everything but ``output_directory`` / ``output_filename`` /
    ``disable_progress_bar``: dataset id, variable, the region plus
    ``download.sst.margin_deg`` on each side (degrees), the depth range (m),
    and the period widened by half a frame on each side (ISO 8601, UTC).
    """
    m = manifest or load_manifest()
    entry = m.sst_dataset(dataset)
    src = m.source_of(dataset)
    if src.provider != "copernicus_marine":
        raise UnisstError(
            f"{dataset!r} is not a Copernicus Marine data set (provider {src.provider!r})"
        )
    region = m.region_of(dataset)
    dl = m.download.sst
    half = dt.timedelta(hours=src.frequency_hours) / 2
    margin = dl.margin_deg

    def iso(t: dt.datetime) -> str:
        return t.replace(tzinfo=None).isoformat(timespec="seconds")

    return {
        "dataset_id": src.dataset_id,
        "variables": [src.variable],
        "minimum_longitude": round(region.lon_min - margin, 6),
        "maximum_longitude": round(region.lon_max + margin, 6),
        "minimum_latitude": round(region.lat_min - margin, 6),
        "maximum_latitude": round(region.lat_max + margin, 6),
        "minimum_depth": dl.depth_range_m[0],
        "maximum_depth": dl.depth_range_m[1],
        "start_datetime": iso(entry.start - half),
        "end_datetime": iso(entry.end + half - dt.timedelta(seconds=1)),
        "coordinates_selection_method": "inside",
        "file_format": "netcdf",
    }


def subset_command(dataset: str, *, manifest: Manifest | None = None) -> str:
    """The ``copernicusmarine subset`` command line equivalent to :func:`subset_arguments`.

    For a user who wants to see, or run by hand, exactly what unisst asks for
    (``unisst download sst --dry-run``); it holds no credentials.

    Examples
    --------
    >>> print(subset_command("anfc_test").split(" --minimum-longitude")[0])
    copernicusmarine subset --dataset-id cmems_mod_glo_phy_anfc_0.083deg_PT1H-m --variable thetao
    """
    import shlex

    words = ["copernicusmarine", "subset"]
    for key, value in subset_arguments(dataset, manifest=manifest).items():
        flag = "--" + ("variable" if key == "variables" else key.replace("_", "-"))
        for v in value if isinstance(value, list) else [value]:
            words += [flag, str(v)]
    return shlex.join(words)


# -------------------------------------------------------------------- credentials
def credentials_source(
    environ: dict[str, str] | None = None, home: str | os.PathLike[str] | None = None
) -> str | None:
    """Where copernicusmarine will find credentials, in words, or None if nowhere.

    Looks (as copernicusmarine does) at the environment variables, then at
    ``$COPERNICUSMARINE_CREDENTIALS_DIRECTORY`` or ``~/.copernicusmarine`` for
    the credentials file, then at ``~/.netrc``. Only names are checked: the
    password is never read.
    """
    env = os.environ if environ is None else environ
    if env.get(USERNAME_ENV) and env.get(PASSWORD_ENV):
        return f"the environment variables {USERNAME_ENV} and {PASSWORD_ENV}"
    home = Path(home) if home is not None else Path.home()
    directory = Path(env[CREDENTIALS_DIR_ENV]) if env.get(CREDENTIALS_DIR_ENV) else None
    directory = directory or home / ".copernicusmarine"
    path = directory / CREDENTIALS_FILENAME
    if path.is_file():
        return f"the credentials file {path}"
    netrc = home / ".netrc"
    try:
        if "marine.copernicus.eu" in netrc.read_text(errors="replace"):
            return f"the netrc file {netrc}"
    except OSError:
        pass
    return None


# ----------------------------------------------------------------------- download
def download_sst(
    variant: str | None = None,
    splits: tuple[str, ...] = SPLIT_NAMES,
    root: str | os.PathLike[str] | None = None,
    *,
    manifest: Manifest | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[SSTDownloadResult]:
    """Download the SST of ``splits`` of a variant into the data directory.

    Parameters
    ----------
    variant
        ``anfc`` or ``reanalysis`` (``download.sst.variants`` of the manifest);
        default ``download.sst.default_variant``.
    splits
        Any of ``train``, ``val``, ``test`` (train and val share one file).
    root
        Data directory (default ``$UNISST_DATA_DIR`` or ``./data``); files go
        to the manifest's paths under it (e.g. ``sst/anfc/natl_2024_PT1H.nc``).
    overwrite
        Download again even when a valid file is there (the old one is
        replaced only once the new one passed the checks).

    Returns
    -------
    list of SSTDownloadResult
        One per file, saying which variant it is. A file already on disk that
        passes the checks is not downloaded again (``cached``).

    Raises
    ------
    CredentialsError, NetworkError, RemoteDataError, DataFormatError, DownloadError
        Each with what to do.
    """
    m = manifest or load_manifest()
    name = resolve_variant(variant, manifest=m)
    note = " ".join(m.download.sst.variants[name].split())
    bad = [s for s in splits if s not in SPLIT_NAMES]
    if bad or not splits:
        raise UnisstError(
            f"unknown split(s) {', '.join(map(repr, bad))}: use train, val and/or test"
            if bad
            else "no split given: use train, val and/or test"
        )
    log.info("SST variant %r: %s", name, note)
    return [
        download_dataset(ds, root, variant=name, manifest=m, overwrite=overwrite, progress=progress)
        for ds in datasets_for(name, tuple(splits), manifest=m)
    ]


def download_dataset(
    dataset: str,
    root: str | os.PathLike[str] | None = None,
    *,
    variant: str = "",
    manifest: Manifest | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> SSTDownloadResult:
    """Download one manifest SST data set (see :func:`download_sst`)."""
    m = manifest or load_manifest()
    entry = m.sst_dataset(dataset)
    src = m.source_of(dataset)
    note = " ".join(m.download.sst.variants.get(variant, src.description).split())
    dest = data_dir(root) / entry.file
    if not src.available:
        raise RemoteDataError(
            f"{dataset!r} ({src.dataset_id}) cannot be downloaded any more: "
            f"{' '.join(src.description.split())} Download a variant instead: "
            + "; ".join(f"--variant {k}: {v}" for k, v in m.download.sst.variants.items())
        )
    t0 = time.perf_counter()
    if dest.is_file() and not overwrite:
        problems = check_sst_file(dest, dataset, manifest=m)
        if problems:
            raise DataFormatError(
                f"{dest} is already there but does not match the manifest: "
                + "; ".join(problems)
                + ". Pass --overwrite (overwrite=True) to download it again."
            )
        log.info("%s: already there and valid, not downloaded again", dest)
        return _result(dest, dataset, variant, note, src.dataset_id, True, t0)

    where = credentials_source()
    if where is None:
        raise CredentialsError("no Copernicus Marine credentials found: " + HOW_TO_LOG_IN)
    if where.startswith("the environment") and _toolbox_missed_environment():
        raise CredentialsError(
            f"{USERNAME_ENV} and {PASSWORD_ENV} were set after copernicusmarine was imported in "
            "this Python session, and it reads them only when it is imported: restart the "
            "kernel (or Python) with them set beforehand, or run `copernicusmarine login` once "
            "in a terminal (the credentials file works at any time)."
        )
    kwargs = subset_arguments(dataset, manifest=m)
    log.info(
        "downloading %s (%s, %s .. %s) from Copernicus Marine with credentials from %s",
        dataset,
        kwargs["dataset_id"],
        kwargs["start_datetime"],
        kwargs["end_datetime"],
        where,
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".download", dir=dest.parent))
    try:
        raw = _subset(
            dict(
                kwargs,
                output_directory=str(staging),
                output_filename="subset.nc",
                disable_progress_bar=not progress,
            ),
            where,
        )
        cropped = staging / "cropped.nc"
        _crop_to_region(raw, cropped, dataset, variant, note, kwargs, manifest=m)
        problems = check_sst_file(cropped, dataset, manifest=m)
        if problems:
            raise DataFormatError(
                f"the file Copernicus Marine returned for {dataset} ({src.dataset_id}) does not "
                "match the manifest: " + "; ".join(problems) + f". Nothing was written to {dest}. "
                "If the service changed the data set (dates no longer kept, a new version), "
                "update data_manifest.yaml (sst_datasets / sst_sources)."
            )
        os.replace(cropped, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("%s written (%s, variant %s)", dest, src.dataset_id, variant or "-")
    return _result(dest, dataset, variant, note, src.dataset_id, False, t0)


def _result(
    path: Path, dataset: str, variant: str, note: str, dataset_id: str, cached: bool, t0: float
) -> SSTDownloadResult:
    from unisst_lib.data.io import open_sst

    da = open_sst(path)
    t = da.time.values
    return SSTDownloadResult(
        dataset=dataset,
        variant=variant,
        variant_note=note,
        dataset_id=dataset_id,
        path=path,
        shape=tuple(int(n) for n in da.shape),
        period=f"{str(t[0])[:16]} .. {str(t[-1])[:16]}",
        cached=cached,
        seconds=time.perf_counter() - t0,
    )


def _toolbox_missed_environment() -> bool:
    """True if copernicusmarine read the environment before the credentials were set.

    The toolbox copies the two variables once, when it is imported; a notebook
    that sets ``os.environ`` afterwards would otherwise end in an interactive
    prompt instead of a download.
    """
    from copernicusmarine.core_functions import credentials_utils

    seen = [getattr(credentials_utils, n, "unknown") for n in (USERNAME_ENV, PASSWORD_ENV)]
    return not all(seen)


def _subset(kwargs: dict[str, object], where: str) -> Path:
    """Call copernicusmarine.subset; its failures become unisst errors that say what to do."""
    import copernicusmarine as cm
    import requests

    dataset_id = kwargs["dataset_id"]
    try:
        response = cm.subset(**kwargs)
    except cm.InvalidUsernameOrPassword as err:
        raise CredentialsError(
            f"Copernicus Marine refused the username and password from {where}: check them "
            "(`copernicusmarine login --force-overwrite` stores new ones; forgotten password: "
            "https://help.marine.copernicus.eu). " + HOW_TO_LOG_IN
        ) from err
    except cm.CouldNotConnectToAuthenticationSystem as err:
        raise NetworkError(
            "cannot reach the Copernicus Marine authentication service "
            "(auth.marine.copernicus.eu): "
            "check the network connection, or set HTTPS_PROXY if you are behind a proxy. "
            "Offline, use the embedded data set (`unisst data make`)."
        ) from err
    except (
        cm.DatasetNotFound,
        cm.DatasetVersionNotFound,
        cm.DatasetVersionPartNotFound,
        cm.ProductNotFound,
    ) as err:
        raise RemoteDataError(
            f"Copernicus Marine has no data set {dataset_id!r} any more ({type(err).__name__}). "
            "Find its successor with `copernicusmarine describe --contains thetao` and put the "
            "new dataset_id into data_manifest.yaml (sst_sources)."
        ) from err
    except (cm.VariableDoesNotExistInTheDataset, cm.CoordinatesOutOfDatasetBounds) as err:
        raise RemoteDataError(
            f"Copernicus Marine cannot serve this request from {dataset_id!r}: {err}. The "
            "analysis-forecast keeps a few recent years only: update the period of the data "
            "set in data_manifest.yaml (sst_datasets), or use --variant reanalysis."
        ) from err
    except (requests.exceptions.RequestException, ConnectionError, TimeoutError) as err:
        raise NetworkError(
            f"cannot reach Copernicus Marine ({type(err).__name__}): check the network "
            "connection or HTTPS_PROXY, then run the same command again."
        ) from err
    except UnisstError:
        raise
    except Exception as err:  # the toolbox raises many types; name it, keep it short
        raise DownloadError(
            f"copernicusmarine.subset failed for {dataset_id}: {type(err).__name__}: "
            f"{str(err)[:300]}"
        ) from err
    if response is None:  # no credentials and no terminal to ask: it printed "Abort"
        raise CredentialsError(
            f"Copernicus Marine found no usable credentials in {where} and stopped ('Abort'): "
            + HOW_TO_LOG_IN
        )
    out_dir = Path(str(kwargs["output_directory"]))
    path = Path(response.file_path)
    if not path.is_file():
        path = out_dir / path.name
    if not path.is_file():
        found = sorted(out_dir.glob("*.nc"))
        if len(found) != 1:
            raise DownloadError(
                f"copernicusmarine.subset reported {response.file_path} but no such file is in "
                f"{out_dir}: run the same command again."
            )
        path = found[0]
    return path


def _crop_to_region(
    raw: Path,
    out: Path,
    dataset: str,
    variant: str,
    note: str,
    request: dict[str, object],
    *,
    manifest: Manifest,
) -> None:
    """Write ``raw`` cropped to exactly the region's grid, with provenance attributes."""
    from unisst_lib import __version__
    from unisst_lib.core.errors import CorruptFileError
    from unisst_lib.data.io import open_netcdf

    src = manifest.source_of(dataset)
    region = manifest.region_of(dataset)
    try:
        ds = open_netcdf(raw)
    except CorruptFileError as err:  # a missing netCDF backend is not the download's fault
        raise CorruptFileError(
            f"the file Copernicus Marine returned for {dataset} cannot be read as netCDF "
            f"({err}): run the same command again."
        ) from err
    with ds:
        if src.variable not in ds.data_vars:
            raise DataFormatError(
                f"the file Copernicus Marine returned for {dataset} has no {src.variable!r} "
                f"(it has {', '.join(map(str, ds.data_vars)) or 'no variables'}); nothing written"
            )
        for dim in ("latitude", "longitude"):
            if dim not in ds.coords:
                raise DataFormatError(
                    f"the file Copernicus Marine returned for {dataset} has no {dim!r} "
                    "coordinate; nothing written"
                )
        tol = region.resolution_deg / 10
        lat = ds["latitude"].values
        lon = ds["longitude"].values
        ilat = np.flatnonzero((lat >= region.lat_min - tol) & (lat <= region.lat_max + tol))
        ilon = np.flatnonzero((lon >= region.lon_min - tol) & (lon <= region.lon_max + tol))
        crop = ds[[src.variable]].isel(latitude=ilat, longitude=ilon)
        crop = crop.sortby("latitude")
        crop.attrs = {
            **ds.attrs,
            "unisst_dataset": dataset,
            "unisst_variant": variant,
            "unisst_variant_note": note,
            "unisst_region": f"{manifest.sst_dataset(dataset).region}",
            "source_dataset_id": str(request["dataset_id"]),
            "history": (
                f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} unisst {__version__} "
                "download sst: copernicusmarine.subset("
                + ", ".join(f"{k}={v!r}" for k, v in request.items())
                + ") cropped to the region's grid"
                + (f"\n{ds.attrs['history']}" if "history" in ds.attrs else "")
            ),
        }
        encoding = {}
        for name in crop.variables:
            enc = {
                k: v
                for k, v in crop[name].encoding.items()
                if k in ("dtype", "scale_factor", "add_offset", "_FillValue", "units", "calendar")
            }
            if name == src.variable:
                enc.update(zlib=True, complevel=1, shuffle=True)
            encoding[name] = enc
        crop.load().to_netcdf(out, format="NETCDF4", engine="netcdf4", encoding=encoding)
