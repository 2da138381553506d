"""The streamed fill at scale: peak memory and throughput by domain size and workers.

The goal of issue 16: peak memory of ``unisst fill … OUT.zarr`` (the whole process
tree: the command, its dask scheduler and workers) depends on the chunk size and the
workers, not the domain; 2048² × 48 frames fits in 2 GB; 2 workers are faster than 1
on 2 cores. Each case fills a synthetic 6-hourly SST file (int16 packed, smooth
fronts, about 40 % cloud) with the bundled 6-hourly model in a fresh subprocess;
memory is polled every 0.1 s: per process its ``VmHWM`` (peak RSS), summed over the
tree (an upper bound of the tree's simultaneous peak), and the largest simultaneous
sum of ``VmRSS`` seen. From the measured cost of one tile-window (one 64×64 tile of
one 24-frame window, reads and writes included) the script extrapolates a global
0.05° daily year (7200 × 3600 × 365) on a cluster of CPU workers; for a GPU it gives
only the bound set by the model's FLOPs at the GPU's peak (no GPU was measured).

    python benchmarks/fill_scale.py [--sizes 512 1024 2048] [--workers 0 1 2] [--dir DIR]

writes ``fill_scale.json`` and ``fill_scale.md`` next to this script (``--out``).
Cases already in the JSON file (same size, workers, frames, chunk) are kept: rerun
with ``--fresh`` to redo them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import netCDF4
import numpy as np
import psutil
import xarray as xr
from scipy import ndimage

from unisst_lib.benchmark.report import run_meta
from unisst_lib.core.paths import atomic_path
from unisst_lib.methods.stream.plan import Geometry, tasks, tiles_for, windows_for

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOAL_GB = 2.0  # 2048² × 48 frames
GOAL_RATIO = 1.3  # peak memory, largest over smallest domain
GLOBAL = {"height": 3600, "width": 7200, "frames": 365}  # 0.05°, one daily year


def make_input(path: Path, n: int, frames: int, seed: int = 0) -> Path:
    """A synthetic 6-hourly SST file of n × n pixels, written frame by frame (low memory)."""
    if path.is_file():
        return path
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    with atomic_path(path) as tmp, netCDF4.Dataset(tmp, "w") as nc:
        nc.createDimension("time", frames)
        nc.createDimension("lat", n)
        nc.createDimension("lon", n)
        t = nc.createVariable("time", "f8", ("time",))
        t.units, t.calendar = "hours since 2020-01-01 00:00:00", "standard"
        t[:] = np.arange(frames) * 6.0
        for name, start, units in (("lat", 30.0, "degrees_north"), ("lon", -40.0, "degrees_east")):
            v = nc.createVariable(name, "f4", (name,))
            v.units = units
            v[:] = start + np.arange(n) / 12
        sst = nc.createVariable(
            "sst", "i2", ("time", "lat", "lon"), fill_value=-32768,
            chunksizes=(1, min(n, 512), min(n, 512)),
        )  # fmt: skip
        sst.units, sst.standard_name = "degree_C", "sea_surface_temperature"
        sst.scale_factor, sst.add_offset = 0.01, 20.0
        for k in range(frames):
            field = 20 - 6 * yy / n + 1.5 * np.sin(xx / 37 + k / 9) * np.cos(yy / 53 - k / 17)
            field += 0.5 * np.sin((xx + yy) / 23 + k / 5)
            field += 0.02 * rng.standard_normal((n, n)).astype(np.float32)
            sst[k] = np.ma.masked_array(field, _clouds(rng, n))
    return path


def _clouds(rng, n: int, cover: float = 0.4) -> np.ndarray:
    """(n, n) bool, True under cloud: a smooth random field cut at its ``cover`` quantile."""
    coarse = rng.standard_normal((max(2, n // 32), max(2, n // 32)))
    smooth = ndimage.zoom(coarse, n / coarse.shape[0], order=3)[:n, :n]
    return smooth > np.quantile(smooth, 1 - cover)


def run_case(
    src: Path, out: Path, *, workers: int, chunk: int, chunk_frames: int, processes: bool
) -> dict:
    """``unisst fill SRC OUT.zarr`` in a subprocess; wall time and the tree's peak memory."""
    shutil.rmtree(out, ignore_errors=True)  # a finished store of the same fill would be kept
    argv = [sys.executable, "-m", "unisst_lib.cli", "fill", str(src), str(out), "-q",
            "--chunk", str(chunk), "--chunk-frames", str(chunk_frames), "--overwrite"]  # fmt: skip
    if workers >= 1:  # 0: the default run, in the command's own process
        argv += ["--workers", str(workers)] + (["--worker-processes"] if processes else [])
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    hwm, rss_peak, n_procs = _watch(proc.pid, proc)
    wall = time.perf_counter() - t0
    _, stderr = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{stderr.decode()[-3000:]}")
    return {
        "command": "unisst " + " ".join(argv[3:]),
        "wall_s": wall,
        "tree_hwm_sum_mb": sum(hwm.values()) / 1024,
        "tree_rss_peak_mb": rss_peak / 1024,
        "processes": n_procs,
    }


def _watch(pid: int, proc) -> tuple[dict, int, int]:
    """Poll the process tree of ``pid`` until it ends: per-pid VmHWM (kB), peak RSS sum."""
    root = psutil.Process(pid)
    hwm: dict[int, int] = {}
    rss_peak = 0
    while proc.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        rss = 0
        for p in procs:
            status = _status(p.pid)
            if status:
                hwm[p.pid] = max(hwm.get(p.pid, 0), status.get("VmHWM", 0))
                rss += status.get("VmRSS", 0)
        rss_peak = max(rss_peak, rss)
        time.sleep(0.1)
    return hwm, rss_peak, len(hwm)


def _status(pid: int) -> dict[str, int]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {k: int(v.split()[0]) for k, _, v in (ln.partition(":") for ln in lines)
            if k in ("VmHWM", "VmRSS")}  # fmt: skip


def tile_windows(height: int, width: int, frames: int, *, chunk: int, chunk_frames: int,
                 window: int = 24, overlap: int = 12) -> tuple[int, int]:  # fmt: skip
    """(tile-windows the streamed fill runs, those the in-memory fill runs) on a domain."""
    g = Geometry(frames=frames, height=height, width=width, window=window, overlap=overlap,
                 chunk=chunk, chunk_frames=chunk_frames)  # fmt: skip
    chunks = tasks(g)
    ty = {(t.y0, t.y1): len(tiles_for(height, 64, 16, t.y0, t.y1)) for t in chunks}
    tx = {(t.x0, t.x1): len(tiles_for(width, 64, 16, t.x0, t.x1)) for t in chunks}
    tw = {(t.t0, t.t1): len(windows_for(frames, window, overlap, t.t0, t.t1)) for t in chunks}
    streamed = sum(tw[(t.t0, t.t1)] * ty[(t.y0, t.y1)] * tx[(t.x0, t.x1)] for t in chunks)
    whole = (
        len(windows_for(frames, window, overlap, 0, frames))
        * len(tiles_for(height, 64, 16, 0, height))
        * len(tiles_for(width, 64, 16, 0, width))
    )
    return streamed, whole


def gpu_flops_per_tile_window() -> int:
    """FLOPs of one forward pass of the bundled 6-hourly model on one 24 × 64 × 64 tile."""
    import torch

    from unisst_lib.methods.fill import default_checkpoint, load_model
    from unisst_lib.models.flops import count_flops

    gen = load_model(default_checkpoint("PT6H"), "cpu")["generator"]
    y, m = torch.zeros(1, 1, 24, 64, 64), torch.ones(1, 1, 24, 64, 64)
    return int(count_flops(gen, y, m))


def dineof_cost(data_dir: Path, settings: list[tuple[int, int]]) -> list[dict]:
    """DINEOF on the embedded daily archive, in memory and streamed: time and truth RMSE.

    The streamed DINEOF sees each chunk with a halo, not the whole domain: what that
    costs in accuracy is scored against the twin's truth under the archive's clouds
    (the truth is only read to score), and in time by the pixels DINEOF processes.
    """
    import tempfile

    from unisst_lib.benchmark.crossval import _aligned_truth, _scores
    from unisst_lib.core.manifest import load_manifest
    from unisst_lib.data.archive import open_archive
    from unisst_lib.data.io import open_sst
    from unisst_lib.methods.fill import fill
    from unisst_lib.methods.stream.run import fill_streamed

    m = load_manifest()
    files = str(data_dir / m.archive("twin_l3").files)
    ds = open_archive(files).load()
    truth = _aligned_truth(open_sst(data_dir / m.archive("twin_l3_truth").files), ds)
    sst = ds["sst"].transpose("time", "latitude", "longitude").values
    land = ds["land"].values.astype(bool)
    gaps = ~np.isfinite(sst) & ~land[None] & np.isfinite(truth)
    h, w = land.shape
    t0 = time.perf_counter()
    whole = fill(ds[["sst"]], method="dineof", land=ds["land"])["sst"].values
    rows = [{"setting": f"in memory ({h}×{w})", "wall_s": time.perf_counter() - t0,
             "pixel_factor": 1.0, **_scores(whole, truth, gaps, "truth_")}]  # fmt: skip
    for chunk, halo in settings:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            out = fill_streamed(files, Path(tmp) / "d.zarr", archive=True, method="dineof",
                                chunk=chunk, halo=halo)  # fmt: skip
            wall = time.perf_counter() - t0
            with xr.open_zarr(out[0]) as z:
                filled = z[next(iter(z.data_vars))].values
        span_y = [min(h, y + chunk + halo) - max(0, y - halo) for y in range(0, h, chunk)]
        span_x = [min(w, x + chunk + halo) - max(0, x - halo) for x in range(0, w, chunk)]
        rows.append({
            "setting": f"streamed, chunk {chunk}, halo {halo}", "wall_s": wall,
            "pixel_factor": sum(span_y) * sum(span_x) / (h * w),
            **_scores(filled, truth, gaps, "truth_"),
        })  # fmt: skip
    return rows


def summarise(rows: list[dict], *, chunk: int, chunk_frames: int, gpu_tflops: float) -> dict:
    """The goals of issue 16 and the extrapolation to a global daily year."""
    every = rows
    rows = [r for r in rows if r["mode"] != "processes"]  # the goals: the default set-up
    by = {(r["size"], r["workers"]): r for r in rows}
    sizes = sorted({r["size"] for r in rows})
    goals = {}
    for w in sorted({r["workers"] for r in rows}):
        have = [by[(s, w)] for s in sizes if (s, w) in by]
        if len(have) > 1:
            ratio = have[-1]["tree_hwm_sum_mb"] / have[0]["tree_hwm_sum_mb"]
            goals[f"memory_ratio_{w}w"] = {"value": ratio, "goal": GOAL_RATIO,
                                           "met": ratio <= GOAL_RATIO}  # fmt: skip
    for w in sorted({r["workers"] for r in rows}):
        big = by.get((2048, w))
        if big:
            gb = big["tree_hwm_sum_mb"] / 1024
            goals[f"fits_2GB_{w}w"] = {"value": gb, "goal": GOAL_GB, "met": gb <= GOAL_GB}
    for s in sizes:
        for one, name in ((1, "2_workers_over_1"), (0, "2_workers_over_default")):
            if (s, one) in by and (s, 2) in by:
                speedup = by[(s, one)]["wall_s"] / by[(s, 2)]["wall_s"]
                goals[f"speedup_{name}_{s}"] = {"value": speedup, "goal": 1.0,
                                                "met": speedup > 1.0}  # fmt: skip
    cores = psutil.cpu_count(logical=True)
    largest = [r for r in rows if r["size"] == max(sizes)]
    core_s = min(r["wall_s"] * cores / r["tile_windows"] for r in largest)
    # a cluster's workers have a core each: the cost per core of worker processes, one per
    # core here (their largest domain), else of the best run
    single = [r for r in every if r["mode"] == "processes" and r["workers"] == cores]
    single = [r for r in single if r["size"] == max(r["size"] for r in single)] or largest
    core_s_single = min(r["wall_s"] * cores / r["tile_windows"] for r in single)
    tw_global, _ = tile_windows(**GLOBAL, chunk=chunk, chunk_frames=chunk_frames)
    flops = gpu_flops_per_tile_window()
    extrap = {
        "global_tile_windows": tw_global,
        "core_seconds_per_tile_window": core_s,
        "core_seconds_per_tile_window_single_core_workers": core_s_single,
        "hours_on_this_machine": tw_global * core_s / cores / 3600,
        "hours_on_32_single_core_workers": tw_global * core_s_single / 32 / 3600,
        "gflops_per_tile_window": flops / 1e9,
        "gpu_peak_tflops": gpu_tflops,
        "gpu_hours_lower_bound": tw_global * flops / (gpu_tflops * 1e12) / 3600,
    }
    return {"goals": goals, "extrapolation": extrap}


def _workers_label(row: dict) -> str:
    if not row["workers"]:
        return "none (default)"
    return f"{row['workers']} ({row['mode']})"


def render(result: dict) -> str:
    meta, ex = result["meta"], result["summary"]["extrapolation"]
    lines = [
        "# unisst fill, streamed: peak memory and throughput by domain and workers",
        "",
        "- commands (in order; the rows of earlier ones are kept): "
        + "; ".join(f"`{c}`" for c in meta.get("commands", [meta["command"]])),
        f"- date: {meta['date']}; machine: {meta['machine']}, {psutil.cpu_count()} CPU cores",
        f"- input: synthetic 6-hourly SST, {result['frames']} frames, int16 packed, about 40 % "
        f"cloud; output a Zarr store; chunks {result['chunk']}² pixels × "
        f"{result['chunk_frames']} frames; the bundled 6-hourly model on the CPU",
        "- memory: the whole process tree (the command, its scheduler and workers): the sum of "
        "each process' VmHWM (its peak RSS; an upper bound of the tree's peak) and the largest "
        "sum of VmRSS seen at one time (polled every 0.1 s)",
        "",
        "| domain | workers | wall s | Mpixel-frames/s | tree VmHWM sum MB | tree RSS peak MB "
        "| processes | tile-windows streamed / in-memory |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        rate = r["size"] ** 2 * result["frames"] / r["wall_s"] / 1e6
        lines.append(
            f"| {r['size']}² | {_workers_label(r)} | {r['wall_s']:.0f} | "
            f"{rate:.2f} | "
            f"{r['tree_hwm_sum_mb']:.0f} | {r['tree_rss_peak_mb']:.0f} | {r['processes']} | "
            f"{r['tile_windows']} / {r['tile_windows_in_memory']} |"
        )
    lines += ["", "## Goals (issue 16)", "", "| goal | value | target | met |", "|---|---|---|---|"]
    for name, g in result["summary"]["goals"].items():
        lines.append(
            f"| {name} | {g['value']:.2f} | {g['goal']:g} | {'yes' if g['met'] else 'NO'} |"
        )
    lines += [
        "",
        "## A global 0.05° daily year (7200 × 3600 × 365), extrapolated",
        "",
        f"- tile-windows to run (with the chunk edges' repeats): {ex['global_tile_windows']:,}",
        f"- measured cost (the {max(r['size'] for r in result['rows'])}² runs, reads and writes "
        f"included): {ex['core_seconds_per_tile_window']:.3f} core-seconds per tile-window at "
        f"best, {ex['core_seconds_per_tile_window_single_core_workers']:.3f} in single-core "
        "workers",
        f"- on this 2-core machine: {ex['hours_on_this_machine']:.0f} h; on 32 single-core "
        f"workers (cost per core as in the single-core workers here, perfect scaling, I/O not "
        f"limiting): {ex['hours_on_32_single_core_workers']:.1f} h",
        f"- one GPU: not measured (no GPU was lent). The model needs "
        f"{ex['gflops_per_tile_window']:.2f} GFLOP per tile-window, so at the GPU's peak of "
        f"{ex['gpu_peak_tflops']:g} TFLOP/s (an assumption given to the script, "
        f"`--gpu-peak-tflops`) the year takes at least {ex['gpu_hours_lower_bound'] * 60:.1f} "
        "minutes; real convolutions of this size reach a fraction of the peak, and reading "
        "and writing the files will then dominate.",
    ]
    if result.get("dineof"):
        lines += [
            "",
            "## DINEOF streamed: what seeing a chunk and its halo costs",
            "",
            "On the embedded daily L3 archive (`--dineof-data`), scored against the twin's truth",
            "under the archive's clouds; pixel factor: pixels DINEOF processes over the domain's.",
            "",
            "| setting | wall s | pixel factor | RMSE °C | MAE °C |",
            "|---|---|---|---|---|",
        ]
        for r in result["dineof"]:
            lines.append(
                f"| {r['setting']} | {r['wall_s']:.1f} | {r['pixel_factor']:.2f} | "
                f"{r['truth_rmse_c']:.3f} | {r['truth_mae_c']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    p.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="0: the default run (no cluster, PyTorch on every core); N: --workers N",
    )
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--chunk", type=int, default=256)
    p.add_argument("--chunk-frames", type=int, default=48)
    p.add_argument("--dir", type=Path, default=Path("/tmp/unisst_fill_scale"))
    p.add_argument(
        "--gpu-peak-tflops",
        type=float,
        default=989.0,
        help="the GPU's dense bf16 peak for the bound (H200: 989 by its spec sheet)",
    )
    p.add_argument("--out", type=Path, default=HERE)
    p.add_argument("--fresh", action="store_true", help="redo cases already in the results")
    p.add_argument(
        "--worker-processes",
        action="store_true",
        help="workers as processes (`unisst fill --worker-processes`), not threads",
    )
    p.add_argument(
        "--dineof-data",
        type=Path,
        default=None,
        help="embedded data folder (unisst data make): also measure DINEOF streamed",
    )
    args = p.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    res_path = args.out / "fill_scale.json"
    same = ("frames", "chunk", "chunk_frames")
    old = json.loads(res_path.read_text()) if res_path.is_file() and not args.fresh else {}
    keep = old.get("rows", []) if all(old.get(k) == getattr(args, k) for k in same) else []
    rows = {(r["size"], r["workers"], r["mode"]): r for r in keep}
    mode = "processes" if args.worker_processes else "threads"
    for n in args.sizes:
        src = make_input(args.dir / f"scale_{n}_{args.frames}.nc", n, args.frames)
        for w in args.workers:
            key = (n, w, mode if w else "threads")
            if key in rows:
                continue
            out = args.dir / f"scale_{n}_w{w}.zarr"
            row = run_case(src, out, workers=w, chunk=args.chunk, chunk_frames=args.chunk_frames,
                           processes=args.worker_processes)  # fmt: skip
            row["size"], row["workers"], row["mode"] = key
            row["tile_windows"], row["tile_windows_in_memory"] = tile_windows(
                n, n, args.frames, chunk=args.chunk, chunk_frames=args.chunk_frames
            )
            rows[key] = row
            print(json.dumps(row), flush=True)
            _save(args, rows, res_path, old=old)
    dineof = old.get("dineof") if not args.fresh else None
    if args.dineof_data is not None:
        dineof = dineof_cost(args.dineof_data, [(48, 16), (32, 16), (32, 8)])
    result = _save(args, rows, res_path, dineof, old=old if keep else None)
    print(render(result))
    return 0


def _save(args, rows: dict, res_path: Path, dineof: list | None = None, old=None) -> dict:
    meta = run_meta("benchmarks/fill_scale.py", sys.argv[1:])
    # the rows kept from earlier runs keep their commands: every run that made the file
    old_meta = (old or {}).get("meta", {})
    earlier = old_meta.get("commands") or ([old_meta["command"]] if "command" in old_meta else [])
    earlier = [c for c in earlier if c != meta["command"]]
    meta["commands"] = [*earlier, meta["command"]]
    ordered = [rows[k] for k in sorted(rows, key=lambda k: (k[2] == "processes", k[0], k[1]))]
    result = {
        "meta": meta,
        "frames": args.frames, "chunk": args.chunk, "chunk_frames": args.chunk_frames,
        "rows": ordered,
        "summary": summarise(ordered, chunk=args.chunk, chunk_frames=args.chunk_frames,
                             gpu_tflops=args.gpu_peak_tflops),
        "dineof": dineof,
    }  # fmt: skip
    with atomic_path(res_path) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=2) + "\n")
    with atomic_path(args.out / "fill_scale.md") as tmp:
        Path(tmp).write_text(render(result))
    return result


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
