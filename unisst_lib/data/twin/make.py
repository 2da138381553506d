"""Build the embedded default data set (the "twin") on disk.

The twin is written exactly where and how the manifest says the real data
live, so the same loaders read both:

* ``sst/twin/natl_2018_PT1H.nc`` and ``sst/twin/satl_2019H1_PT1H.nc``:
  hourly ``thetao(time, depth, latitude, longitude)`` in the Copernicus Marine
  layout (int16 packing), from :func:`unisst_lib.data.twin.sqg.simulate_sst`;
* ``clouds/twin/cloud_dataset.npy``: ``(n_steps, 64, 64)`` float32 liquid water
  path in kg m-2, like figshare's ``cloud_dataset.npy``, from
  :func:`unisst_lib.data.twin.clouds.simulate_lwp`.

Generation is deterministic: the same manifest seed gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unisst_lib import __version__
from unisst_lib.core.errors import DataFormatError, ManifestError
from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.core.paths import atomic_path, data_dir
from unisst_lib.data.io import write_sst_netcdf
from unisst_lib.data.twin import clouds as cloud_model
from unisst_lib.data.twin import sqg

log = logging.getLogger(__name__)

# Which physical settings each manifest region gets.
REGION_PARAMS = {"natl_subtropical": sqg.NATL, "satl_subtropical": sqg.SATL}
# Offsets keep the three random streams independent for one manifest seed.
_SEED_OFFSETS = {"twin_train_val": 0, "twin_test": 1, "clouds": 2}
SIZE_ATTR = "unisst_twin_size"


@dataclass(frozen=True)
class TwinFile:
    """One file of the twin on disk."""

    kind: str  # "sst" or "clouds"
    name: str  # manifest entry
    path: Path
    shape: tuple[int, ...]
    seconds: float  # generation time, 0 when reused from the cache


def twin_times(start: dt.datetime, hours: int) -> np.ndarray:
    """Hourly timestamps ``start, start + 1 h, …`` as datetime64[ns], shape (hours,)."""
    t0 = np.datetime64(start.replace(tzinfo=None), "ns")
    return t0 + np.arange(hours) * np.timedelta64(1, "h")


def make_twin(
    size: str = "full",
    out_dir: str | os.PathLike[str] | None = None,
    *,
    manifest: Manifest | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[TwinFile]:
    """Generate the twin into ``out_dir`` (default ``$UNISST_DATA_DIR`` or ``./data``).

    Parameters
    ----------
    size
        A size of the manifest's ``twin.sizes``: ``"full"`` (one year + six
        months hourly, 10800 cloud steps; about a minute) or ``"tiny"`` (tests).
    out_dir
        Data directory; files go to the manifest's relative paths inside it.
    overwrite
        Regenerate files that already exist with the right size.
    progress
        Show tqdm progress bars.

    Returns
    -------
    list of TwinFile
        What is on disk now; ``seconds == 0`` for files reused from the cache.
    """
    manifest = manifest or load_manifest()
    root = data_dir(out_dir)
    out = [
        _make_sst(name, size, root, manifest=manifest, overwrite=overwrite, progress=progress)
        for name in ("twin_train_val", "twin_test")
    ]
    out.append(_make_clouds(size, root, manifest=manifest, overwrite=overwrite, progress=progress))
    return out


def _make_sst(
    name: str, size: str, root: Path, *, manifest: Manifest, overwrite: bool, progress: bool
) -> TwinFile:
    """One SST file of the twin (simulated, or reused when it is there with this size)."""
    spec, ds = manifest.twin_size(size), manifest.sst_dataset(name)
    if ds.region not in REGION_PARAMS:
        raise ManifestError(
            f"sst_datasets.{name}.region: the twin knows regions "
            f"{', '.join(REGION_PARAMS)}, not {ds.region!r}"
        )
    region = manifest.regions[ds.region]
    hours = spec.train_val_hours if name == "twin_train_val" else spec.test_hours
    lat, lon = region.latitudes()[: spec.ny], region.longitudes()[: spec.nx]
    path = root / ds.file
    shape = (hours, len(lat), len(lon))
    if not overwrite and _sst_cached(path, size, shape):
        log.info("reusing %s", path)
        return TwinFile("sst", name, path, shape, 0.0)
    t0 = time.perf_counter()
    times = twin_times(ds.start, hours)
    seed = manifest.twin.seed + _SEED_OFFSETS[name]
    log.info("simulating %s: %d hourly frames of %d×%d", name, *shape)
    sst = sqg.simulate_sst(times, lat, lon, REGION_PARAMS[ds.region], seed=seed,
                           progress=progress)  # fmt: skip
    source = manifest.source_of(name)
    write_sst_netcdf(
        sst,
        path,
        times=times,
        latitudes=lat,
        longitudes=lon,
        depth_m=source.depth_m,
        global_attrs={
            "title": f"unisst twin: synthetic hourly SST, {region.description}",
            "institution": "unisst (synthetic data, no observations)",
            "source": f"{manifest.twin.generator}: SQG turbulence on an analytic background",
            "history": f"unisst data make --size {size} (unisst {__version__})",
            "references": "Yin et al. 2019, Unsupervised inpainting for occluded SST sequences",
            "product_id": source.product_id,
            "dataset_id": source.dataset_id,
            SIZE_ATTR: size,
            "unisst_seed": str(seed),
        },
    )
    return TwinFile("sst", name, path, shape, time.perf_counter() - t0)


def _make_clouds(
    size: str, root: Path, *, manifest: Manifest, overwrite: bool, progress: bool
) -> TwinFile:
    """The twin's liquid-water-path clouds (simulated, or reused)."""
    spec, clouds = manifest.twin_size(size), manifest.cloud_dataset("twin")
    path = root / clouds.file
    shape = (spec.cloud_steps, spec.ny, spec.nx)
    if not overwrite and _clouds_cached(path, shape):
        log.info("reusing %s", path)
        return TwinFile("clouds", "twin", path, shape, 0.0)
    t0 = time.perf_counter()
    log.info("simulating clouds: %d steps of %d×%d", *shape)
    lwp = cloud_model.simulate_lwp(
        spec.cloud_steps,
        ny=spec.ny,
        nx=spec.nx,
        seed=manifest.twin.seed + _SEED_OFFSETS["clouds"],
        progress=progress,
    )
    with atomic_path(path) as tmp:
        np.save(tmp, lwp.astype(np.float32), allow_pickle=False)
    return TwinFile("clouds", "twin", path, shape, time.perf_counter() - t0)


def _sst_cached(path: Path, size: str, shape: tuple[int, int, int]) -> bool:
    """True if ``path`` holds this size of the twin; False if absent or unreadable.

    A readable twin of *another* size is never replaced silently (it may be the
    full data set that took a minute to make): that raises DataFormatError.
    """
    if not path.is_file():
        return False
    import netCDF4

    try:
        with netCDF4.Dataset(path) as nc:
            found = getattr(nc, SIZE_ATTR, None)
            ok = found == size and nc["thetao"].shape == (shape[0], 1, shape[1], shape[2])
    except (OSError, KeyError, IndexError):
        log.warning("%s is unreadable: generating it again", path)
        return False
    if found is not None and found != size:
        raise DataFormatError(
            f"{path} holds the '{found}' twin, not the '{size}' one: pass overwrite=True "
            "(--overwrite) to replace it, or write this size to another directory (--out)."
        )
    return bool(ok)


def _clouds_cached(path: Path, shape: tuple[int, int, int]) -> bool:
    if not path.is_file():
        return False
    try:
        arr = np.load(path, mmap_mode="r")
    except (ValueError, OSError):
        log.warning("%s is unreadable: generating it again", path)
        return False
    if arr.shape != shape:
        raise DataFormatError(
            f"{path} holds {arr.shape[0]} cloud steps, not the {shape[0]} of this twin size: "
            "pass overwrite=True (--overwrite) to replace it, or use another directory (--out)."
        )
    return arr.dtype == np.float32


def sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file (:func:`pooch.file_hash`)."""
    import pooch

    return pooch.file_hash(os.fspath(path), alg="sha256")


def platform_fingerprint() -> str:
    """``machine [avx512f] numpy-MAJOR.MINOR``: what the twin's exact bytes depend on."""
    import platform

    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            flags = " avx512f" if "avx512f" in f.read() else ""
    except OSError:
        pass
    major, minor = np.__version__.split(".")[:2]
    return f"{platform.machine()}{flags} numpy-{major}.{minor}"
