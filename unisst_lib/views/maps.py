"""Maps of SST sequences: cartopy panels, a locator map, animated GIFs, an hvplot view.

Every function takes xarray DataArrays ``(time, latitude, longitude)`` in °C with
``latitude``/``longitude`` coordinates (degrees north/east), as
:func:`unisst_lib.evaluation.validation.recover_sequence` returns them: ``truth`` (``None``
for real data, whose truth under the clouds is unknown), ``observation`` (NaN
under the clouds) and ``recovered``.

The figures use matplotlib's object API (:class:`matplotlib.figure.Figure`, no
pyplot state: safe under Agg and in threads), cartopy ``PlateCarree`` axes with
labelled gridlines, cmocean ``thermal`` for SST and a symmetric cmocean
``balance`` for errors. Clouds (NaN in the observation) are drawn light grey;
pixels without SST at all (land, NaN in the recovered field) dark grey.

Nothing here needs the network. :func:`configure_offline` (called by every map
function) points cartopy at the Natural Earth 1:110m files shipped in
``unisst_lib/naturalearth`` and makes any other Natural Earth or GSHHS request
fail at once with :class:`OfflineFeatureError` instead of a download (cartopy's
downloader has no timeout). Draw coastlines with ``ax.coastlines("110m")`` or
``cartopy.feature.COASTLINE.with_scale("110m")``: the default ``"auto"`` scale asks
for 50m/10m files on small regions.

cartopy, holoviews, hvplot and Pillow come with ``pip install 'unisst[notebooks]'``;
without them the functions raise :class:`MissingExtraError` saying so.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cmocean
import numpy as np
import xarray as xr
from matplotlib import patches
from matplotlib import patheffects as pe
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from unisst_lib.core.errors import GridError, UnisstError
from unisst_lib.core.manifest import SPLIT_NAMES, Manifest, load_manifest
from unisst_lib.core.paths import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes

log = logging.getLogger(__name__)

DIMS = ("time", "latitude", "longitude")
SHIPPED_RESOLUTION = "110m"
SHIPPED_FEATURES = (
    "physical/ne_110m_coastline",
    "physical/ne_110m_land",
    "cultural/ne_110m_admin_0_countries",
    "cultural/ne_110m_admin_0_boundary_lines_land",
)
INSTALL_HINT = "pip install 'unisst[notebooks]'"

CLOUD_GREY = "#c8c8c8"  # NaN in a field: clouds in the observation
MISSING_GREY = "#737373"  # no SST at all (land, missing values)
LAND_GREY = "#d9d9d9"
ROLE_COLOURS = {"train": "#d95f02", "test": "#1b9e77", "train+test": "#7570b3"}

TITLE_SIZE = 9
LABEL_SIZE = 8
TICK_SIZE = 7
PANEL_IN = 2.3  # panel side in inches (a 4-column figure fits a two-column paper width)


class MissingExtraError(UnisstError, ImportError):
    """A package of the ``notebooks`` extra (cartopy, holoviews, hvplot, Pillow) is missing."""


class OfflineFeatureError(UnisstError, FileNotFoundError):
    """cartopy asked for map data that unisst does not ship (it never downloads)."""


class MapInputError(UnisstError, ValueError):
    """A bad argument to a map function (frame index, fps, file name)."""


# --------------------------------------------------------------------- offline cartopy
def _require(module: str) -> Any:
    """Import ``module`` or say which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(
            f"unisst maps need {module.split('.')[0]} ({err}); install the notebook "
            f"extra: {INSTALL_HINT}"
        ) from None


def naturalearth_dir() -> Path:
    """The folder shipped with unisst that cartopy's ``pre_existing_data_dir`` points at.

    It holds ``shapefiles/natural_earth/{physical,cultural}/ne_110m_*.shp`` (see its
    README.md: Natural Earth 1:110m, public domain).
    """
    return Path(str(resources.files("unisst_lib") / "naturalearth"))


@functools.cache
def _offline_downloader_classes() -> tuple[type, type]:
    """Subclasses of cartopy's two shapefile downloaders that never download."""
    shapereader = _require("cartopy.io.shapereader")

    class OfflineNEDownloader(shapereader.NEShpDownloader):
        """Natural Earth downloader that raises instead of downloading."""

        def acquire_resource(self, target_path, format_dict):
            res, cat, name = (format_dict.get(k) for k in ("resolution", "category", "name"))
            raise OfflineFeatureError(
                f"cartopy asked for Natural Earth {res} {cat}/{name}, which is not on disk, "
                "and unisst runs offline: it ships Natural Earth 110m only "
                f"({', '.join(f.split('/')[1] for f in SHIPPED_FEATURES)}). Use "
                "resolution='110m' or scale='110m' (e.g. ax.coastlines('110m'), "
                "cartopy.feature.COASTLINE.with_scale('110m')), or put the shapefile at "
                f"{target_path} yourself."
            )

        def _urlopen(self, url):
            raise OfflineFeatureError(f"unisst runs offline: no download of {url}")

    class OfflineGSHHSDownloader(shapereader.GSHHSShpDownloader):
        """GSHHS downloader that raises instead of downloading."""

        def acquire_resource(self, target_path, format_dict):
            raise OfflineFeatureError(
                "cartopy asked for GSHHS coastlines "
                f"(scale={format_dict.get('scale')!r}, level={format_dict.get('level')!r}), "
                "which unisst does not ship and will not download (it runs offline). Use the "
                "Natural Earth 110m coastlines instead: ax.coastlines('110m') or "
                f"cartopy.feature.COASTLINE.with_scale('110m'); or put the file at {target_path}."
            )

        def _urlopen(self, url):
            raise OfflineFeatureError(f"unisst runs offline: no download of {url}")

    return OfflineNEDownloader, OfflineGSHHSDownloader


def configure_offline() -> Path:
    """Point cartopy at the shipped Natural Earth 110m files; make downloads fail fast.

    Sets ``cartopy.config["pre_existing_data_dir"]`` to :func:`naturalearth_dir` (so
    ``cartopy.feature.COASTLINE``, ``LAND`` and ``BORDERS`` at 110m draw offline) and
    replaces cartopy's Natural Earth and GSHHS downloaders with ones that raise
    :class:`OfflineFeatureError` at once for anything not on disk, instead of a
    download that would hang without network. Files already in cartopy's own
    ``data_dir`` are still used. Idempotent; every map function calls it.

    Returns
    -------
    pathlib.Path
        The shipped folder (cartopy's new ``pre_existing_data_dir``).

    Raises
    ------
    MissingExtraError
        cartopy is not installed.
    UnisstError
        The shipped files are missing (a broken install).
    """
    cartopy = _require("cartopy")
    root = naturalearth_dir()
    base = root / "shapefiles" / "natural_earth"
    missing = [f for f in SHIPPED_FEATURES if not (base / f"{f}.shp").is_file()]
    if missing:
        raise UnisstError(
            f"the Natural Earth files shipped with unisst are missing from {base} "
            f"({', '.join(missing)}): reinstall unisst, or in a source checkout run "
            "tools/make_naturalearth.py"
        )
    cartopy.config["pre_existing_data_dir"] = root
    ne_cls, gshhs_cls = _offline_downloader_classes()
    downloaders = cartopy.config["downloaders"]
    for prefix, cls in (
        (("shapefiles", "natural_earth"), ne_cls),
        (("shapefiles", "gshhs"), gshhs_cls),
    ):
        keys = [k for k in downloaders if tuple(k[:2]) == prefix] or [prefix]
        for key in keys:
            current = downloaders.get(key)
            if isinstance(current, cls):
                continue
            default = cls.default_downloader()
            downloaders[key] = cls(
                target_path_template=getattr(
                    current, "target_path_template", default.target_path_template
                ),
                pre_downloaded_path_template=default.pre_downloaded_path_template,
            )
    return root


# ------------------------------------------------------------------------- inputs
def _field(da: Any, name: str) -> xr.DataArray:
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


def _fields(
    truth_c: Any, observed_c: Any, recovered_c: Any
) -> tuple[xr.DataArray | None, xr.DataArray, xr.DataArray]:
    """Check the three inputs and that they share one grid and length."""
    if observed_c is None or recovered_c is None:
        raise GridError("observed_c and recovered_c are required (only truth_c may be None)")
    obs = _field(observed_c, "observed_c")
    rec = _field(recovered_c, "recovered_c")
    truth = _field(truth_c, "truth_c") if truth_c is not None else None
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


def _frames(frames: Sequence[int] | None, n_time: int, default: int = 3) -> list[int]:
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


def _time_labels(da: xr.DataArray) -> list[str]:
    """One label per time step: ``2019-01-01 00:30`` (UTC), or ``frame i`` without times."""
    if "time" not in da.coords:
        return [f"frame {i}" for i in range(da.sizes["time"])]
    values = da["time"].values
    if np.issubdtype(values.dtype, np.datetime64):
        return [s.replace("T", " ") for s in np.datetime_as_string(values, unit="m")]
    return [str(v)[:16] for v in values]


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges (n + 1) from cell centres (n), half a cell beyond each end."""
    c = np.asarray(centres, dtype=float)
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def _extent(da: xr.DataArray) -> list[float]:
    lon, lat = _edges(da["longitude"].values), _edges(da["latitude"].values)
    return [float(lon[0]), float(lon[-1]), float(lat[0]), float(lat[-1])]


def _sst_range(truth, obs, rec, frames: list[int]) -> tuple[float, float]:
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


def _extend(lo: float, hi: float, *arrays: np.ndarray) -> str:
    vals = [a[np.isfinite(a)] for a in arrays if a is not None]
    vals = np.concatenate(vals) if vals else np.array([])
    below = bool(vals.size and vals.min() < lo)
    above = bool(vals.size and vals.max() > hi)
    return {(False, False): "neither", (True, False): "min", (False, True): "max"}.get(
        (below, above), "both"
    )


# ---------------------------------------------------------------------- drawing
def _map_axes(fig: Figure, spec, da: xr.DataArray, *, left: bool, bottom: bool) -> Axes:
    """A PlateCarree axes over the field's extent, with coastline, land and gridline labels."""
    ccrs = _require("cartopy.crs")
    cfeature = _require("cartopy.feature")
    mticker = _require("cartopy.mpl.ticker")
    ax = fig.add_subplot(spec, projection=ccrs.PlateCarree())
    ax.set_extent(_extent(da), crs=ccrs.PlateCarree())
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


def _mesh(ax: Axes, da: xr.DataArray, values: np.ndarray, **kwargs):
    """pcolormesh of one (latitude, longitude) frame; NaN masked (drawn in the 'bad' colour)."""
    ccrs = _require("cartopy.crs")
    return ax.pcolormesh(
        _edges(da["longitude"].values),
        _edges(da["latitude"].values),
        np.ma.masked_invalid(values),
        transform=ccrs.PlateCarree(),
        shading="flat",
        rasterized=True,
        zorder=1,
        **kwargs,
    )


def _missing_overlay(ax: Axes, da: xr.DataArray, missing: np.ndarray):
    """Dark grey over pixels without SST (land), to tell them from clouds."""
    if not missing.any():
        return None
    return _mesh(
        ax,
        da,
        np.where(missing, 1.0, np.nan),
        cmap=ListedColormap([MISSING_GREY]),
        vmin=0,
        vmax=2,
    )


def _sst_cmap():
    return cmocean.cm.thermal.with_extremes(bad=CLOUD_GREY)


def _err_cmap():
    return cmocean.cm.balance.with_extremes(bad=CLOUD_GREY)


def comparison_figure(
    truth_c: xr.DataArray | None,
    observed_c: xr.DataArray,
    recovered_c: xr.DataArray,
    *,
    frames: Sequence[int] | None = None,
    title: str | None = None,
) -> Figure:
    """True / observed / recovered / error maps, one row per chosen frame.

    Parameters
    ----------
    truth_c, observed_c, recovered_c
        DataArrays ``(time, latitude, longitude)`` in °C on one grid (latitude,
        longitude in degrees). ``truth_c`` may be None (real data): the truth and
        error columns are then left out. NaN in ``observed_c`` are clouds (light
        grey); NaN in ``recovered_c`` (or ``truth_c``) are pixels without SST,
        e.g. land (dark grey).
    frames
        Time indices, one row each; default 3 evenly spaced (first, middle, last).
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        ``rows × columns`` cartopy PlateCarree axes (columns truth, observation,
        recovered, error; or observation, recovered). Each panel is titled with
        its column and the frame's time (UTC); the observation panel also gives
        the cloud cover and the error panel the RMSE under the clouds. One °C
        colorbar (cmocean ``thermal``) is shared by the SST columns, fixed over
        the frames; the error (recovered − truth, °C) uses cmocean ``balance`` on
        a range symmetric about 0. Each axes' label (``ax.get_label()``) is
        ``"<column>:<frame>"``.

    Raises
    ------
    GridError
        A field is not a 3-D (time, latitude, longitude) DataArray with
        coordinates, or the fields differ in shape or grid.
    MapInputError
        A frame index outside the sequence.
    MissingExtraError
        cartopy is not installed.
    """
    configure_offline()
    truth, obs, rec = _fields(truth_c, observed_c, recovered_c)
    frames = _frames(frames, obs.sizes["time"])
    labels = _time_labels(obs)
    lo, hi = _sst_range(truth, obs, rec, frames)
    obs_v, rec_v = obs.values, rec.values
    truth_v = truth.values if truth is not None else None
    missing = np.isnan(rec_v) | (np.isnan(truth_v) if truth_v is not None else False)
    clouds = np.isnan(obs_v) & ~missing
    err_v = rec_v - truth_v if truth_v is not None else None

    columns = ["truth", "observation", "recovered"] if truth is not None else []
    columns = columns or ["observation", "recovered"]
    if truth is not None:
        columns.append("error")
    n_rows, n_cols = len(frames), len(columns)
    fig = Figure(figsize=(PANEL_IN * n_cols + 0.4, PANEL_IN * n_rows + 0.9), layout="constrained")
    grid = fig.add_gridspec(n_rows, n_cols)
    sst_kw = {"cmap": _sst_cmap(), "vmin": lo, "vmax": hi}
    emax = 1.0
    if err_v is not None:
        e = np.abs(err_v[frames])
        emax = float(np.nanpercentile(e, 99.5)) if np.isfinite(e).any() else 1.0
        emax = emax if emax > 1e-6 else 0.1
    err_kw = {"cmap": _err_cmap(), "vmin": -emax, "vmax": emax}

    axes = np.empty((n_rows, n_cols), dtype=object)
    sst_im = err_im = None
    for r, f in enumerate(frames):
        cloud_pct = 100.0 * clouds[f].sum() / max(int((~missing[f]).sum()), 1)
        for c, col in enumerate(columns):
            ax = _map_axes(fig, grid[r, c], obs, left=c == 0, bottom=r == n_rows - 1)
            ax.set_label(f"{col}:{f}")
            axes[r, c] = ax
            if col == "truth":
                sst_im = _mesh(ax, obs, truth_v[f], **sst_kw)
                head = "truth"
            elif col == "observation":
                sst_im = _mesh(ax, obs, obs_v[f], **sst_kw)
                head = f"observation ({cloud_pct:.0f} % cloud)"
            elif col == "recovered":
                sst_im = _mesh(ax, obs, rec_v[f], **sst_kw)
                head = "recovered"
            else:
                err_im = _mesh(ax, obs, err_v[f], **err_kw)
                sel = clouds[f] & np.isfinite(err_v[f])
                rmse = float(np.sqrt(np.mean(err_v[f][sel] ** 2))) if sel.any() else np.nan
                head = f"error (cloud RMSE {rmse:.2f} °C)" if sel.any() else "error"
            _missing_overlay(ax, obs, missing[f])
            ax.set_title(f"{head}\n{labels[f]}", fontsize=TITLE_SIZE)
    n_sst = n_cols - (1 if err_im is not None else 0)
    extend = _extend(lo, hi, rec_v[frames], obs_v[frames])
    cb = fig.colorbar(
        sst_im,
        ax=list(axes[:, :n_sst].ravel()),
        orientation="horizontal",
        shrink=0.6 if n_sst > 2 else 0.9,
        aspect=30,
        extend=extend,
    )
    cb.set_label("sea-surface temperature (°C)", fontsize=LABEL_SIZE)
    cb.ax.tick_params(labelsize=TICK_SIZE)
    if err_im is not None:
        cb = fig.colorbar(
            err_im,
            ax=list(axes[:, n_sst].ravel()),
            orientation="horizontal",
            shrink=0.9,
            aspect=12,
            extend=_extend(-emax, emax, err_v[frames]),
        )
        cb.set_label("recovered − truth (°C)", fontsize=LABEL_SIZE)
        cb.ax.tick_params(labelsize=TICK_SIZE)
    if title:
        fig.suptitle(title, fontsize=TITLE_SIZE + 2)
    return fig


# ------------------------------------------------------------------------ locator
def region_roles(manifest: Manifest) -> dict[str, str]:
    """``{region: "train" | "test" | "train+test"}`` from the manifest's splits.

    A region is ``train`` if some split set trains or validates on a data set
    over it, ``test`` if some split set tests on one. Regions no split uses are
    left out.
    """
    roles: dict[str, set[str]] = {}
    for split_set in manifest.splits.values():
        for split in SPLIT_NAMES:
            region = manifest.sst_dataset(split_set.split(split).dataset).region
            roles.setdefault(region, set()).add("test" if split == "test" else "train")
    return {r: "+".join(sorted(s, key=["train", "test"].index)) for r, s in roles.items()}


def locator_figure(
    manifest: Manifest | None = None,
    *,
    extent: Sequence[float] | None = None,
) -> Figure:
    """The globe with the manifest's regions as labelled boxes (train / test).

    Parameters
    ----------
    manifest
        Default :func:`unisst_lib.core.manifest.load_manifest`.
    extent
        ``(lon_min, lon_max, lat_min, lat_max)`` in degrees; default the whole globe.

    Returns
    -------
    matplotlib.figure.Figure
        One cartopy PlateCarree axes: land, coastlines and borders (Natural Earth
        110m), labelled gridlines, and one :class:`matplotlib.patches.Rectangle`
        per region (``gid="region:<name>"``) covering its grid cells, coloured by
        role (train orange, test green, both purple) and labelled with its name
        and role.
    """
    configure_offline()
    ccrs = _require("cartopy.crs")
    cfeature = _require("cartopy.feature")
    manifest = manifest if manifest is not None else load_manifest()
    roles = region_roles(manifest)

    fig = Figure(figsize=(8.0, 4.4), layout="constrained")
    ax = fig.add_subplot(projection=ccrs.PlateCarree())
    if extent is None:
        ax.set_global()
    else:
        if len(extent) != 4:
            raise MapInputError("extent must be (lon_min, lon_max, lat_min, lat_max) in degrees")
        ax.set_extent([float(v) for v in extent], crs=ccrs.PlateCarree())
    ax.set_facecolor("#e8f1f8")
    ax.add_feature(cfeature.LAND.with_scale(SHIPPED_RESOLUTION), facecolor=LAND_GREY)
    ax.add_feature(cfeature.BORDERS.with_scale(SHIPPED_RESOLUTION), edgecolor="0.6", linewidth=0.3)
    ax.coastlines(resolution=SHIPPED_RESOLUTION, linewidth=0.5, color="0.25")
    gl = ax.gridlines(
        crs=ccrs.PlateCarree(),
        draw_labels=True,
        linewidth=0.4,
        color="0.4",
        alpha=0.5,
        linestyle="--",
    )
    gl.top_labels = gl.right_labels = False
    gl.xlabel_style = gl.ylabel_style = {"size": TICK_SIZE}

    halo = [pe.withStroke(linewidth=2.5, foreground="white")]
    for name, region in manifest.regions.items():
        role = roles.get(name, "unused")
        colour = ROLE_COLOURS.get(role, "0.3")
        half = region.resolution_deg / 2
        box = patches.Rectangle(
            (region.lon_min - half, region.lat_min - half),
            region.lon_max - region.lon_min + 2 * half,
            region.lat_max - region.lat_min + 2 * half,
            transform=ccrs.PlateCarree(),
            facecolor=colour,
            alpha=0.9,
            edgecolor="k",
            linewidth=0.8,
            zorder=5,
            gid=f"region:{name}",
            label=f"{name} ({role})",
        )
        ax.add_patch(box)
        ax.text(
            region.lon_max + half + 2.0,
            (region.lat_min + region.lat_max) / 2,
            f"{name}\n({role})",
            transform=ccrs.PlateCarree(),
            fontsize=LABEL_SIZE,
            va="center",
            ha="left",
            color="k",
            path_effects=halo,
            zorder=6,
        )
    ax.set_title(
        "Regions of the data manifest (train: orange, test: green)", fontsize=TITLE_SIZE + 1
    )
    return fig


# --------------------------------------------------------------------------- GIF
def _write_gif(frames: list[np.ndarray], path: Path, fps: float) -> None:
    """Write RGB frames (H, W, 3) uint8 as a looping GIF with one shared palette."""
    image = _require("PIL.Image")
    first = image.fromarray(frames[0])
    palette = first.quantize(colors=256, method=image.Quantize.MEDIANCUT)
    images = [
        image.fromarray(f).quantize(palette=palette, dither=image.Dither.NONE) for f in frames
    ]
    images[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=round(1000 / fps),
        loop=0,
        disposal=1,
    )


def sequence_gif(
    truth_c: xr.DataArray | None,
    observed_c: xr.DataArray,
    recovered_c: xr.DataArray,
    path: str | os.PathLike[str],
    *,
    fps: float = 4,
    dpi: int = 80,
    progress: bool = False,
) -> Path:
    """An animated GIF of a sequence: truth / observation / recovered, top to bottom.

    Parameters
    ----------
    truth_c, observed_c, recovered_c
        As :func:`comparison_figure` (``truth_c`` None: its row is left out).
    path
        The ``.gif`` file to write (atomically: a failed write leaves no file and
        an existing one untouched; parent folders are created).
    fps
        Frames per second.
    dpi
        Resolution: the image is 2.8 × (2.3 × rows + 0.7) inches at this dpi
        (80: 224 × 608 pixels for three rows).
    progress
        Show a progress bar over the frames.

    Returns
    -------
    pathlib.Path
        ``path``. The GIF loops, has one image per time step (titled with its
        time, so no two are identical) and a fixed °C colour scale.
    """
    configure_offline()
    truth, obs, rec = _fields(truth_c, observed_c, recovered_c)
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise MapInputError(f"{path}: the animation is a GIF; give a path ending in .gif")
    if not fps > 0:
        raise MapInputError(f"fps must be positive, got {fps}")
    if not (isinstance(dpi, int | np.integer) and dpi > 0):
        raise MapInputError(f"dpi must be a positive integer, got {dpi!r}")
    n_time = obs.sizes["time"]
    labels = _time_labels(obs)
    lo, hi = _sst_range(truth, obs, rec, list(range(n_time)))
    rows = [("truth", truth)] if truth is not None else []
    rows += [("observation", obs), ("recovered", rec)]
    missing = np.isnan(rec.values) | (np.isnan(truth.values) if truth is not None else False)

    fig = Figure(figsize=(2.8, 2.3 * len(rows) + 0.7), dpi=dpi, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(rows), 1)
    meshes, overlays, axes = [], [], []
    for r, (name, da) in enumerate(rows):
        ax = _map_axes(fig, grid[r, 0], obs, left=True, bottom=r == len(rows) - 1)
        ax.set_title(name, fontsize=TITLE_SIZE)
        meshes.append(_mesh(ax, obs, da.values[0], cmap=_sst_cmap(), vmin=lo, vmax=hi))
        overlays.append(_missing_overlay(ax, obs, missing[0]))
        axes.append(ax)
    cb = fig.colorbar(meshes[-1], ax=axes, orientation="horizontal", shrink=0.85, aspect=25)
    cb.set_label("SST (°C)", fontsize=LABEL_SIZE)
    cb.ax.tick_params(labelsize=TICK_SIZE)
    suptitle = fig.suptitle(labels[0], fontsize=TITLE_SIZE)
    canvas.draw()
    fig.set_layout_engine("none")  # freeze the layout: every frame has the same geometry

    images = []
    for t in tqdm(range(n_time), desc="GIF frames", disable=not progress, leave=False):
        for (_, da), mesh, overlay in zip(rows, meshes, overlays, strict=True):
            mesh.set_array(np.ma.masked_invalid(da.values[t]))
            if overlay is not None:
                overlay.set_array(np.ma.masked_invalid(np.where(missing[t], 1.0, np.nan)))
        suptitle.set_text(labels[t] if labels[t].startswith("frame") else f"{labels[t]} UTC")
        canvas.draw()
        images.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    with atomic_path(path) as tmp:
        _write_gif(images, tmp, fps)
    log.info("wrote %s (%d frames, %dx%d px)", path, n_time, *images[0].shape[1::-1])
    return path


# ---------------------------------------------------------------------- hvplot view
def interactive_view(
    truth_c: xr.DataArray | None,
    observed_c: xr.DataArray,
    recovered_c: xr.DataArray,
    *,
    width: int = 240,
    dynamic: bool = False,
):
    """hvplot images side by side with one time slider (bokeh backend).

    Parameters
    ----------
    truth_c, observed_c, recovered_c
        As :func:`comparison_figure`; panels truth, observation, recovered and
        error (recovered − truth, symmetric range) or, without truth,
        observation and recovered.
    width
        Width of each map in pixels (equal-degree aspect).
    dynamic
        False (default): a :class:`holoviews.HoloMap` per panel holding every
        frame, so the view works in a saved notebook or HTML without a kernel.
        True: :class:`holoviews.DynamicMap` (needs a live kernel).

    Returns
    -------
    holoviews.Layout
        Panels (two per row when there are four) whose key dimension is ``time``,
        with linked zoom and one time slider. Display it in a notebook with
        :func:`unisst_lib.notebooks.runner.show_interactive` after
        ``hv.extension("bokeh", inline=True)``: every script and stylesheet inline,
        no network (HoloViews' own display links Panel's stylesheets from a CDN), or
        save it with ``hv.save(view, "view.html", resources="inline")``.
    """
    hv = _require("holoviews")
    hv_plot = _require("hvplot").hvPlot  # no hvplot.xarray: that import loads CDN resources
    truth, obs, rec = _fields(truth_c, observed_c, recovered_c)
    if "time" not in obs.coords:
        obs, rec = (d.assign_coords(time=np.arange(d.sizes["time"])) for d in (obs, rec))
        truth = truth.assign_coords(time=obs["time"]) if truth is not None else None
    else:
        rec = rec.assign_coords(time=obs["time"])
        truth = truth.assign_coords(time=obs["time"]) if truth is not None else None
    lo, hi = _sst_range(truth, obs, rec, list(range(obs.sizes["time"])))
    sst = {"cmap": _sst_cmap(), "clim": (lo, hi), "clabel": "SST (°C)"}
    panels = [("truth", truth, sst)] if truth is not None else []
    panels += [("observation", obs, sst), ("recovered", rec, sst)]
    if truth is not None:
        err = rec - truth
        e = np.abs(err.values)
        emax = float(np.nanpercentile(e, 99.5)) if np.isfinite(e).any() else 1.0
        emax = emax if emax > 1e-6 else 0.1
        panels.append(
            (
                "error",
                err,
                {"cmap": _err_cmap(), "clim": (-emax, emax), "clabel": "recovered − truth (°C)"},
            )
        )
    plots = []
    for name, da, kw in panels:
        img = hv_plot(da.rename(name)).image(
            x="longitude",
            y="latitude",
            groupby="time",
            dynamic=dynamic,
            title=name,
            frame_width=width,
            data_aspect=1,
            xlabel="longitude (°E)",
            ylabel="latitude (°N)",
            **kw,
        )
        plots.append(img.opts(clipping_colors={"NaN": CLOUD_GREY}))
    return hv.Layout(plots).cols(2 if len(plots) == 4 else len(plots))
