"""The dataset :func:`unisst_lib.methods.fill.fill` returns: the filled variable and its flag.

:func:`output_dataset` builds it on (time, latitude, longitude) with CF
attributes and the input's encoding; :func:`to_input_layout` puts it back in
the input's layout (dimension names and order, latitude direction, a size-1
depth axis).
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import xarray as xr

import unisst_lib
from unisst_lib.data.io import _axis_name

__all__ = [
    "FILL_FLAG_MEANINGS",
    "flag_variable",
    "global_attributes",
    "output_dataset",
    "to_input_layout",
]

FILL_FLAG_MEANINGS = "observed_or_land reconstructed"

#: Encoding keys of the input variable kept on the filled one (packing, compression).
_KEPT_ENCODING = (
    "dtype",
    "scale_factor",
    "add_offset",
    "_FillValue",
    "zlib",
    "complevel",
    "shuffle",
)


def output_dataset(
    ds: xr.Dataset,
    name: str,
    da: xr.DataArray,
    out: np.ndarray,
    needed: np.ndarray,
    *,
    method: str,
    checkpoint_sha256: str,
    history: str | None,
) -> xr.Dataset:
    """``<name>`` (the filled ``out`` on the dims of ``da``) and ``<name>_filled_mask``.

    Parameters
    ----------
    ds
        The input data set (its global attributes are kept and extended).
    name, da
        The SST variable's name and its (time, latitude, longitude) array.
    out, needed
        The filled values and where they were reconstructed, shape of ``da``.
    method, checkpoint_sha256, history
        Recorded in the global attributes (``history`` is the line added to it;
        default: the method and the time).
    """
    coords = {k: da.coords[k] for k in ("time", "latitude", "longitude") if k in da.coords}
    var = xr.DataArray(out, dims=da.dims, coords=coords, attrs=dict(da.attrs), name=name)
    var.encoding = {k: v for k, v in da.encoding.items() if k in _KEPT_ENCODING}
    if "_FillValue" not in var.encoding and np.issubdtype(out.dtype, np.floating):
        var.encoding["_FillValue"] = np.nan
    flag = flag_variable(name, da.dims, needed, method=method, coords=coords)
    attrs = global_attributes(
        ds.attrs, method=method, checkpoint_sha256=checkpoint_sha256, history=history
    )
    return xr.Dataset({name: var, f"{name}_filled_mask": flag}, attrs=attrs)


def flag_variable(
    name: str, dims, needed: np.ndarray, *, method: str, coords: dict | None = None
) -> xr.DataArray:
    """``<name>_filled_mask``: the int8 CF flag on ``dims``, 1 where ``name`` was reconstructed."""
    flag = xr.DataArray(
        needed.astype(np.int8),
        dims=tuple(dims),
        coords=coords,
        attrs={
            "long_name": f"1 where {name} was reconstructed by unisst fill ({method})",
            "flag_values": np.array([0, 1], dtype=np.int8),
            "flag_meanings": FILL_FLAG_MEANINGS,
            "valid_range": np.array([0, 1], dtype=np.int8),
        },
    )
    flag.encoding = {"dtype": "int8", "_FillValue": None}
    return flag


def global_attributes(
    attrs: dict, *, method: str, checkpoint_sha256: str, history: str | None
) -> dict:
    """The input's global attributes with CF ``Conventions``, ``history``, ``source`` and ours.

    ``history`` is the line added (after a UTC time stamp) to the input's history;
    default: the :func:`~unisst_lib.methods.fill.fill` call. ``unisst_method``,
    ``unisst_checkpoint_sha256`` and ``unisst_version`` are set.
    """
    attrs = dict(attrs)
    attrs.setdefault("Conventions", "CF-1.8")
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = f"{stamp}: {history or 'unisst_lib.methods.fill(method=' + repr(method) + ')'}"
    old = str(attrs.get("history", "")).rstrip()
    attrs["history"] = f"{old}\n{line}" if old else line
    src = f"gaps filled by unisst {unisst_lib.__version__} ({method})"
    attrs["source"] = f"{attrs['source']}; {src}" if attrs.get("source") else src
    attrs["unisst_method"] = method
    attrs["unisst_checkpoint_sha256"] = checkpoint_sha256
    attrs["unisst_version"] = unisst_lib.__version__
    return attrs


def to_input_layout(res: xr.Dataset, orig: xr.DataArray, names: list[str]) -> xr.Dataset:
    """``res`` (time, latitude, longitude) back to the dims, order and latitude direction of
    ``orig``; a size-1 axis of ``orig`` (depth) comes back with its coordinate. A dimension
    ``orig`` does not have (``member``) comes first."""
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
        own = [d for d in res[n].dims if d not in order]  # e.g. "member" leads
        res[n] = res[n].transpose(*own, *order)
        res[n].encoding = enc
    return res
