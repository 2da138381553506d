"""A local stand-in for figshare: a real HTTP/1.1 server on 127.0.0.1 for the download tests.

It speaks the part of the figshare API v2 that :mod:`unisst_lib.sources.figshare` uses:

* ``GET /v2/articles/<id>``: JSON ``{"id", "files": [{"id", "name", "size",
  "computed_md5", "download_url", ...}]}`` (404 for an unknown article); the
  ``download_url`` points back at this server, ``/ndownloader/files/<file_id>``;
* ``GET /ndownloader/files/<file_id>`` and ``GET /v2/file/download/<file_id>``:
  the file, with a configurable :class:`Behaviour` per path (serve with or
  without ``Range`` support, cut the connection after N bytes, a bot challenge
  (202, empty body, ``x-amzn-waf-action: challenge``), an HTML page, 403, 404,
  500, a delay before answering).

Every request is recorded (:attr:`FakeFigshare.requests`) so tests can assert
what the client asked for.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARTICLE_ID = 9145016
ARTICLE_ID_ALTERNATIVE = 9929798
FILE_ID = 17054123
FILE_NAME = "cloud_dataset.npy"


@dataclass
class Behaviour:
    """How the server answers one download path.

    Attributes
    ----------
    status
        ``serve`` (the file), ``challenge`` (202, empty body, WAF header),
        ``html`` (200 with an HTML page), ``forbidden`` (403), ``notfound``
        (404) or ``error`` (500).
    ranges
        Honour ``Range: bytes=N-`` with 206 and ``Content-Range``; if False a
        ranged request gets the whole file with 200.
    cut_after
        Stop the body after this many bytes and close the connection (the
        headers announce the full length) ...
    cut_times
        ... for the first ``cut_times`` answers of this path.
    delay_s
        Seconds to wait before answering.
    stall_s
        With ``cut_after``: seconds to wait, silent, after the first bytes
        before closing the connection (a server that stalls mid-body).
    """

    status: str = "serve"
    ranges: bool = True
    cut_after: int | None = None
    cut_times: int = 1
    delay_s: float = 0.0
    stall_s: float = 0.0
    served: int = field(default=0, repr=False)


@dataclass(frozen=True)
class Request:
    """One request the server saw."""

    method: str
    path: str
    range: str | None


class FakeFigshare:
    """figshare on 127.0.0.1, port chosen by the OS, served from a daemon thread.

    Parameters
    ----------
    payload
        The bytes of ``cloud_dataset.npy``.

    Examples
    --------
    >>> import requests
    >>> http = requests.Session()
    >>> http.trust_env = False  # no proxy for 127.0.0.1
    >>> with FakeFigshare(b"abc") as fs:
    ...     meta = http.get(f"{fs.api_url}/articles/{ARTICLE_ID}", timeout=5).json()
    ...     body = http.get(meta["files"][0]["download_url"], timeout=5).content
    >>> body, meta["files"][0]["size"], [r.path for r in fs.requests][-1]
    (b'abc', 3, '/ndownloader/files/17054123')
    """

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.md5: str | None = None  # advertised MD5; None: the payload's real one
        self.file_name = FILE_NAME
        self.articles: set[int] = {ARTICLE_ID, ARTICLE_ID_ALTERNATIVE}
        self.behaviours: dict[str, Behaviour] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- addresses ---------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        """The API base, like ``https://api.figshare.com/v2``."""
        return f"{self.base_url}/v2"

    ndownloader_path = f"/ndownloader/files/{FILE_ID}"
    api_download_path = f"/v2/file/download/{FILE_ID}"

    def article_path(self, article_id: int) -> str:
        return f"/v2/articles/{article_id}"

    # -- configuration -------------------------------------------------------------
    def set(self, path: str, **kwargs) -> Behaviour:
        """Set the behaviour of a download path (see :class:`Behaviour`)."""
        self.behaviours[path] = Behaviour(**kwargs)
        return self.behaviours[path]

    def set_all(self, **kwargs) -> None:
        """The same behaviour for both download paths."""
        for path in (self.ndownloader_path, self.api_download_path):
            self.set(path, **kwargs)

    def paths(self) -> list[str]:
        """Paths of the requests seen so far, in order."""
        with self._lock:
            return [r.path for r in self.requests]

    def ranges(self) -> list[str | None]:
        """``Range`` headers of the download requests seen so far."""
        with self._lock:
            return [r.range for r in self.requests if not r.path.startswith("/v2/articles")]

    # -- life cycle ----------------------------------------------------------------
    def start(self) -> FakeFigshare:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # ends any delay early
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeFigshare:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- answers -----------------------------------------------------------------
    def _article(self, article_id: int) -> dict:
        return {
            "id": article_id,
            "title": "Cloud dataset (liquid water path)",
            "files": [
                {
                    "id": FILE_ID,
                    "name": self.file_name,
                    "size": len(self.payload),
                    "is_link_only": False,
                    "download_url": f"{self.base_url}{self.ndownloader_path}",
                    "supplied_md5": "",
                    "computed_md5": self.md5 or hashlib.md5(self.payload).hexdigest(),
                }
            ],
        }


def _make_handler(fs: FakeFigshare) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            with fs._lock:
                fs.requests.append(Request("GET", self.path, self.headers.get("Range")))
            try:
                self._answer()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _send(self, status: int, body: bytes = b"", ctype: str = "", **headers) -> None:
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            for k, v in headers.items():
                self.send_header(k.replace("_", "-"), v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _answer(self) -> None:
            m = re.fullmatch(r"/v2/articles/(\d+)", self.path)
            if m:
                article_id = int(m.group(1))
                if article_id not in fs.articles:
                    body = json.dumps(
                        {"message": "Entity not found: article", "code": "EntityNotFound"}
                    )
                    self._send(404, body.encode(), "application/json")
                    return
                body = json.dumps(fs._article(article_id)).encode()
                self._send(200, body, "application/json; charset=UTF-8")
                return
            if self.path not in (fs.ndownloader_path, fs.api_download_path):
                self._send(404, b'{"message": "not found"}', "application/json")
                return
            b = fs.behaviours.setdefault(self.path, Behaviour())
            if b.delay_s and fs._stop.wait(b.delay_s):
                self.close_connection = True
                return
            if b.status == "challenge":
                self._send(202, b"", x_amzn_waf_action="challenge")
                return
            if b.status == "html":
                page = b"<html><body><script>challenge()</script></body></html>"
                self._send(200, page, "text/html; charset=utf-8")
                return
            simple = {"forbidden": 403, "notfound": 404, "error": 500}
            if b.status in simple:
                self._send(simple[b.status], b"<Error/>", "application/xml")
                return
            data, status, extra = fs.payload, 200, {}
            rng = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if rng and b.ranges:
                start = int(rng.group(1))
                if start >= len(data):
                    self._send(416, b"", Content_Range=f"bytes */{len(data)}")
                    return
                status = 206
                extra["Content_Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                data = data[start:]
            b.served += 1
            cut = b.cut_after is not None and b.served <= b.cut_times
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes" if b.ranges else "none")
            for k, v in extra.items():
                self.send_header(k.replace("_", "-"), v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if cut:
                self.wfile.write(data[: b.cut_after])
                self.wfile.flush()
                if b.stall_s:
                    fs._stop.wait(b.stall_s)
                self.close_connection = True
                return
            self.wfile.write(data)

    return Handler
