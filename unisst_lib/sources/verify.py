"""Check data files against the manifest (``unisst data verify``).

The same checks gate a download (a file is renamed into place only when they
pass) and re-check everything on disk later:

* :func:`check_sst_file`: the manifest's variable and units, the region's grid
  (exactly ``ny × nx`` cell centres at the region's coordinates), the period
  (frame count, first frame, constant spacing) and plausible values;
* :func:`check_cloud_file`: rank, dtype, ``(T, 64, 64)``, kg m-2 and, when a
  checksum is known (the manifest's, or the one recorded at download), MD5;
* :func:`check_archive` / :func:`check_truth`: the embedded L3 archive (its daily
  files present, their count and grid) and its truth file;
* :func:`verify_all`: every SST and cloud file and archive the manifest names, one row each.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import numpy as np

from unisst_lib.core.errors import UnisstError
from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.core.paths import data_dir

log = logging.getLogger(__name__)

#: SST outside this range (°C) is not sea water: a units or decoding problem.
PLAUSIBLE_SST_C = (-3.0, 40.0)


def expected_frames(start: dt.datetime, end: dt.datetime, frequency_hours: int) -> int:
    """Frames in the inclusive period ``start`` … ``end``, ``frequency_hours`` apart."""
    return round((end - start) / dt.timedelta(hours=frequency_hours)) + 1


def check_sst_file(
    path: str | os.PathLike[str],
    dataset: str,
    *,
    manifest: Manifest | None = None,
    n_frames: int | None = None,
    start_tolerance_h: float | None = None,
) -> list[str]:
    """Problems of an SST file against the manifest entry ``dataset`` (``[]``: none).

    Parameters
    ----------
    path
        A netCDF file (Copernicus Marine layout or any CF SST file).
    dataset
        A key of the manifest's ``sst_datasets`` (e.g. ``anfc_test``).
    n_frames
        Frames expected; default: the manifest period at the source's
        frequency. The tiny twin is shorter than its period and passes its own.
    start_tolerance_h
        How far (hours) the first frame may be from the manifest's start;
        default half a frame (see below). The generated twin passes 0.

    Checks: the source's variable is in the file with the source's units; the
    grid is the region's (``ny × nx`` cell centres within a tenth of a cell of
    the region's); the time axis has ``n_frames`` frames, a constant spacing
    of the source's frequency, and starts within half a step of the manifest's
    start (hourly means are stamped at hh:00 or hh:30 depending on the
    product version); values lie in −3…40 °C and are not all missing.
    """
    from unisst_lib.data.io import open_sst

    m = manifest or load_manifest()
    entry, src = m.sst_dataset(dataset), m.source_of(dataset)
    path = Path(path)
    try:
        da = open_sst(path, variable=None)
    except UnisstError as err:
        return [str(err)]
    want = n_frames if n_frames is not None else expected_frames(
        entry.start, entry.end, src.frequency_hours
    )  # fmt: skip
    return (
        _variable_problems(path, src)
        + _grid_problems(da, entry.region, m.region_of(dataset))
        + _time_problems(da.time.values, entry, src, want, start_tolerance_h)
        + _value_problems(da)
    )


def _variable_problems(path: Path, src) -> list[str]:
    """The source's variable is in the file, with the source's units."""
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        if src.variable not in nc.variables:
            return [f"no variable {src.variable!r} (the file has {', '.join(nc.variables)})"]
        units = str(getattr(nc[src.variable], "units", ""))
    return [] if units == src.units else [f"{src.variable} units {units!r}, manifest {src.units!r}"]


def _grid_problems(da, region_name: str, region) -> list[str]:
    """The grid is the region's: ny × nx cell centres within a tenth of a cell."""
    lat, lon = da.latitude.values.astype(float), da.longitude.values.astype(float)
    if (lat.size, lon.size) != (region.ny, region.nx):
        return [
            f"grid {lat.size}×{lon.size} (latitude×longitude), the region "
            f"{region_name} is {region.ny}×{region.nx}"
        ]
    tol = region.resolution_deg / 10
    dlat = float(np.max(np.abs(lat - region.latitudes())))
    dlon = float(np.max(np.abs(lon - region.longitudes())))
    if dlat <= tol and dlon <= tol:
        return []
    return [
        f"grid off the region {region_name} by up to {max(dlat, dlon):.4f}° "
        f"(latitudes {lat[0]:.3f}..{lat[-1]:.3f}, longitudes {lon[0]:.3f}..{lon[-1]:.3f})"
    ]


def _time_problems(times, entry, src, want: int, start_tolerance_h: float | None) -> list[str]:
    """``want`` frames, a constant step of the source's frequency, the manifest's start."""
    problems = []
    step = np.timedelta64(src.frequency_hours * 3600, "s")
    if times.size != want:
        problems.append(f"{times.size} frames, expected {want}")
    if times.size:
        start = np.datetime64(entry.start.replace(tzinfo=None), "ns")
        tolerance = (
            step / 2
            if start_tolerance_h is None
            else np.timedelta64(round(start_tolerance_h * 3600), "s")
        )
        if abs(times[0] - start) > tolerance:
            problems.append(f"starts {str(times[0])[:16]}, manifest {entry.start:%Y-%m-%dT%H:%M}")
    if times.size > 1:
        steps = np.unique(np.diff(times))
        if steps.size != 1 or steps[0] != step:
            hours = sorted({float(s / np.timedelta64(1, "h")) for s in steps})
            problems.append(
                f"frames {', '.join(f'{h:g}' for h in hours[:4])} h apart, "
                f"manifest {src.frequency_hours} h"
            )
    return problems


def _value_problems(da) -> list[str]:
    """Some SST is finite, and a sample of 32 frames lies in a plausible -3..40 °C."""
    sample = np.asarray(da.isel(time=slice(0, None, max(1, da.sizes["time"] // 32))).values)
    if not np.isfinite(sample).any():
        return ["no finite SST value (all missing)"]
    lo, hi = float(np.nanmin(sample)), float(np.nanmax(sample))
    if lo < PLAUSIBLE_SST_C[0] or hi > PLAUSIBLE_SST_C[1]:
        return [f"SST {lo:.1f}..{hi:.1f} °C, outside a plausible -3..40 °C"]
    return []


def check_cloud_file(
    path: str | os.PathLike[str],
    name: str,
    *,
    manifest: Manifest | None = None,
    n_steps: int | None = None,
    md5: bool = True,
) -> list[str]:
    """Problems of a liquid-water-path file against the manifest cloud set ``name``.

    Rank 3, floating point, ``(T, ny, nx)`` with the manifest's ``ny × nx`` and
    at least ``min_steps`` steps (exactly ``n_steps`` if given), values in
    kg m-2 (not g m-2), non-negative; with ``md5``, the MD5 against the
    manifest's or the one recorded when the file was downloaded (the
    ``.json`` next to it).
    """
    from unisst_lib.data.io import load_clouds

    m = manifest or load_manifest()
    cloud = m.cloud_dataset(name)
    path = Path(path)
    try:
        lwp = load_clouds(path, min_steps=1)
    except UnisstError as err:
        return [str(err)]
    problems = []
    if lwp.shape[1:] != tuple(cloud.expected_shape[1:]):
        want = "×".join(map(str, cloud.expected_shape[1:]))
        problems.append(f"shape {lwp.shape}, expected (T, {want.replace('×', ', ')})")
    if n_steps is not None and lwp.shape[0] != n_steps:
        problems.append(f"{lwp.shape[0]} steps, expected {n_steps}")
    elif n_steps is None and lwp.shape[0] < cloud.min_steps:
        problems.append(f"{lwp.shape[0]} steps, fewer than the {cloud.min_steps} needed")
    if md5:
        from unisst_lib.sources.figshare import md5sum, read_provenance

        want = cloud.md5 or (read_provenance(path) or {}).get("md5")
        if want:
            got = md5sum(path)
            if got != want:
                problems.append(f"MD5 {got}, expected {want}")
    return problems


def twin_checksum_verdict(m: Manifest, size: str, rel: str, digest: str) -> tuple[str, str]:
    """``(verdict, problem)`` of a twin file's SHA-256 against the manifest's for ``size``.

    The checksums are recorded on the manifest's reference platform; the SQG model
    is chaotic, so elsewhere a difference is expected and not a problem
    (``problem`` is ``""`` then).
    """
    from unisst_lib.data.twin.make import platform_fingerprint

    want = m.twin.checksums.get(size, {}).get(rel)
    if want is None:
        return f"none recorded for the '{size}' twin", ""
    if digest == want:
        return "matches the manifest", ""
    here = platform_fingerprint()
    if here != m.twin.reference_platform:
        return (
            f"differs: expected off the reference platform ({m.twin.reference_platform}; "
            f"this is {here})",
            "",
        )
    return "DIFFERS from the manifest", "checksum differs on the reference platform"


def _twin_size_for(m: Manifest, name: str, length: int) -> str | None:
    """The twin size (``full``, ``tiny``) whose ``name`` file has ``length`` frames or steps."""
    for size, spec in m.twin.sizes.items():
        want = {
            "twin_train_val": spec.train_val_hours,
            "twin_test": spec.test_hours,
        }.get(name, spec.cloud_steps)
        if want == length:
            return size
    return None


def verify_all(
    root: str | os.PathLike[str] | None = None,
    *,
    manifest: Manifest | None = None,
    checksums: bool = True,
) -> list[dict[str, object]]:
    """Check every data file the manifest names that is on disk.

    Returns one row per manifest entry: ``kind`` (sst|clouds|archive|truth), ``name``,
    ``file``, ``status`` (``ok``, ``missing`` or ``problem``), ``shape``,
    ``period`` and ``problems`` (``""`` when none). Files of the embedded twin
    are checked at the size found on disk (``full`` or ``tiny``) and, with
    ``checksums``, their SHA-256 (``sha256``) against the manifest's for that size (``checksum``;
    a difference is a problem on the reference platform only). Downloaded cloud
    files are checked against the MD5 recorded at download.
    """
    from unisst_lib.data.io import open_sst

    m = manifest or load_manifest()
    base = data_dir(root)
    rows: list[dict[str, object]] = []
    for name, entry in m.sst_datasets.items():
        path = base / entry.file
        row: dict[str, object] = {"kind": "sst", "name": name, "file": entry.file}
        if not path.is_file():
            rows.append({**row, "status": "missing", "problems": ""})
            continue
        n_frames = size = None
        try:
            da = open_sst(path)
            row["shape"] = " × ".join(map(str, da.shape))
            t = da.time.values
            row["period"] = f"{str(t[0])[:16]} .. {str(t[-1])[:16]}" if t.size else ""
            if m.sst_sources[entry.source].provider == "embedded":
                # the tiny twin is shorter than the manifest period: check it at its size
                size = _twin_size_for(m, name, int(t.size))
                n_frames = int(t.size) if size is not None else None
        except UnisstError:
            pass  # check_sst_file reports it
        problems = check_sst_file(path, name, manifest=m, n_frames=n_frames)
        if checksums and size is not None:
            problems += twin_checksum(m, path, entry.file, size, row)
        rows.append(
            {**row, "status": "problem" if problems else "ok", "problems": "; ".join(problems)}
        )
    for name, cloud in m.clouds.items():
        path = base / cloud.file
        row = {"kind": "clouds", "name": name, "file": cloud.file}
        if not path.is_file():
            rows.append({**row, "status": "missing", "problems": ""})
            continue
        steps = _cloud_steps_on_disk(path)
        n_steps = size = None
        if cloud.provider == "embedded" and steps is not None:  # tiny: fewer steps
            size = _twin_size_for(m, name, steps)
            n_steps = steps if size is not None else None
        problems = check_cloud_file(path, name, manifest=m, n_steps=n_steps, md5=checksums)
        if checksums and size is not None:
            problems += twin_checksum(m, path, cloud.file, size, row)
        if steps is not None:
            row["shape"] = f"{steps} × {cloud.expected_shape[1]} × {cloud.expected_shape[2]}"
        rows.append(
            {**row, "status": "problem" if problems else "ok", "problems": "; ".join(problems)}
        )
    for name, archive in m.archives.items():  # the embedded L3 archive and its truth
        if m.sst_sources[archive.source].provider == "embedded":
            check = check_truth if archive.role == "truth" else check_archive
            rows.append(check(base, name, manifest=m, checksums=checksums))
    return rows


def _l3_size_for(m: Manifest, ny: int, nx: int) -> str | None:
    """The twin size whose L3 archive has an ``ny × nx`` grid."""
    for size, spec in m.twin.sizes.items():
        if spec.l3 is not None and (spec.l3.ny, spec.l3.nx) == (ny, nx):
            return size
    return None


def _coordinate_problems(lat, lon, plan) -> list[str]:
    """The grid is the plan's: same size, cell centres within a thousandth of a cell."""
    lat, lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
    if (lat.size, lon.size) != (plan.lat.size, plan.lon.size):
        return [f"grid {lat.size}×{lon.size}, the '{plan.size}' archive is "
                f"{plan.lat.size}×{plan.lon.size}"]  # fmt: skip
    off = max(float(np.max(np.abs(lat - plan.lat))), float(np.max(np.abs(lon - plan.lon))))
    step = float(abs(plan.lat[1] - plan.lat[0])) if plan.lat.size > 1 else 1.0
    return [] if off <= step / 1000 else [f"grid off the archive's by up to {off:.4f}°"]


def _l3_grid(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """(latitudes ascending, longitudes, SST shape) of a daily L3 file."""
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        lat, lon = nc["lat"][:].filled(np.nan), nc["lon"][:].filled(np.nan)
        shape = tuple(nc["sea_surface_temperature"].shape)
    return np.sort(lat), lon, shape


def check_archive(
    root: str | os.PathLike[str] | None = None,
    name: str = "twin_l3",
    *,
    manifest: Manifest | None = None,
    checksums: bool = True,
) -> dict[str, object]:
    """The embedded L3 archive ``name`` on disk: one :func:`verify_all` row.

    The twin size is the one whose grid the first file has; then every day of
    that size has its file (and no other file matches the pattern), each file
    has the grid (``(1, ny, nx)``, the first one's coordinates those of the
    size) and, with ``checksums``, the SHA-256 over the files
    (:func:`unisst_lib.data.twin.l3.archive_digest`) is the manifest's.
    """
    from unisst_lib.data.twin import l3

    m = manifest or load_manifest()
    entry, base = m.archive(name), data_dir(root)
    row: dict[str, object] = {"kind": "archive", "name": name, "file": entry.files}
    files = sorted((base / entry.files).parent.glob(Path(entry.files).name))
    if not files:
        return {**row, "status": "missing", "problems": ""}
    try:
        lat, lon, _ = _l3_grid(files[0])
    except (OSError, KeyError, IndexError) as err:
        return {**row, "status": "problem", "problems": f"{files[0].name} unreadable: {err}"}
    size = _l3_size_for(m, lat.size, lon.size)
    if size is None:
        grids = ", ".join(f"{k} {s.l3.ny}×{s.l3.nx}" for k, s in m.twin.sizes.items() if s.l3)
        problems = [f"grid {lat.size}×{lon.size} is no twin size's ({grids})"]
        return {**row, "status": "problem", "problems": "; ".join(problems)}
    plan = l3.archive_plan(m, size, base, name)
    want, found = {p.name for p in plan.paths}, {p.name for p in files}
    problems = _coordinate_problems(lat, lon, plan)
    if found != want:
        problems.append(f"{len(found)} files, expected {len(want)} for the '{size}' archive")
    for what, names in (("missing", want - found), ("unexpected", found - want)):
        if names:
            problems.append(
                f"{what}: {', '.join(sorted(names)[:3])}{' …' if len(names) > 3 else ''}"
            )
    bad = []
    for path in files:
        try:
            if _l3_grid(path)[2] != (1, plan.lat.size, plan.lon.size):
                bad.append(path.name)
        except (OSError, KeyError, IndexError):
            bad.append(path.name)
    if bad:
        problems.append(f"{len(bad)} files unreadable or off the grid (first: {bad[0]})")
    row.update(shape=f"{len(files)} files × {lat.size} × {lon.size}",
               period=f"{files[0].name[:8]} .. {files[-1].name[:8]}")  # fmt: skip
    if checksums:
        digest = l3.archive_digest(files)
        verdict, problem = twin_checksum_verdict(m, size, entry.files, digest)
        row.update(sha256=digest, checksum=verdict)
        problems += [problem] if problem else []
    return {**row, "status": "problem" if problems else "ok", "problems": "; ".join(problems)}


def check_truth(
    root: str | os.PathLike[str] | None = None,
    name: str = "twin_l3_truth",
    *,
    manifest: Manifest | None = None,
    checksums: bool = True,
) -> dict[str, object]:
    """The truth file ``name`` of an embedded archive on disk: one :func:`verify_all` row.

    Its variable and units, the grid and days of the twin size its grid has,
    daily frames from the start, plausible values and, with ``checksums``, its SHA-256.
    """
    from unisst_lib.data.io import open_sst
    from unisst_lib.data.twin import l3

    m = manifest or load_manifest()
    entry, base = m.archive(name), data_dir(root)
    row: dict[str, object] = {"kind": "truth", "name": name, "file": entry.files}
    path = base / entry.files
    if not path.is_file():
        return {**row, "status": "missing", "problems": ""}
    try:
        da = open_sst(path)
    except UnisstError as err:
        return {**row, "status": "problem", "problems": str(err)}
    archive = next((k for k, a in m.archives.items() if a.truth == name), None)
    size = _l3_size_for(m, da.sizes["latitude"], da.sizes["longitude"])
    if archive is None or size is None:
        problems = [f"grid {da.sizes['latitude']}×{da.sizes['longitude']} is no twin size's"]
        return {**row, "status": "problem", "problems": "; ".join(problems)}
    plan = l3.archive_plan(m, size, base, archive)
    src = m.sst_sources[entry.source]
    t = da.time.values
    row.update(shape=" × ".join(map(str, da.shape)),
               period=f"{str(t[0])[:10]} .. {str(t[-1])[:10]}" if t.size else "")  # fmt: skip
    problems = (
        _variable_problems(path, src)
        + _coordinate_problems(da.latitude.values, da.longitude.values, plan)
        + _time_problems(t, entry, src, plan.times.size, 0)
        + _value_problems(da)
    )
    if checksums:
        problems += twin_checksum(m, path, entry.files, size, row)
    return {**row, "status": "problem" if problems else "ok", "problems": "; ".join(problems)}


def twin_checksum(m: Manifest, path: Path, rel: str, size: str, row: dict) -> list[str]:
    """SHA-256 of a twin file of ``size`` against the manifest: sets ``row["sha256"]`` and
    ``row["checksum"]`` (the verdict), returns the problem, if any, as a list."""
    from unisst_lib.data.twin.make import sha256

    digest = sha256(path)
    verdict, problem = twin_checksum_verdict(m, size, rel, digest)
    row.update(sha256=digest, checksum=verdict)
    return [problem] if problem else []


def _cloud_steps_on_disk(path: Path) -> int | None:
    try:
        return int(np.load(path, mmap_mode="r", allow_pickle=False).shape[0])
    except (ValueError, OSError, EOFError, IndexError):
        return None


def format_report(rows: list[dict[str, object]]) -> str:
    """The rows of :func:`verify_all` as a plain-text table with a verdict line."""
    lines = []
    width = max((len(str(r["file"])) for r in rows), default=4)
    for r in rows:
        status = str(r["status"])
        detail = r.get("problems") or ", ".join(
            [str(r.get("shape", ""))] + ([f"SHA-256 {r['checksum']}"] if r.get("checksum") else [])
        )
        if status == "missing":
            detail = "not on disk"
        lines.append(f"{status:<8} {r['file']!s:<{width}}  {detail}")
    ok = sum(r["status"] == "ok" for r in rows)
    bad = sum(r["status"] == "problem" for r in rows)
    missing = sum(r["status"] == "missing" for r in rows)
    verdict = f"{ok} ok, {bad} with problems, {missing} not on disk"
    if bad:
        verdict += (
            ": download the real files again (`unisst download sst|clouds --overwrite`) or "
            "regenerate the twin (`unisst data make --overwrite`)"
        )
    return "\n".join([*lines, verdict])
