"""benchmarks/uncertainty.md from uncertainty.json (written by benchmarks/uncertainty.py).

Every number is read from the results file; each cell is the mean over the seeds
with their standard deviation when there are several.
"""

from __future__ import annotations

import numpy as np

from unisst_lib.evaluation.probabilistic import gaussian_coverage
from unisst_lib.methods.ensemble import distance_bin_labels

LABELS = {
    "deep": "deep ensemble (the hybrid's seeds)",
    "noise_l1": "noise inputs, L1 + critics",
    "noise_crps": "noise inputs, fair CRPS + critics",
    "hybrid_deterministic": "UNISST hybrid, deterministic",
    "interp_local_std": "temporal interpolation ± local std",
    "unisst_ensemble": "UNISST ensemble (fitted on the CV input)",
}
#: Test rows calibrated on the test windows' own observed pixels (``fill(calibration="data")``).
DATA_SUFFIX = "_data_calibrated"


def label(name: str) -> str:
    """The table label of a results key.

    >>> label("interp_local_std_data_calibrated")
    'temporal interpolation ± local std, calibrated on the data being filled'
    """
    if name.endswith(DATA_SUFFIX):
        return label(name[: -len(DATA_SUFFIX)]) + ", calibrated on the data being filled"
    return LABELS.get(name, name)


#: The issue's targets: ±1σ within 68 ± 5 %, ±2σ within 95 ± 3 %, spread–skill 0.85–1.15.
TARGETS = {"coverage_1sd": (0.63, 0.73), "coverage_2sd": (0.92, 0.98), "spread_skill": (0.85, 1.15)}
_COLUMNS = [
    ("crps_c", "CRPS (°C)", 3),
    ("mae_c", "MAE of mean (°C)", 3),
    ("rmse_c", "RMSE of mean (°C)", 3),
    ("spread_skill", "spread/skill", 2),
    ("coverage_1sd", "±1σ cover", 3),
    ("coverage_2sd", "±2σ cover", 3),
]


def cell(rows: list[dict], key: str, digits: int = 3) -> str:
    """Mean (± sd over seeds) of ``key`` in ``rows``; – when absent.

    >>> cell([{"a": 1.0}, {"a": 3.0}], "a", 1)
    '2.0 ± 1.4'
    """
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return "–"
    mean = float(np.mean(values))
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {float(np.std(values, ddof=1)):.{digits}f}"


def seeds_cell(rows: list[dict]) -> str:
    """How many seeds a row's cells average: the failed ones are counted apart.

    >>> seeds_cell([{"crps_c": 0.1}, {"status": "failed"}, {"crps_c": 0.2}])
    '2 (+1 failed)'
    """
    failed = failed_seeds(rows)
    return f"{len(rows) - failed}" + (f" (+{failed} failed)" if failed else "")


def failed_seeds(rows: list[dict]) -> int:
    """Rows of seeds that have no scores (``status`` failed: e.g. no ensemble to draw)."""
    return sum(r.get("status") == "failed" for r in rows)


def _table(rows_by_method: dict[str, list[dict]]) -> list[str]:
    head = ["method", "seeds", *(label for _, label, _ in _COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, rows in rows_by_method.items():
        cells = [label(name), seeds_cell(rows)]
        cells += [cell(rows, key, d) for key, _, d in _COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def targets_met(rows: list[dict]) -> dict[str, bool]:
    """Whether the seeds' mean of each calibration score is within the issue's target."""
    out = {}
    for key, (lo, hi) in TARGETS.items():
        value = float(np.mean([r[key] for r in rows]))
        out[key] = lo <= value <= hi
    return out


def _calibration_cell(c: dict) -> str:
    if c.get("levels"):
        return "[" + " ".join(f"{f:.3f}" for f in c["levels"]) + f"] w {c['weight']:g}"
    return "factors [" + " ".join(f"{f:.2f}" for f in c["factors"]) + f"] w {c['weight']:g}"


def _data_check(results: dict) -> list[str]:
    checks = results.get("validation_data_calibration")
    if not checks:
        return []
    return [
        "The calibration on the data being filled (10 % of the observed pixels withheld "
        "under other frames' clouds, the members run again), scored out of sample on the "
        "withheld pixels above:",
        "",
        *_table(checks),
        "",
    ]


def uncertainty_markdown(results: dict) -> str:
    meta = results["meta"]
    chosen = meta["chosen"]
    lines = [
        "# Uncertainty benchmark",
        "",
        f"Made by `{meta['command']}` on {meta['date']} ({meta['machine']}); "
        f"{meta['members']} members, seeds {meta['seeds']}, {meta['steps']} fine-tuning steps.",
        "",
        "Cells: mean ± standard deviation over seeds. Coverage: share of the scored pixels "
        f"whose error is within ±1σ / ±2σ (Gaussian: {gaussian_coverage(1):.3f} / "
        f"{gaussian_coverage(2):.3f}); spread/skill: sqrt(mean σ²) / RMSE of the mean.",
        "",
        "## Validation: how the members are made (withheld observed pixels, no truth)",
        "",
        "Each candidate's calibration is fitted on these pixels (in-sample: its spread/skill is "
        f"close to 1 here); the lowest CRPS chooses the method: **{LABELS[chosen]}**.",
        "",
        *_table(results["validation"]),
        "",
        "Raw spread/skill (the members' own spread, before the calibration): "
        + "; ".join(
            f"{label(k)} {cell(v, 'raw_spread_skill', 2)}" for k, v in results["validation"].items()
        )
        + ".",
        "",
        "Calibration: σ (°C) per distance bin (frames to the nearest observation: "
        f"{', '.join(distance_bin_labels())}) and the weight w of the members' own spread "
        "within a bin: "
        + "; ".join(
            f"{label(k)} " + ", ".join(_calibration_cell(c) for c in v)
            for k, v in results["calibration"].items()
        ),
        "",
        *_data_check(results),
        "## Test region (truth under the clouds, scored once)",
        "",
    ]
    for th, rows in results["test"].items():
        lines += [f"### {th} g m⁻²", "", *_table(rows), ""]
        for name in (chosen, chosen + DATA_SUFFIX):
            if name not in rows:
                continue
            met = targets_met(rows[name])
            verdict = ", ".join(f"{k} {'met' if ok else 'MISSED'}" for k, ok in met.items())
            lines += [f"Targets ({label(name)}): {verdict}.", ""]
            hist = rows[name][0].get("rank_histogram")
            if hist:
                head = f"Rank histogram ({label(name)}, seed {meta['seeds'][0]}, flat = "
                lines += [f"{head}{1 / len(hist):.3f}): " + " ".join(f"{h:.3f}" for h in hist), ""]
    if results.get("real_cv"):
        lines += [
            "## Cross-validation on the embedded L3 archive (observed pixels hidden under "
            "other dates' clouds)",
            "",
            *_table(results["real_cv"]),
            "",
        ]
        for r in results["real_cv"].get("unisst_ensemble", []):
            if r.get("status") == "failed":
                lines.append(f"- CV seed {r['seed']}: the UNISST ensemble failed: {r['reason']}")
                continue
            lines.append(
                f"- CV seed {r['seed']}: fit {r['fit_steps']} steps in {r['fit_seconds']:.0f} s, "
                f"fill of {meta['members']} members in {r['fill_seconds']:.0f} s, spread "
                "calibrated on further withheld pixels of the CV input."
            )
        if meta.get("real_cv_command"):
            lines += ["", f"Added to this file by `{meta['real_cv_command']}`."]
    if meta.get("notes"):
        lines += ["", "Notes:", *(f"- {n}" for n in meta["notes"])]
    return "\n".join(lines) + "\n"
