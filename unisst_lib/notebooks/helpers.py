"""What the notebooks call: setup, figures, metrics files, tables and small views.

Every notebook starts with :func:`setup_notebook` (working directory, and unisst's
log messages in the cell output). :func:`save_figure` and :func:`write_metrics`
write what a notebook hands back to :func:`unisst_lib.notebooks.sweep.sweep`
(``sample.png``, ``metrics.json``); the rest turns results into tables and
labels for ``04_visualisation`` and ``05_benchmark``. The training notebook's
helpers are in :mod:`unisst_lib.notebooks.training_view`.

The notebooks import this module as ``nb``::

    from unisst_lib.notebooks import helpers as nb
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from unisst_lib.core.errors import UnisstError
from unisst_lib.core.paths import atomic_path
from unisst_lib.notebooks.locations import NotebookError, project_root

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
"""What a notebook hands back to the sweep: its errors (°C) and occlusion rate."""
SAMPLE_FILE = "sample.png"
"""What a notebook hands back to the sweep: one sample map."""

LIBRARY_LOGGER = "unisst_lib"
"""The logger :func:`setup_notebook` shows in the notebook (every module logs below it)."""
LOG_HANDLER_NAME = "unisst-notebook"
"""Name that marks the handler :func:`setup_notebook` adds, so a second call finds it."""


# ------------------------------------------------------------------- setup
def setup_notebook(*, level: int = logging.INFO) -> Path:
    """Prepare a notebook: working directory and logging; returns the working directory.

    When the kernel starts inside the checkout (JupyterLab starts it in
    ``notebooks/``), move to the repository root so that relative paths
    (``data``, ``runs/…``) mean the same as for ``make``, the ``unisst``
    command and papermill runs (which keep the directory they were given).

    Log messages of unisst at ``level`` and above go to the cell output, on
    stdout (Jupyter shows stderr as alarming pink boxes): the bare message,
    ``WARNING: …`` for warnings. Only the ``unisst_lib`` logger is touched (one
    handler, :func:`notebook_log_handler`); the root logger is left alone.
    Calling it again adds no second handler.
    """
    root = project_root()
    here = Path.cwd().resolve()
    inside = root is not None and here != root and root in here.parents
    if inside and not os.environ.get("UNISST_HEADLESS"):
        os.chdir(root)
    notebook_log_handler()
    logging.getLogger(LIBRARY_LOGGER).setLevel(level)
    return Path.cwd()


class _StdoutHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stdout`` is when a record comes.

    Jupyter and pytest replace ``sys.stdout``; a handler holding the stream of
    the moment it was made would write into a stale (or closed) one.
    """

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        """Ignored: StreamHandler.__init__ and setStream assign it; stdout is read at each use."""


class _PlainFormatter(logging.Formatter):
    """The message alone; warnings and errors lead with their level (``WARNING: …``)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname}: {text}"


def notebook_log_handler() -> logging.Handler:
    """The stdout handler of the ``unisst_lib`` logger: the one already there, else a new one.

    It is found by its name (:data:`LOG_HANDLER_NAME`), not its class: a module
    reloaded in a running kernel makes a new class, and the old handler must
    still be found.
    """
    logger = logging.getLogger(LIBRARY_LOGGER)
    for handler in logger.handlers:
        if handler.get_name() == LOG_HANDLER_NAME:
            return handler
    handler = _StdoutHandler()
    handler.set_name(LOG_HANDLER_NAME)
    handler.setFormatter(_PlainFormatter("%(message)s"))
    logger.addHandler(handler)
    return handler


# ------------------------------------------------------- figures and metrics
def save_figure(
    fig, path: str | os.PathLike[str], *, dpi: float = 100, max_bytes: int | None = None
) -> Path:
    """Save a matplotlib figure as PNG atomically; with ``max_bytes``, lower the dpi until it fits.

    Raises
    ------
    UnisstError
        Even at 40 dpi the image is larger than ``max_bytes``.
    """
    path = Path(path)
    while True:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        data = buf.getvalue()
        if max_bytes is None or len(data) <= max_bytes:
            break
        if dpi <= 40:
            raise UnisstError(
                f"{path}: {len(data)} bytes at {dpi:.0f} dpi, more than {max_bytes}: "
                "draw a smaller figure"
            )
        dpi = max(40.0, dpi * 0.8)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    log.info("wrote %s (%d kB, %.0f dpi)", path, len(data) // 1024, dpi)
    return path


def write_metrics(out_dir: str | os.PathLike[str], metrics: Mapping[str, Any]) -> Path:
    """Write ``<out_dir>/metrics.json`` (what the sweep reads back); NaN becomes null."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if hasattr(v, "item"):  # numpy / torch scalars
            return clean(v.item())
        if isinstance(v, os.PathLike):
            return os.fspath(v)
        return v

    path = Path(out_dir) / METRICS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({k: clean(v) for k, v in metrics.items()}, indent=1) + "\n")
    return path


def read_metrics(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``metrics.json`` written by :func:`write_metrics`."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise NotebookError(f"cannot read metrics {path}: {err}") from err


def metrics_from_eval(row: Mapping[str, float], *, split: str, **extra: Any) -> dict[str, Any]:
    """The sweep's metrics from an evaluation row (``evaluation.validation.evaluate``)."""
    return {
        "split": split,
        "occlusion_rate": row.get("occlusion_rate"),
        "mae_c": row.get("mae_occluded_c"),
        "rmse_c": row.get("rmse_occluded_c"),
        "mean_fill_rmse_c": row.get("mean_fill_rmse_occluded_c"),
        "holdout_rmse_c": row.get("holdout_rmse_c"),
        **extra,
    }


# ------------------------------------------------------------ visualisation
def evaluation_table(rows: Sequence[Mapping[str, float]]) -> list[dict[str, Any]]:
    """Rows of ``evaluation.validation.evaluate_thresholds``, readable names (°C)."""
    return [
        {
            "LWP threshold (g m⁻²)": r["threshold_gm2"],
            "occluded (%)": round(100 * r["occlusion_rate"], 1),
            "RMSE under clouds (°C)": round(r["rmse_occluded_c"], 3),
            "MAE under clouds (°C)": round(r["mae_occluded_c"], 3),
            "sequence-mean RMSE (°C)": round(r["mean_fill_rmse_occluded_c"], 3),
            "withheld-pixel RMSE (°C)": round(r["holdout_rmse_c"], 3),
        }
        for r in rows
    ]


def describe_split(split_set: str, split: str) -> str:
    """``test region 20°S–14.75°S, 20°W–14.75°W (never seen in training)``-style label."""
    from unisst_lib.core.manifest import load_manifest
    from unisst_lib.sources.inventory import region_label

    m = load_manifest()
    dataset = m.split_set(split_set).split(split).dataset
    label = f"{split} region {region_label(m.region_of(dataset))}"
    return label + (" (never seen in training)" if split == "test" else "")


def representative_frame(rec) -> int:
    """The frame whose cloud cover is closest to the sequence's mean (a fair single picture).

    ``rec``: a :func:`unisst_lib.evaluation.validation.recover_sequence` result; ties go to
    the earliest frame.
    """
    import numpy as np

    cover = np.asarray(rec["mask"].values, dtype=np.float64).mean(axis=(1, 2))
    return int(np.argmin(np.abs(cover - cover.mean())))


# ---------------------------------------------------------------- benchmark
def load_benchmark_results(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A benchmark's ``results.json``, or None when there is none (the notebook says so).

    Raises
    ------
    NotebookError
        The file exists but is not a benchmark result (no ``rows`` list).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise NotebookError(f"cannot read benchmark results {path}: {err}") from err
    if not isinstance(results, dict) or not isinstance(results.get("rows"), list):
        raise NotebookError(f"{path} is not a benchmark result (no `rows` list)")
    need = {"method", "threshold_gm2", "occlusion_rate", "rmse_c", "mae_c"}
    for i, row in enumerate(results["rows"]):
        missing = need - set(row)
        if missing:
            raise NotebookError(f"{path}: rows[{i}] lacks {', '.join(sorted(missing))}")
    return results


def benchmark_table(results: Mapping[str, Any], key: str = "rmse_c") -> list[dict[str, Any]]:
    """One row per method, one column per LWP threshold: ``key`` (°C) — for a DataFrame.

    Methods and columns are named as in ``benchmarks/results.md``
    (:func:`unisst_lib.benchmark.report.method_label`, ``55 g m⁻²``).
    """
    from unisst_lib.benchmark.report import method_label, ordered_methods, threshold_header

    rows = results["rows"]
    methods = ordered_methods(rows)
    thresholds = sorted({float(r["threshold_gm2"]) for r in rows})
    by = {(r["method"], float(r["threshold_gm2"])): r for r in rows}
    table = []
    for m in methods:
        entry: dict[str, Any] = {"method": method_label(m)}
        entry["sees"] = next((r.get("information", "") for r in rows if r["method"] == m), "")
        for t in thresholds:
            v = by.get((m, t), {}).get(key)
            entry[threshold_header(t)] = None if v is None else round(float(v), 3)
        table.append(entry)
    return table
