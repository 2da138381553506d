"""Maps of SST sequences: the cartopy comparison and locator figures, offline Natural Earth.

:func:`comparison_figure` takes xarray DataArrays ``(time, latitude, longitude)`` in
°C with ``latitude``/``longitude`` coordinates (degrees north/east), as
:func:`unisst_lib.evaluation.validation.recover_sequence` returns them: ``truth``
(``None`` for real data, whose truth under the clouds is unknown), ``observation``
(NaN under the clouds) and ``recovered``. :func:`locator_figure` puts the
manifest's regions on the globe. The same sequence animated is
:func:`unisst_lib.views.animation.sequence_gif`; with a time slider,
:func:`unisst_lib.views.interactive.interactive_view`.

The figures use matplotlib's object API (:class:`matplotlib.figure.Figure`, no
pyplot state: safe under Agg and in threads), cartopy ``PlateCarree`` axes with
labelled gridlines, cmocean ``thermal`` for SST and a symmetric cmocean
``balance`` for errors. Clouds (NaN in the observation) are drawn light grey;
pixels without SST at all (land, NaN in the recovered field) dark grey (the
shared pieces are in :mod:`unisst_lib.views.map_panels`).

Nothing here needs the network. :func:`configure_offline` (called by every map
function) points cartopy at the Natural Earth 1:110m files shipped in
``unisst_lib/naturalearth`` and makes any other Natural Earth or GSHHS request
fail at once with :class:`OfflineFeatureError` instead of a download (cartopy's
downloader has no timeout). Draw coastlines with ``ax.coastlines("110m")`` or
``cartopy.feature.COASTLINE.with_scale("110m")``: the default ``"auto"`` scale asks
for 50m/10m files on small regions.

cartopy, holoviews and Pillow come with ``pip install 'unisst[notebooks]'``;
without them the functions raise
:class:`~unisst_lib.views.map_panels.MissingExtraError` saying so.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
from matplotlib import patches
from matplotlib import patheffects as pe
from matplotlib.figure import Figure

from unisst_lib.core.errors import UnisstError
from unisst_lib.core.manifest import SPLIT_NAMES, Manifest, Region, load_manifest
from unisst_lib.views.map_panels import (
    LABEL_SIZE,
    LAND_GREY,
    SHIPPED_RESOLUTION,
    TICK_SIZE,
    TITLE_SIZE,
    MapInputError,
    check_fields,
    colorbar_extend,
    err_cmap,
    error_limit,
    map_axes,
    mesh,
    missing_overlay,
    no_sst,
    pick_frames,
    require_extra,
    sst_cmap,
    sst_range,
    time_labels,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

SHIPPED_FEATURES = (
    "physical/ne_110m_coastline",
    "physical/ne_110m_land",
    "cultural/ne_110m_admin_0_countries",
    "cultural/ne_110m_admin_0_boundary_lines_land",
)
ROLE_COLOURS = {"train": "#d95f02", "test": "#1b9e77", "train+test": "#7570b3"}
PANEL_IN = 2.3  # panel side in inches (a 4-column figure fits a two-column paper width)


class OfflineFeatureError(UnisstError, FileNotFoundError):
    """cartopy asked for map data that unisst does not ship (it never downloads)."""


# --------------------------------------------------------------------- offline cartopy
def naturalearth_dir() -> Path:
    """The folder shipped with unisst that cartopy's ``pre_existing_data_dir`` points at.

    It holds ``shapefiles/natural_earth/{physical,cultural}/ne_110m_*.shp`` (see its
    README.md: Natural Earth 1:110m, public domain).
    """
    return Path(str(resources.files("unisst_lib") / "naturalearth"))


@functools.cache
def _offline_downloader_classes() -> tuple[type, type]:
    """Subclasses of cartopy's two shapefile downloaders that never download."""
    shapereader = require_extra("cartopy.io.shapereader")

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


def _install_offline_downloaders(downloaders: dict) -> None:
    """Replace cartopy's Natural Earth and GSHHS downloaders in place, keeping their paths."""
    ne_cls, gshhs_cls = _offline_downloader_classes()
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
    cartopy = require_extra("cartopy")
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
    _install_offline_downloaders(cartopy.config["downloaders"])
    return root


# ----------------------------------------------------------------- comparison figure
@dataclass(frozen=True)
class _Comparison:
    """What the panels of a comparison figure draw; every array (T, H, W)."""

    grid: xr.DataArray  # the observation: coordinates of every panel
    values: dict[str, np.ndarray | None]  # column -> °C ("error": recovered − truth)
    missing: np.ndarray  # bool, no SST (land)
    clouds: np.ndarray  # bool, NaN in the observation over the sea
    labels: list[str]  # one per time step
    sst_kw: dict
    err_kw: dict


def _comparison_data(truth, obs, rec, frames: list[int]) -> _Comparison:
    """The values, masks and colour scales of a comparison figure over ``frames``."""
    lo, hi = sst_range(truth, obs, rec, frames)
    truth_v = truth.values if truth is not None else None
    err_v = rec.values - truth_v if truth_v is not None else None
    missing = no_sst(truth, rec)
    emax = error_limit(err_v[frames]) if err_v is not None else 1.0
    return _Comparison(
        grid=obs,
        values={
            "truth": truth_v,
            "observation": obs.values,
            "recovered": rec.values,
            "error": err_v,
        },
        missing=missing,
        clouds=np.isnan(obs.values) & ~missing,
        labels=time_labels(obs),
        sst_kw={"cmap": sst_cmap(), "vmin": lo, "vmax": hi},
        err_kw={"cmap": err_cmap(), "vmin": -emax, "vmax": emax},
    )


def _draw_panel(ax: Axes, data: _Comparison, column: str, f: int):
    """Draw ``column`` at frame ``f`` with its title; returns the data mesh."""
    values = data.values[column][f]
    if column == "error":
        image = mesh(ax, data.grid, values, **data.err_kw)
        sel = data.clouds[f] & np.isfinite(values)
        rmse = float(np.sqrt(np.mean(values[sel] ** 2))) if sel.any() else np.nan
        head = f"error (cloud RMSE {rmse:.2f} °C)" if sel.any() else "error"
    else:
        image = mesh(ax, data.grid, values, **data.sst_kw)
        head = column
        if column == "observation":
            sea = max(int((~data.missing[f]).sum()), 1)
            head = f"observation ({100.0 * data.clouds[f].sum() / sea:.0f} % cloud)"
    missing_overlay(ax, data.grid, data.missing[f])
    ax.set_title(f"{head}\n{data.labels[f]}", fontsize=TITLE_SIZE)
    return image


def _comparison_colorbars(
    fig: Figure, axes: np.ndarray, data: _Comparison, frames: list[int], sst_im, err_im
) -> None:
    """One °C colorbar under the SST columns, one under the error column (if any)."""
    n_sst = axes.shape[1] - (1 if err_im is not None else 0)
    lo, hi = data.sst_kw["vmin"], data.sst_kw["vmax"]
    values = data.values
    extend = colorbar_extend(lo, hi, values["recovered"][frames], values["observation"][frames])
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
    if err_im is None:
        return
    emax = data.err_kw["vmax"]
    cb = fig.colorbar(
        err_im,
        ax=list(axes[:, n_sst].ravel()),
        orientation="horizontal",
        shrink=0.9,
        aspect=12,
        extend=colorbar_extend(-emax, emax, values["error"][frames]),
    )
    cb.set_label("recovered − truth (°C)", fontsize=LABEL_SIZE)
    cb.ax.tick_params(labelsize=TICK_SIZE)


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
    truth, obs, rec = check_fields(truth_c, observed_c, recovered_c)
    frames = pick_frames(frames, obs.sizes["time"])
    data = _comparison_data(truth, obs, rec, frames)
    columns = ["observation", "recovered"]
    if truth is not None:
        columns = ["truth", *columns, "error"]
    n_rows, n_cols = len(frames), len(columns)
    fig = Figure(figsize=(PANEL_IN * n_cols + 0.4, PANEL_IN * n_rows + 0.9), layout="constrained")
    grid = fig.add_gridspec(n_rows, n_cols)
    axes = np.empty((n_rows, n_cols), dtype=object)
    sst_im = err_im = None
    for r, f in enumerate(frames):
        for c, column in enumerate(columns):
            ax = map_axes(fig, grid[r, c], obs, left=c == 0, bottom=r == n_rows - 1)
            ax.set_label(f"{column}:{f}")
            axes[r, c] = ax
            if column == "error":
                err_im = _draw_panel(ax, data, column, f)
            else:
                sst_im = _draw_panel(ax, data, column, f)
    _comparison_colorbars(fig, axes, data, frames, sst_im, err_im)
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


def _globe_axes(fig: Figure, extent: Sequence[float] | None) -> Axes:
    """A PlateCarree axes (whole globe or ``extent``) with land, borders, coasts, gridlines."""
    ccrs = require_extra("cartopy.crs")
    cfeature = require_extra("cartopy.feature")
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
    return ax


def _draw_region(ax: Axes, name: str, region: Region, role: str) -> None:
    """The region's grid cells as a box coloured by role, labelled with its name and role."""
    ccrs = require_extra("cartopy.crs")
    half = region.resolution_deg / 2
    box = patches.Rectangle(
        (region.lon_min - half, region.lat_min - half),
        region.lon_max - region.lon_min + 2 * half,
        region.lat_max - region.lat_min + 2 * half,
        transform=ccrs.PlateCarree(),
        facecolor=ROLE_COLOURS.get(role, "0.3"),
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
        path_effects=[pe.withStroke(linewidth=2.5, foreground="white")],
        zorder=6,
    )


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
    manifest = manifest if manifest is not None else load_manifest()
    roles = region_roles(manifest)
    fig = Figure(figsize=(8.0, 4.4), layout="constrained")
    ax = _globe_axes(fig, extent)
    for name, region in manifest.regions.items():
        _draw_region(ax, name, region, roles.get(name, "unused"))
    ax.set_title(
        "Regions of the data manifest (train: orange, test: green)", fontsize=TITLE_SIZE + 1
    )
    return fig
