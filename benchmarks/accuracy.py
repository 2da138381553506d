"""Accuracy benchmark: every gap-filling method on the twin's test region, side by side.

    .venv/bin/python benchmarks/accuracy.py            # or: make bench (about an hour on 2 cores)
    .venv/bin/python benchmarks/accuracy.py --reuse    # score already trained runs again
    .venv/bin/python benchmarks/accuracy.py --quick    # a few minutes: smoke run, not for the table

Trains three generators on the embedded twin's North Atlantic year (the same
`fast` generator each time, into runs/bench/<method>):

* ``unisst_paper``: the paper's pure adversarial recipe (no term but the critics');
* ``unisst_hybrid``: our default (``configs/fast.yaml``): critics + self-supervised
  loss on withheld observed pixels — still no truth under the clouds;
* ``oracle_supervised``: trained against the truth under the clouds (an upper
  bound no user can have);

then scores them and the baselines (sequence mean, per-pixel temporal
interpolation, Laplace inpainting, DINEOF on each 24-frame window and DINEOF on
the whole test period) on the South Atlantic test half-year (never seen in
training) at the LWP thresholds 55…80 g m-2. Writes benchmarks/results.json,
benchmarks/results.md and benchmarks/accuracy.png.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

from unisst_lib.benchmark.report import METHOD_LABELS, results_markdown
from unisst_lib.benchmark.runs import DINEOF_SERIES_OPTIONS, benchmark_thresholds
from unisst_lib.benchmark.windows import load_test_set
from unisst_lib.core.config import to_dict
from unisst_lib.core.manifest import load_manifest
from unisst_lib.core.paths import atomic_path
from unisst_lib.training.checkpoints import load_generator
from unisst_lib.training.config import TrainConfig, load_config
from unisst_lib.training.loop import train
from unisst_lib.training.step import TrainingError
from unisst_lib.views.plots import benchmark_figure

HERE = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.accuracy")


def model_configs(args: argparse.Namespace) -> dict[str, tuple[TrainConfig, str]]:
    """Benchmark name -> (training config, one-line description)."""
    base = load_config(args.config)
    common = {"data": {"twin_size": args.twin_size, "data_dir": args.data_dir}, "seed": args.seed}
    hybrid = load_config(args.config, steps=args.hybrid_steps, **common)
    paper = load_config(
        args.config,
        steps=args.paper_steps,
        loss={"adversarial_weight": 1.0, "self_supervised_weight": 0.0},
        optim={"lr_g": 1e-4, "lr_d": 1e-4, "d_steps_per_g": 2, "schedule": "paper"},
        **common,
    )
    oracle = load_config(
        args.config,
        steps=args.oracle_steps,
        loss={"adversarial_weight": 0.0, "self_supervised_weight": 0.0, "supervised_weight": 1.0},
        **common,
    )
    g = base.generator
    gen = f"`{base.name}` generator ({g.arch}, width {g.base_channels}, guess {g.first_guess})"
    return {
        "unisst_paper": (
            paper,
            f"{gen}; the paper's pure adversarial recipe (lr 1e-4, 2 critic updates per "
            f"generator update, decay ×{paper.optim.lr_decay} per evaluation), {paper.steps} steps "
            f"of batch {paper.batch_size}",
        ),
        "unisst_hybrid": (
            hybrid,
            f"{gen}; critics (weight {hybrid.loss.adversarial_weight:g}) + self-supervised "
            f"term on withheld observed pixels (weight {hybrid.loss.self_supervised_weight:g}), "
            f"lr {hybrid.optim.lr_g:g} ({hybrid.optim.schedule}), {hybrid.steps} steps of "
            f"batch {hybrid.batch_size}",
        ),
        "oracle_supervised": (
            oracle,
            f"{gen}; L1 against the TRUTH under the clouds (upper bound), lr "
            f"{oracle.optim.lr_g:g} ({oracle.optim.schedule}), {oracle.steps} steps of batch "
            f"{oracle.batch_size}",
        ),
    }


def train_or_reuse(name: str, cfg: TrainConfig, runs: Path, reuse: bool) -> tuple[Path, float]:
    """Train ``cfg`` into runs/<name> (or reuse a finished run); returns (checkpoint, seconds)."""
    out = runs / name
    record = out / "benchmark_train.json"
    if reuse and record.is_file():
        saved = json.loads(record.read_text())
        if saved["config"] == to_dict(cfg):
            log.info("%s: reusing %s (%.0f s of training)", name, out, saved["train_seconds"])
            return out / "checkpoints" / "best.pt", float(saved["train_seconds"])
        log.warning("%s: the run in %s has another config: training again", name, out)
    t0 = time.perf_counter()
    note = ""
    try:
        train(cfg, out, resume=False, tensorboard=False)
    except TrainingError as err:  # e.g. the pure adversarial recipe collapsing: keep its best
        log.error("%s: training stopped early: %s", name, err)
        note = f"stopped early ({err})"
    seconds = time.perf_counter() - t0
    with atomic_path(record) as tmp:
        tmp.write_text(
            json.dumps({"config": to_dict(cfg), "train_seconds": seconds, "note": note}, indent=1)
        )
    return out / "checkpoints" / "best.pt", seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="fast", help="generator/recipe config (default fast)")
    p.add_argument("--hybrid-steps", type=int, default=None, help="default: the config's steps")
    p.add_argument("--paper-steps", type=int, default=None, help="default: half the config's steps")
    p.add_argument("--oracle-steps", type=int, default=None, help="default: the config's steps")
    p.add_argument("--runs", type=Path, default=Path("runs/bench"))
    p.add_argument("--out", type=Path, default=HERE)
    p.add_argument("--reuse", action="store_true", help="reuse finished runs with the same config")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny twin, few steps")
    p.add_argument("--max-items", type=int, default=None, help="test windows (default all)")
    p.add_argument("--series-k-max", type=int, default=40, help="dineof_series: most EOFs tried")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--report-only", action="store_true",
        help="re-render results.md and accuracy.png from OUT/results.json; train and score nothing",
    )  # fmt: skip
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.report_only:
        write_report(json.loads((args.out / "results.json").read_text()), args.out)
        return 0
    torch.set_num_threads(args.threads)
    cfg_steps = load_config(args.config).steps
    args.twin_size, args.data_dir = "full", None
    if args.quick:
        args.twin_size, args.data_dir = "tiny", "data/tiny"
        cfg_steps, args.max_items, args.series_k_max = 4, args.max_items or 4, 5
        args.runs = args.runs.with_name(args.runs.name + "_quick")
        args.out = args.runs  # never overwrite the committed results with a smoke run
    # The paper's recipe costs 3 generator passes and 2 critic updates per step, the
    # hybrid's 2 and 1: half the steps is about the same training time.
    for name, default in (("hybrid_steps", cfg_steps), ("paper_steps", max(1, cfg_steps // 2)),
                          ("oracle_steps", cfg_steps)):  # fmt: skip
        if getattr(args, name) is None:
            setattr(args, name, default)

    manifest = load_manifest()
    configs = model_configs(args)
    generators, descriptions = {}, {}
    for name, (cfg, text) in configs.items():
        ckpt, seconds = train_or_reuse(name, cfg, args.runs, args.reuse)
        generator, _ = load_generator(ckpt)
        generators[name] = (generator, seconds)
        descriptions[name] = f"{text}; {seconds:.0f} s of training, checkpoint `{ckpt}`"

    data_dir = configs["unisst_hybrid"][0].data.data_dir
    results = benchmark_thresholds(
        generators, max_items=args.max_items, seed=args.seed, manifest=manifest,
        data_dir=data_dir, series_options={**DINEOF_SERIES_OPTIONS, "k_max": args.series_k_max},
    )  # fmt: skip
    split_set = manifest.split_set("twin")
    split = split_set.split("test")
    ds_test = manifest.sst_dataset(split.dataset)
    first = results["rows"][0]
    probe = load_test_set(max_items=1, manifest=manifest, data_dir=data_dir)
    results["meta"] = {
        "command": " ".join(
            ["python benchmarks/accuracy.py", *map(shlex.quote, argv or sys.argv[1:])]
        ),
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads, "
        f"{platform.system()} (Python {platform.python_version()})",
        "torch": torch.__version__,
        "seed": args.seed,
        "test_region": f"{ds_test.region} ({split.dataset})",
        "test_description": "the twin's S. Atlantic half-year: no model saw this region",
        "n_windows": first["n_windows"],
        "seq_len": split_set.seq_len,
        "interval_hours": split_set.interval_hours,
        "dx_km": probe.dx_km,
        "dy_km": probe.dy_km,
        "models": descriptions,
        "figure": "accuracy.png",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=1) + "\n")
    write_report(results, args.out)
    return 0


def write_report(results: dict, out: Path) -> None:
    """results.md and accuracy.png from a results dict (what ``--report-only`` re-renders)."""
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(results_markdown(results))
    fig = benchmark_figure(results, labels=METHOD_LABELS)
    with atomic_path(out / "accuracy.png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    log.info("wrote %s and %s", out / "results.md", out / "accuracy.png")


if __name__ == "__main__":
    raise SystemExit(main())
