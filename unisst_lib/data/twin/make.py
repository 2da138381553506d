"""Build the embedded default data set (the "twin") on disk.

The twin is written exactly where and how the manifest says the real data
live, so the same loaders read both:

* ``sst/twin/natl_2018_PT1H.nc`` and ``sst/twin/satl_2019H1_PT1H.nc``:
  hourly ``thetao(time, depth, latitude, longitude)`` in the Copernicus Marine
  layout (int16 packing), from :func:`unisst_lib.data.twin.sqg.simulate_sst`;
* ``clouds/twin/cloud_dataset.npy``: ``(n_steps, 64, 64)`` float32 liquid water
  path in kg m-2, like figshare's ``cloud_dataset.npy``, from
  :func:`unisst_lib.data.twin.clouds.simulate_lwp`;
* ``sst/twin_l3/*.nc``: a daily GHRSST L3C-style archive (one file a day, a few
  days absent) and ``sst/twin_l3_truth/…_truth.nc``, its gap-free truth, from
  :mod:`unisst_lib.data.twin.l3` (the manifest's ``archives``).

Generation is deterministic: the same manifest seed gives the same bytes.
"""

from __future__ import annotations

import dataclasses
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
from unisst_lib.data.twin import l3, sqg

log = logging.getLogger(__name__)

# Which physical settings each manifest region gets.
REGION_PARAMS = {"natl_subtropical": sqg.NATL, "satl_subtropical": sqg.SATL}
# Offsets keep the random streams independent for one manifest seed.
_SEED_OFFSETS = {"twin_train_val": 0, "twin_test": 1, "clouds": 2, "l3_sst": 3, "l3_clouds": 4}
SIZE_ATTR = "unisst_twin_size"


@dataclass(frozen=True)
class TwinFile:
    """One file of the twin on disk."""

    kind: str  # "sst", "clouds", "l3" (the daily archive) or "truth" (its truth)
    name: str  # manifest entry
    path: Path  # for "l3": the archive's folder
    shape: tuple[int, ...]  # for "l3": (files, ny, nx)
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
        months hourly, 10800 cloud steps, a year of daily L3C files; about a minute)
        or ``"tiny"`` (tests).
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
    out += _make_l3_archive(size, root, manifest=manifest, overwrite=overwrite, progress=progress)
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


def _make_l3_archive(
    size: str, root: Path, *, manifest: Manifest, overwrite: bool, progress: bool
) -> list[TwinFile]:
    """The daily L3C archive and its truth (simulated, or reused when complete); [] if none.

    The truth is written last and removed first: a run stopped half-way leaves no
    truth, so the next one regenerates the archive.
    """
    plan = l3.archive_plan(manifest, size, root)
    if plan is None:
        log.info("the manifest's '%s' twin has no L3 archive (twin.sizes.%s.l3)", size, size)
        return []
    entry = manifest.archive(plan.name)
    if entry.region not in l3.REGION_PARAMS:
        raise ManifestError(
            f"archives.{plan.name}.region: the twin's L3 archive knows regions "
            f"{', '.join(l3.REGION_PARAMS)}, not {entry.region!r}"
        )
    n_files, (days, ny, nx) = len(plan.paths), plan.shape
    files = (
        TwinFile("l3", plan.name, plan.folder, (n_files, ny, nx), 0.0),
        TwinFile("truth", plan.truth_name, plan.truth_path, plan.shape, 0.0),
    )
    if not overwrite and _l3_cached(plan):
        log.info("reusing %s (%d files) and %s", plan.folder, n_files, plan.truth_path)
        return list(files)
    t0 = time.perf_counter()
    plan.truth_path.unlink(missing_ok=True)
    seeds = {k: manifest.twin.seed + _SEED_OFFSETS[k] for k in ("l3_sst", "l3_clouds")}
    log.info(
        "simulating the L3 archive: %d daily SST snapshots and cloud fields of %d×%d", *plan.shape
    )
    truth = l3.simulate_truth(
        plan.times, plan.lat, plan.lon, seed=seeds["l3_sst"], progress=progress
    )
    clouds = l3.daily_clouds(
        days, ny, nx, seed=seeds["l3_clouds"],
        threshold_kgm2=manifest.thresholds.default_kgm2, progress=progress,
    )  # fmt: skip
    land = l3.coastline(plan.lat, plan.lon)
    archive_attrs, truth_attrs = _l3_attrs(manifest, plan, seeds)
    for stale in _stray_files(plan):
        log.warning("removing %s: not a file of the '%s' L3 archive", stale, size)
        stale.unlink()
    grid = {"times": plan.times, "lat": plan.lat, "lon": plan.lon, "truth": truth, "land": land}
    l3.write_archive(
        plan.folder, present=plan.present, clouds=clouds, attrs=archive_attrs, progress=progress,
        **grid,
    )  # fmt: skip
    log.info(
        "wrote %d daily L3C files to %s (%d absent days: %s); clouds cover %.0f %% of the sea, "
        "land %.0f %% of the grid",
        n_files, plan.folder, (~plan.present).sum(),
        ", ".join(str(t)[:10] for t in plan.absent_times),
        100 * clouds[:, ~land].mean(), 100 * land.mean(),
    )  # fmt: skip
    truth_source = manifest.sst_sources[manifest.archive(plan.truth_name).source]
    l3.write_truth(plan.truth_path, depth_m=truth_source.depth_m, attrs=truth_attrs, **grid)
    log.info("wrote the truth %s (%d days of %d×%d)", plan.truth_path, *plan.shape)
    seconds = time.perf_counter() - t0
    return [dataclasses.replace(f, seconds=seconds) for f in files]


def _l3_attrs(manifest: Manifest, plan: l3.ArchivePlan, seeds: dict) -> tuple[dict, dict]:
    """Global attributes of the daily files and of the truth."""
    source = manifest.sst_sources[manifest.archive(plan.name).source]
    truth_source = manifest.sst_sources[manifest.archive(plan.truth_name).source]
    edges = ", ".join(
        f"{d} px from a cloud: quality {l3.QUALITY_BY_DISTANCE[d]}, {b:+.2f} C"
        for d, b in l3.EDGE_BIAS_C.items()
    )
    common = {
        "institution": "unisst (synthetic data, no observations)",
        "history": f"unisst data make --size {plan.size} (unisst {__version__})",
        "product_id": source.product_id,
        SIZE_ATTR: plan.size,
        "unisst_seed": f"sst {seeds['l3_sst']}, clouds {seeds['l3_clouds']}",
        "unisst_cloud_threshold_gm2": f"{manifest.thresholds.default:g}",
        "unisst_edge_bias_c": edges,
    }
    archive = {
        **common,
        "title": "unisst twin: daily L3C-style SST (synthetic, no observations)",
        "source": f"{manifest.twin.generator} SQG twin under the LWP cloud twin",
        "dataset_id": source.dataset_id,
    }
    truth = {
        **common,
        "title": f"unisst twin: gap-free daily SST, the truth of the {plan.name} archive",
        "source": f"{manifest.twin.generator}: SQG turbulence on an analytic background, "
        "one snapshot a day at the archive's reference time",
        "dataset_id": truth_source.dataset_id,
        "unisst_archive": plan.pattern,
        "unisst_absent_dates": " ".join(str(t)[:10] for t in plan.absent_times),
    }
    return archive, truth


def _stray_files(plan: l3.ArchivePlan) -> list[Path]:
    """Files of the archive's pattern that are no day of this plan (an absent day, another size)."""
    wanted = set(plan.paths)
    return [p for p in sorted(plan.folder.glob(Path(plan.pattern).name)) if p not in wanted]


def _l3_cached(plan: l3.ArchivePlan) -> bool:
    """True if the truth and every daily file of ``plan`` are there, readable and of this size.

    Like :func:`_sst_cached`, a readable file of another size (the truth or the
    first daily file on disk) raises DataFormatError.
    """
    on_disk = sorted(plan.folder.glob(Path(plan.pattern).name))
    if on_disk:
        _l3_file_ok(on_disk[0], plan)  # raises for another size's archive
    if not _sst_cached(plan.truth_path, plan.size, plan.shape):
        return False
    for path in plan.paths:
        if not path.is_file():
            log.info("%s is missing: generating the L3 archive again", path)
            return False
        if not _l3_file_ok(path, plan):
            return False
    return not _stray_files(plan)


def _l3_file_ok(path: Path, plan: l3.ArchivePlan) -> bool:
    """A daily file of this size on the plan's grid; DataFormatError for another size's."""
    import netCDF4

    try:
        with netCDF4.Dataset(path) as nc:
            found = getattr(nc, SIZE_ATTR, None)
            shape = nc["sea_surface_temperature"].shape
    except (OSError, KeyError, IndexError):
        log.warning("%s is unreadable: generating the L3 archive again", path)
        return False
    if found is not None and found != plan.size:
        raise DataFormatError(
            f"{path} belongs to the '{found}' twin, not the '{plan.size}' one: pass "
            "overwrite=True (--overwrite) to replace it, or use another directory (--out)."
        )
    return found == plan.size and shape == (1, plan.lat.size, plan.lon.size)


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


def twin_checksums(
    root: str | os.PathLike[str] | None = None, *, manifest: Manifest | None = None
) -> dict[str, str]:
    """``{manifest path: SHA-256}`` of the twin's files under ``root``: the manifest's rows.

    The L3 archive gets one digest over its daily files on disk
    (:func:`unisst_lib.data.twin.l3.archive_digest`), keyed by its glob.
    """
    m = manifest or load_manifest()
    base = data_dir(root)
    rels = [m.sst_dataset(n).file for n in ("twin_train_val", "twin_test")]
    rels.append(m.cloud_dataset("twin").file)
    out = {rel: sha256(base / rel) for rel in rels}
    if "twin_l3" in m.archives:
        pattern = m.archive("twin_l3").files
        files = sorted((base / pattern).parent.glob(Path(pattern).name))
        if files:
            out[pattern] = l3.archive_digest(files)
        truth = m.archive("twin_l3").truth
        if truth is not None and (base / m.archive(truth).files).is_file():
            out[m.archive(truth).files] = sha256(base / m.archive(truth).files)
    return out


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
