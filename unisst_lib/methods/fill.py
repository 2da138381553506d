"""Gap-fill any SST data set: :func:`fill` (and ``unisst fill INPUT.nc OUTPUT.nc``).

The SST variable is found as :func:`unisst_lib.data.io.open_sst` finds it (name or
CF ``standard_name``; Kelvin or °C; a depth axis reduced to its shallowest
level). Missing pixels are NaN / ``_FillValue`` or, with ``mask_variable``,
where that variable is 1. Pixels missing in *every* frame are land: they stay
missing and are not filled.

``method="unisst"`` runs a trained generator on sliding windows of the
model's sequence length (overlapping in time) and on 64×64 spatial tiles
(overlapping by ``tile_overlap`` pixels); overlapping predictions are averaged
with a weight that ramps linearly over the overlap (no seams). A domain or a
sequence smaller than a tile / window is padded with occluded pixels and
cropped back. ``"dineof"`` and ``"interp"`` (per-pixel linear interpolation in
time) run through the same windows over the whole domain.

Frames k times closer than the model's spacing (e.g. hourly for a 6-hourly
model) are filled as k interleaved series (frames p, p+k, … for each p < k),
each at the model's spacing, so every frame is filled (``resample=True`` keeps
every k-th frame only). Other spacings and irregular steps are refused. The
output keeps the input's layout: dimension names and order, latitude
direction and a size-1 depth axis.

Normalisation is affine, so the model works in the input's own units (K or °C)
and the filled values come back in them; observed values are copied bit for bit.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

import unisst_lib
from unisst_lib.core.errors import (
    CorruptFileError,
    DataFormatError,
    DataNotFoundError,
    GridError,
    UnisstError,
)
from unisst_lib.data.io import _standard_axes, select_sst

log = logging.getLogger(__name__)

METHODS = ("unisst", "dineof", "interp")
TILE_SIZE = 64
BASELINE_WINDOW = 48  # frames per window of the dineof / interp methods
FILL_FLAG_MEANINGS = "observed_or_land reconstructed"


class FillError(DataFormatError):
    """A data set :func:`fill` cannot fill as it is (frame spacing, nothing observed, …)."""


def default_checkpoint() -> Path:
    """The checkpoint shipped with the package (``unisst_lib/checkpoints/fast_twin.pt``)."""
    return Path(unisst_lib.__file__).parent / "checkpoints" / "fast_twin.pt"


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _ramp(n: int, overlap: int) -> np.ndarray:
    """Blending weight of a tile of ``n`` samples: linear ramps over ``overlap`` at each end."""
    i = np.arange(n, dtype=np.float64)
    if overlap <= 0:
        return np.ones(n)
    return np.minimum(1.0, np.minimum(i + 0.5, n - i - 0.5) / overlap)


def _starts(n: int, size: int, overlap: int) -> list[int]:
    """Window starts covering ``0..n`` with windows of ``size`` overlapping by ≥ ``overlap``."""
    if n <= size:
        return [0]
    stride = max(1, size - overlap)
    starts = list(range(0, n - size + 1, stride))
    if starts[-1] != n - size:
        starts.append(n - size)
    return starts


def _frame_step(times: np.ndarray) -> np.timedelta64 | None:
    if len(times) < 2:
        return None
    d = np.diff(times.astype("datetime64[s]")).astype(np.int64)
    if (d <= 0).any() or (d != d[0]).any():
        raise GridError(
            f"the time axis has irregular steps (between {d.min() / 3600:g} h and "
            f"{d.max() / 3600:g} h): unisst fill needs equally spaced frames. Select a regular "
            'subset first, e.g. ds.resample(time="6h").nearest().'
        )
    return np.timedelta64(int(d[0]), "s")


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
) -> xr.Dataset:
    """Fill the gaps of the SST variable of ``ds``.

    Parameters
    ----------
    ds
        Any dataset with an SST-like variable on (time, [depth,] lat, lon).
    method
        ``"unisst"`` (a trained generator), ``"dineof"`` or ``"interp"``.
    checkpoint
        unisst: the checkpoint (default :func:`default_checkpoint`).
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

    Returns
    -------
    xarray.Dataset
        ``<name>`` in the input's layout (dimension names and order, latitude
        direction, a size-1 depth axis; a depth axis of several levels is reduced
        to the shallowest level and dropped), units, dtype and attributes, and
        ``<name>_filled_mask`` (int8, 1 where reconstructed) on the same dims, with
        CF global attributes.

    Notes
    -----
    Memory: the data are read one time window at a time (twice: a first pass
    finds land and the observed mean); the model sees at most ``batch_size``
    tiles of one window at once. The result (input dtype) and the blending
    accumulators of one window are held in memory.
    """
    if method not in METHODS:
        raise FillError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    name, da = select_sst(ds, variable, source="the data set")
    times = da["time"].values
    step = _frame_step(times)

    model = None
    stride_t = 1
    phases = 1
    ckpt_sha = "none"
    if method == "unisst":
        model = _load_model(checkpoint, device)
        ckpt_sha = model["sha256"]
        interval = np.timedelta64(int(model["interval_hours"]) * 3600, "s")
        if step is not None and step != interval:
            k = interval / step
            step_h = step / np.timedelta64(3600, "s")
            if k > 1 and float(k).is_integer() and resample:
                log.info(
                    "keeping every %d-th frame (file %g h, model %s h)",
                    int(k),
                    step_h,
                    model["interval_hours"],
                )
                stride_t = int(k)
                da = da.isel(time=slice(None, None, stride_t))
            elif k > 1 and float(k).is_integer():
                log.info(
                    "filling %d interleaved series of frames %s h apart (file %g h)",
                    int(k),
                    model["interval_hours"],
                    step_h,
                )
                phases = int(k)
            else:
                raise FillError(
                    f"the file's frames are {step_h:g} h apart but the model was trained on "
                    f"frames {model['interval_hours']} h apart, and {step_h:g} h does not "
                    "divide it: resample the file to a step that does, e.g. "
                    f'ds.resample(time="{model["interval_hours"]}h").nearest(), or use a '
                    "model trained at the file's spacing."
                )
        window = int(model["seq_len"])
    else:
        window = BASELINE_WINDOW

    mask_da = None
    if mask_variable is not None:
        if mask_variable not in ds.variables:
            raise FillError(
                f"no mask variable {mask_variable!r}; the data set has: "
                f"{', '.join(map(str, ds.data_vars))}"
            )
        mask_da = _standard_axes(ds[mask_variable], "the data set")
        if mask_da.shape != (len(times), *da.shape[1:]):
            raise FillError(
                f"mask variable {mask_variable!r} has shape {mask_da.shape}, the SST "
                f"{(len(times), *da.shape[1:])}: give one mask value per SST pixel (1 = missing)."
            )
        mask_da = mask_da.isel(time=slice(None, None, stride_t))

    T, H, W = da.shape
    overlap = window // 2 if overlap_frames is None else int(overlap_frames)
    if not 0 <= overlap < window:
        raise FillError(f"overlap_frames must be in 0..{window - 1}, got {overlap}")

    def reader(src, msk):
        def read(s: int, e: int) -> tuple[np.ndarray, np.ndarray]:
            x = np.asarray(src.isel(time=slice(s, e)).values)
            missing = ~np.isfinite(x)
            if msk is not None:
                missing |= np.asarray(msk.isel(time=slice(s, e)).values) == 1
            return x, missing

        return read

    # pass 1 (all frames): land (missing in every frame) and the mean of the observed values
    read_all = reader(da, mask_da)
    seen = np.zeros((H, W), bool)
    total, count = 0.0, 0
    chunk = max(window, 1) * phases
    for s in range(0, T, chunk):
        x, missing = read_all(s, min(T, s + chunk))
        seen |= (~missing).any(axis=0)
        total += float(x[~missing].astype(np.float64).sum())
        count += int((~missing).sum())
    if count == 0:
        raise FillError(
            f"every value of {name!r} is missing (NaN, _FillValue or masked): there is "
            "nothing to fill from. Check the file, the variable and the mask convention "
            "(1 = missing)."
        )
    land = ~seen
    global_mean = total / count

    out = np.empty(da.shape, dtype=np.result_type(da.dtype, np.float32))
    needed = np.zeros(da.shape, bool)
    for p in range(phases):
        sub = slice(p, None, phases)
        src = da.isel(time=sub) if phases > 1 else da
        msk = None if mask_da is None else (mask_da.isel(time=sub) if phases > 1 else mask_da)
        o, nd = _fill_series(
            reader(src, msk),
            src.shape,
            out.dtype,
            land,
            global_mean,
            method=method,
            model=model,
            window=window,
            overlap=overlap,
            tile_overlap=tile_overlap,
            batch_size=batch_size,
            progress=progress,
            desc=f"fill ({method})" + (f" {p + 1}/{phases}" if phases > 1 else ""),
        )
        out[sub] = o
        needed[sub] = nd
        del o, nd

    res = _dataset(ds, name, da, out, needed, method, ckpt_sha, history)
    return _input_layout(res, ds[name], [name, f"{name}_filled_mask"])


def _fill_series(
    read,
    shape,
    dtype,
    land,
    global_mean,
    *,
    method,
    model,
    window,
    overlap,
    tile_overlap,
    batch_size,
    progress,
    desc,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill one equally spaced series (frames read by ``read(s, e)``) window by window."""
    T, H, W = shape
    starts = _starts(T, window, overlap)
    out = np.empty(shape, dtype=dtype)
    needed = np.zeros(shape, bool)
    w_t = _ramp(min(window, T), overlap) if T > window else np.ones(T)
    # streaming accumulators over [buf0, buf0 + window)
    buf0 = 0
    bw = min(window, T)
    acc_v = np.zeros((bw, H, W))
    acc_w = np.zeros((bw, H, W))
    bar = tqdm(total=len(starts), desc=desc, disable=not progress, unit="window")
    for s in starts:
        e = min(T, s + window)
        # finalise frames before s
        if s > buf0:
            n = s - buf0
            _finalise(out, needed, acc_v[:n], acc_w[:n], buf0, global_mean)
            acc_v = np.concatenate([acc_v[n:], np.zeros((n, H, W))])
            acc_w = np.concatenate([acc_w[n:], np.zeros((n, H, W))])
            buf0 = s
        x, missing = read(s, e)
        out[s:e] = x
        need = missing & ~land[None]
        needed[s:e] = need
        if need.any():
            pred, wgt = (
                _predict_unisst(model, x, missing, land, tile_overlap, batch_size)
                if method == "unisst"
                else _predict_baseline(method, x, missing, land)
            )
            wt = w_t[: e - s, None, None] * wgt
            off = s - buf0
            acc_v[off : off + e - s] += np.where(wt > 0, pred, 0.0) * wt
            acc_w[off : off + e - s] += wt
        bar.update(1)
    bar.close()
    _finalise(out, needed, acc_v[: T - buf0], acc_w[: T - buf0], buf0, global_mean)
    return out, needed


def _finalise(out, needed, acc_v, acc_w, t0, global_mean) -> None:
    n = len(acc_v)
    sl = slice(t0, t0 + n)
    nd = needed[sl]
    if not nd.any():
        return
    with np.errstate(invalid="ignore", divide="ignore"):
        v = acc_v / acc_w
    v = np.where(acc_w > 0, v, global_mean)
    block = out[sl]
    block[nd] = v[nd].astype(out.dtype)
    out[sl] = block


def _load_model(checkpoint, device) -> dict:
    import torch  # noqa: F401  (deferred: the baselines need no torch)

    from unisst_lib.core.manifest import load_manifest
    from unisst_lib.training.loop import load_generator, select_device

    path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
    if checkpoint is None and not path.is_file():
        raise DataNotFoundError(
            f"the default checkpoint {path} is not installed: pass --checkpoint PATH "
            "(checkpoint=...) with a model from `unisst train`."
        )
    if not path.is_file():
        raise DataNotFoundError(f"checkpoint {path} does not exist: pass an existing .pt file")
    dev = select_device(device)
    generator, cfg = load_generator(path, device=dev)
    m = load_manifest()
    try:
        split = m.split_set(cfg.data.split_set)
    except UnisstError as err:
        raise CorruptFileError(f"checkpoint {path}: {err}") from None
    return {
        "generator": generator,
        "device": dev,
        "seq_len": split.seq_len,
        "interval_hours": split.interval_hours,
        "std_factor": m.normalisation.std_factor,
        "fill_value": m.normalisation.occluded_fill_value,
        "sha256": sha256_file(path),
    }


def _predict_baseline(method, x, missing, land):
    from unisst_lib.methods.baselines import BaselineInputError, fill_dineof, fill_temporal

    fn = fill_dineof if method == "dineof" else fill_temporal
    try:
        pred = fn(x.astype(np.float64), missing, land=land)
    except BaselineInputError:  # no observation in this window: the other windows decide
        return np.zeros(x.shape), np.zeros(x.shape)
    ok = np.isfinite(pred)
    return np.where(ok, pred, 0.0), ok.astype(np.float64)


def _predict_unisst(model, x, missing, land, tile_overlap, batch_size):
    """The model's values for one time window (T', H, W), and their blending weights."""
    import torch

    from unisst_lib.data.sequences import NormalisationError, denormalise, normalise
    from unisst_lib.models import reconstruct

    L = model["seq_len"]
    t, H, W = x.shape
    P = TILE_SIZE
    ys, xs = _starts(H, P, tile_overlap), _starts(W, P, tile_overlap)
    wy = _ramp(P, tile_overlap) if H > P else np.ones(P)
    wx = _ramp(P, tile_overlap) if W > P else np.ones(P)
    w2 = wy[:, None] * wx[None, :]
    pred = np.zeros(x.shape)
    wsum = np.zeros(x.shape)
    fill_v = float(model["fill_value"])
    items = []
    for y0 in ys:
        for x0 in xs:
            sub = x[:, y0 : y0 + P, x0 : x0 + P].astype(np.float64)
            obs = ~missing[:, y0 : y0 + P, x0 : x0 + P]
            try:
                yv, _, mean, std = normalise(
                    sub, obs, std_factor=model["std_factor"], fill_value=fill_v
                )
            except NormalisationError:
                continue  # nothing observed in this tile and window
            h, w = sub.shape[1:]
            y_pad = np.full((L, P, P), fill_v, np.float32)
            m_pad = np.ones((L, P, P), np.float32)
            y_pad[:t, :h, :w] = yv
            m_pad[:t, :h, :w] = ~(obs & np.isfinite(sub))
            items.append((y0, x0, h, w, mean, std, y_pad, m_pad))
    gen, dev = model["generator"], model["device"]
    for b in range(0, len(items), batch_size):
        batch = items[b : b + batch_size]
        y = torch.from_numpy(np.stack([it[6] for it in batch])[:, None]).to(dev)
        m = torch.from_numpy(np.stack([it[7] for it in batch])[:, None]).to(dev)
        with torch.no_grad():
            out = reconstruct(gen, y, m).float().cpu().numpy()[:, 0]
        for (y0, x0, h, w, mean, std, _, _), o in zip(batch, out, strict=True):
            v = denormalise(
                o[:t, :h, :w].astype(np.float64), mean, std, std_factor=model["std_factor"]
            )
            ok = np.isfinite(v)
            wt = np.where(ok, w2[None, :h, :w], 0.0)
            pred[:, y0 : y0 + h, x0 : x0 + w] += np.where(ok, v, 0.0) * wt
            wsum[:, y0 : y0 + h, x0 : x0 + w] += wt
    with np.errstate(invalid="ignore", divide="ignore"):
        res = np.where(wsum > 0, pred / wsum, 0.0)
    return res, (wsum > 0).astype(np.float64)


def _dataset(ds, name, da, out, needed, method, ckpt_sha, history) -> xr.Dataset:
    coords = {k: da.coords[k] for k in ("time", "latitude", "longitude") if k in da.coords}
    var = xr.DataArray(out, dims=da.dims, coords=coords, attrs=dict(da.attrs), name=name)
    keep = ("dtype", "scale_factor", "add_offset", "_FillValue", "zlib", "complevel", "shuffle")
    var.encoding = {k: v for k, v in da.encoding.items() if k in keep}
    if "_FillValue" not in var.encoding and np.issubdtype(out.dtype, np.floating):
        var.encoding["_FillValue"] = np.nan
    flag = xr.DataArray(
        needed.astype(np.int8),
        dims=da.dims,
        coords=coords,
        attrs={
            "long_name": f"1 where {name} was reconstructed by unisst fill ({method})",
            "flag_values": np.array([0, 1], dtype=np.int8),
            "flag_meanings": FILL_FLAG_MEANINGS,
            "valid_range": np.array([0, 1], dtype=np.int8),
        },
    )
    flag.encoding = {"dtype": "int8", "_FillValue": None}
    attrs = dict(ds.attrs)
    attrs.setdefault("Conventions", "CF-1.8")
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = f"{stamp}: {history or 'unisst_lib.methods.fill(method=' + repr(method) + ')'}"
    old = str(attrs.get("history", "")).rstrip()
    attrs["history"] = f"{old}\n{line}" if old else line
    src = f"gaps filled by unisst {unisst_lib.__version__} ({method})"
    attrs["source"] = f"{attrs['source']}; {src}" if attrs.get("source") else src
    attrs["unisst_method"] = method
    attrs["unisst_checkpoint_sha256"] = ckpt_sha
    attrs["unisst_version"] = unisst_lib.__version__
    return xr.Dataset({name: var, f"{name}_filled_mask": flag}, attrs=attrs)


def _input_layout(res: xr.Dataset, orig: xr.DataArray, names: list[str]) -> xr.Dataset:
    """``res`` (time, latitude, longitude) back to the dims, order and latitude direction of
    ``orig``; a size-1 axis of ``orig`` (depth) comes back with its coordinate."""
    from unisst_lib.data.io import _axis_name

    dims = {k: _axis_name(orig, k) for k in ("time", "latitude", "longitude")}
    lat = dims["latitude"]
    if orig.sizes[lat] > 1 and lat in orig.coords:
        lv = orig[lat].values
        if float(lv[0]) > float(lv[-1]):
            res = res.isel(latitude=slice(None, None, -1))
    res = res.rename({k: v for k, v in dims.items() if v != k})
    extra = [d for d in orig.dims if d not in dims.values()]
    keep_extra = [d for d in extra if orig.sizes[d] == 1]
    for d in keep_extra:
        for n in names:
            enc = res[n].encoding
            res[n] = res[n].expand_dims({d: 1})
            res[n].encoding = enc
        if d in orig.coords:
            res = res.assign_coords({d: orig[d].variable.copy()})
    order = [d for d in orig.dims if d in res.dims]
    for n in names:
        enc = res[n].encoding
        res[n] = res[n].transpose(*order)
        res[n].encoding = enc
    return res
