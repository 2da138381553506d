"""The uncertainty benchmark on real-like data: cross-validation of an ensemble on an L3 archive.

DINCAE's protocol (:func:`~unisst_lib.data.cloud_holdout.cv_plan`): a share of the
observed sea pixels is hidden under the real clouds of other dates; a stochastic
model is fitted on what is left (``unisst fill --fit --members N`` exactly:
:func:`~unisst_lib.methods.fit.fit_archive` with the ``archive_ensemble`` recipe),
its N members fill the archive with the spread calibrated on a *further* share of
the observed pixels it withholds itself, and the hidden pixels are scored against
their observed values. The temporal-interpolation baseline gets its local standard
deviation, calibrated on the same further pixels.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from unisst_lib.benchmark.uncertainty import (
    ensemble_scores,
    gaussian_scores,
    interp_with_spread,
)
from unisst_lib.data.cloud_holdout import DEFAULT_SHARE, cv_plan
from unisst_lib.methods.ensemble import fit_sigma
from unisst_lib.methods.fill import FillError, fill
from unisst_lib.methods.fit import FIT_ENSEMBLE_CONFIG, fit_archive

log = logging.getLogger(__name__)


def cv_input(arch: xr.Dataset, *, seed: int, share: float = DEFAULT_SHARE):
    """(the archive with the CV pixels hidden, hidden (T, H, W) bool, observed °C values)."""
    sst = arch["sst"].transpose("time", "latitude", "longitude").values.astype(np.float64)
    land = arch["land"].values.astype(bool)
    observed = np.isfinite(sst) & ~land[None]
    plan = cv_plan(observed, share=share, seed=seed, land=land, times=arch["time"].values)
    ds = arch[["sst", "land"]].copy()
    ds["sst"] = ds["sst"].where(~xr.DataArray(plan.hidden, dims=("time", "latitude", "longitude")))
    return ds, plan.hidden, sst


def ensemble_cv(
    arch: xr.Dataset, *, seed: int, members: int, fit_steps: int, device: str = "cpu"
) -> dict:
    """One CV seed: the fitted ensemble's and the baseline's scores on the hidden pixels.

    A fit that ends no better than its first guess has no noise to make members from:
    its row says so (``status`` ``"failed"``) and the baseline's row is still made.
    """
    ds, hidden, sst = cv_input(arch, seed=seed)
    rows = {"interp_local_std": _interp_cv(ds, hidden, sst, seed)}
    try:
        rows["unisst_ensemble"] = _ensemble_row(ds, hidden, sst, seed, members, fit_steps, device)
    except FillError as err:
        log.warning("L3 cross-validation, seed %d: %s", seed, err)
        rows["unisst_ensemble"] = {"seed": seed, "status": "failed", "reason": str(err)}
    return rows


def _ensemble_row(ds, hidden, sst, seed, members, fit_steps, device) -> dict:
    with tempfile.TemporaryDirectory(prefix="unisst-ens-cv-") as tmp:
        t0 = time.perf_counter()
        fit = fit_archive(
            ds, out=Path(tmp) / "fit.pt", steps=fit_steps, seed=seed, device=device,
            config=FIT_ENSEMBLE_CONFIG, progress=False,
        )  # fmt: skip
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = fill(
            ds[["sst"]], checkpoint=fit.checkpoint, land=ds["land"], members=members,
            keep_members=True, calibration="data", seed=seed,
        )  # fmt: skip
        fill_s = time.perf_counter() - t0
    mem = res["sst_members"].transpose("member", "time", "latitude", "longitude").values
    row = ensemble_scores(mem.astype(np.float64), sst, hidden)
    row.update(
        seed=seed, status="ok", fit_steps=fit.steps, fit_seconds=round(fit_s, 1),
        fill_seconds=round(fill_s, 1), fit_kept=fit.kept,
    )  # fmt: skip
    return row


def _interp_cv(ds: xr.Dataset, hidden: np.ndarray, sst: np.ndarray, seed: int) -> dict:
    """Temporal interpolation ± calibrated local standard deviation, on the same pixels."""
    cv = ds["sst"].transpose("time", "latitude", "longitude").values.astype(np.float64)
    land = ds["land"].values.astype(bool)
    observed = np.isfinite(cv) & ~land[None]
    further = cv_plan(observed, share=DEFAULT_SHARE, seed=seed + 1, land=land,
                      times=ds["time"].values).hidden  # fmt: skip
    inner = np.where(further, np.nan, cv)
    mu_in, sd_in, dist_in = interp_with_spread(inner, land)
    cal = fit_sigma((mu_in - cv)[further], sd_in[further], dist_in[further], members=1,
                    fitted_on="CV input: further withheld pixels")  # fmt: skip
    mu, sd, dist = interp_with_spread(cv, land)
    sigma = cal.sigma(sd, dist, ~np.isfinite(cv) & ~land[None])
    row = gaussian_scores(mu, sigma, sst, hidden)
    row.update(seed=seed, spread_weight=cal.weight)
    return row


def merge_real_cv(records: list[dict]) -> dict:
    """One record of several saved L3 cross-validations (``real_cv.json``) of other seeds.

    Rows are concatenated per method in the order given; the records must share the fit
    steps and the ensemble size, and no seed may appear twice.

    >>> a = {"seeds": [0], "fit_steps": 9, "members": 8, "rows": {"m": [{"seed": 0}]}}
    >>> b = {"seeds": [1], "fit_steps": 9, "members": 8, "rows": {"m": [{"seed": 1}]}}
    >>> merge_real_cv([a, b])["rows"]
    {'m': [{'seed': 0}, {'seed': 1}]}
    """
    if not records:
        raise ValueError("no L3 cross-validation record to merge")
    first = records[0]
    seeds: list[int] = []
    rows: dict[str, list] = {}
    for rec in records:
        if (rec["fit_steps"], rec.get("members")) != (first["fit_steps"], first.get("members")):
            raise ValueError(
                f"L3 cross-validations of {rec['fit_steps']} steps and {rec.get('members')} "
                f"members cannot join ones of {first['fit_steps']} and {first.get('members')}"
            )
        if set(rec["seeds"]) & set(seeds):
            raise ValueError(f"seed(s) {sorted(set(rec['seeds']) & set(seeds))} given twice")
        seeds += rec["seeds"]
        for name, method_rows in rec["rows"].items():
            rows.setdefault(name, []).extend(method_rows)
    return {**first, "seeds": seeds, "rows": rows}
