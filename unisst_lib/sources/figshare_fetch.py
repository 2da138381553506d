"""Download one figshare file with pooch, resuming a partial file with HTTP ``Range``.

:func:`download_file` runs :func:`pooch.retrieve` on each download URL in turn:
pooch fetches to a temporary file, checks the MD5 the API gives and moves the
file into place. What pooch cannot do is added here:

* a downloader that keeps a persistent partial file ``.<name>.part`` and resumes
  it with HTTP ``Range`` (pooch starts a 180 MB file again from zero after every
  interruption), in the same call and on the next one;
* telling figshare's bot challenge (HTTP 202 and no body, an HTML page, or 403)
  from data: the next URL is tried, and ManualDownloadRequired is raised when
  every URL refuses (pooch would save the challenge as the file).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pooch
import requests
import urllib3

from unisst_lib.core.errors import (
    ChecksumError,
    ManifestError,
    ManualDownloadRequired,
    NetworkError,
    RemoteDataError,
    UnisstError,
)
from unisst_lib.sources.figshare_api import (
    RemoteFile,
    error_reason,
    http_session,
    timeout_message,
    unreachable_message,
)

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20  # streamed in 1 MiB chunks
_EARLIER = "(the partial file of an earlier call)"
_LOG_FORMATS = {  # url, detail, what next, by kind of _URLFailed
    "refused": "figshare refused %s (%s): %s",
    "http": "%s answered %s: %s",
    "timeout": "%s: %s: %s",
    "unreachable": "cannot reach %s (%s): %s",
    "unresumable": "%s: %s: %s",
}

__all__ = ["download_file", "part_path"]


def part_path(dest: str | os.PathLike[str]) -> Path:
    """The partial file of a download to ``dest``: ``.<name>.part`` in the same folder."""
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.part")


def _fetched_path(dest: Path) -> Path:
    """Where pooch puts the complete, MD5-checked file until ``validate`` accepts it."""
    return dest.with_name(f".{dest.name}.fetched")


# -- the resuming downloader that pooch calls --------------------------------------


class _URLFailed(Exception):
    """One download URL did not serve the file; :func:`_retrieve_first` tries the next.

    pooch's downloader interface reports a failure only by raising, so this is
    the one internal exception. ``kind`` (a key of ``_LOG_FORMATS``) chooses the
    log line and the error raised when no URL serves the file.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


@dataclass(frozen=True)
class _Answer:
    """How one GET ended: complete, broken off mid-body, or unresumable (part deleted)."""

    broke_off: str = ""  # why the body ended early; "" when it was complete
    timed_out: bool = False
    restart: bool = False


def _content_length(resp: requests.Response) -> int | None:
    text = resp.headers.get("Content-Length")
    return int(text) if text and text.isdigit() else None


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


def _write_mode(resp: requests.Response, url: str, have: int) -> str | None:
    """``"ab"`` to append a 206, ``"wb"`` to start over on a 200, None if the range is unusable.

    Raises :class:`_URLFailed` for an answer that is not the file (bot challenge, 403,
    an HTML page, an empty body, an HTTP error).
    """
    status = resp.status_code
    if status in (202, 403):
        waf = resp.headers.get("x-amzn-waf-action")
        detail = f"HTTP {status}" + (f", x-amzn-waf-action: {waf}" if waf else "")
        raise _URLFailed("refused", detail)
    if status == 416 and have:
        log.warning("%s cannot resume from byte %d (HTTP 416): starting again", url, have)
        return None
    if status not in (200, 206):
        raise _URLFailed("http", f"HTTP {status}")
    if resp.headers.get("Content-Type", "").split(";")[0].strip().lower() == "text/html":
        raise _URLFailed("refused", f"HTTP {status} with an HTML page instead of the file")
    if _content_length(resp) == 0:
        raise _URLFailed("refused", f"HTTP {status} with an empty body")
    if status == 200:
        if have:
            log.info("%s ignores ranges (HTTP 200): downloading from byte 0", url)
        return "wb"
    start = _content_range_start(resp.headers.get("Content-Range"))
    if start != have:
        log.warning("%s answered a range from byte %s, not %d: starting again", url, start, have)
        return None
    return "ab"


@dataclass
class _ResumingDownloader:
    """A pooch downloader that fills a persistent partial file with HTTP ``Range`` requests.

    pooch hands each call a fresh temporary file and deletes it when the call
    fails; the bytes go instead to ``part``, which outlives failed calls, and only
    the complete file is moved onto pooch's temporary file (pooch then checks its
    MD5 and moves it into place). A transfer that breaks off mid-body is resumed
    ``retries`` times in all, over every URL.
    """

    name: str
    part: Path
    size: int
    timeout_s: float
    retries: int
    bar: Any  # tqdm
    resumes: int = 0

    def __call__(self, url: str, output_file: str, pooch_: object = None) -> None:
        if self._have() != self.size:  # a complete part from an earlier call needs no request
            self._fill(url)
        got = self._have()
        if got != self.size:
            self.part.unlink(missing_ok=True)
            raise ChecksumError(
                f"{self.name} from {url} has {got} bytes, but figshare's API says {self.size}; "
                "nothing was kept: run the same command again to download it afresh"
            )
        os.replace(self.part, output_file)

    def _have(self) -> int:
        return self.part.stat().st_size if self.part.exists() else 0

    def _fill(self, url: str) -> None:
        """GET ``url`` until an answer completes; resume it, or restart it once."""
        restarted = False
        with http_session() as session:
            while True:
                answer = self._get(session, url)
                if answer.restart:
                    if restarted:
                        raise _URLFailed("unresumable", "cannot resume the partial file")
                    restarted = True
                elif answer.broke_off:
                    self._count_resume(url, answer)
                else:
                    return

    def _get(self, session: requests.Session, url: str) -> _Answer:
        have = self._have()
        headers = {"Accept": "application/octet-stream, */*;q=0.1", "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        log.info("downloading %s%s", url, f" from byte {have}" if have else "")
        try:
            resp = session.get(url, headers=headers, stream=True, timeout=(self.timeout_s,) * 2)
        except requests.exceptions.Timeout as err:
            raise _URLFailed("timeout", f"no answer within {self.timeout_s:g} s") from err
        except requests.exceptions.RequestException as err:
            raise _URLFailed("unreachable", error_reason(err)) from err
        with resp:
            mode = _write_mode(resp, url, have)
            if mode is None:
                self.part.unlink(missing_ok=True)
                return _Answer(restart=True)
            return self._receive(resp, mode, have if mode == "ab" else 0)

    def _receive(self, resp: requests.Response, mode: str, have: int) -> _Answer:
        """Write the body to the partial file; how it ended."""
        self.bar.n = have
        self.bar.refresh()
        received = 0
        f = None
        try:
            for chunk in _chunks(resp):
                if f is None:  # a 200 replaces the partial file only once data arrive
                    f = open(self.part, mode)  # closed in finally
                f.write(chunk)
                received += len(chunk)
                self.bar.update(len(chunk))
        except (requests.exceptions.Timeout, urllib3.exceptions.ReadTimeoutError, TimeoutError):
            return _Answer(f"no data for the timeout of {self.timeout_s:g} s", timed_out=True)
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
            return _Answer(error_reason(err))
        finally:
            if f is not None:
                f.close()
        clen = _content_length(resp)
        if received == 0 and self.size > 0:
            raise _URLFailed("refused", f"HTTP {resp.status_code} with an empty body")
        if clen is not None and received < clen and not resp.headers.get("Content-Encoding"):
            return _Answer(f"{received} of {clen} bytes of the answer")
        if clen is None and have + received < self.size:
            return _Answer(f"the server closed after {have + received} of {self.size} bytes")
        return _Answer()  # a complete answer of the wrong size fails the size check

    def _count_resume(self, url: str, answer: _Answer) -> None:
        """Count one more resume, or give up with the partial file kept for the next call."""
        kept = self._have()
        if self.resumes >= self.retries:
            more = ", or more time with --timeout SECONDS)" if answer.timed_out else ")"
            raise NetworkError(
                f"the download of {self.name} from {url} broke off ({answer.broke_off}) after "
                f"{self.resumes} resume(s) (retries={self.retries}); {kept} of {self.size} "
                f"bytes are kept in {self.part}: run the same command again to resume from "
                "there (or allow more resumes with --retries" + more
            )
        self.resumes += 1
        log.warning(
            "the transfer from %s broke off (%s) at %d of %d bytes: resuming (%d/%d)",
            *(url, answer.broke_off, kept, self.size, self.resumes, self.retries),
        )


# -- the transfer: pooch.retrieve from each URL in turn ------------------------------


@contextlib.contextmanager
def _pooch_quiet() -> Iterator[None]:
    """Keep pooch's INFO lines ("Downloading data from ...") off stderr during one call.

    pooch logs each download to a stderr handler of its own; this module logs the
    same through :mod:`logging`, so the CLI's output stays as it was. The level
    is put back afterwards.
    """
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _retrieve(url: str, *, remote: RemoteFile, fetched: Path, downloader: Callable) -> None:
    """:func:`pooch.retrieve` ``url`` to ``fetched`` with ``downloader``; MD5 as the API's."""
    known = f"md5:{remote.md5}" if remote.md5 else None
    try:
        with _pooch_quiet():
            pooch.retrieve(
                url,
                known_hash=known,
                fname=fetched.name,
                path=fetched.parent,
                downloader=downloader,
            )
    except ValueError as err:  # pooch's MD5 mismatch (it has deleted the file)
        if isinstance(err, UnisstError):
            raise
        raise ChecksumError(
            f"{remote.name} from {url} does not have figshare's MD5 {remote.md5} ({err}); "
            "nothing was kept: run the same command again to download it afresh (if it "
            "fails again, the file on figshare has changed)"
        ) from err


def _retrieve_first(
    urls: list[str], *, remote: RemoteFile, fetched: Path, downloader: _ResumingDownloader
) -> str:
    """Retrieve the file from the first URL that serves it; that URL."""
    failures: list[tuple[str, str, str]] = []  # (url, kind, detail)
    last = None
    for i, url in enumerate(urls):
        try:
            _retrieve(url, remote=remote, fetched=fetched, downloader=downloader)
            return url
        except _URLFailed as err:
            then = "trying the next URL" if i + 1 < len(urls) else "no URL left"
            log.warning(_LOG_FORMATS[err.kind], url, err, then)
            failures.append((url, err.kind, str(err)))
            last = err
    raise _failure_error(remote, failures, downloader.timeout_s) from last


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
        return NetworkError(timeout_message(f"({summary})", timeout_s))
    if "unreachable" in kinds:
        return NetworkError(
            unreachable_message(next(u for u, k, _ in failures if k == "unreachable"), summary)
        )
    if any(re.search(r"HTTP 5\d\d", d) for _, _, d in failures):
        return NetworkError(f"figshare answered with a server error ({summary}): try again later")
    return RemoteDataError(
        f"figshare did not serve {remote.name} (file {remote.file_id}) at any URL ({summary})"
    )


def _part_to_resume(part: Path, fetched: Path, size: int) -> int:
    """Bytes of ``part`` worth resuming (a file pooch fetched before a crash counts too)."""
    if fetched.exists():  # the process died before the array check: check it again
        os.replace(fetched, part)
    if part.exists() and part.stat().st_size > size:
        log.warning("%s is larger than the file (%d bytes): starting again", part, size)
        part.unlink()
    return part.stat().st_size if part.exists() else 0


def download_file(
    remote: RemoteFile,
    dest: str | os.PathLike[str],
    *,
    urls: Sequence[str],
    timeout_s: float,
    retries: int,
    progress: bool = True,
    validate: Callable[[Path], object] | None = None,
) -> str:
    """Download a figshare file to ``dest``: resumable, checked, renamed into place last.

    Each URL is tried in turn with :func:`pooch.retrieve`, which checks the MD5
    against the API's; one that answers with a bot challenge (202, an empty or
    HTML body), 403, 404 or 5xx, or does not answer, is logged and the next one
    is tried. The bytes go to ``part_path(dest)``, which an earlier call may have
    started: it is resumed with ``Range: bytes=<n>-`` (a server that ignores
    ranges answers 200 and the file starts again from zero), and a transfer that
    breaks mid-body is resumed up to ``retries`` times. ``validate`` (called with
    the complete, checked file; it raises to reject and delete it) runs before the
    file is renamed onto ``dest``, so an existing ``dest`` survives every failure.

    Parameters
    ----------
    remote
        The file, as :func:`find_remote_file` gives it (size in bytes, MD5).
    dest
        Destination path; parent folders are created.
    urls
        Download URLs to try in order.
    timeout_s, retries
        Connect and read timeout of each request, s; resumes within this call.
    progress
        Show a tqdm progress bar.
    validate
        Called with the complete file before it is put in place.

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
    urls = list(dict.fromkeys(urls))
    if not urls:
        raise ManifestError("no download URL for figshare (manifest download.clouds.download_urls)")
    part, fetched = part_path(dest), _fetched_path(dest)
    have = _part_to_resume(part, fetched, remote.size)
    earlier = have == remote.size
    if earlier:
        log.info("%s is complete from an earlier call: checking it", part)
    if not remote.md5:
        log.warning("figshare gives no MD5 for %s: only its size was checked", remote.name)
    bar = tqdm(
        total=remote.size,
        initial=have,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=remote.name,
        disable=not progress or earlier,
    )
    with bar:
        fetch = _ResumingDownloader(
            name=remote.name,
            part=part,
            size=remote.size,
            timeout_s=timeout_s,
            retries=retries,
            bar=bar,
        )
        url = _retrieve_first(urls, remote=remote, fetched=fetched, downloader=fetch)
    served_by = _EARLIER if earlier else url
    if validate is not None:
        try:
            validate(fetched)
        except Exception:  # rejected: delete (an interrupt keeps the complete bytes)
            fetched.unlink(missing_ok=True)
            raise
    os.replace(fetched, dest)
    log.info("%s: %d bytes, md5 %s, from %s", dest, remote.size, remote.md5, served_by)
    return served_by
