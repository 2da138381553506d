"""The pieces every SST map is built from: checked fields, colour scales, one cartopy panel.

:mod:`unisst_lib.views.maps` (comparison and locator figures),
:mod:`unisst_lib.views.animation` (GIFs) and :mod:`unisst_lib.views.interactive`
(the holoviews time-slider view) share them, so a field is checked, coloured and drawn the same
way everywhere:

* :func:`check_fields` puts truth / observation / recovered DataArrays
  ``(time, latitude, longitude)`` in °C on one ascending grid (:class:`GridError`
  otherwise);
* :func:`sst_range`, :func:`error_limit`, :func:`sst_cmap` and :func:`err_cmap`
  give the colour scales: cmocean ``thermal`` for SST, a symmetric cmocean
  ``balance`` for errors, clouds (NaN) light grey;
* :func:`map_axes`, :func:`mesh` and :func:`missing_overlay` draw one
  PlateCarree panel with the Natural Earth 1:110m land and coastlines, pixels
  without SST (land) dark grey.

The optional packages (cartopy, holoviews, Pillow) are imported through
:func:`require_extra`, which says which extra to install when one is missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cmocean
import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from unisst_lib.core.errors import GridError, UnisstError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

DIMS = ("time", "latitude", "longitude")
SHIPPED_RESOLUTION = "110m"  # the only Natural Earth scale unisst ships
INSTALL_HINT = "pip install 'unisst[notebooks]'"

CLOUD_GREY = "#c8c8c8"  # NaN in a field: clouds in the observation
MISSING_GREY = "#737373"  # no SST at all (land, missing values)
LAND_GREY = "#d9d9d9"

TITLE_SIZE = 9
LABEL_SIZE = 8
TICK_SIZE = 7


class MissingExtraError(UnisstError, ImportError):
    """A package of the ``notebooks`` extra (cartopy, holoviews, Pillow) is missing."""


class MapInputError(UnisstError, ValueError):
    """A bad argument to a map function (frame index, fps, file name)."""


def require_extra(module: str) -> Any:
    """Import ``module`` (a package of the ``notebooks`` extra) or say which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(
            f"unisst maps need {module.split('.')[0]} ({err}); install the notebook "
            f"extra: {INSTALL_HINT}"
        ) from err


# ------------------------------------------------------------------------- inputs
def check_field(da: Any, name: str) -> xr.DataArray:
    """``da`` checked and put in (time, latitude, longitude) order, latitude/longitude ascending."""
    if not isinstance(da, xr.DataArray):
        raise GridError(
            f"{name} must be an xarray.DataArray (time, latitude, longitude) in °C, "
            f"got {type(da).__name__}"
        )
    if da.ndim != 3 or set(da.dims) != set(DIMS):
        raise GridError(
            f"{name} has dims {da.dims}; maps need exactly (time, latitude, longitude): "
            "select one sequence (e.g. da.isel(time=slice(0, 24))) and rename other "
            "axis names (e.g. da.rename(lat='latitude', lon='longitude'))"
        )
    for c in ("latitude", "longitude"):
        if c not in da.coords:
            raise GridError(
                f"{name} has no {c} coordinate: maps need degrees north/east, e.g. "
                f"da.assign_coords({c}=values)"
            )
        if da.sizes[c] < 2:
            raise GridError(f"{name} has {da.sizes[c]} {c} value(s); a map needs at least 2")
        values = np.asarray(da[c].values, dtype=float)
        if not np.all(np.isfinite(values)) or np.any(np.diff(values) == 0):
            raise GridError(f"{name}.{c} must be finite and strictly monotonic")
    if da.sizes["time"] < 1:
        raise GridError(f"{name} has no time steps")
    return da.transpose(*DIMS).sortby(["latitude", "longitude"]).astype(np.float64)


def check_fields(
    truth_c: Any, observed_c: Any, recovered_c: Any
) -> tuple[xr.DataArray | None, xr.DataArray, xr.DataArray]:
    """Check the three inputs (:func:`check_field`) and that they share one grid and length."""
    if observed_c is None or recovered_c is None:
        raise GridError("observed_c and recovered_c are required (only truth_c may be None)")
    obs = check_field(observed_c, "observed_c")
    rec = check_field(recovered_c, "recovered_c")
    truth = check_field(truth_c, "truth_c") if truth_c is not None else None
    for name, other in (("recovered_c", rec), ("truth_c", truth)):
        if other is None:
            continue
        if other.shape != obs.shape:
            raise GridError(
                f"{name} has shape {dict(other.sizes)} but observed_c has "
                f"{dict(obs.sizes)}: pass the same sequence for all fields"
            )
        for c in ("latitude", "longitude"):
            if not np.allclose(other[c].values, obs[c].values, atol=1e-6):
                raise GridError(f"{name} and observed_c have different {c} coordinates")
    return truth, obs, rec


def no_sst(truth: xr.DataArray | None, recovered: xr.DataArray) -> np.ndarray:
    """(T, H, W) bool: pixels without SST (land), NaN in the recovered field or the truth."""
    missing = np.isnan(recovered.values)
    return missing | np.isnan(truth.values) if truth is not None else missing


def pick_frames(frames: Sequence[int] | None, n_time: int, default: int = 3) -> list[int]:
    """``frames`` checked against ``n_time`` steps; None: ``default`` evenly spaced ones."""
    if frames is None:
        return sorted({round(float(x)) for x in np.linspace(0, n_time - 1, min(default, n_time))})
    out = []
    for f in frames:
        if isinstance(f, bool) or not isinstance(f, int | np.integer):
            raise MapInputError(f"frames must be integer time indices, got {f!r}")
        if not 0 <= f < n_time:
            raise MapInputError(f"frame {f} is outside 0..{n_time - 1} (the sequence's time steps)")
        out.append(int(f))
    if not out:
        raise MapInputError("frames is empty: give at least one time index")
    return out


def time_labels(da: xr.DataArray) -> list[str]:
    """One label per time step: ``2019-01-01 00:30`` (UTC), or ``frame i`` without times."""
    if "time" not in da.coords:
        return [f"frame {i}" for i in range(da.sizes["time"])]
    values = da["time"].values
    if np.issubdtype(values.dtype, np.datetime64):
        return [s.replace("T", " ") for s in np.datetime_as_string(values, unit="m")]
    return [str(v)[:16] for v in values]


def cell_edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges (n + 1) from cell centres (n), half a cell beyond each end."""
    c = np.asarray(centres, dtype=float)
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def map_extent(da: xr.DataArray) -> list[float]:
    """``[lon_min, lon_max, lat_min, lat_max]`` of the field's cells (edges, degrees)."""
    lon, lat = cell_edges(da["longitude"].values), cell_edges(da["latitude"].values)
    return [float(lon[0]), float(lon[-1]), float(lat[0]), float(lat[-1])]


# --------------------------------------------------------------------- colour scales
def sst_range(truth, obs, rec, frames: list[int]) -> tuple[float, float]:
    """Colour range in °C from the reference fields (truth, else observation)."""
    for ref in (truth, obs, rec):
        if ref is None:
            continue
        vals = ref.values[frames]
        if np.isfinite(vals).any():
            lo, hi = float(np.nanmin(vals)), float(np.nanmax(vals))
            if hi - lo < 1e-6:
                lo, hi = lo - 0.5, hi + 0.5
            return lo, hi
    return 0.0, 1.0


def error_limit(errors: np.ndarray) -> float:
    """Half-width (°C) of a symmetric error scale: the 99.5th percentile of ``|errors|``."""
    e = np.abs(errors)
    emax = float(np.nanpercentile(e, 99.5)) if np.isfinite(e).any() else 1.0
    return emax if emax > 1e-6 else 0.1


def colorbar_extend(lo: float, hi: float, *arrays: np.ndarray) -> str:
    """The colorbar's ``extend`` (``neither``/``min``/``max``/``both``) for values beyond lo..hi."""
    vals = [a[np.isfinite(a)] for a in arrays if a is not None]
    vals = np.concatenate(vals) if vals else np.array([])
    below = bool(vals.size and vals.min() < lo)
    above = bool(vals.size and vals.max() > hi)
    return {(False, False): "neither", (True, False): "min", (False, True): "max"}.get(
        (below, above), "both"
    )


def sst_cmap():
    """cmocean ``thermal``, NaN (clouds) light grey."""
    return cmocean.cm.thermal.with_extremes(bad=CLOUD_GREY)


def err_cmap():
    """cmocean ``balance``, NaN (clouds) light grey."""
    return cmocean.cm.balance.with_extremes(bad=CLOUD_GREY)


# ---------------------------------------------------------------------- drawing
def map_axes(fig: Figure, spec, da: xr.DataArray, *, left: bool, bottom: bool) -> Axes:
    """A PlateCarree axes over the field's extent, with coastline, land and gridline labels."""
    ccrs = require_extra("cartopy.crs")
    cfeature = require_extra("cartopy.feature")
    mticker = require_extra("cartopy.mpl.ticker")
    ax = fig.add_subplot(spec, projection=ccrs.PlateCarree())
    ax.set_extent(map_extent(da), crs=ccrs.PlateCarree())
    ax.add_feature(cfeature.LAND.with_scale(SHIPPED_RESOLUTION), facecolor=LAND_GREY, zorder=2)
    ax.coastlines(resolution=SHIPPED_RESOLUTION, linewidth=0.6, color="0.15", zorder=3)
    gl = ax.gridlines(
        crs=ccrs.PlateCarree(),
        draw_labels=True,
        linewidth=0.4,
        color="0.3",
        alpha=0.5,
        linestyle="--",
        zorder=4,
    )
    gl.xlocator = mticker.LongitudeLocator(nbins=3)
    gl.ylocator = mticker.LatitudeLocator(nbins=3)
    gl.top_labels = gl.right_labels = False
    gl.left_labels, gl.bottom_labels = left, bottom
    gl.xlabel_style = gl.ylabel_style = {"size": TICK_SIZE}
    return ax


def mesh(ax: Axes, da: xr.DataArray, values: np.ndarray, **kwargs):
    """pcolormesh of one (latitude, longitude) frame; NaN masked (drawn in the 'bad' colour)."""
    ccrs = require_extra("cartopy.crs")
    return ax.pcolormesh(
        cell_edges(da["longitude"].values),
        cell_edges(da["latitude"].values),
        np.ma.masked_invalid(values),
        transform=ccrs.PlateCarree(),
        shading="flat",
        rasterized=True,
        zorder=1,
        **kwargs,
    )


def missing_overlay(ax: Axes, da: xr.DataArray, missing: np.ndarray):
    """Dark grey over pixels without SST (land), to tell them from clouds (None: no such pixel)."""
    if not missing.any():
        return None
    return mesh(
        ax,
        da,
        np.where(missing, 1.0, np.nan),
        cmap=ListedColormap([MISSING_GREY]),
        vmin=0,
        vmax=2,
    )
