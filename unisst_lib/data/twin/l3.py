"""The twin in the real satellite layout: a daily GHRSST L3C-style archive and its truth.

``unisst data make`` (:func:`unisst_lib.data.twin.make.make_twin`) writes, next
to the hourly twin, what a real L3 archive looks like, so that the archive path
(:func:`unisst_lib.data.archive.open_archive`) has an embedded default too:

* one GDS 2.0 L3C file a day (:func:`unisst_lib.data.ghrsst.write_l3_file`,
  GHRSST file names, kelvin int16), a few days absent (no file);
* the SST of a day is the SQG twin (:func:`unisst_lib.data.twin.sqg.simulate_sst`
  with :data:`COASTAL`, one **snapshot a day** at the file's reference time,
  12:00 UTC) on a grid that is not a multiple of 64 (the full size: 80 × 96 at 1/12°);
* the clouds of a day are one liquid-water-path field of the cloud twin
  (:func:`unisst_lib.data.twin.clouds.simulate_lwp` with :data:`DAILY_CLOUDS`:
  the default parameters with one step = one day) above the manifest's default
  threshold: a day's observation is the clear-sky pixels of that day;
* ``quality_level``: 0 on land and under clouds; clear pixels 1 or 2 pixels
  (chessboard distance) from a cloud are kept at levels 2 and 3 with a cold
  bias of :data:`EDGE_BIAS_C` (cloud-edge contamination), 3 pixels away at 4
  and farther at 5, both equal to the truth (to the int16 packing, 0.01 K);
* ``l2p_flags``: the GDS 2.0 land bit on a smooth coastline (:func:`coastline`,
  after the coast of northwest Africa around Cap Blanc);
* the truth: one netCDF file with the gap-free daily SST (°C) on the same grid
  and days, in the Copernicus Marine layout, NaN on land. It is the truth for
  tests and the benchmark only, never for training or model choice (its
  attributes say so).

The functions here compute and write; :mod:`unisst_lib.data.twin.make` decides
what to (re)generate. The same seeds give the same bytes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from unisst_lib.core.errors import ManifestError
from unisst_lib.core.manifest import Manifest, Region
from unisst_lib.data.ghrsst import GDS2_L2P_FLAGS, l3_filename, write_l3_file
from unisst_lib.data.io import write_sst_netcdf
from unisst_lib.data.masks import lwp_to_mask
from unisst_lib.data.twin import sqg
from unisst_lib.data.twin.clouds import DEFAULT_CLOUDS, STEP_HOURS, CloudTwinParams, simulate_lwp

log = logging.getLogger(__name__)

#: Cloud steps in a day (36-min steps): the cloud twin's time scales are divided by this.
CLOUD_STEPS_PER_DAY = round(24 / STEP_HOURS)
#: Chessboard distance (pixels) of a clear pixel to the nearest cloud -> its quality level;
#: farther than the largest key: :data:`BEST_QUALITY`.
QUALITY_BY_DISTANCE = {1: 2, 2: 3, 3: 4}
BEST_QUALITY = 5
#: Cold bias (°C) added to the SST of clear pixels 1 and 2 pixels from a cloud.
EDGE_BIAS_C = {1: -0.4, 2: -0.2}
LAND_BIT = GDS2_L2P_FLAGS["land"]
#: The archive's file names (GDS 2.0): ``YYYYMMDD120000-UNISST-L3C_GHRSST-SSTsubskin-TWIN_SQG-…``.
FILE_NAME = {"rdac": "UNISST", "level": "L3C", "sst_type": "SSTsubskin", "product": "TWIN_SQG"}
ROLE_ATTR = "unisst_role"
TRUTH_USE = (
    "the truth for tests and the benchmark only: never use it for training or to choose "
    "a model or its settings"
)

#: Upwelling coast of northwest Africa (Cap Blanc), synthetic: SQG turbulence on a
#: cooler background with a strong seasonal cycle (the region ``nwafrica_coastal``).
COASTAL = sqg.SSTTwinParams(
    mean_c=21.5,
    meridional_gradient_c_per_deg=-0.5,
    seasonal_amplitude_c=2.0,
    seasonal_peak_doy=275.0,  # about 2 October
    diurnal_amplitude_c=0.3,
    diurnal_peak_local_hour=14.5,
    anomaly_std_c=0.6,
    eddy_velocity_m_s=0.2,
    eddy_wavelength_km=150.0,
    drift_east_m_s=-0.08,  # westward eddy propagation + Canary Current
    drift_north_m_s=-0.06,
)
REGION_PARAMS = {"nwafrica_coastal": COASTAL}

# Coast of northwest Africa, (latitude °N, longitude °E of the shore), smoothed by
# :func:`coast_longitude`: land lies east of it.
_COAST = np.array(
    [(17.0, -16.1), (18.0, -16.05), (19.0, -16.25), (19.4, -16.5), (20.0, -16.3),
     (20.5, -16.6), (20.8, -17.05), (21.3, -16.95), (22.0, -16.75), (22.7, -16.4),
     (23.5, -16.0), (24.0, -15.8), (24.7, -15.2), (25.5, -14.8), (26.2, -14.45),
     (27.0, -13.6)]
)  # fmt: skip
_COAST_SMOOTH_DEG = 0.15


def daily_cloud_params(base: CloudTwinParams = DEFAULT_CLOUDS) -> CloudTwinParams:
    """``base`` with one cloud step = one day: its time scales and winds rescaled.

    Lifetimes and correlation times in steps are divided, winds in pixels per
    step multiplied, by :data:`CLOUD_STEPS_PER_DAY`; the log-normal statistics
    (hence the occlusion rate at each threshold) are unchanged.

    >>> p = daily_cloud_params()
    >>> round(p.persistence_steps, 3), p.advection_speed_px_per_step
    (0.75, 20.0)
    """
    k = CLOUD_STEPS_PER_DAY
    return dataclasses.replace(
        base,
        persistence_steps=base.persistence_steps / k,
        wind_timescale_steps=base.wind_timescale_steps / k,
        temporal_timescale_steps=base.temporal_timescale_steps / k,
        advection_speed_px_per_step=base.advection_speed_px_per_step * k,
        wind_variability_px_per_step=base.wind_variability_px_per_step * k,
    )


DAILY_CLOUDS = daily_cloud_params()


# ------------------------------------------------------------------------- grid
def archive_grid(region: Region, ny: int, nx: int) -> tuple[np.ndarray, np.ndarray]:
    """The archive's grid: the region's ``ny`` southernmost rows and ``nx`` easternmost columns.

    The full size is the whole region; the tiny one keeps the coast (in the east).

    >>> from unisst_lib.core.manifest import load_manifest
    >>> lat, lon = archive_grid(load_manifest().regions["nwafrica_coastal"], 2, 3)
    >>> lat.round(3).tolist(), lon.round(3).tolist()
    ([19.0, 19.083], [-15.25, -15.167, -15.083])
    """
    lat, lon = region.latitudes(), region.longitudes()
    if not (0 < ny <= lat.size and 0 < nx <= lon.size):
        raise ValueError(f"a {ny}×{nx} grid does not fit the region's {lat.size}×{lon.size}")
    return lat[:ny], lon[lon.size - nx :]


def coast_longitude(lat) -> np.ndarray:
    """Longitude (°E) of the smooth synthetic shore at each latitude (°N); land is east of it."""
    fine = np.arange(_COAST[0, 0], _COAST[-1, 0] + 1e-9, 0.01)
    shore = np.interp(fine, _COAST[:, 0], _COAST[:, 1])
    shore = ndimage.gaussian_filter1d(shore, _COAST_SMOOTH_DEG / 0.01, mode="nearest")
    return np.interp(np.asarray(lat, np.float64), fine, shore)


def coastline(lat, lon) -> np.ndarray:
    """Land mask ``(ny, nx)`` (True = land) of the synthetic coast on a lat/lon grid.

    Give it the float64 grid of :func:`archive_grid`: the float32 coordinates
    read back from a file can move a shore pixel to the other side.

    >>> land = coastline([21.0], [-18.0, -16.0])
    >>> land.tolist()
    [[False, True]]
    """
    lon = np.asarray(lon, np.float64)
    return lon[None, :] > coast_longitude(lat)[:, None]


def day_times(start: dt.datetime, days: int) -> np.ndarray:
    """``start, start + 1 day, …`` as datetime64[ns], shape (days,)."""
    t0 = np.datetime64(start.replace(tzinfo=None), "ns")
    return t0 + np.arange(days) * np.timedelta64(1, "D")


def file_names(times: Iterable) -> list[str]:
    """The GHRSST file name of each day (:data:`FILE_NAME`)."""
    return [l3_filename(t, **FILE_NAME) for t in times]


def check_pattern(pattern: str, times: np.ndarray) -> None:
    """ValueError if the manifest's file pattern does not match the archive's file names."""
    name = file_names(times[:1])[0]
    if not fnmatch.fnmatch(name, Path(pattern).name):
        raise ValueError(f"the archive's file {name} does not match the manifest's {pattern!r}")


@dataclass(frozen=True)
class ArchivePlan:
    """Where the L3 archive of one twin size goes and what it holds."""

    name: str  # the manifest's archives entry (role observations)
    truth_name: str  # its truth entry
    size: str
    pattern: str  # the archive's glob, relative to the data directory
    folder: Path
    truth_path: Path
    times: np.ndarray  # every day of the period, datetime64[ns]
    present: np.ndarray  # bool per day: False for the absent days (no file)
    lat: np.ndarray
    lon: np.ndarray

    @property
    def paths(self) -> list[Path]:
        """The daily files, in time order (absent days left out)."""
        names = file_names(self.times[self.present])
        return [self.folder / n for n in names]

    @property
    def absent_times(self) -> np.ndarray:
        return self.times[~self.present]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(days, ny, nx) of the truth; the archive has ``present.sum()`` files of (ny, nx)."""
        return (self.times.size, self.lat.size, self.lon.size)


def archive_plan(
    manifest: Manifest, size: str, root: Path, name: str = "twin_l3"
) -> ArchivePlan | None:
    """The plan of archive ``name`` for twin ``size`` under ``root`` (None: no L3 at this size).

    Raises :class:`ManifestError` when the archive has no truth, its file pattern
    does not match the GHRSST names written here, or the grid does not fit its region.
    """
    spec = manifest.twin_size(size).l3
    if spec is None:
        return None
    entry = manifest.archive(name)
    if entry.truth is None:
        raise ManifestError(f"archives.{name}: the embedded archive needs a truth entry")
    times = day_times(entry.start, spec.days)
    present = np.ones(spec.days, bool)
    present[list(spec.absent_days)] = False
    try:
        check_pattern(entry.files, times)
        lat, lon = archive_grid(manifest.regions[entry.region], spec.ny, spec.nx)
    except ValueError as err:
        raise ManifestError(f"archives.{name} / twin.sizes.{size}.l3: {err}") from err
    return ArchivePlan(
        name=name,
        truth_name=entry.truth,
        size=size,
        pattern=entry.files,
        folder=(root / entry.files).parent,
        truth_path=root / manifest.archive(entry.truth).files,
        times=times,
        present=present,
        lat=lat,
        lon=lon,
    )


# ------------------------------------------------------------------ simulation
def simulate_truth(times: np.ndarray, lat, lon, *, seed: int, progress: bool = False) -> np.ndarray:
    """Daily SST snapshots ``(T, ny, nx)`` float32 °C of the SQG twin (:data:`COASTAL`)."""
    return sqg.simulate_sst(times, lat, lon, COASTAL, seed=seed, progress=progress)


def daily_clouds(
    days: int, ny: int, nx: int, *, seed: int, threshold_kgm2: float, progress: bool = False
) -> np.ndarray:
    """Cloud masks ``(days, ny, nx)`` bool: one LWP field a day above ``threshold_kgm2``."""
    lwp = simulate_lwp(days, ny=ny, nx=nx, seed=seed, params=DAILY_CLOUDS, progress=progress)
    return lwp_to_mask(lwp, threshold_kgm2)


def cloud_distance(cloud: np.ndarray) -> np.ndarray:
    """Chessboard distance (pixels) of each pixel to the nearest cloud; 0 on clouds.

    A day without any cloud gets a distance larger than the grid everywhere.

    >>> cloud_distance(np.array([[True, False, False, False]])).tolist()
    [[0, 1, 2, 3]]
    """
    if not cloud.any():
        return np.full(cloud.shape, sum(cloud.shape), np.int32)
    return ndimage.distance_transform_cdt(~cloud, metric="chessboard").astype(np.int32)


def observe(truth_c: np.ndarray, cloud: np.ndarray, land: np.ndarray) -> tuple:
    """One day's L3C observation of ``truth_c`` (°C) under ``cloud``, with ``land``.

    Returns ``(sst_k, quality_level, l2p_flags)``: SST in kelvin, NaN on land
    and clouds, with :data:`EDGE_BIAS_C` near clouds; quality levels 0 (land,
    clouds), :data:`QUALITY_BY_DISTANCE` near clouds, :data:`BEST_QUALITY`
    farther; the land bit of ``l2p_flags`` on land.

    >>> sst, ql, flags = observe(np.full((1, 5), 20.0, np.float32),
    ...                          np.array([[True, False, False, False, False]]),
    ...                          np.array([[False, False, False, False, True]]))
    >>> ql.tolist(), flags.tolist()
    ([[0, 2, 3, 4, 0]], [[0, 0, 0, 0, 2]])
    >>> (sst - 273.15).round(2).tolist()
    [[nan, 19.6, 19.8, 20.0, nan]]
    """
    distance = cloud_distance(cloud)
    quality = np.full(cloud.shape, BEST_QUALITY, np.int8)
    for d, level in QUALITY_BY_DISTANCE.items():
        quality[distance == d] = level
    bias = np.zeros(cloud.shape, np.float64)
    for d, b in EDGE_BIAS_C.items():
        bias[distance == d] = b
    missing = cloud | land
    quality[missing] = 0
    sst_k = np.where(missing, np.nan, truth_c.astype(np.float64) + bias + 273.15)
    flags = np.where(land, LAND_BIT, 0).astype(np.int16)
    return sst_k, quality, flags


# ---------------------------------------------------------------------- writing
def write_archive(
    folder: Path,
    *,
    times: np.ndarray,
    present: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    truth: np.ndarray,
    clouds: np.ndarray,
    land: np.ndarray,
    attrs: dict,
    progress: bool = False,
) -> list[Path]:
    """One L3C file per present day in ``folder`` (each written atomically); their paths."""
    days = np.flatnonzero(present)
    if progress:
        from tqdm.auto import tqdm

        days = tqdm(days, desc="L3C archive", unit="file")
    names = file_names(times)
    paths = []
    for k in days:
        sst_k, quality, flags = observe(truth[k], clouds[k], land)
        stamp = pd.Timestamp(times[k])
        paths.append(
            write_l3_file(
                folder / names[k],
                sst_k=sst_k,
                time=stamp,
                latitudes=lat,
                longitudes=lon,
                quality_level=quality,
                l2p_flags=flags,
                platform="UNISST_TWIN",
                sensor="SQG_TWIN",
                global_attrs={
                    **attrs,
                    # fixed, so that the same seed gives the same bytes
                    "date_created": (stamp + pd.Timedelta("1D")).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            )
        )
    return paths


def write_truth(
    path: Path,
    *,
    times: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    truth: np.ndarray,
    land: np.ndarray,
    depth_m: float,
    attrs: dict,
) -> Path:
    """The gap-free daily SST (°C, NaN on land) in the Copernicus Marine layout, atomically."""
    sst = np.where(land[None], np.nan, truth).astype(np.float32)
    return write_sst_netcdf(
        sst,
        path,
        times=times,
        latitudes=lat,
        longitudes=lon,
        depth_m=depth_m,
        global_attrs={**attrs, ROLE_ATTR: "truth", "usage": TRUTH_USE},
    )


def _file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def archive_digest(paths: Iterable[str | os.PathLike[str]]) -> str:
    """One SHA-256 for a set of files: of the lines ``<file SHA-256>  <name>``, sorted by name.

    The same as ``sha256sum * | sha256sum`` in the archive's folder (file names
    sort the same in every locale here).
    """
    lines = sorted((Path(p).name, _file_sha256(p)) for p in paths)
    text = "".join(f"{digest}  {name}\n" for name, digest in lines)
    return hashlib.sha256(text.encode()).hexdigest()
