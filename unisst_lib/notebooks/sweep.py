"""LWP-threshold sweeps: the training and visualisation notebooks once per threshold.

:func:`sweep` runs the notebooks into ``<out>/threshold_<t>/`` for each
threshold ``t`` and writes one summary table (``summary.csv``,
``summary.md``: :func:`sweep_markdown`) and a figure grid of one sample per
threshold (``samples.png``). Each notebook hands its numbers back in a
``metrics.json`` (:func:`unisst_lib.notebooks.helpers.write_metrics`) and its
picture as ``sample.png``.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unisst_lib.core.paths import atomic_path
from unisst_lib.notebooks.helpers import METRICS_FILE, SAMPLE_FILE, read_metrics, save_figure
from unisst_lib.notebooks.kernel import KERNEL_NAME
from unisst_lib.notebooks.locations import NotebookError, notebook_path
from unisst_lib.notebooks.params import (
    check_used,
    normalise_overrides,
)
from unisst_lib.notebooks.runner import RunReport, first_line, run_one

log = logging.getLogger(__name__)

SWEEP_NOTEBOOKS = ("03_training", "04_visualisation")
"""The notebooks a sweep runs by default: train one model, then map and score it."""

SWEEP_SETS = ("threshold_gm2", "run_dir", "out_dir")
"""Parameters the sweep sets itself for every threshold (the caller may not)."""

SUMMARY_COLUMNS = (
    "threshold_gm2", "status", "occlusion_rate", "mae_c", "rmse_c", "mean_fill_rmse_c",
    "split", "from_notebook", "sample", "error",
)  # fmt: skip


@dataclass
class SweepResult:
    """A sweep's summary rows and files."""

    rows: list[dict[str, Any]]
    reports: dict[float, list[RunReport]]
    csv: Path
    markdown: Path
    figure: Path | None


def threshold_dir(out_dir: str | os.PathLike[str], threshold_gm2: float) -> Path:
    """The output folder of one threshold of a sweep: ``<out_dir>/threshold_70``."""
    return Path(out_dir) / f"threshold_{float(threshold_gm2):g}"


def sweep(
    thresholds: Sequence[float] = (55, 60, 65, 70, 75, 80),
    base_parameters: Mapping[str, Any] | None = None,
    out_dir: str | os.PathLike[str] = "runs/sweep",
    notebooks: Sequence[str] = SWEEP_NOTEBOOKS,
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    kernel: str = KERNEL_NAME,
    directory: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> SweepResult:
    """Run ``notebooks`` once per LWP threshold, each threshold into its own folder.

    For threshold ``t`` the notebooks run into ``<out_dir>/threshold_<t>/`` with
    ``threshold_gm2 = t``, ``run_dir = <that>/run`` (one model per threshold),
    ``checkpoint = <that>/run/checkpoints/best.pt`` (unless ``base_parameters``
    names one), ``out_dir = <that>/<notebook>`` and no README figure. A failed
    notebook is reported, the remaining notebooks of that threshold are skipped
    (they need its results) and the next threshold runs.

    Then writes ``summary.csv`` and ``summary.md`` (threshold, occlusion rate,
    MAE/RMSE in °C — from the last notebook that wrote ``metrics.json``: the
    test region for ``04_visualisation``, validation for ``03_training``) and
    ``samples.png`` (one sample map per threshold) into ``out_dir``.
    """
    names = [notebook_path(n, directory).stem for n in notebooks]
    if not names:
        raise NotebookError("a sweep needs at least one notebook")
    if not thresholds:
        raise NotebookError("a sweep needs at least one threshold")
    base = dict(base_parameters or {})
    overrides = normalise_overrides(overrides, directory)
    for key in SWEEP_SETS:
        if key in base:
            raise NotebookError(f"the sweep sets {key!r} itself: remove it from the parameters")
    check_used(base, names, directory)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    reports: dict[float, list[RunReport]] = {}
    for thr in map(float, thresholds):
        tdir = threshold_dir(out_dir, thr)
        reports[thr] = _run_threshold(
            thr,
            tdir,
            names,
            _threshold_parameters(tdir, thr, base),
            overrides,
            kernel=kernel,
            directory=directory,
            progress=progress,
        )
    rows = [_sweep_row(thr, threshold_dir(out_dir, thr), names, reps)
            for thr, reps in reports.items()]  # fmt: skip
    csv_path, md_path = _write_summary(rows, out_dir)
    return SweepResult(rows, reports, csv_path, md_path, _draw_samples(rows, out_dir))


def _threshold_parameters(tdir: Path, thr: float, base: Mapping[str, Any]) -> dict[str, Any]:
    """The common parameters of one threshold: its own run folder, no README figure."""
    return {
        "checkpoint": str(tdir / "run" / "checkpoints" / "best.pt"),
        **base,
        "threshold_gm2": thr,
        "run_dir": str(tdir / "run"),
        "readme_figure": "",
    }


def _run_threshold(
    thr: float,
    tdir: Path,
    names: Sequence[str],
    common: Mapping[str, Any],
    overrides: Mapping[str, Mapping[str, Any]],
    *,
    kernel: str,
    directory: str | os.PathLike[str] | None,
    progress: bool,
) -> list[RunReport]:
    """Run the notebooks of one threshold in order; stop at the first failure."""
    reports = []
    for name in names:
        report = run_one(
            name, common, overrides, tdir, kernel=kernel, directory=directory,
            progress=progress, own_out_dir=True,
        )  # fmt: skip
        reports.append(report)
        if report.error:
            log.error("threshold %g g m-2: %s", thr, report.error)
            break  # the next notebooks need this one's results
    return reports


def _sweep_row(
    thr: float, tdir: Path, names: Sequence[str], reports: Sequence[RunReport]
) -> dict[str, Any]:
    """One summary row: status, and the numbers and sample of the last notebook that left them."""
    failed = [r for r in reports if not r.ok]
    row: dict[str, Any] = {
        "threshold_gm2": thr,
        "status": "ok" if not failed else f"failed in {failed[0].notebook}",
        "error": first_line(failed[0].error, 500) if failed else "",
        "occlusion_rate": None,
        "mae_c": None,
        "rmse_c": None,
        "mean_fill_rmse_c": None,
        "split": "",
        "from_notebook": "",
        "sample": "",
    }
    if failed:
        return row
    for name in reversed(names):
        path = tdir / name / METRICS_FILE
        if path.is_file():
            m = read_metrics(path)
            for key in ("occlusion_rate", "mae_c", "rmse_c", "mean_fill_rmse_c"):
                row[key] = m.get(key)
            row["split"] = m.get("split", "")
            row["from_notebook"] = name
            break
    for name in reversed(names):
        sample = tdir / name / SAMPLE_FILE
        if sample.is_file():
            row["sample"] = str(sample)
            break
    return row


def _write_summary(rows: Sequence[Mapping[str, Any]], out_dir: Path) -> tuple[Path, Path]:
    """``summary.csv`` (empty cells for missing numbers) and ``summary.md`` in ``out_dir``."""
    csv_path, md_path = out_dir / "summary.csv", out_dir / "summary.md"
    with atomic_path(csv_path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
            w.writeheader()
            for r in rows:
                w.writerow({k: _csv_value(r.get(k)) for k in SUMMARY_COLUMNS})
    with atomic_path(md_path) as tmp:
        tmp.write_text(sweep_markdown(rows, out_dir=out_dir))
    return csv_path, md_path


def _draw_samples(rows: Sequence[Mapping[str, Any]], out_dir: Path) -> Path | None:
    """``samples.png``: one sample map per threshold; None when it could not be drawn."""
    from unisst_lib.views.plots import image_grid_figure

    fig_path = out_dir / "samples.png"
    try:
        fig = image_grid_figure(
            [(_sample_title(r), r["sample"] or None) for r in rows],
            ncols=min(2, len(rows)),
            panel_size=7.0,
        )
        save_figure(fig, fig_path, dpi=90)
    except (OSError, ValueError) as err:
        log.error("could not draw the sample grid: %s", err)
        return None
    return fig_path


def _csv_value(v: Any) -> Any:
    """A CSV cell: missing and non-finite numbers are left empty."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return v


def _sample_title(row: Mapping[str, Any]) -> str:
    """The caption of a threshold's sample: threshold, occlusion, RMSE (or that it failed)."""
    head = f"{row['threshold_gm2']:g} g m⁻²"
    if row["status"] != "ok":
        return f"{head}: failed"
    parts = [head]
    if row.get("occlusion_rate") is not None:
        parts.append(f"{100 * row['occlusion_rate']:.0f} % occluded")
    if row.get("rmse_c") is not None:
        parts.append(f"RMSE {row['rmse_c']:.2f} °C")
    return ", ".join(parts)


def sweep_markdown(rows: Sequence[Mapping[str, Any]], *, out_dir: Path | None = None) -> str:
    """The sweep's summary as a Markdown table (°C; occlusion rate in %)."""

    def num(v: Any, spec: str) -> str:
        return "–" if v is None or not math.isfinite(float(v)) else format(float(v), spec)

    lines = [
        "# LWP threshold sweep",
        "",
        "One model trained and evaluated per liquid-water-path threshold. Errors in °C on the "
        "occluded pixels only; `sequence mean`: filling with the mean of the observed pixels.",
        "",
        "| LWP threshold (g m⁻²) | occluded (%) | MAE (°C) | RMSE (°C) | sequence mean RMSE "
        "(°C) | evaluated on | status |",
        "| ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        occ = r.get("occlusion_rate")
        pct = "–" if occ is None else num(100 * occ, ".1f")
        lines.append(
            f"| {r['threshold_gm2']:g} | {pct} | "
            f"{num(r.get('mae_c'), '.3f')} | {num(r.get('rmse_c'), '.3f')} | "
            f"{num(r.get('mean_fill_rmse_c'), '.3f')} | {r.get('split') or '–'} | "
            f"{r['status']} |"
        )
    errors = [r for r in rows if r.get("error")]
    if errors:
        lines += ["", "## Failed runs", ""]
        lines += [f"- {r['threshold_gm2']:g} g m⁻²: {r['error']}" for r in errors]
    if out_dir is not None:
        lines += ["", "![one sample per threshold](samples.png)"]
    return "\n".join(lines) + "\n"
