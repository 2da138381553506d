"""Gap-fill any SST data set: :func:`fill` (and ``unisst fill INPUT.nc OUTPUT.nc``).

The SST variable is found as :func:`unisst_lib.data.io.open_sst` finds it (name or
CF ``standard_name``; Kelvin or °C; a depth axis reduced to its shallowest
level). Missing pixels are NaN / ``_FillValue`` or, with ``mask_variable``,
where that variable is 1. Pixels missing in *every* frame are land: they stay
missing and are not filled (unless ``land`` gives the land mask: then sea pixels
never observed are filled too).

``method="unisst"`` runs a trained generator on sliding windows of the
model's sequence length (overlapping in time) and on 64×64 spatial tiles
(overlapping by ``tile_overlap`` pixels); overlapping predictions are averaged
with a weight that ramps linearly over the overlap (no seams). A domain or a
sequence smaller than a tile / window is padded with occluded pixels and
cropped back. ``"dineof"`` (windows of
:data:`unisst_lib.methods.dineof.DINEOF_FILL_WINDOW` frames, the whole record when
shorter, with :data:`unisst_lib.methods.dineof.DINEOF_DEFAULTS`) and ``"interp"``
(per-pixel linear interpolation in time) run through the same path over the whole
domain.

Frames k times closer than the model's spacing (e.g. hourly for a 6-hourly
model) are filled as k interleaved series (frames p, p+k, … for each p < k),
each at the model's spacing, so every frame is filled (``resample=True`` keeps
every k-th frame only). Other spacings and irregular steps are refused. The
output keeps the input's layout: dimension names and order, latitude
direction and a size-1 depth axis.

Normalisation is affine, so the model works in the input's own units (K or °C)
and the filled values come back in them; observed values are copied bit for bit.

:func:`fill` runs four steps: plan the windows (:func:`_plan`: frame spacing,
model), read (:func:`_read`: mask, land, observed mean), run each interleaved
series through :func:`unisst_lib.methods.tiling.fill_series` with the method's
predictor, and write the result (:mod:`unisst_lib.methods.fill_output`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import unisst_lib
from unisst_lib.core.errors import (
    DataFormatError,
    GridError,
)
from unisst_lib.data.cadence import TimeAxis, regular_time_axis
from unisst_lib.data.io import _axis_name, _standard_axes, select_sst
from unisst_lib.methods.bundled import (
    BUNDLED_ENSEMBLES,
    default_checkpoint,
    load_model,
)
from unisst_lib.methods.dineof import DINEOF_FILL_WINDOW, fill_dineof
from unisst_lib.methods.ensemble import member_noise
from unisst_lib.methods.fill_ensemble import check_calibration, ensemble_variables, run_ensemble
from unisst_lib.methods.fill_output import output_dataset, to_input_layout
from unisst_lib.methods.interp import fill_temporal
from unisst_lib.methods.problem import BaselineInputError
from unisst_lib.methods.tiling import Predictor, fill_series, predict_tiles
from unisst_lib.training.archive_data import interp_in_time

log = logging.getLogger(__name__)

METHODS = ("unisst", "dineof", "interp")
BASELINE_WINDOW = 48  # frames per window of the interp method
# dineof: DINEOF_FILL_WINDOW frames (the whole record when shorter), as its benchmark runs it


class FillError(DataFormatError):
    """A data set :func:`fill` cannot fill as it is (frame spacing, nothing observed, …)."""


def fill(
    ds: xr.Dataset,
    *,
    method: str = "unisst",
    checkpoint: str | os.PathLike[str] | None = None,
    variable: str | None = None,
    mask_variable: str | None = None,
    device: str = "cpu",
    overlap_frames: int | None = None,
    tile_overlap: int = 16,
    resample: bool = False,
    batch_size: int = 8,
    progress: bool = False,
    history: str | None = None,
    land=None,
    members: int = 1,
    keep_members: bool = False,
    calibration: str | float = "auto",
    seed: int = 0,
) -> xr.Dataset:
    """Fill the gaps of the SST variable of ``ds``.

    Parameters
    ----------
    ds
        Any dataset with an SST-like variable on (time, [depth,] lat, lon).
    method
        ``"unisst"`` (a trained generator), ``"dineof"`` or ``"interp"``.
    checkpoint
        unisst: the checkpoint (default: the bundled model for the frames' cadence,
        :func:`default_checkpoint`).
    variable
        The SST variable's name (default: found by name / CF standard_name).
    mask_variable
        A variable on the same grid, 1 where missing (in addition to NaN).
    device
        ``cpu``, ``cuda``, ``auto``.
    overlap_frames
        Frames shared by consecutive time windows (default: half a window).
    tile_overlap
        Pixels shared by neighbouring 64×64 tiles (unisst).
    resample
        When the file's frames are closer than the model's spacing by an integer
        factor k, keep every k-th frame (from the first). By default every frame is
        filled: each of the k interleaved series (frames p, p+k, p+2k, … for p < k)
        is filled as its own series at the model's spacing. Other spacings are refused.
    batch_size
        Tiles given to the model at once.
    progress
        tqdm progress bar over the windows.
    history
        The line added to the ``history`` attribute (default: the method and time).
    land
        (latitude, longitude) bool, True on land: a DataArray with latitude and
        longitude dims, or an array on the SST variable's grid as it is in ``ds``.
        Land is left as it is and not filled; sea pixels missing in every frame
        *are* filled. Default: pixels missing in every frame are land.
    members
        unisst: the number of ensemble members (default 1, one deterministic fill).
        N > 1 needs a stochastic model (noise inputs; default: the bundled
        :data:`BUNDLED_ENSEMBLES` model for the cadence): ``<name>`` is then the
        members' mean and ``<name>_error`` the predicted standard deviation of its
        error (same units, 0 where observed). Time and memory grow N-fold.
    keep_members
        Also return the members, ``<name>_members`` on a ``member`` dimension.
    calibration
        How the members' spread is corrected (:mod:`unisst_lib.methods.fill_ensemble`):
        ``"checkpoint"`` (fitted when the model was made), ``"data"`` (fitted on observed
        pixels of ``ds`` withheld under the clouds of other dates: the members run
        twice), ``"auto"`` (the data's; the checkpoint's, with a warning, when the data
        has too few observations to fit one), ``"none"``, or a positive factor.
    seed
        The ensemble's noise seed (member k's noise depends on seed, k and the pixel).

    Returns
    -------
    xarray.Dataset
        ``<name>`` in the input's layout (dimension names and order, latitude
        direction, a size-1 depth axis; a depth axis of several levels is reduced
        to the shallowest level and dropped), units, dtype and attributes, and
        ``<name>_filled_mask`` (int8, 1 where reconstructed) on the same dims, with
        CF global attributes. With ``members > 1`` also ``<name>_error`` (CF
        ancillary variable of ``<name>``) and, with ``keep_members``, ``<name>_members``.

    Notes
    -----
    Memory: the data are read one time window at a time (twice: a first pass
    finds land and the observed mean); the model sees at most ``batch_size``
    tiles of one window at once. The result (input dtype) and the blending
    accumulators of one window are held in memory.
    """
    if method not in METHODS:
        raise FillError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    _check_members(method, members, keep_members, calibration)
    name, da = select_sst(ds, variable, source="the data set")
    axis = _time_axis(da["time"].values)
    plan = _plan(
        method, axis, checkpoint=checkpoint, device=device, resample=resample,
        overlap_frames=overlap_frames, members=members,
    )  # fmt: skip
    land_hw = _land_keyword(land, ds[name], da)
    src = _read(ds, name, da, mask_variable=mask_variable, plan=plan, axis=axis, land=land_hw)
    run = partial(
        _run, plan=plan, method=method, tile_overlap=tile_overlap, batch_size=batch_size,
        progress=progress,
    )  # fmt: skip
    ens = None
    if members > 1:
        ens = run_ensemble(
            run, src, members=members, seed=seed, calibration=calibration,
            stored=plan.model.get("spread_calibration"), name=name, phases=plan.phases,
        )  # fmt: skip
        out, needed = ens.mean, ens.needed
    else:
        out, needed = run(src)
    shown = da if plan.stride == 1 else src.sst
    if axis is not None and len(axis.absent):  # absent dates were filled, never written
        keep = np.flatnonzero(src.sst.get_index("time").isin(da.get_index("time")))
        out, needed, shown = out[keep], needed[keep], src.sst.isel(time=keep)
        ens = None if ens is None else ens.take(keep)
    sha = plan.model["sha256"] if plan.model is not None else "none"
    res = output_dataset(
        ds, name, shown, out, needed, method=method, checkpoint_sha256=sha, history=history
    )
    names = [name, f"{name}_filled_mask"]
    if ens is not None:
        res = ensemble_variables(res, name, ens, keep_members=keep_members)
        names += [f"{name}_error"] + ([f"{name}_members"] if keep_members else [])
    return to_input_layout(res, ds[name], names)


def _check_members(method: str, members, keep_members: bool, calibration) -> None:
    """Refuse an ensemble ``fill`` cannot make."""
    if isinstance(members, bool) or not isinstance(members, (int, np.integer)) or members < 1:
        raise FillError(f"members must be an integer >= 1, got {members!r}")
    if members > 1 and method != "unisst":
        raise FillError(
            f"members={members}: ensembles come from a stochastic generator (method 'unisst'); "
            f"{method!r} gives one fill. Use --method unisst, or members=1."
        )
    if keep_members and members < 2:
        raise FillError("keep_members needs an ensemble: give members >= 2")
    check_calibration(calibration)


# ----------------------------------------------------------------- plan
@dataclass
class _Plan:
    """How :func:`fill` cuts the series: time windows, frame stride, interleaved series."""

    window: int  # frames per time window
    overlap: int  # frames shared by consecutive windows
    stride: int = 1  # keep every stride-th frame (resample=True)
    phases: int = 1  # fill frames p, p + phases, … as a series of their own, for each p
    model: dict | None = None  # load_model's dict (method "unisst")


def _plan(method, axis, *, checkpoint, device, resample, overlap_frames, members=1) -> _Plan:
    """The windows of ``method`` on frames on ``axis``: the model's length and spacing (unisst)."""
    model, window, stride, phases = None, BASELINE_WINDOW, 1, 1
    if method == "dineof":
        window = DINEOF_FILL_WINDOW
    if method == "unisst":
        if checkpoint is None:
            checkpoint = _default_for(axis, members)
        model = load_model(checkpoint, device)
        if members > 1 and model["first_guess_only"]:
            raise FillError(
                f"members={members}: {checkpoint} was replaced by its first guess (the fitted "
                "model was no better on withheld pixels), which has no noise: fit longer "
                "(--fit-minutes, --fit-steps) or fill with members=1."
            )
        if members > 1 and not model["noise_channels"]:
            raise FillError(
                f"members={members}: the model {checkpoint} is deterministic (no noise inputs), "
                "so its members would be identical. Use a stochastic model: the bundled "
                f"{', '.join(BUNDLED_ENSEMBLES.values())}, one fitted with --fit --members N, "
                "or one trained with the `ensemble` config."
            )
        window = int(model["seq_len"])
        stride, phases = _match_spacing(_fixed_step(axis, model), model, resample=resample)
    overlap = window // 2 if overlap_frames is None else int(overlap_frames)
    if not 0 <= overlap < window:
        raise FillError(f"overlap_frames must be in 0..{window - 1}, got {overlap}")
    return _Plan(window, overlap, stride, phases, model)


def _default_for(axis: TimeAxis | None, members: int) -> Path | None:
    """The bundled model for frames on ``axis``: the stochastic one for an ensemble."""
    cadence = None if axis is None else axis.cadence
    if members == 1:
        return default_checkpoint(cadence) if axis is not None else None
    name = BUNDLED_ENSEMBLES.get(cadence or "PT6H")
    if name is None:
        raise FillError(
            f"no bundled stochastic model for frames {cadence} apart: fit one on this data "
            "(`unisst fill --fit --members N`), or pass a checkpoint trained with the "
            "`ensemble` config"
        )
    return Path(unisst_lib.__file__).parent / "checkpoints" / name


def _time_axis(times: np.ndarray) -> TimeAxis | None:
    """The regular axis the frames sit on (None for a single frame).

    Calendar axes (monthly, yearly means) are regular; absent dates are found
    (:func:`unisst_lib.data.cadence.regular_time_axis`) and filled as missing frames,
    never invented from their neighbours; steps that fit no cadence are refused.
    """
    if len(times) < 2:
        return None
    if len(times) > 2 and (np.diff(times) <= np.timedelta64(0)).any():
        raise GridError("the time axis is not increasing: sort the data by time first")
    return regular_time_axis(times)


def _fixed_step(axis: TimeAxis | None, model: dict) -> np.timedelta64 | None:
    """The axis' fixed step, for a model trained on frames a fixed number of hours apart."""
    if axis is None:
        return None
    trained_on = (model.get("archive") or {}).get("cadence")
    if trained_on == axis.cadence:  # a model fitted on an archive of this very cadence
        return None
    if axis.cadence.endswith(("M", "Y")) and "T" not in axis.cadence:
        raise FillError(
            f"the frames are on a calendar axis ({axis.cadence}) but the model was trained on "
            f"frames {model['interval_hours']:g} h apart: fit a model on this data "
            "(`unisst fill --fit`, or `unisst train --data`), or fill with --method dineof "
            "or --method interp."
        )
    step = pd.Timedelta(axis.times[1] - axis.times[0])
    return np.timedelta64(int(step.total_seconds()), "s")


def _match_spacing(step: np.timedelta64 | None, model: dict, *, resample: bool) -> tuple[int, int]:
    """(stride, phases) that bring frames ``step`` apart to the model's spacing.

    Frames k times closer than the model's are kept every k-th (``resample``) or
    filled as k interleaved series; other spacings are refused.
    """
    interval = np.timedelta64(int(model["interval_hours"]) * 3600, "s")
    if step is None or step == interval:
        return 1, 1
    k = interval / step
    step_h = step / np.timedelta64(3600, "s")
    if k > 1 and float(k).is_integer() and resample:
        log.info(
            "keeping every %d-th frame (file %g h, model %s h)",
            int(k),
            step_h,
            model["interval_hours"],
        )
        return int(k), 1
    if k > 1 and float(k).is_integer():
        log.info(
            "filling %d interleaved series of frames %s h apart (file %g h)",
            int(k),
            model["interval_hours"],
            step_h,
        )
        return 1, int(k)
    # Never advise a resample to the model's step: a nearest-neighbour resample copies a
    # neighbouring frame's observations into frames that have none.
    raise FillError(
        f"the file's frames are {step_h:g} h apart but the model was trained on "
        f"frames {model['interval_hours']:g} h apart, and {step_h:g} h does not "
        "divide it: fit a model on this data (`unisst fill --fit`, or `unisst train --data`), "
        "or fill with --method dineof or --method interp (any cadence)."
    )


# ----------------------------------------------------------------- read
@dataclass
class _Input:
    """What :func:`fill` reads: the SST, its mask, land and the observed mean."""

    name: str
    sst: xr.DataArray  # (time, latitude, longitude), every plan.stride-th frame
    mask: xr.DataArray | None  # same dims, 1 where missing
    land: np.ndarray  # (H, W) bool: given, or missing in every frame
    mean: float  # of the observed values, input units


def _read(ds, name, da, *, mask_variable, plan: _Plan, axis: TimeAxis | None, land) -> _Input:
    """The mask variable, absent dates, the stride, land and the observed mean (a first pass).

    ``land`` (H, W) bool or None: given, it is the land (missing there, never filled);
    None: land is where every frame is missing.
    """
    mask_da = _mask_variable(ds, mask_variable, da)
    if axis is not None and len(axis.absent):
        log.info("%d absent dates filled as missing frames (not written)", len(axis.absent))
        da = da.reindex(time=axis.times)  # NaN frames: missing, never copied from neighbours
        if mask_da is not None:
            mask_da = mask_da.reindex(time=axis.times, fill_value=1)
    if plan.stride > 1:
        da = da.isel(time=slice(None, None, plan.stride))
    if mask_da is not None:
        mask_da = mask_da.isel(time=slice(None, None, plan.stride))
    unseen, mean = _land_and_mean(name, _reader(da, mask_da, land), da.shape, plan)
    return _Input(name, da, mask_da, unseen if land is None else land, mean)


def _mask_variable(ds, mask_variable, da) -> xr.DataArray | None:
    """The (time, latitude, longitude) mask variable (1 = missing), checked against ``da``."""
    if mask_variable is None:
        return None
    if mask_variable not in ds.variables:
        raise FillError(
            f"no mask variable {mask_variable!r}; the data set has: "
            f"{', '.join(map(str, ds.data_vars))}"
        )
    mask_da = _standard_axes(ds[mask_variable], "the data set")
    if mask_da.shape != da.shape:
        raise FillError(
            f"mask variable {mask_variable!r} has shape {mask_da.shape}, the SST "
            f"{da.shape}: give one mask value per SST pixel (1 = missing)."
        )
    return mask_da


def _land_keyword(land, orig: xr.DataArray, da: xr.DataArray) -> np.ndarray | None:
    """:func:`fill`'s ``land`` as (H, W) bool on ``da``'s grid (latitude ascending), or None.

    An array is on the grid of ``orig`` (the SST variable as in the data set, whose
    latitudes may descend); a DataArray is matched by its dims and coordinates.
    """
    if land is None:
        return None
    if isinstance(land, xr.DataArray):
        arr = _land_dataarray(land, da)
    else:
        arr = np.asarray(land)
        lat = _axis_name(orig, "latitude")
        if arr.ndim == 2 and lat in orig.coords and orig.sizes[lat] > 1:
            arr = arr[::-1] if float(orig[lat][0]) > float(orig[lat][-1]) else arr
    if arr.shape != da.shape[1:] or not (arr.dtype == bool or np.isin(arr, (0, 1)).all()):
        raise FillError(
            f"land must be a (latitude, longitude) = {da.shape[1:]} bool array (True on "
            f"land); got {arr.dtype} of shape {arr.shape}."
        )
    return arr.astype(bool)


def _land_dataarray(land: xr.DataArray, da: xr.DataArray) -> np.ndarray:
    """A land DataArray on ``da``'s (latitude, longitude), checked against its coordinates."""
    dims = {_axis_name(land, k): k for k in ("latitude", "longitude")}
    if None in dims or land.ndim != 2:
        raise FillError(f"land must be a DataArray on (latitude, longitude), got dims {land.dims}")
    land = land.rename({d: k for d, k in dims.items() if d != k})
    land = land.transpose("latitude", "longitude")
    if "latitude" in land.coords and land.sizes["latitude"] > 1:
        if float(land["latitude"][0]) > float(land["latitude"][-1]):
            land = land.isel(latitude=slice(None, None, -1))
    for k in ("latitude", "longitude"):
        if k in land.coords and land.sizes[k] == da.sizes[k]:
            if not np.allclose(land[k].values, da[k].values, rtol=0, atol=1e-5):
                raise FillError(f"the land mask's {k}s differ from the SST's: give it on its grid")
    return np.asarray(land.values)


def _reader(src: xr.DataArray, msk: xr.DataArray | None, land: np.ndarray | None = None):
    """``read(s, e)``: frames ``s:e`` of ``src`` and where they are missing (NaN, mask 1, land)."""

    def read(s: int, e: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(src.isel(time=slice(s, e)).values)
        missing = ~np.isfinite(x)
        if msk is not None:
            missing |= np.asarray(msk.isel(time=slice(s, e)).values) == 1
        if land is not None:  # a value on land is kept but never used to fill the sea
            missing |= land[None]
        return x, missing

    return read


def _land_and_mean(name, read, shape, plan: _Plan) -> tuple[np.ndarray, float]:
    """Land (missing in every frame) and the mean of the observed values, over all frames."""
    n_t, h, w = shape
    seen = np.zeros((h, w), bool)
    total, count = 0.0, 0
    chunk = max(plan.window, 1) * plan.phases
    for s in range(0, n_t, chunk):
        x, missing = read(s, min(n_t, s + chunk))
        seen |= (~missing).any(axis=0)
        total += float(x[~missing].astype(np.float64).sum())
        count += int((~missing).sum())
    if count == 0:
        raise FillError(
            f"every value of {name!r} is missing (NaN, _FillValue or masked): there is "
            "nothing to fill from. Check the file, the variable and the mask convention "
            "(1 = missing)."
        )
    return ~seen, total / count


# ------------------------------------------------------------------ run
def _run(
    src: _Input,
    *,
    plan: _Plan,
    method,
    tile_overlap,
    batch_size,
    progress,
    member_seed=None,
    sign: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill every interleaved series of ``src`` with ``method``; (values, reconstructed).

    ``member_seed``, ``sign``: the noise of one ensemble member (a stochastic model;
    sign -1 its antithetic twin); None: the model's central member (noise 0) or a
    deterministic model.
    """
    da, phases = src.sst, plan.phases
    if method == "unisst":
        predict: Predictor = partial(
            predict_tiles, plan.model, tile_overlap=tile_overlap, batch_size=batch_size
        )
    else:
        predict = partial(_predict_baseline, method, land=src.land)
    out = np.empty(da.shape, dtype=np.result_type(da.dtype, np.float32))
    needed = np.zeros(da.shape, bool)
    context = int(((plan.model or {}).get("archive") or {}).get("guess_context", 0))
    for p in range(phases):
        sub = slice(p, None, phases)
        series = da.isel(time=sub) if phases > 1 else da
        msk = None if src.mask is None else (src.mask.isel(time=sub) if phases > 1 else src.mask)
        read = _reader(series, msk, src.land)
        guess = partial(_record_guess, read, series.shape[0], context) if context else None
        noise = None
        if member_seed is not None:
            h, w = series.shape[1:]
            k = plan.model["noise_channels"]
            noise = member_noise(member_seed, channels=k, height=h, width=w, phase=p, sign=sign)
        out[sub], needed[sub] = fill_series(
            read,
            series.shape,
            out.dtype,
            src.land,
            src.mean,
            predict=predict,
            window=plan.window,
            overlap=plan.overlap,
            progress=progress,
            desc=f"fill ({method})" + (f" {p + 1}/{phases}" if phases > 1 else ""),
            guess=guess,
            noise=noise,
        )
    return out, needed


def _record_guess(read, n_t: int, context: int, s: int, e: int) -> np.ndarray:
    """Frames ``s:e`` interpolated in time from ``context`` frames either side (NaN: none).

    The first guess of a model trained with ``first_guess="record"``, made as in training
    (:func:`unisst_lib.training.archive_data.interp_in_time`).
    """
    t0, t1 = max(0, s - context), min(n_t, e + context)
    x, missing = read(t0, t1)
    filled, defined = interp_in_time(np.where(missing, np.nan, x))
    return np.where(defined, filled, np.nan)[s - t0 : e - t0]


def _predict_baseline(method, x, missing, *, land) -> tuple[np.ndarray, np.ndarray]:
    """DINEOF or the temporal baseline on one window; weight 0 where it gives no value."""
    fn = fill_dineof if method == "dineof" else fill_temporal
    try:
        pred = fn(x.astype(np.float64), missing, land=land)
    except BaselineInputError:  # no observation in this window: the other windows decide
        return np.zeros(x.shape), np.zeros(x.shape)
    ok = np.isfinite(pred)
    return np.where(ok, pred, 0.0), ok.astype(np.float64)
