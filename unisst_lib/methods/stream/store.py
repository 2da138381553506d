"""The Zarr store a streamed fill writes its chunks to, and what makes it restartable.

The store holds ``<name>`` (the filled values) and ``<name>_filled_mask`` on
(time, latitude ascending, longitude), chunked as the fill's tasks, so that each task
writes whole Zarr chunks of its own (no two tasks touch one chunk). After a chunk is
written its marker (``.unisst/done/<chunk>.json``, the SHA-256 of what was written) is
written atomically; a re-run of the same fill (same :func:`fingerprint`) skips the
chunks whose marker matches what the store holds, and redoes the others.

The store and its markers are written in a folder named ``….partial``: only a finished
fill is moved to its final name, so an interrupted run never leaves an output that looks
complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import zarr

import unisst_lib
from unisst_lib.core.errors import UnisstError
from unisst_lib.core.paths import atomic_path
from unisst_lib.methods.fill_output import flag_variable
from unisst_lib.methods.stream.plan import Geometry, Task

__all__ = ["StoreError", "WorkStore", "fingerprint", "input_files_record"]

log = logging.getLogger(__name__)

FLAG = "_filled_mask"


class StoreError(UnisstError):
    """A work store that belongs to another fill, or cannot be used."""


def input_files_record(files) -> list[list]:
    """(path, size, modification time) of each input file: a changed input is another fill."""
    out = []
    for f in files:
        st = Path(f).stat()
        out.append([str(Path(f).resolve()), st.st_size, st.st_mtime_ns])
    return out


def fingerprint(record: dict) -> str:
    """A short hash of what decides a fill's result (inputs, method, model, options, chunks)."""
    text = json.dumps({**record, "unisst": unisst_lib.__version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def chunk_digest(values: np.ndarray, needed: np.ndarray) -> str:
    """SHA-256 of a chunk's values and flag, as written."""
    h = hashlib.sha256(np.ascontiguousarray(values).tobytes())
    h.update(np.ascontiguousarray(needed.astype(np.int8)).tobytes())
    return h.hexdigest()


class WorkStore:
    """A Zarr store of one fill's chunks, with a marker per finished chunk."""

    def __init__(self, folder: str | os.PathLike[str], name: str) -> None:
        self.folder = Path(folder)  # the store (store.zarr), run.json and done/ markers
        self.path = self.folder / "store.zarr"
        self.name = name

    @property
    def _meta(self) -> Path:
        return self.folder

    def run_id(self) -> str | None:
        """The fingerprint of the fill that made this store (None: no such store)."""
        try:
            return json.loads((self._meta / "run.json").read_text())["run_id"]
        except (OSError, ValueError, KeyError):
            return None

    def create(self, template: xr.Dataset, geom: Geometry, run_id: str) -> None:
        """A new, empty store shaped like ``template`` (dask arrays), chunked as the tasks."""
        if self.folder.exists():
            shutil.rmtree(self.folder)
        chunks = (geom.chunk_frames, geom.chunk, geom.chunk)
        enc = {v: {"chunks": chunks} for v in (self.name, self.name + FLAG)}
        template.to_zarr(self.path, mode="w", compute=False, encoding=enc, consolidated=False)
        (self._meta / "done").mkdir(parents=True)
        with atomic_path(self._meta / "run.json") as tmp:
            Path(tmp).write_text(json.dumps({"run_id": run_id}))

    def write(self, task: Task, values: np.ndarray, needed: np.ndarray) -> None:
        """Write ``task``'s chunk, then its marker (atomically)."""
        group = zarr.open_group(self.path, mode="r+")
        region = (slice(task.t0, task.t1), slice(task.y0, task.y1), slice(task.x0, task.x1))
        group[self.name][region] = values
        group[self.name + FLAG][region] = needed.astype(np.int8)
        with atomic_path(self._meta / "done" / f"{task.key}.json") as tmp:
            Path(tmp).write_text(json.dumps({"sha256": chunk_digest(values, needed)}))

    def done(self, task: Task) -> bool:
        """Whether ``task``'s chunk was written completely: its marker matches the store."""
        marker = self._meta / "done" / f"{task.key}.json"
        try:
            want = json.loads(marker.read_text())["sha256"]
        except (OSError, ValueError, KeyError):
            return False
        group = zarr.open_group(self.path, mode="r")
        region = (slice(task.t0, task.t1), slice(task.y0, task.y1), slice(task.x0, task.x1))
        values = group[self.name][region]
        needed = group[self.name + FLAG][region]
        if chunk_digest(values, needed) != want:
            log.warning("chunk %s differs from its marker: it is filled again", task.key)
            return False
        return True

    def open(self) -> xr.Dataset:
        """The store as a lazy data set."""
        return xr.open_zarr(self.path, consolidated=False)

    def finish_as(self, final: Path) -> None:
        """Move the store to ``final`` (a finished Zarr output) and drop the markers."""
        with warnings.catch_warnings():  # zarr 3: consolidated metadata is not in its spec yet
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(self.path))  # xr.open_zarr(final) then opens quietly
        if final.exists():
            shutil.rmtree(final)
        os.replace(self.path, final)
        self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def template_dataset(name: str, da: xr.DataArray, times: pd.DatetimeIndex, geom: Geometry,
                     dtype, attrs: dict, *, method: str) -> xr.Dataset:  # fmt: skip
    """The store's variables (lazy zeros) on (time, latitude, longitude), CF attributes."""
    import dask.array as dsa

    shape = (geom.frames, geom.height, geom.width)
    chunks = (geom.chunk_frames, geom.chunk, geom.chunk)
    coords = {
        "time": ("time", times.values),
        "latitude": ("latitude", da["latitude"].values, dict(da["latitude"].attrs)),
        "longitude": ("longitude", da["longitude"].values, dict(da["longitude"].attrs)),
    }
    var_attrs = {k: v for k, v in da.attrs.items() if k not in ("scale_factor", "add_offset")}
    values = xr.Variable(
        ("time", "latitude", "longitude"), dsa.zeros(shape, dtype=dtype, chunks=chunks), var_attrs
    )
    values.encoding = {"_FillValue": np.nan}
    dims = ("time", "latitude", "longitude")
    flag = flag_variable(name, dims, dsa.zeros(shape, dtype=bool, chunks=chunks), method=method)
    flag.encoding = {}  # the store's own (int8, chunked as the tasks)
    return xr.Dataset({name: values, name + FLAG: flag}, coords=coords, attrs=attrs)
