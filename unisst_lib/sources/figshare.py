"""Download the paper's cloud data set (liquid water path) from figshare.

The UNISST paper's clouds are one file, ``cloud_dataset.npy`` (``(T, 64, 64)``
liquid water path in kg m-2), in a figshare article (DOI in the manifest's
``clouds.figshare``). :func:`download_clouds` (the ``unisst download clouds``
command) fetches it into ``data_dir(root) / clouds.figshare.file``:

1. the figshare API v2 gives the file's id, size, MD5 and link
   (:func:`~unisst_lib.sources.figshare_api.find_remote_file`);
2. :func:`~unisst_lib.sources.figshare_fetch.download_file` fetches it with
   pooch from each URL of ``download.clouds.download_urls`` in turn, resuming an
   interrupted transfer with HTTP ``Range``; when figshare refuses scripts on
   every URL (a bot challenge), :class:`~unisst_lib.core.errors.ManualDownloadRequired`
   says how to download the file in a browser and where to put it;
3. the file whose MD5 matches the API's has its array checked (rank, dtype,
   kg m-2, ``(T, 64, 64)``) and only then is renamed onto the destination, with
   a provenance record ``<name>.json`` beside it. A failed download never leaves
   a bad file nor replaces a good one.

A second call with the file in place and its provenance MD5 matching makes no
network request at all.

Examples
--------
>>> import pathlib, tempfile
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
>>> _ = p.write_bytes(b"abc")
>>> md5sum(p)
'900150983cd24fb0d6963f7d28e17f72'
>>> read_provenance(p) is None
True
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pooch

from unisst_lib import __version__
from unisst_lib.core.errors import (
    ChecksumError,
    CloudDataError,
    CorruptFileError,
    DataNotFoundError,
    ManifestError,
    ManualDownloadRequired,
    NetworkError,
    RemoteDataError,
    UnisstError,
)
from unisst_lib.core.manifest import CloudDataset, Manifest, load_manifest
from unisst_lib.core.paths import atomic_path, data_dir
from unisst_lib.sources.figshare_api import RemoteFile, find_remote_file
from unisst_lib.sources.figshare_fetch import download_file

log = logging.getLogger(__name__)

API_ENV = "UNISST_FIGSHARE_API"
"""Environment variable that overrides ``download.clouds.api_url`` of the manifest."""

__all__ = [
    "API_ENV",
    "CloudDownloadResult",
    "download_clouds",
    "manual_instructions",
    "md5sum",
    "provenance_path",
    "read_provenance",
]


@dataclass(frozen=True)
class CloudDownloadResult:
    """What :func:`download_clouds` did.

    Attributes
    ----------
    path
        The cloud file on disk.
    md5
        Its hex MD5 (equal to figshare's).
    size
        Its size in bytes.
    shape
        ``(n_steps, ny, nx)`` of the liquid-water-path array (kg m-2).
    url
        The URL that served the bytes; ``None`` when the file was already there.
    cached
        True when nothing was downloaded.
    seconds
        Wall-clock time of the call, s.
    """

    path: Path
    md5: str
    size: int
    shape: tuple[int, int, int]
    url: str | None
    cached: bool
    seconds: float


# -- small helpers ----------------------------------------------------------------


def md5sum(path: str | os.PathLike[str]) -> str:
    """Hex MD5 of a file (the figshare API's ``computed_md5``), by :func:`pooch.file_hash`."""
    return pooch.file_hash(os.fspath(path), alg="md5")


def provenance_path(path: str | os.PathLike[str]) -> Path:
    """The provenance record of a downloaded file: ``<name>.json`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The provenance record written next to a downloaded file, or None.

    Parameters
    ----------
    path
        The downloaded file (not the record itself).

    Returns
    -------
    dict or None
        The record (``source``, ``doi``, ``article_id``, ``file_id``, ``name``,
        ``size``, ``md5``, ``url``, ``downloaded_utc``, ``unisst_version``), or
        None when there is none or it cannot be read.
    """
    record = provenance_path(path)
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        log.warning("ignoring the unreadable provenance record %s: %s", record, err)
        return None
    return data if isinstance(data, dict) else None


def _write_provenance(path: Path, record: dict[str, Any]) -> None:
    with atomic_path(provenance_path(path)) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# -- the cloud data set --------------------------------------------------------------


def manual_instructions(
    cloud: CloudDataset,
    dest: str | os.PathLike[str],
    *,
    remote: RemoteFile | None = None,
    reason: str | None = None,
) -> str:
    """How to download the cloud file by hand, put it in place and check it.

    Parameters
    ----------
    cloud
        The ``clouds`` entry of the manifest (DOIs, file name).
    dest
        Where unisst expects the file.
    remote
        The file as the API describes it (size and MD5 are then given).
    reason
        Why a manual download is needed (first line of the text).

    Returns
    -------
    str
        Numbered steps: open the DOI in a browser, download the file (size in
        MB, MD5), put it at ``dest``, run ``unisst data verify``.
    """
    dest = Path(dest).absolute()
    root = dest
    for _ in Path(cloud.file).parts:
        root = root.parent
    name = cloud.file_name or dest.name
    md5 = (remote.md5 if remote else "") or (cloud.md5 or "")
    if remote is not None:
        about = f"{remote.size / 1e6:.1f} MB"
    else:  # float32 (T, 64, 64) plus the .npy header
        about = f"about {(128 + 4 * math.prod(cloud.expected_shape)) / 1e6:.0f} MB"
    what = f"{name} ({about}" + (f", MD5 {md5})" if md5 else ")")
    links = f"https://doi.org/{cloud.doi}" if cloud.doi else "the figshare data set"
    if cloud.doi_alternative:
        links += f" (or https://doi.org/{cloud.doi_alternative}, the same file under a newer DOI)"
    head = reason or "figshare did not let a script download the cloud data set"
    return (
        f"{head}. Download it by hand:\n"
        f"  1. open {links} in a web browser;\n"
        f"  2. download {what};\n"
        f"  3. put it exactly at {dest};\n"
        f"  4. run `unisst data verify --dir {root}` to check its shape and units; "
        "`unisst download clouds` then checks its MD5 against figshare and records it."
    )


def _figshare_cloud(manifest: Manifest, name: str) -> CloudDataset:
    cloud = manifest.cloud_dataset(name)
    if cloud.provider != "figshare":
        hint = (
            "the twin is generated locally: `unisst data make`"
            if cloud.provider == "embedded"
            else f"its provider is {cloud.provider!r}"
        )
        figshare = [n for n, c in manifest.clouds.items() if c.provider == "figshare"]
        raise UnisstError(
            f"the cloud set {name!r} is not downloaded from figshare ({hint}); "
            f"figshare cloud sets: {', '.join(figshare) or 'none'}"
        )
    return cloud


def _npy_shape(path: Path) -> tuple[int, ...]:
    import numpy as np

    try:
        return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)
    except (ValueError, OSError, EOFError) as err:
        raise CorruptFileError(f"cannot read {path} as a .npy array ({err})") from err


def _check_cloud_array(
    cloud: CloudDataset, path: Path, *, downloaded: bool = True
) -> tuple[int, ...]:
    """Check a cloud file like ``load_clouds`` plus the tile shape (64, 64); its shape."""
    from unisst_lib.data.io import load_clouds

    what, after = "the file", "It was left as it is."
    if downloaded:
        what = f"the {cloud.file_name} figshare served"
        after = f"Nothing was kept. Has the figshare data set changed? Check it at https://doi.org/{cloud.doi}"
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY":  # np.load would try a zip (.npz) or pickle otherwise
        raise CloudDataError(
            f"{what} is not a usable cloud array: it is not a .npy file (it starts with "
            f"{magic!r}). {after}"
        )
    try:  # the memmap is dropped at once: the file is renamed next
        shape = tuple(int(n) for n in load_clouds(path, mmap=True, min_steps=cloud.min_steps).shape)
    except (CloudDataError, CorruptFileError, DataNotFoundError) as err:
        raise CloudDataError(f"{what} is not a usable cloud array: {err} {after}") from err
    want = tuple(cloud.expected_shape)
    if shape[1:] != want[1:]:
        raise CloudDataError(
            f"{what} has shape {shape}, but unisst expects (T, {want[1]}, {want[2]}) tiles "
            f"(manifest expected_shape {want}). {after}"
        )
    return shape


def _record(cloud: CloudDataset, remote: RemoteFile, url: str | None, **extra: Any) -> dict:
    doi = cloud.doi if remote.article_id == cloud.article_id else cloud.doi_alternative
    return {
        "source": "figshare",
        "doi": doi or cloud.doi,
        "article_id": remote.article_id,
        "file_id": remote.file_id,
        "name": remote.name,
        "size": remote.size,
        "md5": remote.md5,
        "url": url,
        "downloaded_utc": _utc_now() if url else None,
        "unisst_version": __version__,
        **extra,
    }


def _download_urls(templates: Sequence[str], remote: RemoteFile, api: str) -> list[str]:
    """The manifest's ``download_urls`` filled in for ``remote``."""
    fields = {
        "download_url": remote.download_url,
        "api_url": api,
        "file_id": remote.file_id,
        "article_id": remote.article_id,
        "name": remote.name,
    }
    urls = []
    for template in templates:
        try:
            urls.append(template.format(**fields))
        except (KeyError, IndexError, ValueError) as err:
            raise ManifestError(
                f"download.clouds.download_urls: cannot fill {template!r} ({err}); use "
                "{download_url}, {api_url}, {file_id}, {article_id} or {name}"
            ) from err
    return urls


def download_clouds(
    name: str = "figshare",
    root: str | os.PathLike[str] | None = None,
    *,
    manifest: Manifest | None = None,
    api_url: str | None = None,
    timeout_s: float | None = None,
    retries: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> CloudDownloadResult:
    """Download the paper's liquid-water-path data set from figshare (``unisst download clouds``).

    Parameters
    ----------
    name
        A ``clouds`` entry of the manifest whose provider is ``figshare``.
    root
        Data directory (default ``$UNISST_DATA_DIR`` or ``./data``); the file
        goes to ``root / clouds.<name>.file``.
    manifest
        Default :func:`~unisst_lib.core.manifest.load_manifest`.
    api_url
        Base of the figshare API v2; default ``$UNISST_FIGSHARE_API``, else the
        manifest's ``download.clouds.api_url``.
    timeout_s
        Connect and read timeout of each request, s (default: manifest).
    retries
        Resumes of an interrupted transfer in this call (default: manifest).
    overwrite
        Download again even if the file is there (the old file is replaced only
        once the new one is complete and checked).
    progress
        Show a progress bar.

    Returns
    -------
    CloudDownloadResult
        Path, MD5, size (bytes), shape ``(T, 64, 64)`` (kg m-2), URL, whether cached.

    Raises
    ------
    UnisstError
        ``name`` is not a figshare cloud set (e.g. the locally generated twin).
    ManualDownloadRequired
        figshare refuses scripts; the message says how to download it by hand.
    NetworkError, RemoteDataError, ChecksumError, CloudDataError
        See :func:`download_file`; a file already there whose MD5 differs from
        figshare's raises ChecksumError and is left untouched.
    """
    t0 = time.perf_counter()
    manifest = manifest if manifest is not None else load_manifest()
    cloud = _figshare_cloud(manifest, name)
    conf = manifest.download.clouds
    api = (api_url or os.environ.get(API_ENV) or conf.api_url).rstrip("/")
    timeout_s = conf.timeout_s if timeout_s is None else float(timeout_s)
    retries = conf.retries if retries is None else int(retries)
    if timeout_s <= 0:
        raise UnisstError(f"the timeout must be positive seconds, not {timeout_s:g}")
    if retries < 0:
        raise UnisstError(f"retries must be 0 or more, not {retries}")
    dest = data_dir(root) / cloud.file
    if dest.exists() and not overwrite:
        return _cached(cloud, dest, api=api, timeout_s=timeout_s, t0=t0)

    try:
        remote = find_remote_file(cloud, api_url=api, timeout_s=timeout_s)
    except ManualDownloadRequired as err:
        raise ManualDownloadRequired(manual_instructions(cloud, dest, reason=str(err))) from err
    _check_pinned(cloud, remote)
    try:
        url = download_file(
            remote,
            dest,
            urls=_download_urls(conf.download_urls, remote, api),
            timeout_s=timeout_s,
            retries=retries,
            progress=progress,
            validate=functools.partial(_check_cloud_array, cloud),
        )
    except ManualDownloadRequired as err:
        text = manual_instructions(cloud, dest, remote=remote, reason=str(err))
        raise ManualDownloadRequired(text) from err
    _write_provenance(dest, _record(cloud, remote, url))
    return CloudDownloadResult(
        path=dest,
        md5=remote.md5 or md5sum(dest),
        size=remote.size,
        shape=_npy_shape(dest),
        url=url,
        cached=False,
        seconds=time.perf_counter() - t0,
    )


def _check_pinned(cloud: CloudDataset, remote: RemoteFile) -> None:
    if cloud.md5 and remote.md5 and cloud.md5.lower() != remote.md5:
        raise RemoteDataError(
            f"figshare now serves a different {remote.name} (MD5 {remote.md5}) than the "
            f"manifest pins (clouds md5 {cloud.md5}); check the data set at "
            f"https://doi.org/{cloud.doi} before updating data_manifest.yaml"
        )


def _cached(
    cloud: CloudDataset, dest: Path, *, api: str, timeout_s: float, t0: float
) -> CloudDownloadResult:
    """``dest`` exists: trust its provenance record, or check it against the API's MD5."""
    got, size, record = md5sum(dest), dest.stat().st_size, read_provenance(dest)

    def result(shape: tuple[int, ...]) -> CloudDownloadResult:
        return CloudDownloadResult(
            path=dest,
            md5=got,
            size=size,
            shape=shape,
            url=None,
            cached=True,
            seconds=time.perf_counter() - t0,
        )

    if record is not None and record.get("md5") == got:
        log.info("%s is there (md5 %s, from %s)", dest, got, record.get("url"))
        return result(_npy_shape(dest))
    why = "has no provenance record" if record is None else "differs from its provenance record"
    log.info("%s %s: checking its MD5 against figshare", dest, why)
    remote = _remote_for_cached(cloud, dest, why, api=api, timeout_s=timeout_s)
    _check_pinned(cloud, remote)
    if got != remote.md5 if remote.md5 else size != remote.size:
        raise ChecksumError(
            f"{dest} has MD5 {got}, but figshare's {remote.name} has {remote.md5} "
            f"({remote.size} bytes; this file has {size}). It is not the figshare file or "
            "is damaged: delete it, or pass --overwrite (overwrite=True) to download it again"
        )
    shape = _check_cloud_array(cloud, dest, downloaded=False)
    _write_provenance(dest, _record(cloud, remote, None, checked_utc=_utc_now()))
    log.info("%s matches figshare's MD5 %s: recorded its provenance", dest, got)
    return result(shape)


def _remote_for_cached(
    cloud: CloudDataset, dest: Path, why: str, *, api: str, timeout_s: float
) -> RemoteFile:
    """The API's description of the file, to check a file already there; says what to do offline."""
    try:
        return find_remote_file(cloud, api_url=api, timeout_s=timeout_s)
    except NetworkError as err:
        raise NetworkError(
            f"{err}. {dest} is there but {why}, so its MD5 cannot be checked against "
            "figshare's without the network; `unisst data verify` can check the file's "
            "shape and units offline"
        ) from err
    except ManualDownloadRequired as err:
        raise ManualDownloadRequired(
            f"{err}; {dest} {why} and cannot be checked against figshare's MD5 now: "
            "`unisst data verify` checks its shape and units offline"
        ) from err
