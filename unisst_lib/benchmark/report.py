"""The benchmark as Markdown: the ``results.md`` that ``benchmarks/accuracy.py`` writes.

:func:`results_markdown` turns the rows of
:func:`unisst_lib.benchmark.runs.benchmark_thresholds` (and the run's ``meta``)
into tables of RMSE, MAE and effective resolution per method × threshold, the
timing, and the goals of :func:`unisst_lib.benchmark.scores.goal_checks`; methods
in :data:`METHOD_ORDER`, then any other in alphabetical order, each named by
:func:`method_label` (the notebook's tables and figure use the same names).
"""

from __future__ import annotations

import math

import numpy as np

from unisst_lib.benchmark.scores import goal_checks

METHOD_ORDER = (
    "mean_fill", "temporal_interp", "laplace", "dineof_window", "dineof_series",
    "unisst_paper", "unisst_hybrid", "oracle_supervised",
)  # fmt: skip

METHOD_LABELS = {
    "mean_fill": "mean fill",
    "temporal_interp": "temporal interpolation",
    "laplace": "Laplace inpainting",
    "dineof_window": "DINEOF (window)",
    "dineof_series": "DINEOF (whole series)",
    "unisst_paper": "UNISST paper recipe (fast)",
    "unisst_hybrid": "UNISST hybrid (fast)",
    "oracle_supervised": "oracle (trained on the truth)",
}
"""What a reader sees for each method key of ``results.json`` (tables, figure legend)."""

FROM_META = "from meta"
"""Default of ``results_markdown(image=...)``: the figure named in ``meta["figure"]``."""


def method_label(method: str) -> str:
    """The human name of a benchmark method (:data:`METHOD_LABELS`; an unknown key as it is)."""
    return METHOD_LABELS.get(method, method)


def ordered_methods(rows: list[dict]) -> list[str]:
    """The methods of ``rows``: those of :data:`METHOD_ORDER` in that order, then the others
    in alphabetical order."""
    present = {r["method"] for r in rows}
    return [m for m in METHOD_ORDER if m in present] + sorted(present - set(METHOD_ORDER))


def threshold_header(threshold_gm2: float) -> str:
    """The column header of one LWP threshold: ``55 g m⁻²``."""
    return f"{threshold_gm2:g} g m⁻²"


def _fmt(v, spec: str = ".3f") -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def _method_table(
    rows: list[dict], methods: list[str], thresholds: list[float], key: str, spec: str = ".3f"
) -> list[str]:
    """Markdown table of ``key`` per method (lines) × threshold (columns), occlusion first."""
    by = {(r["method"], r["threshold_gm2"]): r for r in rows}
    head = "| method | sees | " + " | ".join(threshold_header(t) for t in thresholds) + " |"
    rule = "| --- | --- | " + " | ".join("---:" for _ in thresholds) + " |"
    occ = "| *occluded (%)* | | " + " | ".join(
        f"{100 * by[(methods[0], t)]['occlusion_rate']:.1f}" for t in thresholds
    ) + " |"  # fmt: skip
    lines = [head, rule, occ]
    for mth in methods:
        cells = []
        for t in thresholds:
            r = by.get((mth, t))
            cells.append(_fmt(r[key], spec) if r else "–")
        info = by[(mth, thresholds[0])]["information"] if (mth, thresholds[0]) in by else ""
        lines.append(f"| {method_label(mth)} | {info} | " + " | ".join(cells) + " |")
    return lines


def _provenance(meta: dict) -> list[str]:
    """The paragraph saying which command, machine and test windows made the results."""
    if not meta:
        return []
    return [
        f"Made by `{meta.get('command', '?')}` on {meta.get('date', '?')}, "
        f"{meta.get('machine', '?')} (torch {meta.get('torch', '?')}), seed "
        f"{meta.get('seed', '?')}; {meta.get('n_windows', '?')} test windows of "
        f"{meta.get('seq_len', '?')} frames {meta.get('interval_hours', '?')} h apart "
        f"({meta.get('test_description', 'the region no model was trained on')}).",
        "",
    ]


def _timing_table(rows: list[dict], methods: list[str]) -> list[str]:
    """Training seconds, fill seconds and frames per second per method (mean over thresholds)."""
    out = [
        "| method | train (s) | fill (s) | frames / s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for mth in methods:
        rs = [r for r in rows if r["method"] == mth]
        fill = float(np.mean([r["fill_seconds"] for r in rs]))
        fps = float(np.mean([r["frames_per_s"] or 0 for r in rs]))
        out.append(
            f"| {method_label(mth)} | {rs[0]['train_seconds']:.0f} | {fill:.2f} | {fps:.0f} |"
        )
    return out


def _goals_section(rows: list[dict], model: str) -> list[str]:
    """The ``## Goals for `model``` section (empty when the model has no rows)."""
    checks = goal_checks(rows, model=model)
    if not checks:
        return []
    window, series = method_label("dineof_window"), method_label("dineof_series")
    out = [
        "",
        f"## Goals for {method_label(model)}",
        "",
        f"RMSE ratios (goal: ≤ 0.75 × {window}, ≤ 1.00 × {series}, ≤ 1.15 × the oracle, and "
        "the lowest RMSE of the window methods).",
        "",
        f"| LWP threshold (g m⁻²) | vs {window} | vs {series} | vs oracle | best window method "
        "| goals met |",
        "| ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for c in checks:
        best = c["best_window_method"]
        out.append(
            f"| {c['threshold_gm2']:g} | {_fmt(c['vs_dineof_window'], '.2f')} | "
            f"{_fmt(c['vs_dineof_series'], '.2f')} | {_fmt(c['vs_oracle'], '.2f')} | "
            f"{'–' if best is None else method_label(best)} | "
            f"{'yes' if c['goals_met'] else 'no'} |"
        )
    return out


def _appendix(meta: dict, image: str | None) -> list[str]:
    """The models' descriptions (when ``meta`` has them) and the figure at ``image``."""
    out = []
    if meta.get("models"):
        out += ["", "## Models", ""]
        for name, info in meta["models"].items():
            out.append(f"- {method_label(name)}, `{name}`: {info}")
    if image:
        out += ["", f"![spectra]({image})"]
    return out


def results_markdown(
    results: dict, *, model: str = "unisst_hybrid", image: str | None = FROM_META
) -> str:
    """The benchmark as Markdown tables: RMSE and MAE per method × threshold, resolution, timing.

    Parameters
    ----------
    results
        The dict written to ``results.json`` (``rows``, ``meta``).
    model
        The model whose goals are checked.
    image
        The figure's link, relative to where the Markdown is rendered. The
        default, ``meta["figure"]``, is relative to ``results.md`` (which
        ``benchmarks/accuracy.py`` writes next to the figure); rendered
        elsewhere, pass the path from there, or None for no image (e.g. a
        notebook that displays the figure itself).
    """
    rows = results["rows"]
    meta = results.get("meta", {})
    if image == FROM_META:
        image = meta.get("figure")
    thresholds = sorted({r["threshold_gm2"] for r in rows})
    methods = ordered_methods(rows)

    def table(key: str, spec: str = ".3f") -> list[str]:
        return _method_table(rows, methods, thresholds, key, spec)

    out = [f"# Gap-filling accuracy on the {meta.get('test_region', 'test region')}", ""]
    out += _provenance(meta)
    for note in meta.get("notes", []):
        out += [f"*Note:* {note}", ""]
    out += [
        "Errors in °C on the occluded pixels only (observed pixels are kept exactly by every "
        "method). `sees`: `window` = the same 24-frame window as the model; `series` = the "
        "whole test period (every window of that phase, with their clouds). The oracle is "
        "trained with the truth under the clouds — an upper bound no user can have.",
        "",
        "## RMSE (°C)",
        "",
        *table("rmse_c"),
        "",
        "## MAE (°C)",
        "",
        *table("mae_c"),
        "",
        "## Effective resolution (km)",
        "",
        "The wavelength where the power spectrum of the error reaches half that of the "
        "true field, scanning from half the box size down (smaller is finer; – = not even "
        "the largest scale). Grid spacing "
        f"{_fmt(meta.get('dx_km'), '.1f')} km (Nyquist wavelength "
        f"{_fmt(2 * meta['dx_km'] if 'dx_km' in meta else None, '.1f')} km).",
        "",
        *table("effective_resolution_km", ".1f"),
        "",
        "## Time on this machine",
        "",
        "Fill time for the whole test period at each threshold (mean over thresholds), "
        "training time once.",
        "",
        *_timing_table(rows, methods),
        *_goals_section(rows, model),
        *_appendix(meta, image),
    ]
    return "\n".join(out) + "\n"


def run_meta(script: str, argv: list[str]) -> dict:
    """``command``, ``date`` and ``machine`` of a benchmark run, for its results file.

    ``script`` is the script's path as a user types it (``benchmarks/real_cv.py``),
    ``argv`` its arguments as given.
    """
    import datetime as dt
    import platform
    import shlex

    return {
        "command": " ".join(["python", script, *map(shlex.quote, argv)]),
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()} CPU, {platform.system()} "
        f"(Python {platform.python_version()}, numpy {np.__version__})",
    }
