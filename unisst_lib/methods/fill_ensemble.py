"""``fill(…, members=N)``: N members of a stochastic generator, their mean and calibrated spread.

:func:`run_ensemble` runs the in-memory fill once per member (each member its own
noise field, :func:`unisst_lib.methods.ensemble.member_noise`, the same for every
window and tile that covers a pixel), corrects the spread (:class:`SpreadCalibration`:
the checkpoint's, one fitted here on observed pixels withheld from this very data
set under the real clouds of other dates, or a number) and returns the members,
their mean and the predicted standard deviation; :func:`ensemble_variables` adds
``<name>_error`` (and ``<name>_members``) to the output.

Memory and time grow linearly with N (the members are held together: N times the
filled variable); fitting the calibration on the data runs the N members once more.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xarray as xr

from unisst_lib.core.errors import UnisstWarning
from unisst_lib.data.cloud_holdout import DEFAULT_SHARE, CrossValidationError, cv_plan
from unisst_lib.evaluation.probabilistic import predictive_sd
from unisst_lib.methods.ensemble import (
    EnsembleError,
    SpreadCalibration,
    antithetic,
    calibrate_members,
    distance_bin_labels,
    fit_spread_scale,
    gap_distance,
    member_seed,
)

log = logging.getLogger(__name__)

CALIBRATIONS = ("auto", "checkpoint", "data", "none")


@dataclass
class Ensemble:
    """What :func:`run_ensemble` returns (arrays on the fill's (time, latitude, longitude))."""

    members: np.ndarray  # (N, T, H, W), calibrated; equal to the observation where observed
    mean: np.ndarray  # (T, H, W)
    error: np.ndarray  # (T, H, W) predicted standard deviation, 0 where not reconstructed
    needed: np.ndarray  # (T, H, W) bool, reconstructed
    calibration: SpreadCalibration | None  # None: raw spread (calibration="none")

    def take(self, keep: np.ndarray) -> Ensemble:
        """The frames ``keep`` only."""
        return dataclasses.replace(
            self, members=self.members[:, keep], mean=self.mean[keep], error=self.error[keep],
            needed=self.needed[keep],
        )  # fmt: skip


def check_calibration(calibration) -> None:
    """Refuse a ``calibration`` that is neither a known word nor a positive number."""
    if isinstance(calibration, (int, float)) and not isinstance(calibration, bool):
        if calibration > 0:
            return
    elif calibration in CALIBRATIONS:
        return
    raise EnsembleError(
        f"calibration must be one of {', '.join(CALIBRATIONS)} or a positive spread factor, "
        f"got {calibration!r}"
    )


def run_ensemble(
    run: Callable[..., tuple[np.ndarray, np.ndarray]],
    src,
    *,
    members: int,
    seed: int,
    calibration,
    stored: dict | None,
    name: str,
    phases: int = 1,
) -> Ensemble:
    """``members`` fills ``run(src, member_seed=…, sign=…)``, calibrated as ``calibration`` says.

    ``stored``: the checkpoint's calibration (a :meth:`SpreadCalibration.to_dict`), or None.
    ``"auto"`` fits on the data, and uses ``stored`` (with a warning) only when the data
    cannot give one: the error at a given distance from the observations is that of the
    data being filled (region, season, clouds), which a checkpoint's calibration fitted
    elsewhere does not know. ``phases``: the fill's interleaved series (distances in
    time are counted within each).
    """
    cal = _calibration(run, src, members=members, seed=seed, calibration=calibration,
                       stored=stored, name=name, phases=phases)  # fmt: skip
    raw, needed = _members(run, src, members, seed)
    raw_sd = predictive_sd(raw.astype(np.float64))
    if cal is None:
        sigma = np.where(needed, raw_sd, 0.0)
    else:
        sigma = cal.sigma(raw_sd, _distance(needed, src.land, phases), needed)
    scaled = calibrate_members(raw, sigma)  # members that agree (observed) stay bit for bit
    mean = _mean(scaled, needed)
    error = sigma.astype(np.float32)
    error[~np.isfinite(mean)] = np.nan  # land
    return Ensemble(scaled, mean, error, needed, cal)


def _distance(needed: np.ndarray, land: np.ndarray, phases: int) -> np.ndarray:
    """Frames (of the model's spacing) from each gap pixel to its nearest observation."""
    missing = needed | land[None]
    out = np.empty(missing.shape, np.float32)
    for p in range(phases):
        out[p::phases] = gap_distance(missing[p::phases])
    return out


def _members(run, src, members: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    outs, needed = [], None
    for k in range(members):
        log.debug("ensemble member %d of %d", k + 1, members)
        pair, sign = antithetic(k)
        out, needed = run(src, member_seed=member_seed(seed, pair), sign=sign)
        outs.append(out)
    return np.stack(outs), needed


def _mean(members: np.ndarray, needed: np.ndarray) -> np.ndarray:
    """The members' mean where reconstructed; the observation itself (bit for bit) elsewhere."""
    mean = members.mean(axis=0, dtype=np.float64).astype(members.dtype)
    return np.where(needed, mean, members[0])


def _calibration(
    run, src, *, members, seed, calibration, stored, name, phases
) -> SpreadCalibration | None:
    check_calibration(calibration)
    if calibration == "none":
        return None
    if not isinstance(calibration, str):
        return SpreadCalibration.constant(float(calibration), members)
    if calibration == "checkpoint":
        if stored is None:
            raise EnsembleError(
                "the checkpoint stores no spread calibration: use calibration='data' (fitted "
                "on observed pixels of this data set) or 'none'"
            )
        return _stored(stored)
    try:
        return fit_on_data(run, src, members=members, seed=seed, name=name, phases=phases)
    except EnsembleError as err:
        if calibration == "data" or stored is None:
            raise
        warnings.warn(
            f"{err}; using the checkpoint's calibration instead, fitted on other data: the "
            "error bars may be off by the difference",
            UnisstWarning,
            stacklevel=2,
        )
        return _stored(stored)


def _stored(stored: dict) -> SpreadCalibration:
    cal = SpreadCalibration.from_dict(stored)
    log.info("spread calibration of the checkpoint (%s)", cal.fitted_on)
    return cal


def fit_on_data(
    run, src, *, members: int, seed: int, name: str, phases: int = 1
) -> SpreadCalibration:
    """Fit the spread calibration on observed pixels of ``src`` withheld under other dates' clouds.

    :data:`~unisst_lib.data.cloud_holdout.DEFAULT_SHARE` of the observed sea pixels
    are hidden (:func:`~unisst_lib.data.cloud_holdout.cv_plan`, seeded with ``seed``),
    the members fill them, and :func:`~unisst_lib.methods.ensemble.fit_spread_scale`
    matches their spread to their error there. Only observations are used.
    """
    values = src.sst.values
    observed = np.isfinite(values) & ~src.land[None]
    if src.mask is not None:
        observed &= np.asarray(src.mask.values) != 1
    try:
        plan = cv_plan(observed, share=DEFAULT_SHARE, seed=seed, land=src.land,
                       times=src.sst["time"].values)  # fmt: skip
    except CrossValidationError as err:
        raise EnsembleError(
            f"the spread cannot be calibrated on this data ({err}): calibration='data' withholds "
            f"{DEFAULT_SHARE:.0%} of the observed pixels under the clouds of other dates. Give a "
            "longer record, or use calibration='checkpoint' or 'none'"
        ) from err
    hidden_src = dataclasses.replace(src, sst=src.sst.where(~plan.hidden))
    log.info("fitting the spread on %d withheld observed pixels", int(plan.hidden.sum()))
    raw, needed = _members(run, hidden_src, members, seed + 1)
    cal = fit_spread_scale(
        raw, values, plan.hidden, distance=_distance(needed, src.land, phases),
        fitted_on=f"{name}: withheld observed pixels",
    )  # fmt: skip
    log.info("spread calibration fitted on the data: weight %g, sigma per bin %s (RMSE %.3f)",
             cal.weight, ", ".join(f"{f:.3f}" for f in cal.levels), cal.rmse_c)  # fmt: skip
    return cal


def ensemble_variables(
    res: xr.Dataset, name: str, ens: Ensemble, *, keep_members: bool
) -> xr.Dataset:
    """``res`` with ``<name>_error`` (CF ancillary variable of ``<name>``), and the members."""
    var = res[name]
    err_name = f"{name}_error"
    attrs = {
        "long_name": f"standard deviation of the error of {name} (from the ensemble spread)",
        "units": var.attrs.get("units", ""),
        "comment": _error_comment(ens),
        "coverage_content_type": "qualityInformation",
    }
    if "standard_name" in var.attrs:
        attrs["standard_name"] = f"{var.attrs['standard_name']} standard_error"
    err = xr.DataArray(ens.error, dims=var.dims, coords=var.coords, attrs=attrs)
    err.encoding = {"dtype": "float32", "_FillValue": np.float32(np.nan)}
    out = res.assign({err_name: err})
    out[name].attrs["ancillary_variables"] = " ".join(
        v for v in (out[name].attrs.get("ancillary_variables"), err_name) if v
    )
    out[name].encoding = var.encoding
    out.attrs["unisst_members"] = int(ens.members.shape[0])
    if ens.calibration is not None:
        out.attrs["unisst_spread_calibration"] = ens.calibration.fitted_on
    if keep_members:
        mem = xr.DataArray(
            ens.members, dims=("member", *var.dims),
            coords={**var.coords, "member": np.arange(ens.members.shape[0])},
            attrs={**var.attrs, "long_name": f"ensemble members of {name}"},
        )  # fmt: skip
        mem.encoding = dict(var.encoding)
        out = out.assign({f"{name}_members": mem})
    return out


def _error_comment(ens: Ensemble) -> str:
    n = ens.members.shape[0]
    cal = ens.calibration
    if cal is None:
        how = "uncalibrated: sqrt((N+1)/N) x the standard deviation of the members"
    else:
        per_bin = (
            f"sigma {', '.join(f'{f:.3g}' for f in cal.levels)}"
            if cal.levels
            else f"spread factors {', '.join(f'{f:.2f}' for f in cal.factors)}"
        )
        how = (
            "calibrated by the distance in time to the nearest observation (frames "
            f"{', '.join(distance_bin_labels())}: {per_bin}; weight of the members' own "
            f"spread {cal.weight:g}), fitted on {cal.fitted_on}"
        )
    return f"N = {n} members; {how}; 0 where observed, NaN on land"
