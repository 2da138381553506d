"""The README's uncertainty block, rendered from benchmarks/uncertainty.json.

:func:`render_uncertainty` is the ``bench:uncertainty`` renderer of
:mod:`unisst_lib.benchmark.quotes`; it reads ``results["uncertainty"]`` (the
contents of uncertainty.json, attached by :func:`unisst_lib.benchmark.quotes.load_results`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unisst_lib.benchmark.uncertainty_report import (
    DATA_SUFFIX,
    LABELS,
    cell,
    failed_seeds,
    label,
    targets_met,
)
from unisst_lib.core.errors import DataNotFoundError

_KEYS = ("crps_c", "mae_c", "spread_skill", "coverage_1sd", "coverage_2sd")


def _line(label: str, rows: list[dict]) -> str:
    digits = {"spread_skill": 2}
    cells = [cell(rows, k, digits.get(k, 3)) for k in _KEYS]
    return f"| {label} | " + " | ".join(cells) + " |"


def _missed(test: Mapping[str, Any], name: str) -> str:
    missed = [
        f"{k} at {th} g m⁻²"
        for th, rows in test.items()
        if name in rows
        for k, ok in targets_met(rows[name]).items()
        if not ok
    ]
    return "met everywhere" if not missed else f"missed {', '.join(missed)}"


def render_uncertainty(results: Mapping[str, Any]) -> str:
    """The test-region and L3 cross-validation table of the chosen ensemble and its baselines."""
    unc = results.get("uncertainty")
    if not unc:
        raise DataNotFoundError(
            "no uncertainty results next to results.json: run `python benchmarks/uncertainty.py`"
        )
    meta, chosen = unc["meta"], unc["meta"]["chosen"]
    lines = [
        "| where | CRPS (°C) | MAE of mean (°C) | spread/skill | ±1σ cover | ±2σ cover |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for th, rows in unc["test"].items():
        for name in (chosen, chosen + DATA_SUFFIX, "interp_local_std",
                     "interp_local_std" + DATA_SUFFIX):  # fmt: skip
            if name in rows:
                lines.append(_line(f"twin test, {th} g m⁻²: {label(name)}", rows[name]))
        det = rows["hybrid_deterministic"]
        lines.append(f"| twin test, {th} g m⁻²: {LABELS['hybrid_deterministic']} | – | "
                     f"{cell(det, 'mae_c')} | – | – | – |")  # fmt: skip
    for name, rows in (unc.get("real_cv") or {}).items():
        failed = failed_seeds(rows)
        seeds = f"{len(rows) - failed}" + (f", {failed} failed" if failed else "")
        lines.append(_line(f"L3 archive, cross-validation: {label(name)}, seeds: {seeds}", rows))
    verdicts = [
        f"{label(name)}: " + _missed(unc["test"], name)
        for name in (chosen, chosen + DATA_SUFFIX)
        if any(name in rows for rows in unc["test"].values())
    ]
    cv_rows = (unc.get("real_cv") or {}).get("unisst_ensemble", [])
    ens_cv = [r for r in cv_rows if "crps_c" in r]
    cv_missed = [k for k, ok in targets_met(ens_cv).items() if not ok] if ens_cv else None
    cv_failed = failed_seeds(cv_rows)
    command = meta["command"].split(" --note ")[0]  # the notes are in uncertainty.md
    lines += [
        "",
        f"{meta['members']} members, seeds {meta['seeds']} (mean ± sd over seeds; "
        f"`{command}`, {meta['date']}). Targets (±1σ 63–73 %, ±2σ 92–98 %, "
        "spread/skill 0.85–1.15) on the twin, "
        + "; ".join(verdicts)
        + "."
        + (
            ""
            if cv_missed is None
            else " On the L3 cross-validation: "
            + ("met" if not cv_missed else f"missed: {', '.join(cv_missed)}")
            + (
                f" (by the seeds whose fit beat its first guess; {cv_failed} of {len(cv_rows)} "
                "did not, and has no ensemble)."
                if cv_failed
                else "."
            )
        ),
    ]
    return "\n".join(lines)
