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
    "first_guess", "unisst_paper", "unisst_self_supervised", "unisst_hybrid",
    "oracle_supervised",
)  # fmt: skip

METHOD_LABELS = {
    "mean_fill": "mean fill",
    "temporal_interp": "temporal interpolation",
    "laplace": "Laplace inpainting",
    "dineof_window": "DINEOF (window)",
    "dineof_series": "DINEOF (whole series)",
    "first_guess": "first guess only (the generator's temporal interpolation)",
    "unisst_paper": "UNISST adversarial only (paper recipe)",
    "unisst_self_supervised": "UNISST self-supervised only (no critics)",
    "unisst_hybrid": "UNISST hybrid (fast)",
    "oracle_supervised": "oracle (same input, trained on the truth)",
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
            cells.append(_cell(r, key, spec) if r else "–")
        info = by[(mth, thresholds[0])]["information"] if (mth, thresholds[0]) in by else ""
        lines.append(f"| {method_label(mth)} | {info} | " + " | ".join(cells) + " |")
    return lines


def _cell(row: dict, key: str, spec: str) -> str:
    """The value, and its interval when the row has one (``rmse_c`` -> ``rmse_lo``)."""
    text = _fmt(row[key], spec)
    stem = key.removesuffix("_c")
    if row.get(f"{stem}_lo") is not None and row.get("n_windows", 0) > 1:
        text += f" ({_fmt(row[f'{stem}_lo'], spec)}–{_fmt(row[f'{stem}_hi'], spec)})"
    return text


def _provenance(meta: dict) -> list[str]:
    """The paragraph saying which command, machine and test windows made the results."""
    if not meta:
        return []
    seeds = meta.get("seeds", [meta.get("seed", "?")])
    out = [
        f"Made by `{meta.get('command', '?')}` on {meta.get('date', '?')}, "
        f"{meta.get('machine', '?')} (torch {meta.get('torch', '?')}), seeds "
        f"{', '.join(map(str, seeds))}; {meta.get('n_windows', '?')} test windows of "
        f"{meta.get('seq_len', '?')} frames {meta.get('interval_hours', '?')} h apart "
        f"({meta.get('test_description', 'the region no model was trained on')}).",
        "",
    ]
    boot = meta.get("bootstrap")
    if boot:
        out += [
            f"Brackets: {100 * boot['level']:g} % bootstrap intervals ({boot['replicates']} "
            f"replicates over {boot['unit']}). A trained method's value is the mean over its "
            "seeds.",
            "",
        ]
    return out


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


def _validation_section(results: dict) -> list[str]:
    """How the headline recipe was chosen: validation numbers only (no test, no truth)."""
    val = results.get("validation")
    if not val:
        return []
    head = results.get("meta", {}).get("headline")
    out = [
        "",
        "## Validation: how the recipe was chosen",
        "",
        "Withheld *observed* pixels of the validation split (a held-out period of the training "
        "ocean, its own cloud segment), RMSE in °C at the checkpoint each seed kept. The "
        f"recipe with the lowest mean is quoted as UNISST's result: **{method_label(head)}**. "
        "The oracle keeps the checkpoint of lowest truth error instead (it is trained on the "
        "truth anyway).",
        "",
        "| recipe | selected on | withheld-pixel RMSE (mean) | per seed | best step per seed "
        "| steps run |",
        "| --- | --- | ---: | --- | --- | --- |",
    ]
    for name, v in val.items():
        seeds = ", ".join(f"{x:.4f}" for x in v["holdout_rmse_c"]["seeds"])
        out.append(
            f"| {method_label(name)} | {v['selected_on']} | {v['holdout_rmse_c']['mean']:.4f} | "
            f"{seeds} | {', '.join(map(str, v['best_step']))} | "
            f"{', '.join(map(str, v['steps_run']))} |"
        )
    return out


_MARK = {"a better": " **A**", "b better": " **B**", "no difference": ""}


def _comparison_section(results: dict) -> list[str]:
    """Paired differences of RMSE, pairs × thresholds; a win only when the interval excludes 0."""
    comps = results.get("comparisons")
    if not comps:
        return []
    thresholds = sorted({c["threshold_gm2"] for c in comps})
    by = {(c["a"], c["b"], c["threshold_gm2"]): c for c in comps}
    pairs: list[tuple[str, str]] = []
    for c in comps:  # each unordered pair once (the first way the results ask it)
        if (c["a"], c["b"]) not in pairs and (c["b"], c["a"]) not in pairs:
            pairs.append((c["a"], c["b"]))
    out = [
        "",
        "## Paired differences",
        "",
        "RMSE(A) − RMSE(B) in °C on the same windows and its bootstrap interval; **A** or "
        "**B** marks the better one where the interval excludes zero, nothing where it does "
        "not (no difference shown).",
        "",
        "| A | B | " + " | ".join(threshold_header(t) for t in thresholds) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in thresholds) + " |",
    ]
    for a, b in pairs:
        cells = []
        for t in thresholds:
            c = by.get((a, b, t))
            cells.append(
                "–" if c is None
                else f"{c['diff']:+.3f} ({c['lo']:+.3f}, {c['hi']:+.3f}){_MARK[c['verdict']]}"
            )  # fmt: skip
        out.append(f"| {method_label(a)} | {method_label(b)} | " + " | ".join(cells) + " |")
    return out


def _dineof_section(rows: list[dict]) -> list[str]:
    """DINEOF on the whole series: the EOF count its cross-validation chose, per chain."""
    rs = [r for r in rows if r.get("dineof_chains")]
    if not rs:
        return []
    out = [
        "",
        "## DINEOF on the whole series: EOFs chosen",
        "",
        "EOFs are added until the cross-validation error stops falling (no cap); per chain of "
        "windows (one per hourly phase): EOFs kept / tried, and whether the final fit converged.",
        "",
    ]
    for r in sorted(rs, key=lambda r: r["threshold_gm2"]):
        chains = "; ".join(
            f"{c['n_eofs']} / {c['eofs_tried']} ({'' if c['converged'] else 'NOT '}converged)"
            for c in r["dineof_chains"]
        )
        out.append(f"- {threshold_header(r['threshold_gm2'])}: {chains}")
    return out


def _real_cv_section(results: dict) -> list[str]:
    """The real-data table: cross-validation on the embedded L3 archive (no truth needed)."""
    cv = results.get("real_cv")
    if not cv:
        return []
    m = cv["meta"]
    out = [
        "",
        "## Real data: cross-validation on the embedded L3 archive",
        "",
        f"From `{cv['file']}`, made by `{m['command']}` on {m['date']}: "
        f"{100 * m['share']:g} % of the observed sea pixels hidden under the clouds of other "
        f"dates, seeds {', '.join(map(str, m['seeds']))} (DINCAE's protocol). CV: filled − "
        "observed there; truth: against the twin's truth on the pixels the archive misses, "
        "for checking only. Mean ± standard deviation over seeds, °C.",
        "",
        "| method | CV RMSE | truth RMSE | failed runs |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, v in cv["summary"]["methods"].items():
        out.append(
            f"| {name} | {v['cv_rmse_c_mean']:.3f} ± {v['cv_rmse_c_sd']:.3f} | "
            f"{_fmt(v.get('truth_rmse_c_mean'))} ± {_fmt(v.get('truth_rmse_c_sd'))} | "
            f"{v['failed']} |"
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
    results: dict, *, model: str | None = "unisst_hybrid", image: str | None = FROM_META
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
    model = model or meta.get("headline", "unisst_hybrid")
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
        "trained with the truth under the clouds — an upper bound no user can have. The "
        "test region and its cloud segment were used for nothing but this table.",
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
        *_validation_section(results),
        *_comparison_section(results),
        *_dineof_section(rows),
        *_real_cv_section(results),
        *_goals_section(rows, model),
        *_appendix(meta, image),
    ]
    return "\n".join(out) + "\n"


def run_meta(script: str, argv: list[str] | None = None) -> dict:
    """``command``, ``date`` and ``machine`` of a benchmark run, for its results file.

    ``script`` is the script's path as a user types it (``benchmarks/real_cv.py``),
    ``argv`` its arguments as given (None: this process's, ``sys.argv[1:]``).
    """
    import datetime as dt
    import platform
    import shlex
    import sys

    argv = sys.argv[1:] if argv is None else argv

    return {
        "command": " ".join(["python", script, *map(shlex.quote, argv)]),
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()} CPU, {platform.system()} "
        f"(Python {platform.python_version()}, numpy {np.__version__})",
    }
