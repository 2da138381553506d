"""Throughput and peak memory of ``unisst fill`` (unisst vs dineof vs interp) on CPU.

    .venv/bin/python benchmarks/fill_speed.py            # both cases, all methods
    .venv/bin/python benchmarks/fill_speed.py --quick    # small subsets (a smoke test)

Cases (cloudy inputs are written to --workdir in the Copernicus layout,
``thetao(time, depth, latitude, longitude)``, int16 packing, via
unisst_lib.data.io.write_sst_netcdf):

(a) ``natl_hourly``: a year of HOURLY 64×64 frames, the twin's
    data/sst/twin/natl_2018_PT1H.nc (8760 frames), with clouds pasted from
    data/clouds/twin/cloud_dataset.npy (occluded where LWP > 70 g/m²). The bundled
    model (frames 6 h apart) fills it as 6 interleaved 6-hourly series. The truth
    is known: RMSE under the clouds is reported.
(b) ``synthetic_512``: 96 frames 6 h apart of a smooth synthetic 512×512 field,
    with the same kind of clouds (an 8×8 tiling of 64×64 cloud frames, each tile
    from another part of the cloud record).

Each (case, method) runs ``unisst fill`` (unisst_lib.cli.main) in a fresh Python
subprocess with 2 torch/OpenMP threads; the wrapper reports the wall time of the
fill (import excluded) and the peak RSS of the process, ``VmHWM`` of
/proc/self/status (imports included). ``ru_maxrss`` is recorded too but is not
the peak of the fill: Linux carries it over ``fork`` + ``exec`` from the
benchmark's own process (which holds the case data), so it reads the same for
every row. DINEOF runs on the first ``--dineof-frames`` frames
of a case when that is fewer than the case has (it would take too long on all).

Writes benchmarks/fill_speed.json and benchmarks/fill_speed.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
THRESHOLD_GM2 = 70.0

WRAPPER = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
from unisst_lib.cli import main
t0 = time.perf_counter()
rc = main(sys.argv[2:])
wall = time.perf_counter() - t0
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
print("RESULT " + json.dumps({"rc": rc, "wall_s": wall,
      "peak_rss_mb": int(hwm[0].split()[1]) / 1024,
      "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def cloud_masks(n: int, h: int, w: int, offset: int = 0) -> np.ndarray:
    """(n, h, w) bool, True = cloud (LWP > 70 g/m²), tiling 64×64 cloud frames."""
    from unisst_lib.data.io import load_clouds

    lwp = load_clouds(ROOT / "data" / "clouds" / "twin" / "cloud_dataset.npy")
    N, ch, cw = lwp.shape
    out = np.zeros((n, h, w), bool)
    k = 0
    for y in range(0, h, ch):
        for x in range(0, w, cw):
            start = (offset + k * 977) % (N - n) if N > n else 0
            blk = np.asarray(lwp[start : start + n]) > THRESHOLD_GM2 / 1000.0
            out[:, y : y + ch, x : x + cw] = blk[:, : h - y, : w - x]
            k += 1
    return out


def make_natl(workdir: Path, frames: int | None) -> tuple[Path, Path]:
    from unisst_lib.data.io import write_sst_netcdf

    src = ROOT / "data" / "sst" / "twin" / "natl_2018_PT1H.nc"
    if not src.is_file():
        subprocess.run([str(ROOT / ".venv" / "bin" / "unisst"), "data", "make", "--size", "full"])
    with xr.open_dataset(src) as ds:
        da = ds["thetao"].isel(depth=0)
        if frames:
            da = da.isel(time=slice(0, frames))
        truth = da.values.astype(np.float32)
        times, lat, lon = da.time.values, da.latitude.values, da.longitude.values
        depth = float(ds.depth.values[0])
    clouds = cloud_masks(*truth.shape)
    cloudy = np.where(clouds, np.nan, truth)
    path = workdir / f"natl_2018_PT1H_cloudy_{len(times)}.nc"
    write_sst_netcdf(cloudy, path, times=times, latitudes=lat, longitudes=lon, depth_m=depth)
    tpath = workdir / f"natl_2018_PT1H_truth_{len(times)}.npy"
    np.save(tpath, truth)
    return path, tpath


def make_synthetic(workdir: Path, t: int, n: int) -> Path:
    from unisst_lib.data.io import write_sst_netcdf

    rng = np.random.default_rng(0)
    tt = np.arange(t, dtype=np.float32)[:, None, None]
    yy = np.arange(n, dtype=np.float32)[None, :, None]
    xx = np.arange(n, dtype=np.float32)[None, None, :]
    field = 20 - 6 * yy / n + 1.5 * np.sin(xx / 37 + tt / 9) * np.cos(yy / 53 - tt / 17)
    field = field + 0.5 * np.sin((xx + yy) / 23 + tt / 5)
    field = (field + 0.02 * rng.standard_normal(field.shape)).astype(np.float32)
    cloudy = np.where(cloud_masks(t, n, n, offset=123), np.nan, field)
    times = np.datetime64("2020-01-01T00:00") + np.arange(t) * np.timedelta64(6, "h")
    path = workdir / f"synthetic_{n}_{t}.nc"
    write_sst_netcdf(
        cloudy,
        path,
        times=times,
        latitudes=np.linspace(30, 30 + n / 12, n),
        longitudes=np.linspace(-40, -40 + n / 12, n),
        depth_m=0.494,
    )
    return path


def subset(path: Path, frames: int) -> Path:
    out = path.with_name(f"{path.stem}_first{frames}.nc")
    with xr.open_dataset(path) as ds:
        ds.isel(time=slice(0, frames)).load().to_netcdf(out)
    return out


def run_fill(path: Path, method: str, threads: int, workdir: Path) -> dict:
    out = workdir / f"{path.stem}_{method}_filled.nc"
    argv = ["fill", str(path), str(out), "--method", method, "--overwrite", "-q"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    p = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(threads), *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode or not line:
        raise RuntimeError(f"{argv} failed: {p.stderr[-2000:]}")
    res = json.loads(line[-1][7:])
    res["output"] = str(out)
    res["command"] = "unisst " + " ".join(argv)
    return res


def rmse_under_clouds(out_path: str, truth_path: Path) -> float:
    truth = np.load(truth_path)
    with xr.open_dataset(out_path) as ds:
        v = ds["thetao"].isel(depth=0).values.astype(np.float64)
        m = ds["thetao_filled_mask"].isel(depth=0).values.astype(bool)
    n = len(v)
    d = v[m] - truth[:n][m]
    return float(np.sqrt(np.mean(d**2)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/unisst_fill_speed")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hourly-frames", type=int, default=None, help="default: all 8760")
    ap.add_argument("--big-frames", type=int, default=96)
    ap.add_argument("--big-size", type=int, default=512)
    ap.add_argument(
        "--dineof-frames",
        type=int,
        nargs=2,
        default=[720, 24],
        metavar=("HOURLY", "BIG"),
        help="frames DINEOF runs on, per case",
    )
    ap.add_argument("--methods", nargs="+", default=["unisst", "dineof", "interp"])
    ap.add_argument("--quick", action="store_true", help="tiny subsets (smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.hourly_frames, args.big_frames, args.big_size = 240, 24, 128
        args.dineof_frames = [120, 12]
    import torch

    import unisst_lib

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    natl, truth = make_natl(work, args.hourly_frames)
    big = make_synthetic(work, args.big_frames, args.big_size)
    cases = {
        "natl_hourly": (natl, args.dineof_frames[0]),
        "synthetic_512": (big, args.dineof_frames[1]),
    }
    rows = []
    for case, (path, dineof_frames) in cases.items():
        with xr.open_dataset(path) as ds:
            shape = tuple(int(s) for s in ds["thetao"].shape)
            cloud = float(np.isnan(ds["thetao"].values).mean())
        for method in args.methods:
            p = path
            if method == "dineof" and dineof_frames < shape[0]:
                p = subset(path, dineof_frames)
            with xr.open_dataset(p) as ds:
                frames = int(ds.sizes["time"])
            r = run_fill(p, method, args.threads, work)
            r.update(
                case=case,
                method=method,
                frames=frames,
                shape=list(shape),
                cloud_fraction=round(cloud, 3),
                subset=frames < shape[0],
                frames_per_s=frames / r["wall_s"],
            )
            if case == "natl_hourly":
                r["rmse_under_clouds_c"] = rmse_under_clouds(r["output"], truth)
            rows.append(r)
            print(json.dumps(r), flush=True)
    meta = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": ".venv/bin/python benchmarks/fill_speed.py " + " ".join(argv or sys.argv[1:]),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPU cores "
        f"({platform.processor() or 'cpu'})",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "unisst": unisst_lib.__version__,
        "threads": args.threads,
        "cloud_threshold_gm2": THRESHOLD_GM2,
    }
    suffix = "_quick" if args.quick else ""
    (HERE / f"fill_speed{suffix}.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=1)
    )
    lines = [
        "# unisst fill: throughput and peak memory (CPU)",
        "",
        f"- command: `{meta['command']}`",
        f"- date: {meta['date']}; machine: {meta['machine']}; Python {meta['python']}, "
        f"torch {meta['torch']}, unisst {meta['unisst']}; {args.threads} threads",
        "- each row: `unisst fill` in a fresh subprocess; wall time of the fill (imports "
        "excluded); peak RSS = VmHWM of that process (imports included)",
        "",
        "| case | method | frames (of) | H×W | cloud | wall s | frames/s | peak RSS MB "
        "| RMSE under clouds °C |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t, _, h, w = r["shape"]
        rm = f"{r['rmse_under_clouds_c']:.3f}" if "rmse_under_clouds_c" in r else "–"
        lines.append(
            f"| {r['case']} | {r['method']} | {r['frames']} ({t}) | {h}×{w} | "
            f"{r['cloud_fraction']:.0%} | {r['wall_s']:.1f} | {r['frames_per_s']:.1f} | "
            f"{r['peak_rss_mb']:.0f} | {rm} |"
        )
    lines.append("")
    (HERE / f"fill_speed{suffix}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
