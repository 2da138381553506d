"""The streamed fill of a file or an archive: :func:`fill_streamed`.

Steps: open the input lazily (:mod:`.source`); plan the windows as the in-memory
fill does (model, frame spacing); one pass over the data for land and the observed
mean; cut the output into chunks (:mod:`.plan`) and fill each as an independent task
(:mod:`.block`) on the executor (:mod:`.execute`), each chunk written to the Zarr work
store as soon as it is done (:mod:`.store`); then the output: the store itself (an
output ending in ``.zarr``), one CF netCDF file (streamed from the store), or, for an
archive, one file per input file in its own layout
(:mod:`unisst_lib.methods.archive_fill`), each written atomically as its own task.

Re-running the same command resumes: finished chunks and output files of the same
fill are kept (checked), the rest is done.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import dask
import netCDF4
import numpy as np
import zarr

from unisst_lib.core.errors import UnisstError
from unisst_lib.core.paths import atomic_path
from unisst_lib.data.archive import resolve_paths
from unisst_lib.methods import archive_fill as af
from unisst_lib.methods.fill import METHODS, FillError, _plan, default_checkpoint
from unisst_lib.methods.fill_output import global_attributes, output_dataset, to_input_layout
from unisst_lib.methods.stream.block import Job, fill_chunk
from unisst_lib.methods.stream.execute import executor
from unisst_lib.methods.stream.plan import Geometry, Task, tasks
from unisst_lib.methods.stream.source import Source, first_pass, open_source, resampled
from unisst_lib.methods.stream.store import (
    WorkStore,
    fingerprint,
    input_files_record,
    template_dataset,
)
from unisst_lib.models.device import select_device

__all__ = ["DEFAULT_CHUNK", "DEFAULT_CHUNK_FRAMES", "fill_streamed"]

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 256  # pixels along latitude and longitude per task
DEFAULT_CHUNK_FRAMES = 48  # frames per task
RUN_ATTR = "unisst_run_id"
GPU_BATCH = 64  # tiles per forward pass on a GPU
#: on the CPU: as fast as 8 (6.3 s vs 6.9 s for a 256² chunk of 48 frames) in 934 MB, not 1611
CPU_BATCH = 2


def fill_streamed(
    paths,
    output: str | os.PathLike[str],
    *,
    archive: bool,
    method: str = "unisst",
    checkpoint: str | os.PathLike[str] | None = None,
    variable: str | None = None,
    mask_variable: str | None = None,
    min_quality: int | None = None,
    apply_bias: bool = False,
    land_mask: str | None = None,
    all_days: bool = False,
    resample: bool = False,
    overwrite: bool = False,
    device: str = "cpu",
    chunk: int = DEFAULT_CHUNK,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    halo: int = 32,
    batch_size: int | None = None,
    workers: int | None = None,
    scheduler=None,
    processes: bool = False,
    progress: bool = False,
    history: str | None = None,
) -> list[Path]:
    """Fill ``paths`` chunk by chunk and write ``output``; the paths written.

    Parameters
    ----------
    paths
        One netCDF file (``archive=False``, as :func:`unisst_lib.methods.fill.fill`
        takes it) or an archive (``archive=True``: a folder, a glob, files, as
        :func:`unisst_lib.methods.archive_fill.fill_archive` takes it).
    output
        ``….zarr``: a Zarr store (time, latitude ascending, longitude; every frame of
        the regular time axis, absent dates filled and flagged). Otherwise a netCDF file
        (one input file: the input's layout, as the in-memory fill writes it) or a
        folder (an archive: one file per input file, as ``fill_archive`` writes them).
    method, checkpoint, variable, mask_variable, resample, device
        As in :func:`unisst_lib.methods.fill.fill`.
    min_quality, apply_bias, land_mask, all_days
        As in :func:`unisst_lib.methods.archive_fill.fill_archive` (archives).
    overwrite
        Replace existing outputs of another fill (a re-run of this fill resumes instead).
    chunk, chunk_frames
        The output chunk of one task: pixels along latitude and longitude, frames. Peak
        memory grows with them (and with the workers), not with the domain.
    halo
        ``dineof`` / ``interp``: pixels around a chunk the method also sees.
    batch_size
        Tiles given to the model at once (default: 2 on the CPU, 64 on a GPU, where a
        chunk's tiles are batched on the device).
    workers, scheduler
        A local dask cluster of ``workers`` workers, or an existing cluster (address,
        scheduler file or :class:`distributed.Client`); default: in this process, where
        PyTorch uses every core.
    processes
        ``workers``: worker processes, each with its share of the cores for PyTorch. By
        default the workers are threads of this process: PyTorch releases the GIL, one
        copy of it and of the model serves them all (measured here: faster and about half
        the memory of worker processes, ``benchmarks/fill_scale.md``).
    progress, history
        A progress bar over the tasks; the line added to ``history``.

    Returns
    -------
    list of Path
        The Zarr store, the netCDF file, or the archive's files.
    """
    if method not in METHODS:
        raise FillError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    files = resolve_paths(paths)
    kind = "zarr" if str(output).rstrip("/").endswith(".zarr") else ("archive" if archive else "nc")
    final = Path(os.path.expanduser(os.fspath(output)))
    if kind == "archive":
        af._check_out_dir(final, files)
    src = open_source(
        files if archive else files[0], archive=archive, variable=variable,
        mask_variable=mask_variable, min_quality=min_quality, apply_bias=apply_bias,
        land_mask=land_mask,
    )  # fmt: skip
    plan = _plan(
        method, src.axis, checkpoint=checkpoint, device=device, resample=resample,
        overlap_frames=None,
    )  # fmt: skip
    src = resampled(src, plan.stride)
    ckpt = None
    if method == "unisst":
        ckpt = checkpoint or default_checkpoint(src.axis.cadence if src.axis else None)
    geom = Geometry(
        frames=src.shape[0], height=src.shape[1], width=src.shape[2], window=plan.window,
        overlap=plan.overlap, phases=plan.phases, chunk=int(chunk),
        chunk_frames=int(chunk_frames), halo=int(halo),
    )  # fmt: skip
    _check_geometry(geom)
    if batch_size is None:
        batch_size = GPU_BATCH if select_device(device).type == "cuda" else CPU_BATCH
    run = _Run(src, files, final, kind, method, plan, ckpt and str(ckpt), device, geom, history,
               batch_size)  # fmt: skip
    options = (variable, mask_variable, min_quality, apply_bias, land_mask, all_days, resample)
    run.run_id = fingerprint(_record(run, *options))
    targets = _archive_targets(run, all_days) if kind == "archive" else []
    if _complete(run, targets):
        log.info("%s: already filled by this very fill (%s); nothing to do", final, run.run_id)
        work = WorkStore(_work_path(run), src.name)
        if work.run_id() == run.run_id:  # stopped between the last output and the clean-up
            work.remove()
        return [t.path for t in targets] if targets else [final]
    _check_existing(run, targets, overwrite=overwrite)
    if method != "unisst" and (geom.height > chunk or geom.width > chunk):
        log.info(
            "%s sees each %d-pixel chunk with a %d-pixel halo, not the whole domain: its "
            "result differs from the in-memory fill's", method, chunk, halo,
        )  # fmt: skip
    with executor(workers=workers, scheduler=scheduler, processes=processes) as ex:
        return _execute(run, ex, targets, progress=progress)


@dataclass
class _Run:
    """One streamed fill: its input, output, method and geometry."""

    src: Source
    files: list[Path]
    final: Path
    kind: str  # "zarr", "nc" or "archive"
    method: str
    plan: object
    checkpoint: str | None
    device: str
    geom: Geometry
    history: str | None
    batch_size: int
    run_id: str = ""

    @property
    def sha(self) -> str:
        return self.plan.model["sha256"] if self.plan.model is not None else "none"


def _record(run: _Run, *options) -> dict:
    """What decides the fill's result: it names the fill (resume only the same fill)."""
    return {
        "inputs": input_files_record(run.files),
        "method": run.method,
        "model": run.sha,
        "options": [str(o) for o in options],
        "geometry": run.geom.__dict__,
        "output": run.kind,
    }


def _check_geometry(geom: Geometry) -> None:
    if geom.chunk < 1 or geom.chunk_frames < 1 or geom.halo < 0:
        raise UnisstError(
            f"chunk ({geom.chunk}) and chunk_frames ({geom.chunk_frames}) must be at least 1 "
            f"and halo ({geom.halo}) at least 0"
        )


def _execute(run: _Run, ex, targets, *, progress: bool) -> list[Path]:
    """Fill the chunks not yet done, then write the output."""
    work = WorkStore(_work_path(run), run.src.name)
    chunks = tasks(run.geom)
    if work.run_id() == run.run_id:
        todo = [t for t in chunks if not work.done(t)]
        log.info("resuming %s: %d of %d chunks left", work.folder, len(todo), len(chunks))
    else:
        if work.path.exists():
            log.warning("%s belongs to another fill: starting again", work.folder)
        work.create(_template(run), run.geom, run.run_id)
        todo = chunks
    land, mean = first_pass(run.src, chunk=run.geom.chunk, chunk_frames=run.geom.chunk_frames)
    job = Job(
        run.src, land, mean, run.geom, run.method, run.checkpoint, run.device, run.batch_size,
        context=int(((run.plan.model or {}).get("archive") or {}).get("guess_context", 0)),
        # the cores of this machine shared among the local cluster's worker processes; a
        # user's cluster (or an in-process one) keeps its own torch threads
        torch_threads=max(1, (os.cpu_count() or 1) // ex.workers) if ex.own_processes else 0,
    )  # fmt: skip
    ex.map(_fill_and_write, todo, (job, work), progress=progress, desc=f"fill ({run.method})")
    return _finish(run, work, targets, land, ex, progress=progress)


def _fill_and_write(task: Task, shared) -> str:
    """A task: fill one chunk and write it (and its marker) to the work store."""
    job, work = shared
    values, needed = fill_chunk(task, job)
    work.write(task, values, needed)
    return task.key


# --------------------------------------------------------------- outputs
def _work_path(run: _Run) -> Path:
    if run.kind == "archive":
        return run.final / ".unisst.partial"
    return run.final.with_name(run.final.name + ".partial")


def _template(run: _Run):
    src = run.src
    da = src.archive["sst"] if src.archive is not None else src.sst
    attrs = global_attributes(
        src.original.attrs, method=run.method, checkpoint_sha256=run.sha, history=run.history
    )
    attrs[RUN_ATTR] = run.run_id
    return template_dataset(src.name, da, src.times, run.geom, src.dtype, attrs, method=run.method)


def _complete(run: _Run, targets) -> bool:
    """Whether every output exists, written by this very fill."""
    if run.kind == "archive":
        return bool(targets) and all(_written_by(t.path, run.run_id) for t in targets)
    return _written_by(run.final, run.run_id)


def _written_by(path: Path, run_id: str) -> bool:
    """Whether ``path`` is a finished output of the fill ``run_id``."""
    try:
        if path.is_dir():  # a Zarr store
            return zarr.open_group(path, mode="r").attrs.get(RUN_ATTR) == run_id
        with netCDF4.Dataset(path) as nc:
            return getattr(nc, RUN_ATTR, None) == run_id
    except (OSError, ValueError, KeyError, FileNotFoundError):
        return False
    except Exception:  # zarr raises many types for a folder that is not a store
        return False


def _check_existing(run: _Run, targets, *, overwrite: bool) -> None:
    """Outputs of another fill are kept unless ``overwrite`` (those of this one are resumed)."""
    if run.kind == "archive":
        mine = [t for t in targets if _written_by(t.path, run.run_id)]
        af._check_targets([t for t in targets if t not in mine], run.files, overwrite=overwrite)
        return
    if run.final.exists() and not overwrite:
        raise af.OutputExistsError(
            f"{run.final} exists and was not written by this fill: pass overwrite=True "
            "(--overwrite) to replace it, or choose another output. Nothing was written."
        )


def _archive_targets(run: _Run, all_days: bool) -> list:
    return af._targets(run.files, run.src.archive, run.final, name=run.src.name, all_days=all_days)


def _finish(run: _Run, work: WorkStore, targets, land, ex, *, progress: bool) -> list[Path]:
    """The outputs from the finished work store."""
    if run.kind == "zarr":
        work.finish_as(run.final)
        return [run.final]
    if run.kind == "nc":
        _write_netcdf(run, work)
        work.remove()
        return [run.final]
    extra = af.archive_attributes(run.src.archive)
    shared = _ArchiveOutput(work.path, run.src.name, land, run, extra)
    todo = [t for t in targets if not _written_by(t.path, run.run_id)]
    ex.map(_write_target, todo, shared, progress=progress, desc="write files")
    work.remove()
    log.info("wrote %d filled files to %s", len(targets), run.final)
    return [t.path for t in targets]


def _write_netcdf(run: _Run, work: WorkStore) -> None:
    """The one-file output, in the input's layout, streamed from the store."""
    src, name = run.src, run.src.name
    store = work.open()
    keep = np.flatnonzero(src.frame_of >= 0)
    shown = src.sst.isel(time=src.frame_of[keep])
    values = store[name].data[keep]
    needed = store[name + "_filled_mask"].data[keep].astype(bool)
    res = output_dataset(
        src.original, name, shown, values, needed, method=run.method,
        checkpoint_sha256=run.sha, history=run.history,
    )  # fmt: skip
    res.attrs[RUN_ATTR] = run.run_id
    res = to_input_layout(res, src.original[name], [name, f"{name}_filled_mask"])
    with dask.config.set(scheduler="synchronous"), atomic_path(run.final) as tmp:
        res.to_netcdf(tmp)


@dataclass
class _ArchiveOutput:
    """What the file-writing tasks of an archive share."""

    store: Path
    name: str
    land: np.ndarray
    run: _Run
    extra: dict


def _write_target(target, shared: _ArchiveOutput) -> str:
    """A task: one filled file of the archive, from the store, written atomically."""
    run = shared.run
    group = zarr.open_group(shared.store, mode="r")
    idx = run.src.times.get_indexer(target.times)
    if (idx < 0).any():
        raise af.ArchiveFillError(f"{target.source}: its times are not on the archive's time axis")
    sel = (idx, slice(None), slice(None))
    filled = af._Filled(
        shared.name,
        group[shared.name].get_orthogonal_selection(sel),
        group[shared.name + "_filled_mask"].get_orthogonal_selection(sel).astype(bool),
        shared.land, target.times, run.method, run.sha,
        run.history or af._default_history(run.method, run.src.archive),
        {**shared.extra, RUN_ATTR: run.run_id},
    )  # fmt: skip
    make = af._absent_dataset if target.absent else af._present_dataset
    ds = make(target, filled)
    af._write(ds, target.path, target.source)
    return str(target.path)
