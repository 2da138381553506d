"""What ``06_your_own_archive`` calls: find the archive, describe it, save and say what came out.

The notebook's science is in the library (:func:`unisst_lib.data.archive.open_archive`,
:func:`unisst_lib.benchmark.crossval.cross_validate`,
:func:`unisst_lib.methods.fit.fit_archive`, :func:`unisst_lib.methods.fill.fill`, the
maps of :mod:`unisst_lib.views.archive_maps`); this module only glues them for the
notebook:

* :func:`choose_archive`: the user's folder / glob / files, or the embedded L3 archive
  of the manifest (``archives.twin_l3``), generated when it is not on disk yet;
* :func:`archive_table`: what :func:`~unisst_lib.data.archive.open_archive` found
  (frames, cadence, absent dates, quality filter, land mask), from the data set's
  attributes, for a DataFrame;
* :func:`fit_plan`: the cost of the two fits, said up front;
* :func:`write_cv`, :func:`write_filled`: the cross-validation (JSON and Markdown) and
  the filled archive (one CF netCDF), written atomically;
* :func:`mapped_method`: the method whose cross-validation fill is mapped;
* :func:`fill_summary`, :func:`cli_commands`: the lines the notebook prints.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from unisst_lib.core.errors import UnisstError
from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.core.paths import atomic_path, data_dir

log = logging.getLogger(__name__)

EMBEDDED_ARCHIVE = "twin_l3"
"""The manifest's ``archives`` entry used when the notebook is given no archive."""
FILLED_FILE = "filled.nc"
MODEL_FILE = "unisst_fit.pt"
CV_JSON = "cross_validation.json"
CV_MARKDOWN = "cross_validation.md"


@dataclass(frozen=True)
class ArchiveChoice:
    """The archive the notebook works on.

    ``source``: what :func:`~unisst_lib.data.archive.open_archive` is given (a folder,
    a glob, a file or a list); ``embedded``: the manifest's embedded archive;
    ``generated``: it was generated just now.
    """

    source: str | list[str]
    embedded: bool
    generated: bool = False

    def line(self) -> str:
        """One sentence: which archive, where."""
        where = self.source if isinstance(self.source, str) else f"{len(self.source)} files"
        if not self.embedded:
            return f"Your archive: {where}"
        how = "generated now" if self.generated else "already on disk"
        return (
            f"The embedded L3 archive (`{EMBEDDED_ARCHIVE}` of data_manifest.yaml, {how}): {where}"
        )


def embedded_archive_pattern(
    data_root: str | os.PathLike[str] | None = None, *, manifest: Manifest | None = None
) -> str:
    """The glob of the embedded archive's daily files under the data directory."""
    m = manifest or load_manifest()
    return str(data_dir(data_root) / m.archive(EMBEDDED_ARCHIVE).files)


def choose_archive(
    archive: Any = None,
    *,
    data_root: str | os.PathLike[str] | None = None,
    twin_size: str = "full",
    manifest: Manifest | None = None,
) -> ArchiveChoice:
    """The user's archive, or the embedded one (generated into ``data_root`` if missing).

    Parameters
    ----------
    archive
        A folder, a glob (``"sst/2018*.nc"``), a file or a list of files; None: the
        embedded archive.
    data_root
        The data directory of the embedded archive (default ``$UNISST_DATA_DIR`` or ``./data``).
    twin_size
        ``"full"`` (a year of daily files) or ``"tiny"`` (tests): the size generated when
        the embedded archive is not on disk.

    Raises
    ------
    UnisstError
        ``archive`` is an empty string or list.
    """
    if archive is not None:
        if isinstance(archive, (list, tuple)):
            if not archive:
                raise UnisstError("archive is an empty list: give files, a folder or a glob")
            return ArchiveChoice([os.fspath(a) for a in archive], embedded=False)
        if not os.fspath(archive).strip():
            raise UnisstError("archive is empty: give a folder, a glob, a file, or None")
        return ArchiveChoice(os.fspath(archive), embedded=False)
    m = manifest or load_manifest()
    pattern = embedded_archive_pattern(data_root, manifest=m)
    generated = False
    if not glob.glob(pattern):
        from unisst_lib.data.twin.make import make_twin

        log.info("no embedded archive in %s yet: generating the %s twin", data_dir(data_root),
                 twin_size)  # fmt: skip
        make_twin(twin_size, data_root, manifest=m, progress=False)
        generated = True
    return ArchiveChoice(str(Path(pattern).parent), embedded=True, generated=generated)


def archive_table(ds: xr.Dataset) -> list[dict[str, str]]:
    """``property``/``value`` rows describing an opened archive (for a DataFrame).

    Everything comes from ``ds`` and the attributes
    :func:`~unisst_lib.data.archive.open_archive` sets.
    """
    a = ds.attrs
    sst = ds["sst"]
    times = sst["time"].values
    ny, nx = sst.sizes["latitude"], sst.sizes["longitude"]
    land = ds["land"].values.astype(bool) if "land" in ds else np.zeros((ny, nx), bool)
    values = sst.transpose("time", "latitude", "longitude").values
    usable = np.isfinite(values) & ~land[None]
    sea = max(int((~land).sum()) * len(times), 1)
    absent = list(a.get("absent_dates", []))
    shown = ", ".join(absent[:10]) + (" …" if len(absent) > 10 else "")
    lo, hi = (float(np.nanmin(values)), float(np.nanmax(values))) if usable.any() else (np.nan,) * 2
    rows = [
        ("files", f"{a.get('source_files', '?')} (first: {a.get('source_first_file', '?')})"),
        ("SST variable", str(a.get("source_variable", "sst"))),
        ("frames", f"{len(times)}, every {a.get('cadence', '?')}"),
        ("period", f"{str(times[0])[:16]} to {str(times[-1])[:16]} (UTC)"),
        ("absent dates (no file)", f"{len(absent)}: {shown}" if absent else "none"),
        ("grid", f"{ny} × {nx} pixels, {a.get('grid_spacing_deg', float('nan')):.4g}°"),
        ("quality filter", str(a.get("quality_filter", "none"))),
        ("sses_bias subtracted", str(a.get("bias_applied", "no"))),
        ("land mask", str(a.get("land_mask_source", "pixels never observed"))),
        ("land pixels", f"{int(land.sum())} ({100 * land.mean():.1f} % of the grid)"),
        ("sea pixels never observed", str(a.get("sea_pixels_never_observed", "?"))),
        ("usable sea values", f"{int(usable.sum())} ({100 * usable.sum() / sea:.1f} %)"),
        ("observed SST", f"{lo:.2f} to {hi:.2f} °C"),
    ]
    return [{"property": k, "value": v} for k, v in rows]


def fit_plan(*, fit_minutes: float, fit_steps: int | None, methods) -> str:
    """What the UNISST fits will cost, said before they run."""
    each = f"{fit_steps} steps" if fit_steps is not None else f"{fit_minutes:g} minutes"
    cv = "unisst" in methods
    if not cv:
        return f"UNISST is fitted once, on the whole archive, for the fill: {each}."
    return (
        f"UNISST is fitted twice, {each} each: on the cross-validation input (for the table "
        "below), then on the whole archive (for the fill at the end)."
    )


def write_cv(result, out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The cross-validation's summary as ``cross_validation.json`` and ``.md`` in ``out_dir``."""
    out = Path(out_dir)
    paths = out / CV_JSON, out / CV_MARKDOWN
    with atomic_path(paths[0]) as tmp:
        tmp.write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    with atomic_path(paths[1]) as tmp:
        tmp.write_text(result.to_markdown())
    log.info("wrote %s and %s", *paths)
    return paths


def write_filled(filled: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write a filled archive (``fill``'s output) as one compressed CF netCDF, atomically.

    A list attribute (``absent_dates``) is written as one comma-separated string: netCDF
    would store a one-item list as a bare string and a reader could not tell them apart.
    """
    path = Path(path)
    filled = filled.copy()
    filled.attrs = {
        k: ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v
        for k, v in filled.attrs.items()
    }
    encoding = {
        name: {"zlib": True, "complevel": 4} for name, v in filled.data_vars.items() if v.ndim == 3
    }
    with atomic_path(path) as tmp:
        filled.to_netcdf(tmp, encoding=encoding)
    log.info("wrote %s (%d kB)", path, path.stat().st_size // 1024)
    return path


def fill_summary(fit, filled: xr.Dataset, path: str | os.PathLike[str]) -> str:
    """Two lines: the fitted model (steps, time, its model-selection RMSE) and the fill."""
    n = int(filled["sst_filled_mask"].sum()) if "sst_filled_mask" in filled else 0
    shape = " × ".join(str(s) for s in filled["sst"].shape)
    return (
        f"Model {fit.checkpoint}: {fit.steps} steps in {fit.seconds:.0f} s; RMSE "
        f"{fit.holdout_rmse_c:.3f} °C on observed pixels withheld from its training (what chose "
        "the checkpoint; the honest score is the cross-validation above).\n"
        f"Filled archive {path}: sst {shape} (time × latitude × longitude), {n} values filled."
    )


def mapped_method(result, prefer: str = "unisst") -> str:
    """The method whose CV fill is mapped: ``prefer`` when it ran, else the first that did.

    Raises
    ------
    UnisstError
        No method kept a fill (every one failed, or ``keep_fills`` was off).
    """
    fills = getattr(result, "fills", {}) or {}
    if prefer in fills:
        return prefer
    if not fills:
        raise UnisstError(
            "no method filled the cross-validation input (see the table's notes): nothing to map"
        )
    first = next(iter(fills))
    log.info("mapping %s: %s has no cross-validation fill", first, prefer)
    return first


def cli_commands(
    choice: ArchiveChoice,
    *,
    out_dir: str | os.PathLike[str],
    methods,
    share: float,
    seed: int,
    fit_minutes: float,
    fit_steps: int | None,
    min_quality: int | None = None,
) -> str:
    """The ``unisst`` commands that do what this notebook did, on the same archive.

    A list of files is shown as one quoted glob placeholder (``evaluate --data`` and
    ``train --data`` take one folder or glob).
    """
    data = shlex.quote(choice.source) if isinstance(choice.source, str) else "'FOLDER/*.nc'"
    budget = (
        f"--fit-steps {fit_steps}" if fit_steps is not None else f"--fit-minutes {fit_minutes:g}"
    )
    quality = "" if min_quality is None else f" --min-quality {min_quality}"
    out = Path(out_dir)
    return "\n".join([
        f"unisst evaluate --data {data}{quality} --methods {','.join(methods)} "
        f"--share {share:g} --seed {seed} {budget}",
        f"unisst fill {data} {shlex.quote(str(out / 'filled'))}{quality} --fit {budget}",
        f"unisst train --data {data}{quality} --out {shlex.quote(str(out / 'run'))}",
    ])  # fmt: skip
