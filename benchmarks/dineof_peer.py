"""The project's DINEOF against GHER's reference Fortran DINEOF on a hidden hourly record with land.

Builds the record from the embedded twin (``unisst data make``): the first ``--frames``
hourly frames of the twin test file ``sst/twin/satl_2019H1_PT1H.nc``, a synthetic coast
(a land wedge along the west edge and a cape in the north-east corner) and clouds of the
twin cloud record (liquid water path above 70 g m-2, one cloud step in 2 per frame),
written as a netCDF file with NaN under clouds and on land. The truth is kept only to
score: RMSE, °C, of the filled values under the clouds (sea pixels only).

Rows (every variant on the same file):

* ``unisst fill --method dineof`` as shipped (:data:`~unisst_lib.methods.dineof.DINEOF_DEFAULTS`,
  windows of :data:`~unisst_lib.methods.dineof.DINEOF_FILL_WINDOW` frames);
* the project's DINEOF on the whole record and on 48-frame windows (blended as ``fill``
  blends them), with and without the temporal filter, and the former setting of
  ``unisst fill`` (48-frame windows, at most 20 EOFs, no filter);
* GHER's DINEOF (``shared/peers/dineof``, optional, never a project dependency) on the
  whole record, with its temporal filter as ``run_dineof.py`` sets it and without, when
  ``$DINEOF_BIN`` (or ``--dineof``) names the binary or its ``build.sh`` succeeds.

    python benchmarks/dineof_peer.py [--data-dir DIR] [--frames 336] [--no-reference]

writes ``dineof_peer.json`` and ``dineof_peer.md`` next to this script (``--out``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import xarray as xr

from unisst_lib.benchmark.report import run_meta
from unisst_lib.core.paths import atomic_path, data_dir
from unisst_lib.data.io import load_clouds
from unisst_lib.data.masks import CloudSampler, CloudWindow
from unisst_lib.methods.dineof import DINEOF_DEFAULTS, DINEOF_FILL_WINDOW, dineof
from unisst_lib.methods.fill import fill
from unisst_lib.methods.tiling import fill_series

HERE = Path(__file__).resolve().parent
PEER = HERE.parent.parent / "shared" / "peers" / "dineof"
WINDOW = 48  # the former window of `unisst fill --method dineof`
GHER_NEV_MAX = 60  # its CV error creeps down to k = 64 here; the fill no longer moves
log = logging.getLogger("benchmarks.dineof_peer")


# ------------------------------------------------------------------ the record
def build_record(root: Path, frames: int, out: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Write the hidden record to ``out``; return (truth, land, cloud) for scoring only."""
    src = xr.open_dataset(root / "sst" / "twin" / "satl_2019H1_PT1H.nc")
    truth_da = src["thetao"].isel(time=slice(0, frames), depth=0).load()
    truth = truth_da.values.astype(np.float64)  # (T, H, W) °C
    n_t, h, w = truth.shape
    yy, xx = np.mgrid[0:h, 0:w]
    land = (xx + 0.6 * yy < 18) | ((yy > 50) & (xx > 44))  # a coast and a cape
    lwp = load_clouds(root / "clouds" / "twin" / "cloud_dataset.npy", mmap=True)
    sampler = CloudSampler(lwp, seq_len=n_t, cloud_interval=2, threshold_kgm2=0.070)
    cloud = sampler.mask(CloudWindow(1000, 0, 0))
    obs = np.where(cloud | land[None], np.nan, truth).astype(np.float32)
    attrs = {"units": "degree_Celsius", "standard_name": "sea_surface_temperature"}
    ds = xr.Dataset(
        {"sst": (("time", "latitude", "longitude"), obs, attrs)},
        coords={k: truth_da[k].values for k in ("time", "latitude", "longitude")},
    )
    ds.to_netcdf(out)
    return truth, land, cloud


def rmse_under_clouds(filled, truth, land, cloud) -> float:
    """RMSE, °C, of ``filled`` under the clouds on the sea (NaN there counts as a failure)."""
    gaps = cloud & ~land[None]
    return float(np.sqrt(np.mean((filled[gaps] - truth[gaps]) ** 2)))


# ------------------------------------------------------------------ ours
def run_series(sst, land, **options) -> tuple[np.ndarray, dict]:
    """The project's DINEOF on the whole record."""
    res = dineof(sst, land=land, **options)
    return res.filled, {"k": res.n_eofs, "converged": res.converged, "cap_bound": res.cap_bound}


def run_windows(sst, land, window=WINDOW, **options) -> tuple[np.ndarray, dict]:
    """The project's DINEOF on ``window``-frame windows (overlap: half), blended as fill does."""
    chosen = []

    def predict(x, missing):
        res = dineof(np.where(missing, np.nan, x), land=land, **options)
        chosen.append((res.n_eofs, res.converged, res.cap_bound))
        ok = np.isfinite(res.filled)
        return np.where(ok, res.filled, 0.0), ok.astype(np.float64)

    missing = ~np.isfinite(sst) | land[None]
    out, _ = fill_series(
        lambda s, e: (sst[s:e], missing[s:e]), sst.shape, np.float64, land,
        float(np.nanmean(sst)), predict=predict, window=window, overlap=window // 2,
        progress=False, desc="dineof windows",
    )  # fmt: skip
    ks = [c[0] for c in chosen]
    info = {
        "k": f"{min(ks)}-{max(ks)} over {len(ks)} windows",
        "converged": all(c[1] for c in chosen),
        "cap_bound": any(c[2] for c in chosen),
    }
    return out, info


def run_fill(path: Path) -> tuple[np.ndarray, dict]:
    """``unisst fill --method dineof`` as shipped."""
    with xr.open_dataset(path) as ds:
        out = fill(ds.load(), method="dineof")["sst"].values.astype(np.float64)
    return out, {"k": "logged", "converged": None, "cap_bound": None}


# ------------------------------------------------------------------ GHER
def reference_binary(given: str | None) -> str | None:
    """The GHER binary: ``given``, ``$DINEOF_BIN``, or what ``build.sh`` prints (None: none)."""
    path = given or os.environ.get("DINEOF_BIN")
    if path:
        return path if os.access(path, os.X_OK) else None
    build = PEER / "build.sh"
    if not build.is_file():
        return None
    done = subprocess.run([str(build)], capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not os.access(lines[-1], os.X_OK):
        log.warning("the reference DINEOF did not build: its rows are left out")
        return None
    return lines[-1]


def run_gher(binary: str, path: Path, alpha: str) -> tuple[np.ndarray, dict]:
    """GHER's DINEOF through ``run_dineof.py`` on the whole record (``alpha``: auto or 0)."""
    out = path.with_name(f"gher_{alpha}.nc")
    cmd = [sys.executable, str(PEER / "run_dineof.py"), str(path), str(out), "--var", "sst",
           "--nev-max", str(GHER_NEV_MAX), "--alpha", alpha, "--quiet",
           "--dineof", binary]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    k = int(re.search(r"(\d+) EOFs retained", done.stdout).group(1))
    with xr.open_dataset(out) as ds:
        filled = ds["sst"].values.astype(np.float64)
    return filled, {"k": k, "converged": None, "cap_bound": k >= GHER_NEV_MAX}


# ------------------------------------------------------------------ run
def variants(path: Path, sst, land, binary: str | None) -> list[tuple[str, str, object]]:
    """(name, program, run) of every row."""
    nofilter = {**DINEOF_DEFAULTS, "temporal_filter": 0.0}
    rows = [
        ("unisst fill --method dineof", "unisst", partial(run_fill, path)),
        ("series, DINEOF_DEFAULTS (filter on)", "unisst",
         partial(run_series, sst, land, **DINEOF_DEFAULTS)),
        ("series, filter off", "unisst", partial(run_series, sst, land, **nofilter)),
        (f"{WINDOW}-frame windows, DINEOF_DEFAULTS (filter on)", "unisst",
         partial(run_windows, sst, land, **DINEOF_DEFAULTS)),
        (f"{WINDOW}-frame windows, filter off", "unisst",
         partial(run_windows, sst, land, **nofilter)),
        (f"former fill: {WINDOW}-frame windows, k_max 20, filter off", "unisst",
         partial(run_windows, sst, land, k_max=20, patience=None, temporal_filter=0.0)),
    ]  # fmt: skip
    if binary is not None:
        rows += [
            ("series, filter on (run_dineof.py default)", "GHER",
             partial(run_gher, binary, path, "auto")),
            ("series, filter off (--alpha 0)", "GHER", partial(run_gher, binary, path, "0")),
        ]  # fmt: skip
    return rows


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (GHER's runs): the wall time
    of a shared machine says little."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def run(root: Path, frames: int, *, reference: bool, binary: str | None) -> dict:
    """Build the record, run every variant, score it under the clouds."""
    binary = reference_binary(binary) if reference else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="dineof_peer_") as tmp:
        path = Path(tmp) / "hidden.nc"
        truth, land, cloud = build_record(root, frames, path)
        with xr.open_dataset(path) as ds:
            sst = ds["sst"].values.astype(np.float64)
        for name, program, fn in variants(path, sst, land, binary):
            t0, c0 = time.perf_counter(), _cpu_seconds()
            filled, info = fn()
            seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
            rmse = rmse_under_clouds(filled, truth, land, cloud)
            log.info("%s %s: RMSE %.4f °C, %.1f s, %s", program, name, rmse, seconds, info)
            rows.append({"program": program, "variant": name, "rmse_c": rmse,
                         "seconds": seconds, "cpu_seconds": cpu, **info})  # fmt: skip
    gaps = cloud & ~land[None]
    record = {
        "frames": int(truth.shape[0]),
        "shape": list(truth.shape),
        "land_fraction": float(land.mean()),
        "cloud_fraction_sea": float(cloud[:, ~land].mean()),
        "scored_pixels": int(gaps.sum()),
    }
    return {"record": record, "defaults": DINEOF_DEFAULTS, "fill_window": DINEOF_FILL_WINDOW,
            "reference": binary is not None, "rows": rows}  # fmt: skip


def markdown(res: dict) -> str:
    """The results as a markdown page."""
    r = res["record"]
    lines = [
        "# DINEOF: the project's against GHER's reference (Fortran)",
        "",
        f"Made by `{res['meta']['command']}` on {res['meta']['date']} ({res['meta']['machine']}).",
        "",
        f"Hidden hourly record: {r['frames']} frames of {r['shape'][1]}×{r['shape'][2]} "
        f"(twin test file), land {100 * r['land_fraction']:.0f} %, clouds over "
        f"{100 * r['cloud_fraction_sea']:.0f} % of the sea; RMSE under the clouds "
        f"({r['scored_pixels']} pixels) against the truth.",
        "",
        f"`DINEOF_DEFAULTS` = `{res['defaults']}`; `unisst fill` windows: "
        f"{res['fill_window']} frames (the whole record when shorter).",
        "",
        "| program | variant | RMSE under clouds (°C) | k (EOFs) | converged | cap bound "
        "| wall (s) | CPU (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in res["rows"]:
        lines.append(
            f"| {row['program']} | {row['variant']} | {row['rmse_c']:.4f} | {row['k']} | "
            f"{row['converged']} | {row['cap_bound']} | {row['seconds']:.1f} | "
            f"{row.get('cpu_seconds', float('nan')):.1f} |"
        )
    if not res["reference"]:
        lines += ["", "GHER's DINEOF was not run (no binary): its rows are absent."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None, help="unisst data folder (unisst data make)")
    ap.add_argument("--frames", type=int, default=336, help="hourly frames of the record")
    ap.add_argument("--dineof", default=None, help="GHER binary (default $DINEOF_BIN, build.sh)")
    ap.add_argument("--no-reference", action="store_true", help="leave GHER's DINEOF out")
    ap.add_argument("--out", type=Path, default=HERE, help="folder of the results")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    res = run(data_dir(a.data_dir), a.frames, reference=not a.no_reference, binary=a.dineof)
    res["meta"] = run_meta("benchmarks/dineof_peer.py", argv)
    with atomic_path(a.out / "dineof_peer.json") as tmp:
        tmp.write_text(json.dumps(res, indent=2, default=str) + "\n")
    with atomic_path(a.out / "dineof_peer.md") as tmp:
        tmp.write_text(markdown(res))


if __name__ == "__main__":
    main()
