"""Download the paper's cloud data set (liquid water path) from figshare.

The UNISST paper's clouds are one file, ``cloud_dataset.npy`` (``(T, 64, 64)``
liquid water path in kg m-2), in a figshare article (DOI in the manifest's
``clouds.figshare``). :func:`download_clouds` (the ``unisst download clouds``
command) fetches it into ``data_dir(root) / clouds.figshare.file``:

1. the figshare API v2 (``GET {api_url}/articles/{id}``) gives the file's id,
   size, MD5 and link; the alternative article is tried when the first is gone;
2. the bytes are fetched from each URL of ``download.clouds.download_urls`` in
   turn (the API's ``download_url``, then ``{api_url}/file/download/{file_id}``):
   figshare sometimes answers a script with a bot challenge (HTTP 202 and no
   body, or an HTML page) or 403 on one of them and serves the file on the other.
   When every URL refuses, :class:`~unisst_lib.core.errors.ManualDownloadRequired`
   says how to download the file in a browser and where to put it;
3. the bytes go to a persistent partial file ``.<name>.part`` next to the
   destination; an interrupted transfer is resumed with an HTTP ``Range``
   request, ``retries`` times in the same call and again on the next call;
4. the complete file's size and MD5 are checked against the API's, its array is
   checked (rank, dtype, kg m-2, ``(T, 64, 64)``) and only then renamed onto the
   destination, with a provenance record ``<name>.json`` beside it. A failed
   download never leaves a bad file nor replaces a good one.

A second call with the file in place and its provenance MD5 matching makes no
network request at all.

This module uses ``requests`` directly rather than ``pooch`` (which the kit
depends on elsewhere): pooch cannot resume a partial download (it starts again
from zero after every interruption of a 180 MB file) and cannot tell figshare's
bot challenge (a 202 with an empty body, or an HTML page) from data; it would
save the challenge as the file and only fail at the hash check.

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
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import urllib3

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

log = logging.getLogger(__name__)

API_ENV = "UNISST_FIGSHARE_API"
"""Environment variable that overrides ``download.clouds.api_url`` of the manifest."""

CHUNK_BYTES = 1 << 20  # streamed in 1 MiB chunks
_USER_AGENT = f"unisst/{__version__} (+https://doi.org/10.6084/m9.figshare.9145016)"

__all__ = [
    "API_ENV",
    "CloudDownloadResult",
    "RemoteFile",
    "article_files",
    "download_clouds",
    "download_file",
    "find_remote_file",
    "manual_instructions",
    "md5sum",
    "part_path",
    "provenance_path",
    "read_provenance",
]


@dataclass(frozen=True)
class RemoteFile:
    """One file of a figshare article, as the figshare API v2 describes it.

    Attributes
    ----------
    article_id
        The figshare article (data set) holding the file.
    file_id
        figshare's id of the file.
    name
        File name, e.g. ``cloud_dataset.npy``.
    size
        Size in bytes.
    md5
        Hex MD5 of the file's bytes (the API's ``computed_md5``); ``""`` if none.
    download_url
        The API's download link (``https://ndownloader.figshare.com/files/<id>``).
    """

    article_id: int
    file_id: int
    name: str
    size: int
    md5: str
    download_url: str


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
    import pooch

    return pooch.file_hash(os.fspath(path), alg="md5")


def part_path(dest: str | os.PathLike[str]) -> Path:
    """The partial file of a download to ``dest``: ``.<name>.part`` in the same folder."""
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.part")


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


def _reason(err: BaseException) -> str:
    """A short reason for a requests exception ('Connection refused', not the urllib3 chain)."""
    text = str(err)
    if "IncompleteRead" in text or "closed connection" in text.lower():
        return "connection closed early"
    if "reset by peer" in text.lower():
        return "connection reset"
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if m:
        return m.group(1).strip()
    if "Name or service not known" in text or "getaddrinfo" in text:
        return "name not resolved (DNS)"
    return type(err).__name__


def _session() -> requests.Session:
    s = requests.Session()
    s.headers["User-Agent"] = _USER_AGENT
    return s


def _unreachable(url: str, err: BaseException) -> NetworkError:
    return NetworkError(
        f"cannot reach figshare at {url} ({_reason(err)}): check the network or a proxy "
        "(HTTPS_PROXY)"
    )


def _timed_out(url: str, timeout_s: float) -> NetworkError:
    return NetworkError(
        f"figshare did not answer within the timeout of {timeout_s:g} s at {url}: "
        "the network is slow or figshare is busy; try again, or allow more time "
        "with --timeout SECONDS"
    )


# -- the figshare API ----------------------------------------------------------------


class _ArticleNotFound(RemoteDataError):
    """The API answered 404 for an article."""


def article_files(article_id: int, *, api_url: str, timeout_s: float) -> list[RemoteFile]:
    """The files of a figshare article, from the figshare API v2.

    Parameters
    ----------
    article_id
        figshare article id (e.g. 9145016).
    api_url
        Base of the API, e.g. ``https://api.figshare.com/v2``.
    timeout_s
        Connect and read timeout, s.

    Returns
    -------
    list of RemoteFile
        One per file of the article, in the API's order.

    Raises
    ------
    RemoteDataError
        The article does not exist (404), the API answered an error or a body
        that is not the API's JSON.
    ManualDownloadRequired
        The API answered with a bot challenge (202) or 403.
    NetworkError
        figshare cannot be reached or did not answer within ``timeout_s``.
    """
    url = f"{api_url.rstrip('/')}/articles/{int(article_id)}"
    log.debug("GET %s", url)
    try:
        with _session() as s:
            resp = s.get(url, headers={"Accept": "application/json"}, timeout=(timeout_s,) * 2)
    except requests.exceptions.Timeout:
        raise _timed_out(url, timeout_s) from None
    except requests.exceptions.ConnectionError as err:
        raise _unreachable(url, err) from None
    except requests.exceptions.RequestException as err:
        raise NetworkError(f"request to {url} failed: {_reason(err)}") from None
    if resp.status_code == 404:
        raise _ArticleNotFound(f"figshare has no article {article_id} ({url} answered 404)")
    if resp.status_code in (202, 403):
        raise ManualDownloadRequired(
            f"the figshare API refused a script at {url} (HTTP {resp.status_code})"
        )
    if resp.status_code != 200:
        raise RemoteDataError(
            f"the figshare API answered HTTP {resp.status_code} at {url}; try again later"
        )
    try:
        files = resp.json()["files"]
        return [
            RemoteFile(
                article_id=int(article_id),
                file_id=int(f["id"]),
                name=str(f["name"]),
                size=int(f["size"]),
                md5=str(f.get("computed_md5") or f.get("supplied_md5") or "").lower(),
                download_url=str(f["download_url"]),
            )
            for f in files
        ]
    except (ValueError, KeyError, TypeError) as err:
        raise RemoteDataError(
            f"the figshare API's answer at {url} is not an article description "
            f"({type(err).__name__}: {err}); has the API changed?"
        ) from None


def find_remote_file(cloud: CloudDataset, *, api_url: str, timeout_s: float) -> RemoteFile:
    """Find the cloud data set's file on figshare.

    Tries ``cloud.article_id`` and then ``cloud.article_id_alternative``; an
    article that is gone (404) or lacks the file leads to the next one.

    Parameters
    ----------
    cloud
        A ``clouds`` entry of the manifest with provider ``figshare``.
    api_url
        Base of the figshare API v2.
    timeout_s
        Connect and read timeout of each request, s.

    Returns
    -------
    RemoteFile
        The file named ``cloud.file_name``.

    Raises
    ------
    RemoteDataError
        No article holds the file (the message names it and what was found).
    NetworkError, ManualDownloadRequired
        As :func:`article_files`.
    """
    ids = [i for i in (cloud.article_id, cloud.article_id_alternative) if i is not None]
    if not ids or not cloud.file_name:
        raise ManifestError("a figshare cloud set needs article_id and file_name in the manifest")
    problems = []
    for article_id in ids:
        try:
            files = article_files(article_id, api_url=api_url, timeout_s=timeout_s)
        except _ArticleNotFound as err:
            log.warning("%s; trying the next article", err)
            problems.append(f"article {article_id}: not found (404)")
            continue
        for f in files:
            if f.name == cloud.file_name:
                return f
        names = ", ".join(f.name for f in files) or "no files"
        log.warning(
            "figshare article %s has no %s (it holds %s)", article_id, cloud.file_name, names
        )
        problems.append(f"article {article_id} holds {names}")
    dois = ", ".join(f"https://doi.org/{d}" for d in (cloud.doi, cloud.doi_alternative) if d)
    raise RemoteDataError(
        f"figshare no longer serves {cloud.file_name}: " + "; ".join(problems) + ". "
        f"Look for the data set at {dois} and update data_manifest.yaml (clouds)."
    )


# -- the transfer --------------------------------------------------------------------


class _Refused(Exception):
    """A bot challenge / 403: a browser may still get the file."""


class _HTTPFailure(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class _Interrupted(Exception):
    """The body ended before the whole file was there."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.timed_out = timed_out


class _Restart(Exception):
    """The partial file cannot be resumed: it was deleted, start from zero."""


class _Unreachable(Exception):
    pass


class _TimedOut(Exception):
    pass


def _content_range_start(value: str | None) -> int | None:
    m = re.match(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)", value or "")
    return int(m.group(1)) if m else None


def _chunks(resp: requests.Response) -> Iterator[bytes]:
    """The body in pieces of at most 1 MiB, each handed over as soon as it arrives.

    ``iter_content`` reads whole 1 MiB chunks and, when the connection breaks
    mid-chunk, loses the bytes of the unfinished chunk; ``read1`` (urllib3 2)
    returns what one read of the socket gives, so every byte that arrived is
    written to the partial file before an interruption is noticed.
    """
    read1 = getattr(resp.raw, "read1", None)
    if read1 is None:  # urllib3 1.x
        yield from (c for c in resp.iter_content(CHUNK_BYTES) if c)
        return
    while True:
        data = read1(CHUNK_BYTES, decode_content=True)
        if not data:
            return
        yield data


def _transfer(
    session: requests.Session, url: str, part: Path, size: int, timeout_s: float, bar
) -> None:
    """One GET of ``url`` into ``part`` (resuming it); return when ``part`` holds ``size`` bytes."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Accept": "application/octet-stream, */*;q=0.1", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    log.info("downloading %s%s", url, f" from byte {have}" if have else "")
    try:
        resp = session.get(url, headers=headers, stream=True, timeout=(timeout_s, timeout_s))
    except requests.exceptions.Timeout as err:
        raise _TimedOut(str(err)) from None
    except requests.exceptions.ConnectionError as err:
        raise _Unreachable(_reason(err)) from None
    except requests.exceptions.RequestException as err:
        raise _Unreachable(_reason(err)) from None
    with resp:
        status = resp.status_code
        if status in (202, 403):
            waf = resp.headers.get("x-amzn-waf-action")
            raise _Refused(f"HTTP {status}" + (f", x-amzn-waf-action: {waf}" if waf else ""))
        if status == 416 and have:
            log.warning("%s cannot resume from byte %d (HTTP 416): starting again", url, have)
            part.unlink(missing_ok=True)
            raise _Restart
        if status not in (200, 206):
            raise _HTTPFailure(status)
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype == "text/html":
            raise _Refused(f"HTTP {status} with an HTML page instead of the file")
        clen_text = resp.headers.get("Content-Length")
        clen = int(clen_text) if clen_text and clen_text.isdigit() else None
        if clen == 0:
            raise _Refused(f"HTTP {status} with an empty body")
        if status == 206:
            start = _content_range_start(resp.headers.get("Content-Range"))
            if start != have:
                log.warning(
                    "%s answered a range from byte %s, not %d: starting again", url, start, have
                )
                part.unlink(missing_ok=True)
                raise _Restart
            mode = "ab"
        else:
            if have:
                log.info("%s ignores ranges (HTTP 200): downloading from byte 0", url)
            mode, have = "wb", 0
        bar.n = have
        bar.refresh()
        received = 0
        f = None
        try:
            for chunk in _chunks(resp):
                if f is None:  # a 200 replaces the partial file only once data arrive
                    f = open(part, mode)  # closed in finally
                f.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except (
            requests.exceptions.Timeout,
            urllib3.exceptions.ReadTimeoutError,
            TimeoutError,
        ):
            raise _Interrupted(
                f"no data for the timeout of {timeout_s:g} s", timed_out=True
            ) from None
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
            raise _Interrupted(_reason(err)) from None
        finally:
            if f is not None:
                f.close()
        if received == 0 and size > 0:
            raise _Refused(f"HTTP {status} with an empty body")
        if clen is not None and received < clen and not resp.headers.get("Content-Encoding"):
            raise _Interrupted(f"{received} of {clen} bytes of the answer")
        if clen is None and have + received < size:
            raise _Interrupted(f"the server closed after {have + received} of {size} bytes")
        # a complete answer of the wrong size is left to the size check (ChecksumError)


def download_file(
    remote: RemoteFile,
    dest: str | os.PathLike[str],
    *,
    urls: Sequence[str],
    timeout_s: float,
    retries: int,
    progress: bool = True,
    validate: Callable[[Path], None] | None = None,
) -> str:
    """Download a figshare file to ``dest``: resumable, checked, renamed into place last.

    The bytes go to ``part_path(dest)`` (``.<name>.part``); an existing partial
    file is resumed with ``Range: bytes=<n>-`` (a server that ignores ranges
    answers 200 and the file starts again from zero). Each URL is tried in
    turn; one that answers with a bot challenge (202, an empty or HTML body),
    403, 404 or 5xx, or does not answer, is logged and the next one is tried.
    A transfer that breaks mid-body is resumed on the same URL up to
    ``retries`` times. The complete file's size and MD5 are checked, then
    ``validate(part)`` runs, and only then is the partial file renamed onto
    ``dest`` (so an existing ``dest`` survives every failure).

    Parameters
    ----------
    remote
        The file, as :func:`find_remote_file` gives it (size in bytes, MD5).
    dest
        Destination path; parent folders are created.
    urls
        Download URLs to try in order.
    timeout_s
        Connect and read timeout of each request, s.
    retries
        Resumes of an interrupted transfer within this call.
    progress
        Show a tqdm progress bar.
    validate
        Called with the complete, checksum-verified partial file; it raises to
        reject the file (which is then deleted).

    Returns
    -------
    str
        The URL that served the file.

    Raises
    ------
    ManualDownloadRequired
        Some URL refused a script (bot challenge or 403) and none served the file.
    NetworkError
        No answer within ``timeout_s``, figshare unreachable, a server error
        (5xx), or a transfer still incomplete after ``retries`` resumes (the
        partial file is kept: the same call again resumes it).
    RemoteDataError
        Every URL answered an error such as 404.
    ChecksumError
        The complete file's size or MD5 differs from the API's (nothing is kept).
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    urls = list(dict.fromkeys(urls))
    if not urls:
        raise ManifestError("no download URL for figshare (manifest download.clouds.download_urls)")
    if part.exists() and part.stat().st_size > remote.size:
        log.warning("%s is larger than the file (%d bytes): starting again", part, remote.size)
        part.unlink()

    if part.exists() and part.stat().st_size == remote.size:
        log.info("%s is complete from an earlier call: checking it", part)
        served_by = "(the partial file of an earlier call)"
    else:
        with (
            _session() as session,
            tqdm(
                total=remote.size,
                initial=part.stat().st_size if part.exists() else 0,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=remote.name,
                disable=not progress,
            ) as bar,
        ):
            served_by = _fetch(session, urls, part, remote, timeout_s, retries, bar)

    _check_complete(remote, part, served_by)
    if validate is not None:
        try:
            validate(part)
        except Exception:  # rejected: delete (an interrupt keeps the complete bytes)
            part.unlink(missing_ok=True)
            raise
    os.replace(part, dest)
    log.info("%s: %d bytes, md5 %s, from %s", dest, remote.size, remote.md5, served_by)
    return served_by


def _fetch(
    session: requests.Session,
    urls: list[str],
    part: Path,
    remote: RemoteFile,
    timeout_s: float,
    retries: int,
    bar,
) -> str:
    """Try each URL until ``part`` holds the whole file; return the URL that served it."""
    failures: list[tuple[str, str, str]] = []  # (url, kind, detail)
    resumes = 0
    for i, url in enumerate(urls):
        then = "trying the next URL" if i + 1 < len(urls) else "no URL left"
        restarts = 0
        while True:
            try:
                _transfer(session, url, part, remote.size, timeout_s, bar)
                return url
            except _Restart:
                restarts += 1
                if restarts > 1:
                    failures.append((url, "http", "cannot resume the partial file"))
                    break
            except _Refused as err:
                log.warning("figshare refused %s (%s): %s", url, err, then)
                failures.append((url, "refused", str(err)))
                break
            except _HTTPFailure as err:
                log.warning("%s answered %s: %s", url, err, then)
                failures.append((url, "http", str(err)))
                break
            except _TimedOut:
                log.warning("%s: no answer within %g s: %s", url, timeout_s, then)
                failures.append((url, "timeout", f"no answer within {timeout_s:g} s"))
                break
            except _Unreachable as err:
                log.warning("cannot reach %s (%s): %s", url, err, then)
                failures.append((url, "unreachable", str(err)))
                break
            except _Interrupted as err:
                kept = part.stat().st_size if part.exists() else 0
                if resumes >= retries:
                    raise NetworkError(
                        f"the download of {remote.name} from {url} broke off ({err}) after "
                        f"{resumes} resume(s) (retries={retries}); {kept} of {remote.size} "
                        f"bytes are kept in {part}: run the same command again to resume "
                        "from there (or allow more resumes with --retries"
                        + (", or more time with --timeout SECONDS)" if err.timed_out else ")")
                    ) from None
                resumes += 1
                log.warning(
                    "the transfer from %s broke off (%s) at %d of %d bytes: resuming (%d/%d)",
                    url,
                    err,
                    kept,
                    remote.size,
                    resumes,
                    retries,
                )
    raise _failure_error(remote, failures, timeout_s)


def _failure_error(
    remote: RemoteFile, failures: list[tuple[str, str, str]], timeout_s: float
) -> Exception:
    summary = "; ".join(f"{url}: {detail}" for url, _, detail in failures)
    kinds = {kind for _, kind, _ in failures}
    if "refused" in kinds:
        return ManualDownloadRequired(
            f"figshare did not let a script download {remote.name} ({summary})"
        )
    if "timeout" in kinds:
        return NetworkError(
            f"figshare did not answer within the timeout of {timeout_s:g} s ({summary}): "
            "the network is slow or figshare is busy; try again, or allow more time with "
            "--timeout SECONDS"
        )
    if "unreachable" in kinds:
        url = next(u for u, k, _ in failures if k == "unreachable")
        return NetworkError(
            f"cannot reach figshare at {url} ({summary}): check the network or a proxy "
            "(HTTPS_PROXY)"
        )
    if any(re.search(r"HTTP 5\d\d", d) for _, _, d in failures):
        return NetworkError(f"figshare answered with a server error ({summary}): try again later")
    return RemoteDataError(
        f"figshare did not serve {remote.name} (file {remote.file_id}) at any URL ({summary})"
    )


def _check_complete(remote: RemoteFile, part: Path, url: str) -> None:
    got_size = part.stat().st_size
    if got_size != remote.size:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{remote.name} from {url} has {got_size} bytes, but figshare's API says "
            f"{remote.size}; nothing was kept: run the same command again to download it afresh"
        )
    if not remote.md5:
        log.warning("figshare gives no MD5 for %s: only its size was checked", remote.name)
        return
    got = md5sum(part)
    if got != remote.md5:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{remote.name} from {url} has MD5 {got}, but figshare's API says {remote.md5}; "
            "nothing was kept: run the same command again to download it afresh (if it "
            "fails again, the file on figshare has changed)"
        )


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
        raise CorruptFileError(f"cannot read {path} as a .npy array ({err})") from None


def _validator(
    cloud: CloudDataset, shape_out: list, *, downloaded: bool = True
) -> Callable[[Path], None]:
    """Check a cloud file like ``load_clouds`` plus the tile shape (64, 64); keep its shape."""
    from unisst_lib.data.io import load_clouds

    if downloaded:
        what = f"the {cloud.file_name} figshare served"
        after = (
            "Nothing was kept. Has the figshare data set changed? Check it at "
            f"https://doi.org/{cloud.doi}"
        )
    else:
        what, after = "the file", "It was left as it is."

    def validate(path: Path) -> None:
        with open(path, "rb") as f:
            magic = f.read(6)
        if magic != b"\x93NUMPY":  # np.load would try a zip (.npz) or pickle otherwise
            raise CloudDataError(
                f"{what} is not a usable cloud array: it is not a .npy file (it starts with "
                f"{magic!r}). {after}"
            )
        try:
            lwp = load_clouds(path, mmap=True, min_steps=cloud.min_steps)
            shape = tuple(int(n) for n in lwp.shape)
            del lwp
        except (CloudDataError, CorruptFileError, DataNotFoundError) as err:
            raise CloudDataError(f"{what} is not a usable cloud array: {err} {after}") from None
        if shape[1:] != tuple(cloud.expected_shape[1:]):
            raise CloudDataError(
                f"{what} has shape {shape}, but unisst expects (T, {cloud.expected_shape[1]}, "
                f"{cloud.expected_shape[2]}) tiles (manifest expected_shape "
                f"{tuple(cloud.expected_shape)}). {after}"
            )
        shape_out[:] = [shape]

    return validate


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
        raise ManualDownloadRequired(manual_instructions(cloud, dest, reason=str(err))) from None
    _check_pinned(cloud, remote)
    urls = []
    for template in conf.download_urls:
        try:
            urls.append(
                template.format(
                    download_url=remote.download_url,
                    api_url=api,
                    file_id=remote.file_id,
                    article_id=remote.article_id,
                    name=remote.name,
                )
            )
        except (KeyError, IndexError, ValueError) as err:
            raise ManifestError(
                f"download.clouds.download_urls: cannot fill {template!r} ({err}); use "
                "{download_url}, {api_url}, {file_id}, {article_id} or {name}"
            ) from None
    shape: list = []
    try:
        url = download_file(
            remote,
            dest,
            urls=urls,
            timeout_s=timeout_s,
            retries=retries,
            progress=progress,
            validate=_validator(cloud, shape),
        )
    except ManualDownloadRequired as err:
        raise ManualDownloadRequired(
            manual_instructions(cloud, dest, remote=remote, reason=str(err))
        ) from None
    _write_provenance(dest, _record(cloud, remote, url))
    return CloudDownloadResult(
        path=dest,
        md5=remote.md5 or md5sum(dest),
        size=remote.size,
        shape=shape[0] if shape else _npy_shape(dest),
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
    got = md5sum(dest)
    size = dest.stat().st_size
    record = read_provenance(dest)
    if record is not None and record.get("md5") == got:
        log.info("%s is there (md5 %s, from %s)", dest, got, record.get("url"))
        return CloudDownloadResult(
            dest, got, size, _npy_shape(dest), None, True, time.perf_counter() - t0
        )
    why = "has no provenance record" if record is None else "differs from its provenance record"
    log.info("%s %s: checking its MD5 against figshare", dest, why)
    try:
        remote = find_remote_file(cloud, api_url=api, timeout_s=timeout_s)
    except NetworkError as err:
        raise NetworkError(
            f"{err}. {dest} is there but {why}, so its MD5 cannot be checked against "
            "figshare's without the network; `unisst data verify` can check the file's "
            "shape and units offline"
        ) from None
    except ManualDownloadRequired as err:
        raise ManualDownloadRequired(
            f"{err}; {dest} {why} and cannot be checked against figshare's MD5 now: "
            "`unisst data verify` checks its shape and units offline"
        ) from None
    _check_pinned(cloud, remote)
    if got != remote.md5 if remote.md5 else size != remote.size:
        raise ChecksumError(
            f"{dest} has MD5 {got}, but figshare's {remote.name} has {remote.md5} "
            f"({remote.size} bytes; this file has {size}). It is not the figshare file or "
            "is damaged: delete it, or pass --overwrite (overwrite=True) to download it again"
        )
    shape: list = []
    _validator(cloud, shape, downloaded=False)(dest)
    _write_provenance(dest, _record(cloud, remote, None, checked_utc=_utc_now()))
    log.info("%s matches figshare's MD5 %s: recorded its provenance", dest, got)
    return CloudDownloadResult(dest, got, size, shape[0], None, True, time.perf_counter() - t0)
