"""What the manifest lists and what is on disk: tables for ``01_download`` and checks.

* :func:`manifest_table`, :func:`cloud_table`, :func:`split_table`: the data
  sets, cloud sets and splits of the manifest as rows (lists of dicts, one per
  row, ready for ``pandas.DataFrame``);
* :func:`choose_source`: which data a run uses, and why: the embedded default,
  or the real products, downloaded (Copernicus Marine SST, figshare clouds);
* :func:`verify_choice`: the chosen data's files checked against the manifest;
* :func:`verify_twin`: shapes, periods, units and SHA-256 checksums of the
  embedded twin's files on disk, against the manifest.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unisst_lib.core.errors import UnisstError
from unisst_lib.core.manifest import Manifest, Region, load_manifest
from unisst_lib.core.paths import data_dir

log = logging.getLogger(__name__)

SOURCES = ("twin", "copernicus")
"""Data sources a notebook can ask for: ``twin`` (the embedded default) or
``copernicus`` (Copernicus Marine SST with the paper's figshare clouds)."""


def _lat(v: float) -> str:
    return f"{abs(v):g}°{'N' if v >= 0 else 'S'}"


def _lon(v: float) -> str:
    return f"{abs(v):g}°{'E' if v >= 0 else 'W'}"


def region_label(region: Region) -> str:
    """``20–25.25°N, 40–34.75°W``-style label of a region's box (grid-cell centres)."""
    lat = f"{_lat(region.lat_min)}–{_lat(region.lat_max)}"
    lon = f"{_lon(region.lon_min)}–{_lon(region.lon_max)}"
    return f"{lat}, {lon}"


def _period(start: dt.datetime, end: dt.datetime) -> str:
    return f"{start:%Y-%m-%d} .. {end:%Y-%m-%d}"


def manifest_table(
    manifest: Manifest | None = None, *, root: str | os.PathLike[str] | None = None
) -> list[dict[str, object]]:
    """One row per SST data set of the manifest.

    Columns: ``dataset``, ``provider``, ``product``/``dataset_id`` (Copernicus
    Marine ids), ``region`` and ``box`` (degrees), ``period`` (inclusive,
    UTC), ``every_h`` (hours between frames), ``variable``, ``units``, ``file``
    (relative to the data directory), ``downloadable`` (the source still
    exists) and ``on_disk`` (the file is under ``root``, default
    ``$UNISST_DATA_DIR`` or ``./data``).
    """
    m = manifest or load_manifest()
    base = data_dir(root)
    rows = []
    for name, ds in m.sst_datasets.items():
        src = m.sst_sources[ds.source]
        rows.append(
            {
                "dataset": name,
                "provider": src.provider,
                "product": src.product_id,
                "dataset_id": src.dataset_id,
                "region": ds.region,
                "box": region_label(m.regions[ds.region]),
                "period": _period(ds.start, ds.end),
                "every_h": src.frequency_hours,
                "variable": src.variable,
                "units": src.units,
                "file": ds.file,
                "downloadable": bool(src.available and src.provider != "embedded"),
                "on_disk": (base / ds.file).is_file(),
            }
        )
    return rows


def cloud_table(
    manifest: Manifest | None = None, *, root: str | os.PathLike[str] | None = None
) -> list[dict[str, object]]:
    """One row per cloud (liquid water path) data set: provider, DOI, shape, units, on disk."""
    m = manifest or load_manifest()
    base = data_dir(root)
    return [
        {
            "clouds": name,
            "provider": c.provider,
            "doi": c.doi or "",
            "shape": " × ".join(map(str, c.expected_shape)),
            "units": c.units,
            "cloud_interval": c.cloud_interval,
            "file": c.file,
            "on_disk": (base / c.file).is_file(),
        }
        for name, c in m.clouds.items()
    ]


def split_table(manifest: Manifest | None = None) -> list[dict[str, object]]:
    """One row per split of every split set: data set, phases, sequence length and spacing."""
    m = manifest or load_manifest()
    rows = []
    for name, ss in m.splits.items():
        for split in ("train", "val", "test"):
            sel = ss.split(split)
            rows.append(
                {
                    "split_set": name,
                    "split": split,
                    "dataset": sel.dataset,
                    "phases": ", ".join(map(str, sel.phases)),
                    "sequences": f"[{sel.first}:{'' if sel.stop is None else sel.stop}]",
                    "frames": ss.seq_len,
                    "every_h": ss.interval_hours,
                }
            )
    return rows


@dataclass(frozen=True)
class SourceChoice:
    """The data a run uses, and a plain sentence saying what it is and why.

    ``name``: ``"twin"`` or ``"copernicus"``; ``split_set`` and ``clouds``: the
    manifest names a config or notebook passes on (``data.split_set``,
    ``data.clouds``); ``datasets``: the SST data sets on disk for it;
    ``variant``: the SST variant downloaded (``""`` for the twin).
    """

    asked: str
    name: str
    message: str
    split_set: str = "twin"
    clouds: str = "twin"
    datasets: tuple[str, ...] = ("twin_train_val", "twin_test")
    variant: str = ""


TWIN_MESSAGE = (
    "Using the embedded default data set (the twin): generated here, offline, "
    "deterministically, in the real products' file layouts."
)


def choose_source(
    source: str = "twin",
    *,
    variant: str | None = None,
    splits: tuple[str, ...] = ("train", "val", "test"),
    root: str | os.PathLike[str] | None = None,
    manifest: Manifest | None = None,
    fallback_to_twin: bool = True,
    progress: bool = True,
) -> SourceChoice:
    """Which data to use when ``source`` is asked for, downloading the real data if needed.

    ``"twin"`` is the embedded default (built by :func:`unisst_lib.data.twin.make.make_twin`).
    ``"copernicus"`` downloads the SST of ``splits`` of an SST ``variant``
    (:func:`unisst_lib.sources.copernicus.download_sst`: ``anfc``, hourly, recent years,
    the paper's regions; or ``reanalysis``, daily, the paper's dates) and the
    paper's clouds from figshare (:func:`unisst_lib.sources.figshare.download_clouds`);
    files already on disk and valid are not fetched again.

    With ``fallback_to_twin``, a failed download (no account, no network, a
    bot challenge) falls back to the twin and the message says why; otherwise
    the error is raised.

    Raises
    ------
    UnisstError
        ``source`` is neither ``"twin"`` nor ``"copernicus"``, or a download
        failed and ``fallback_to_twin`` is False.
    """
    if source not in SOURCES:
        raise UnisstError(f"unknown data source {source!r}: use one of {', '.join(SOURCES)}")
    if source == "twin":
        return SourceChoice(source, "twin", TWIN_MESSAGE)
    from unisst_lib.sources.copernicus import download_sst, resolve_variant
    from unisst_lib.sources.figshare import download_clouds

    m = manifest or load_manifest()
    try:
        name = resolve_variant(variant, manifest=m)
        ssts = download_sst(name, splits, root, manifest=m, progress=progress)
        cloud = download_clouds("figshare", root, manifest=m, progress=progress)
    except UnisstError as err:
        if not fallback_to_twin:
            raise
        log.warning("download failed: %s", err)
        return SourceChoice(
            source,
            "twin",
            f"The real data could not be downloaded: {err}\n\nGoing on with the embedded "
            "default (the twin), which has the same file layouts: code written for it reads "
            "the real files unchanged.",
        )
    lines = [
        f"Using real data, SST variant '{name}': {ssts[0].variant_note}.",
        *(
            f"  {r.dataset}: {r.path} ({r.dataset_id}, {r.period}, {r.shape_text}, "
            f"{'already on disk' if r.cached else f'downloaded in {r.seconds:.0f} s'})"
            for r in ssts
        ),
        f"  clouds: {cloud.path} ({' × '.join(map(str, cloud.shape))}, kg m-2, "
        f"{'already on disk' if cloud.cached else 'downloaded from ' + str(cloud.url)})",
        f"In configs and notebooks use split_set='{name}' and clouds='figshare'.",
    ]
    return SourceChoice(
        source,
        "copernicus",
        "\n".join(lines),
        split_set=name,
        clouds="figshare",
        datasets=tuple(r.dataset for r in ssts),
        variant=name,
    )


def verify_choice(
    choice: SourceChoice,
    size: str = "full",
    root: str | os.PathLike[str] | None = None,
    *,
    manifest: Manifest | None = None,
    checksums: bool = True,
) -> list[dict[str, object]]:
    """Check the files of ``choice`` on disk: :func:`verify_twin` for the twin, else
    :func:`unisst_lib.sources.verify.check_sst_file` / ``check_cloud_file`` for each
    downloaded file (rows with ``file``, ``shape``, ``period``, ``problems``)."""
    if choice.name == "twin":
        return verify_twin(size, root, manifest=manifest, checksums=checksums)
    from unisst_lib.sources.verify import verify_all

    m = manifest or load_manifest()
    wanted = {*choice.datasets, choice.clouds}
    return [
        {k: v for k, v in row.items() if k not in ("kind", "name", "status")}
        for row in verify_all(root, manifest=m, checksums=checksums)
        if row["name"] in wanted
    ]


def verify_twin(
    size: str = "full",
    root: str | os.PathLike[str] | None = None,
    *,
    manifest: Manifest | None = None,
    checksums: bool = True,
) -> list[dict[str, object]]:
    """Check the twin's files on disk against the manifest.

    For each file: shape (time, latitude, longitude) or (steps, y, x), the
    period and spacing of its time axis, its units, whether the grid lies in
    the manifest's region and, with ``checksums``, its SHA-256 against the one
    the manifest records for this size (recorded for ``tiny`` only, on the
    reference platform: the SQG model is chaotic, so another CPU or numpy gives
    other, equally valid bytes).

    Returns
    -------
    list of dict
        One row per file: ``file``, ``shape``, ``period``, ``every_h``,
        ``units``, ``sha256``, ``checksum`` (a verdict in words), ``problems``
        (``""`` when all is well).
    """
    m = manifest or load_manifest()
    base = data_dir(root)
    rows = [_sst_row(name, size, base, m, checksums) for name in ("twin_train_val", "twin_test")]
    rows.append(_clouds_row(size, base, m, checksums))
    rows += _archive_rows(size, base, m, checksums)
    return rows


def _missing(file: str, size: str) -> dict[str, object]:
    return {"file": file, "problems": f"missing: run `unisst data make --size {size}`"}


def _sst_row(name: str, size: str, base: Path, m: Manifest, checksums: bool) -> dict[str, object]:
    """:func:`verify_twin`'s row of one hourly SST file."""
    import netCDF4

    from unisst_lib.data.io import open_sst
    from unisst_lib.sources.verify import check_sst_file, twin_checksum

    spec, ds = m.twin_size(size), m.sst_dataset(name)
    path = base / ds.file
    hours = spec.train_val_hours if name == "twin_train_val" else spec.test_hours
    if not path.is_file():
        return _missing(ds.file, size)
    # the tiny twin is shorter than the manifest period; its start is exact
    problems = check_sst_file(path, name, manifest=m, n_frames=hours, start_tolerance_h=0)
    try:
        da = open_sst(path)
    except UnisstError:  # unreadable: check_sst_file said why
        return {"file": ds.file, "problems": "; ".join(problems)}
    times = da.time.values
    with netCDF4.Dataset(path) as nc:
        units = str(getattr(nc[m.source_of(name).variable], "units", "?"))
    row: dict[str, object] = {
        "file": ds.file,
        "shape": " × ".join(str(int(n)) for n in da.shape),
        "period": f"{str(times[0])[:16]} .. {str(times[-1])[:16]}",
        "every_h": float(np.median(np.diff(times[:50]) / np.timedelta64(1, "h"))),
        "units": units,
        "range_c": f"{float(da.min()):.2f} .. {float(da.max()):.2f}",
    }
    if checksums:
        problems += twin_checksum(m, path, ds.file, size, row)
    row["problems"] = "; ".join(problems)
    return row


def _clouds_row(size: str, base: Path, m: Manifest, checksums: bool) -> dict[str, object]:
    """:func:`verify_twin`'s row of the LWP clouds."""
    from unisst_lib.data.io import load_clouds
    from unisst_lib.data.twin.clouds import STEP_HOURS
    from unisst_lib.sources.verify import check_cloud_file, twin_checksum

    spec, clouds = m.twin_size(size), m.cloud_dataset("twin")
    path = base / clouds.file
    if not path.is_file():
        return _missing(clouds.file, size)
    problems = check_cloud_file(path, "twin", manifest=m, n_steps=spec.cloud_steps, md5=False)
    try:
        lwp = load_clouds(path)
    except UnisstError:
        return {"file": clouds.file, "problems": "; ".join(problems)}
    n_steps = int(lwp.shape[0])
    sample = np.asarray(lwp[:: max(1, n_steps // 64)], dtype=np.float64)
    row: dict[str, object] = {
        "file": clouds.file,
        "shape": " × ".join(str(int(n)) for n in lwp.shape),
        "period": f"{n_steps} steps ({n_steps * STEP_HOURS:g} h)",
        "every_h": float(STEP_HOURS),
        "units": f"{clouds.units} (99th percentile {np.percentile(sample, 99):.3f})",
        "range_c": "",
    }
    if checksums:
        problems += twin_checksum(m, path, clouds.file, size, row)
    row["problems"] = "; ".join(problems)
    return row


def _archive_rows(size: str, base: Path, m: Manifest, checksums: bool) -> list[dict[str, object]]:
    """:func:`verify_twin`'s rows of the daily L3 archive and its truth file."""
    from unisst_lib.sources.verify import check_archive, check_truth

    rows = []
    for check in (check_archive, check_truth):
        r = check(base, manifest=m, checksums=checksums)
        if r["status"] == "missing":
            rows.append(_missing(str(r["file"]), size))
            continue
        keep = ("file", "shape", "period", "sha256", "checksum", "problems")
        rows.append({k: r[k] for k in keep if k in r})
    return rows


def check_verified(rows: list[dict[str, object]]) -> None:
    """Raise :class:`UnisstError` listing the problems :func:`verify_twin` found, if any."""
    bad = [f"{r['file']}: {r['problems']}" for r in rows if r.get("problems")]
    if bad:
        raise UnisstError(
            "the data on disk do not match the manifest: "
            + "; ".join(bad)
            + ". Regenerate them with `unisst data make --overwrite` (same --size)."
        )


def write_json(path: str | os.PathLike[str], obj: object) -> Path:
    """Write JSON atomically (numpy scalars become numbers)."""
    import json

    from unisst_lib.core.paths import atomic_path

    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"{type(o).__name__} is not JSON serialisable")

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, default=default) + "\n")
    return path


def twin_files_table(files) -> list[dict[str, object]]:
    """Rows for the :class:`unisst_lib.data.twin.make.TwinFile` list that ``make_twin`` returns."""
    return [
        {
            "file": str(f.path),
            "kind": f.kind,
            "shape": " × ".join(map(str, f.shape)),
            "generated": f"in {f.seconds:.1f} s" if f.seconds else "already there",
        }
        for f in files
    ]
