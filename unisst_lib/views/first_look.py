"""A first look at the data on disk: one SST frame per data set, one LWP field and its mask."""

from __future__ import annotations

import os

import numpy as np

from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.core.paths import data_dir
from unisst_lib.data.io import load_clouds, open_sst
from unisst_lib.views.plots import first_look_figure


def first_look(
    root: str | os.PathLike[str] | None = None,
    *,
    manifest: Manifest | None = None,
    threshold_gm2: float | None = None,
    hour: int = 0,
    datasets: tuple[str, ...] = ("twin_train_val", "twin_test"),
    clouds: str = "twin",
):
    """A figure of the data on disk: one SST frame per data set, one LWP field, its mask.

    ``hour``: the frame index of the SST files and the cloud step shown;
    ``datasets`` / ``clouds``: manifest names (default: the twin's).
    """
    m = manifest or load_manifest()
    base = data_dir(root)
    frames, extents = [], []
    for name in datasets:
        da = open_sst(base / m.sst_dataset(name).file)
        frame = da.isel(time=min(hour, da.sizes["time"] - 1))
        lat, lon = frame.latitude.values, frame.longitude.values
        extents.append((float(lon[0]), float(lon[-1]), float(lat[0]), float(lat[-1])))
        label = f"{name}: {str(frame.time.values)[:16]}"
        frames.append((label, frame.values))
    lwp = load_clouds(base / m.cloud_dataset(clouds).file)
    thr = m.thresholds.default if threshold_gm2 is None else threshold_gm2
    return first_look_figure(frames, np.asarray(lwp[min(hour, lwp.shape[0] - 1)]), thr,
                             extent=extents)  # fmt: skip
