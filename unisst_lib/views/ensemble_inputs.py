"""The inputs of the ensemble views, checked: members, fields on one grid, selections.

Shared by :mod:`unisst_lib.views.ensemble` (figures), :mod:`unisst_lib.views.ensemble_gif`
and the member slider of :mod:`unisst_lib.views.interactive`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from unisst_lib.core.errors import GridError
from unisst_lib.views.map_panels import DIMS, MapInputError, check_field, pick_frames

MEMBER = "member"


class EnsembleInputError(MapInputError):
    """Bad input to an ensemble view: no member dimension, mismatched fields, bad options."""


# ------------------------------------------------------------------------- inputs
def check_members(members: Any, name: str = "members") -> xr.DataArray:
    """``members`` as (member, time, latitude, longitude), float64, latitude/longitude ascending.

    Raises
    ------
    EnsembleInputError
        Not a DataArray, or no ``member`` dimension.
    GridError
        The other dimensions are not (time, latitude, longitude) with coordinates.
    """
    if not isinstance(members, xr.DataArray):
        raise EnsembleInputError(
            f"{name} must be an xarray.DataArray (member, time, latitude, longitude), got "
            f"{type(members).__name__}: pass <name>_members of fill(..., members=N, "
            "keep_members=True)"
        )
    if MEMBER not in members.dims:
        raise EnsembleInputError(
            f"{name} has dims {members.dims} and no '{MEMBER}' dimension: pass the members "
            "(<name>_members of fill(..., members=N, keep_members=True)), not the mean; "
            "keep_members=False returns no members"
        )
    if members.sizes[MEMBER] < 1:
        raise EnsembleInputError(f"{name} has no members (size 0 along '{MEMBER}')")
    others = tuple(d for d in members.dims if d != MEMBER)
    if set(others) != set(DIMS) or len(others) != 3:
        raise GridError(
            f"{name} has dims {members.dims}; ensemble views need ({MEMBER}, time, latitude, "
            "longitude): rename other axis names (e.g. da.rename(lat='latitude', "
            "lon='longitude')) and select one depth"
        )
    check_field(members.isel({MEMBER: 0}, drop=True), name)  # the grid's coordinates
    return members.transpose(MEMBER, *DIMS).sortby(["latitude", "longitude"]).astype(np.float64)


def same_grid(ref: xr.DataArray, ref_name: str, **fields: Any) -> dict[str, xr.DataArray | None]:
    """Each field of ``fields`` checked (:func:`check_field`) and on ``ref``'s grid (or None)."""
    out: dict[str, xr.DataArray | None] = {}
    for name, da in fields.items():
        if da is None:
            out[name] = None
            continue
        field = check_field(da, name)
        if field.shape != ref.shape:
            raise GridError(
                f"{name} has shape {dict(field.sizes)} but {ref_name} has {dict(ref.sizes)}: "
                "pass fields of the same sequence"
            )
        for c in ("latitude", "longitude"):
            if not np.allclose(field[c].values, ref[c].values, atol=1e-6):
                raise GridError(f"{name} and {ref_name} have different {c} coordinates")
        out[name] = field
    return out


def frame_index(frame: Any, n_time: int) -> int:
    """``frame`` checked against ``n_time`` steps (MapInputError outside the sequence)."""
    return pick_frames([frame], n_time)[0]


def values_of(da: Any, name: str) -> np.ndarray:
    """A DataArray's (or array's) values as float64."""
    try:
        return np.asarray(da.values if isinstance(da, xr.DataArray) else da, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise EnsembleInputError(f"{name} must be numeric values: {err}") from err


def unit_label(*das: Any) -> str:
    """The unit to write on axes: the first DataArray's ``units`` (°C for degrees Celsius)."""
    for da in das:
        units = getattr(da, "attrs", {}).get("units")
        if units:
            return "°C" if units.lower() in {"degrees_c", "degree_c", "celsius", "degc"} else units
    return "°C"


def selection(where: Any, shape: tuple[int, ...], default: np.ndarray) -> np.ndarray:
    """``where`` as a bool array of ``shape`` (``default`` when None); refuse an empty one."""
    sel = default if where is None else values_of(where, "where") != 0
    if sel.shape != shape:
        raise EnsembleInputError(f"where has shape {sel.shape}, the fields {shape}: use one grid")
    if not sel.any():
        raise EnsembleInputError(
            "no pixel selected: where (or, by default, the pixels with σ > 0, i.e. the gaps) "
            "is empty, so there is nothing to score"
        )
    return sel


def check_finite(sel: np.ndarray, **arrays: np.ndarray) -> None:
    """EnsembleInputError when a selected pixel of an array is NaN or infinite."""
    for name, values in arrays.items():
        bad = int((~np.isfinite(values[..., sel])).sum())
        if bad:
            raise EnsembleInputError(
                f"{name} is NaN or infinite at {bad} selected pixel(s) (land, or no truth "
                "there): leave them out of where, e.g. where & np.isfinite(truth)"
            )


def members_and_shown(members, observation, max_members: int):
    """Checked members, observation (or None) and the (name, values (T, H, W)) shown."""
    if isinstance(max_members, bool) or not isinstance(max_members, int | np.integer):
        raise EnsembleInputError(f"max_members must be a positive integer, got {max_members!r}")
    if max_members < 1:
        raise EnsembleInputError(f"max_members must be a positive integer, got {max_members!r}")
    mem = check_members(members)
    grid = mem.isel({MEMBER: 0})
    obs = same_grid(grid, "members", observation=observation)["observation"]
    labels = mem[MEMBER].values if MEMBER in mem.coords else np.arange(mem.sizes[MEMBER])
    shown = [("observation", obs.values)] if obs is not None else []
    shown += [(f"member {k}", mem.values[i]) for i, k in enumerate(labels[:max_members])]
    return mem, grid, shown


def shared_limits(shown: list[tuple[str, np.ndarray]], frames) -> tuple[float, float]:
    """One colour range (°C) over every shown field at ``frames``."""
    values = np.concatenate([v[frames].ravel() for _, v in shown])
    if not np.isfinite(values).any():
        return 0.0, 1.0
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    return (lo - 0.5, hi + 0.5) if hi - lo < 1e-6 else (lo, hi)
