"""Cross-validation of gap-filling methods on a real L3 archive, with real cloud masks.

A real archive has no truth, so a method is scored the way DINCAE and DINEOF
users score theirs: hide a further share of the *observed* pixels under the
clouds of other dates, fill, and compare the fill with the hidden-but-known
observations.

* :func:`cv_plan` / :func:`cv_mask` (from :mod:`unisst_lib.data.cloud_holdout`):
  the hidden pixels (the DINCAE protocol, the share reached as :func:`cv_plan` says);
* the methods: ``unisst`` (a trained model, or one fitted on the CV input itself:
  :mod:`unisst_lib.benchmark.cv_unisst`), ``interp`` (linear in time), ``dineof``
  (whole record) and ``climatology`` (:func:`unisst_lib.methods.interp.fill_climatology`,
  the per-pixel mean of the record);
* :func:`cross_validate`: every method on the same hidden pixels; RMSE, MAE and
  bias (filled − observed, °C) on them, and — on the twin only, when the truth
  is given — the same scores under the real clouds, reported but never used to
  choose anything;
* :func:`evaluate_archive`: the same from files (``unisst evaluate --data``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from unisst_lib.benchmark.cv_unisst import UnisstOptions, run_unisst
from unisst_lib.core.errors import GridError, UnisstError
from unisst_lib.data.archive import open_archive
from unisst_lib.data.cloud_holdout import (
    DEFAULT_SHARE,
    MIN_KEPT_FRACTION,
    CrossValidationError,
    CVPlan,
    check_share_seed,
    cv_mask,
    cv_plan,
)
from unisst_lib.data.io import open_sst
from unisst_lib.methods.dineof import DINEOF_DEFAULTS, dineof
from unisst_lib.methods.interp import fill_climatology, fill_temporal

__all__ = [
    "CV_METHODS",
    "MIN_KEPT_FRACTION",
    "OTHER_METHODS",
    "CVPlan",
    "CVResult",
    "CrossValidationError",
    "cross_validate",
    "cv_mask",
    "cv_plan",
    "evaluate_archive",
]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ the methods
def _run_interp(sst, land, seed) -> tuple[np.ndarray, dict]:
    return fill_temporal(sst, land=land), {}


def _run_dineof(sst, land, seed) -> tuple[np.ndarray, dict]:
    # DINEOF's one setting (the fill and the benchmark use it too): no cap on the EOF
    # count, EOFs added until its own cross-validation error stops falling, the filter on.
    res = dineof(sst, land=land, seed=seed, **DINEOF_DEFAULTS)
    tried = int(np.isfinite(res.cv_rmse).sum())  # NaN: k not tried (patience ran out)
    stopped = "its CV error stopped falling" if res.n_eofs < tried else "the largest k tried"
    log.info("cross-validation: DINEOF chose k = %d EOFs (%s)", res.n_eofs, stopped)
    note = f"k = {res.n_eofs} EOFs ({stopped}, {tried} tried)"
    return res.filled, {"n_eofs": res.n_eofs, "eofs_tried": tried, "note": note}


def _run_climatology(sst, land, seed) -> tuple[np.ndarray, dict]:
    return fill_climatology(sst, land=land), {}


#: Method name -> ``run(sst, land, seed) -> (filled, extra row fields)``.
CV_METHODS: dict[str, Callable[..., tuple[np.ndarray, dict]]] = {
    "interp": _run_interp,
    "dineof": _run_dineof,
    "climatology": _run_climatology,
}
#: Methods besides CV_METHODS: ``unisst`` needs the archive's coordinates and its options.
OTHER_METHODS = ("unisst",)
_LABELS = {
    "unisst": "UNISST",
    "interp": "linear in time",
    "dineof": "DINEOF",
    "climatology": "climatology (pixel mean)",
}
#: What a failing method may raise and still leave the table standing.
_METHOD_FAILURES = (UnisstError, ValueError, ArithmeticError, RuntimeError, MemoryError)


# ------------------------------------------------------------------ the scores
@dataclass
class CVResult:
    """What :func:`cross_validate` returns.

    ``rows``: one dict per method — ``method``, ``status`` (``"ok"`` or
    ``"failed"``), ``reason`` (why it failed), ``hidden_pixels``, ``rmse_c``,
    ``mae_c``, ``bias_c`` (filled − observed, °C, on the hidden pixels),
    ``seconds``, ``note``; with the truth also ``truth_pixels``,
    ``truth_rmse_c``, ``truth_mae_c``, ``truth_bias_c`` (filled − truth under
    the real clouds). ``hidden`` is the (T, H, W) mask every method shared.
    """

    rows: list[dict]
    hidden: np.ndarray
    share: float
    seed: int
    observed_pixels: int
    frames: int
    frames_with_hidden: int
    truth_given: bool
    source: str = ""
    donors: dict[int, list[int]] = field(default_factory=dict)
    fills: dict[str, np.ndarray] = field(default_factory=dict)  # keep_fills: method -> (T, H, W)

    @property
    def hidden_pixels(self) -> int:
        return int(self.hidden.sum())

    @property
    def hidden_share(self) -> float:
        return self.hidden_pixels / self.observed_pixels

    def to_dict(self) -> dict:
        """A JSON-able summary (no arrays)."""
        return {
            "source": self.source,
            "share_asked": self.share,
            "share_hidden": self.hidden_share,
            "hidden_pixels": self.hidden_pixels,
            "observed_pixels": self.observed_pixels,
            "frames": self.frames,
            "frames_with_hidden": self.frames_with_hidden,
            "seed": self.seed,
            "truth_given": self.truth_given,
            "truth_note": _TRUTH_NOTE if self.truth_given else None,
            "rows": [{k: _json_value(v) for k, v in r.items()} for r in self.rows],
        }

    def to_markdown(self) -> str:
        """The table: method, hidden pixels, RMSE, MAE, bias, seconds (and the truth columns)."""
        head = ["method", "hidden pixels", "RMSE (°C)", "MAE (°C)", "bias (°C)", "time (s)"]
        if self.truth_given:
            head += ["truth: gap pixels", "truth: RMSE (°C)", "truth: MAE (°C)", "truth: bias (°C)"]
        head.append("note")
        lines = [
            f"Cross-validation{f' of {self.source}' if self.source else ''}: "
            f"{self.hidden_pixels} observed sea pixels hidden ({100 * self.hidden_share:.1f} % "
            f"of {self.observed_pixels}, asked {100 * self.share:.1f} %) in "
            f"{self.frames_with_hidden} of {self.frames} frames under the clouds of other dates "
            f"(seed {self.seed}); errors are filled − observed on those pixels.",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "|".join(" --- " for _ in head) + "|",
        ]
        for r in self.rows:
            cells = [_LABELS.get(r["method"], r["method"]), str(r["hidden_pixels"])]
            cells += [_fmt(r.get(k)) for k in ("rmse_c", "mae_c", "bias_c")]
            cells.append(_fmt(r.get("seconds"), ".1f"))
            if self.truth_given:
                cells.append(str(r.get("truth_pixels", "–")))
                cells += [_fmt(r.get(k)) for k in ("truth_rmse_c", "truth_mae_c", "truth_bias_c")]
            note = r.get("note", "")
            cells.append(f"failed: {r['reason']}" if r["status"] == "failed" else note)
            lines.append("| " + " | ".join(cells) + " |")
        if self.truth_given:
            lines += ["", f"Truth columns: {_TRUTH_NOTE}"]
        return "\n".join(lines) + "\n"


_TRUTH_NOTE = (
    "the same fills scored against the truth (the twin only) on the sea pixels missing in the "
    "archive (the real clouds and absent dates); reported for checking, never used for any choice."
)


_SCORE_KEYS = ("rmse_c", "mae_c", "bias_c")


def _json_value(v):
    """``v`` with a NaN float as ``None`` (JSON has no NaN)."""
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _fmt(v, spec: str = ".3f") -> str:
    return "–" if v is None or not math.isfinite(v) else format(v, spec)


def _scores(filled: np.ndarray, reference: np.ndarray, where: np.ndarray, prefix: str) -> dict:
    """RMSE, MAE, bias (filled − reference, °C) and the count of the ``where`` pixels."""
    err = filled[where].astype(np.float64) - reference[where].astype(np.float64)
    n = int(err.size)
    bad = n == 0 or not np.isfinite(err).all()
    return {
        f"{prefix}pixels": n,
        f"{prefix}rmse_c": math.nan if bad else math.sqrt(float(np.mean(err**2))),
        f"{prefix}mae_c": math.nan if bad else float(np.mean(np.abs(err))),
        f"{prefix}bias_c": math.nan if bad else float(np.mean(err)),
    }


def cross_validate(
    ds: xr.Dataset,
    *,
    methods: Sequence[str] = ("interp", "dineof", "climatology"),
    share: float = DEFAULT_SHARE,
    seed: int = 0,
    truth: xr.DataArray | None = None,
    unisst: UnisstOptions | None = None,
    keep_fills: bool = False,
) -> CVResult:
    """Score gap-filling methods on observed pixels hidden under the real clouds of other dates.

    Every method fills the archive with the same pixels (:func:`cv_plan`) removed:

    * ``"unisst"``: :func:`~unisst_lib.benchmark.cv_unisst.run_unisst` — the model of
      ``unisst.checkpoint``, or (default) one fitted on the CV input within ``unisst.fit_minutes``;
    * ``"interp"``: :func:`~unisst_lib.methods.interp.fill_temporal`;
    * ``"dineof"``: :func:`~unisst_lib.methods.dineof.dineof` on the whole record
      (its own cross-validation picks the EOF count, in the row's ``note``);
    * ``"climatology"``: :func:`unisst_lib.methods.interp.fill_climatology`.

    A method that raises is reported as failed with the reason; the others still run.

    Parameters
    ----------
    ds
        ``sst (time, latitude, longitude)`` °C with NaN where missing and
        ``land (latitude, longitude)`` (default: never observed), as
        :func:`unisst_lib.data.archive.open_archive` returns. Read into memory.
    methods
        Names of :data:`CV_METHODS`.
    share, seed
        As in :func:`cv_plan`.
    truth
        The gap-free SST (°C) on the archive's grid and dates — the twin only.
        The fills are then also scored on the sea pixels missing in the
        archive, in separate ``truth_*`` fields never used for any choice.
    unisst
        How the ``"unisst"`` method gets its model (default: fit one, 10 minutes).
    keep_fills
        Keep each method's filled (T, H, W) array in ``CVResult.fills`` (for maps of
        the CV error); off by default to spare memory.

    Returns
    -------
    CVResult
    """
    methods = _check_methods(methods)
    check_share_seed(share, seed)
    if "sst" not in ds:
        raise CrossValidationError("cross-validation: the data set has no 'sst' variable")
    sst = ds["sst"].transpose("time", "latitude", "longitude").values.astype(np.float64)
    land = ds["land"].values.astype(bool) if "land" in ds else ~np.isfinite(sst).any(axis=0)
    observed = np.isfinite(sst) & ~land[None]
    plan = cv_plan(observed, share=share, seed=seed, land=land, times=ds["time"].values)
    cv_input = np.where(observed & ~plan.hidden, sst, np.nan)
    gaps = ~observed & ~land[None]
    truth_values = None if truth is None else _aligned_truth(truth, ds)
    rows, fills = [], {}
    for name in methods:
        row = {"method": name, "status": "ok", "reason": "", "note": ""}
        t0 = time.perf_counter()
        try:
            if name == "unisst":
                opts = unisst or UnisstOptions()
                filled, extra = run_unisst(cv_input, land, seed, like=ds, options=opts)
            else:
                filled, extra = CV_METHODS[name](cv_input, land, seed)
        except _METHOD_FAILURES as err:
            log.warning("cross-validation: %s failed: %s", name, err)
            row.update(status="failed", reason=f"{type(err).__name__}: {err}", seconds=None)
            row.update(dict.fromkeys(_SCORE_KEYS), hidden_pixels=int(plan.hidden.sum()))
            if truth_values is not None:
                row.update(dict.fromkeys(f"truth_{k}" for k in _SCORE_KEYS), truth_pixels=0)
            rows.append(row)
            continue
        row["seconds"] = time.perf_counter() - t0
        if keep_fills:
            fills[name] = filled
        row.update(extra)
        scores = _scores(filled, sst, plan.hidden, "")
        row["hidden_pixels"] = scores.pop("pixels")
        row.update(scores)
        if truth_values is not None:
            row.update(_scores(filled, truth_values, gaps & np.isfinite(truth_values), "truth_"))
        rows.append(row)
    return CVResult(
        rows=rows,
        hidden=plan.hidden,
        share=float(share),
        seed=int(seed),
        observed_pixels=plan.observed,
        frames=sst.shape[0],
        frames_with_hidden=len(plan.donors),
        truth_given=truth is not None,
        source=_source_text(ds),
        donors=plan.donors,
        fills=fills,
    )


def _source_text(ds: xr.Dataset) -> str:
    """A short name of the archive: its first file and how many files."""
    n = ds.attrs.get("source_files")
    first = ds.attrs.get("source_first_file", "")
    return f"{first} ({n} files)" if n and n > 1 else str(first)


def _check_methods(methods: Sequence[str]) -> list[str]:
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    methods = list(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in CV_METHODS and m not in OTHER_METHODS]
    if unknown or not methods:
        raise CrossValidationError(
            f"cross-validation: unknown method(s) {', '.join(map(repr, unknown)) or '(none)'}; "
            f"choose among {', '.join((*OTHER_METHODS, *CV_METHODS))}"
        )
    return methods


def _aligned_truth(truth: xr.DataArray, ds: xr.Dataset) -> np.ndarray:
    """(T, H, W) float64 truth on the archive's dates and grid (NaN on dates it lacks)."""
    if set(truth.dims) != {"time", "latitude", "longitude"}:
        raise GridError(
            f"cross-validation: the truth must have dims (time, latitude, longitude); got "
            f"{truth.dims} (open it with unisst_lib.data.io.open_sst)"
        )
    truth = truth.transpose("time", "latitude", "longitude")
    for axis in ("latitude", "longitude"):
        a, b = np.asarray(truth[axis], float), np.asarray(ds[axis], float)
        spacing = float(np.min(np.abs(np.diff(b)))) if b.size > 1 else 1.0
        if a.shape != b.shape or not np.allclose(a, b, atol=spacing / 2):
            raise GridError(
                f"cross-validation: the truth's {axis} ({a.size} values, {a.min():.3f} to "
                f"{a.max():.3f}) is not the archive's ({b.size}, {b.min():.3f} to {b.max():.3f})"
            )
    times = ds["time"].values
    step = np.min(np.diff(times)) if times.size > 1 else np.timedelta64(1, "D")
    aligned = truth.reindex(time=times, method="nearest", tolerance=step / 2)
    if not np.isfinite(aligned.values).any():
        raise CrossValidationError(
            "cross-validation: the truth has no value on the archive's dates "
            f"({str(times[0])[:10]} to {str(times[-1])[:10]})"
        )
    return aligned.values.astype(np.float64)


def evaluate_archive(
    data,
    *,
    methods: Sequence[str] = ("interp", "dineof", "climatology"),
    share: float = DEFAULT_SHARE,
    seed: int = 0,
    min_quality: int | None = None,
    truth=None,
    unisst: UnisstOptions | None = None,
) -> CVResult:
    """:func:`cross_validate` an archive on disk (``unisst evaluate --data``).

    ``data`` goes to :func:`unisst_lib.data.archive.open_archive` (a file, a
    folder, a glob or a list) with ``min_quality``; ``truth`` is a netCDF file
    of the gap-free SST (the twin's ``twin_l3_truth``), opened with
    :func:`unisst_lib.data.io.open_sst`; ``unisst`` as in :func:`cross_validate`.
    """
    methods = _check_methods(methods)
    check_share_seed(share, seed)
    ds = open_archive(data, min_quality=min_quality)
    truth_da = None if truth is None else open_sst(truth)
    return cross_validate(
        ds, methods=methods, share=share, seed=seed, truth=truth_da, unisst=unisst
    )
