"""The figshare API v2: which file of which article to download.

:func:`find_remote_file` asks ``GET {api_url}/articles/{id}`` (the base URL comes
from the manifest, so the tests can point it at a local server) for a file's id,
size, MD5 and link, and tries the alternative article when the first is gone or
lacks the file. pooch's ``FigshareRepository`` cannot do this: it only knows
api.figshare.com and finds articles by DOI.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import requests

from unisst_lib import __version__
from unisst_lib.core.errors import (
    ManifestError,
    ManualDownloadRequired,
    NetworkError,
    RemoteDataError,
)
from unisst_lib.core.manifest import CloudDataset

log = logging.getLogger(__name__)

USER_AGENT = f"unisst/{__version__} (+https://doi.org/10.6084/m9.figshare.9145016)"

__all__ = ["RemoteFile", "article_files", "find_remote_file"]


@dataclass(frozen=True)
class RemoteFile:
    """One file of a figshare article, as the figshare API v2 describes it.

    Attributes
    ----------
    article_id, file_id
        The figshare article (data set) holding the file, and the file's id.
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


def error_reason(err: BaseException) -> str:
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


def http_session() -> requests.Session:
    """A requests session that names unisst in its User-Agent."""
    s = requests.Session()
    s.headers["User-Agent"] = USER_AGENT
    return s


def timeout_message(where: str, timeout_s: float) -> str:
    """The message of a figshare request that got no answer within ``timeout_s``."""
    return (
        f"figshare did not answer within the timeout of {timeout_s:g} s {where}: the network "
        "is slow or figshare is busy; try again, or allow more time with --timeout SECONDS"
    )


def unreachable_message(url: str, why: str) -> str:
    """The message of a figshare host that cannot be reached."""
    return f"cannot reach figshare at {url} ({why}): check the network or a proxy (HTTPS_PROXY)"


# -- the figshare API ----------------------------------------------------------------


def _remote_file(article_id: int, f: dict[str, Any]) -> RemoteFile:
    md5 = f.get("computed_md5") or f.get("supplied_md5") or ""
    return RemoteFile(
        article_id=int(article_id),
        file_id=int(f["id"]),
        name=str(f["name"]),
        size=int(f["size"]),
        md5=str(md5).lower(),
        download_url=str(f["download_url"]),
    )


def _article_url(api_url: str, article_id: int) -> str:
    return f"{api_url.rstrip('/')}/articles/{int(article_id)}"


def _get_article(article_id: int, *, api_url: str, timeout_s: float) -> list[RemoteFile] | None:
    """The files of a figshare article; None when figshare has no such article (404)."""
    url = _article_url(api_url, article_id)
    log.debug("GET %s", url)
    try:
        with http_session() as s:
            resp = s.get(url, headers={"Accept": "application/json"}, timeout=(timeout_s,) * 2)
    except requests.exceptions.Timeout as err:
        raise NetworkError(timeout_message(f"at {url}", timeout_s)) from err
    except requests.exceptions.ConnectionError as err:
        raise NetworkError(unreachable_message(url, error_reason(err))) from err
    except requests.exceptions.RequestException as err:
        raise NetworkError(f"request to {url} failed: {error_reason(err)}") from err
    if resp.status_code == 404:
        return None
    if resp.status_code in (202, 403):
        raise ManualDownloadRequired(
            f"the figshare API refused a script at {url} (HTTP {resp.status_code})"
        )
    if resp.status_code != 200:
        raise RemoteDataError(
            f"the figshare API answered HTTP {resp.status_code} at {url}; try again later"
        )
    try:
        return [_remote_file(article_id, f) for f in resp.json()["files"]]
    except (ValueError, KeyError, TypeError) as err:
        raise RemoteDataError(
            f"the figshare API's answer at {url} is not an article description "
            f"({type(err).__name__}: {err}); has the API changed?"
        ) from err


def article_files(article_id: int, *, api_url: str, timeout_s: float) -> list[RemoteFile]:
    """The files of a figshare article (id e.g. 9145016), in the order of the API at ``api_url``.

    Raises RemoteDataError when the article does not exist (404) or the API
    answers an error or not its JSON, ManualDownloadRequired for a bot challenge
    (202) or 403, NetworkError when figshare cannot be reached or does not answer
    within ``timeout_s`` (connect and read timeout, s).
    """
    files = _get_article(article_id, api_url=api_url, timeout_s=timeout_s)
    if files is None:
        url = _article_url(api_url, article_id)
        raise RemoteDataError(f"figshare has no article {article_id} ({url} answered 404)")
    return files


def find_remote_file(cloud: CloudDataset, *, api_url: str, timeout_s: float) -> RemoteFile:
    """The file ``cloud.file_name`` of the manifest's ``clouds`` entry, found on figshare.

    Tries ``cloud.article_id`` and then ``cloud.article_id_alternative``; an
    article that is gone (404) or lacks the file leads to the next one. Raises
    RemoteDataError when no article holds the file (naming what was found), else
    as :func:`article_files`.
    """
    ids = [i for i in (cloud.article_id, cloud.article_id_alternative) if i is not None]
    if not ids or not cloud.file_name:
        raise ManifestError("a figshare cloud set needs article_id and file_name in the manifest")
    problems = []
    for article_id in ids:
        files = _get_article(article_id, api_url=api_url, timeout_s=timeout_s)
        if files is None:
            log.warning(
                "figshare has no article %s (%s answered 404); trying the next article",
                *(article_id, _article_url(api_url, article_id)),
            )
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
