"""Model cost and training throughput: parameters, FLOPs and sequences/s per config.

    .venv/bin/python benchmarks/speed.py                 # this machine's CPU (and CUDA if present)
    .venv/bin/python benchmarks/speed.py --device cuda   # a GPU only

Writes benchmarks/speed.json and benchmarks/speed.md (appending the run's
device to any other devices' rows already there). A "training iteration" is
the step of unisst_lib.training.step: d_steps_per_g critic updates and one generator
update on a batch of 24×64×64 sequences; throughput counts the sequences the
critics see per second. The paper generator is timed with fewer repeats on a
CPU (about 9 TFLOP per training iteration).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from unisst_lib.evaluation.validation import occlude
from unisst_lib.models import build_discriminators, build_generator
from unisst_lib.models.flops import count_flops, count_parameters
from unisst_lib.training.config import load_config
from unisst_lib.training.losses import d_hinge_loss, g_hinge_loss

HERE = Path(__file__).resolve().parent


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def time_iteration(config: str, device: torch.device, batch: int, repeats: int, bf16: bool):
    cfg = load_config(config)
    g = build_generator(cfg.generator).to(device)
    di, dv = (m.to(device) for m in build_discriminators(cfg.discriminator))
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.0, 0.999))
    opt_d = torch.optim.Adam([*di.parameters(), *dv.parameters()], lr=1e-4, betas=(0.0, 0.999))
    shape = (batch, 1, 24, 64, 64)
    y = torch.randn(shape, device=device).clamp(-1, 1)
    m = (torch.rand(shape, device=device) > 0.6).float()
    m2 = (torch.rand(shape, device=device) > 0.6).float()
    y = occlude(y, m, 1.0)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if (bf16 and device.type == "cuda") else None

    def ctx():
        return amp if amp is not None else torch.autocast("cpu", enabled=False)

    def iteration():
        for _ in range(cfg.optim.d_steps_per_g):
            with torch.no_grad(), ctx():
                fake = occlude(torch.where(m.bool(), g(y, m), y).float(), m2, 1.0)
            with ctx():
                both = torch.cat([y, fake])
                si, sv = di(both).float(), dv(both).float()
                loss = d_hinge_loss(si[:batch], si[batch:]) + d_hinge_loss(sv[:batch], sv[batch:])
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
        with ctx():
            fake = occlude(torch.where(m.bool(), g(y, m), y), m2, 1.0)
            loss = g_hinge_loss(di(fake).float()) + g_hinge_loss(dv(fake).float())
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()

    iteration()  # warm-up (cudnn autotune, allocator)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        iteration()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    seq = batch * cfg.optim.d_steps_per_g
    return {
        "config": config,
        "device": device_name(device),
        "device_type": device.type,
        "bf16": bool(bf16 and device.type == "cuda"),
        "batch": batch,
        "seconds_per_iteration": sec,
        "sequences_per_s": seq / sec,
        "generator_updates_per_s": 1 / sec,
        "repeats": repeats,
    }


def cost_rows() -> list[dict]:
    rows = []
    for config in ("tiny", "fast", "paper"):
        cfg = load_config(config)
        g = build_generator(cfg.generator)
        di, dv = build_discriminators(cfg.discriminator)
        x = torch.zeros(1, 1, 24, 64, 64)
        rows.append(
            {
                "config": config,
                "generator_params": count_parameters(g),
                "image_d_params": count_parameters(di),
                "video_d_params": count_parameters(dv),
                "generator_gflop_per_sequence": count_flops(g, x, x) / 1e9,
                "critics_gflop_per_sequence": (count_flops(di, x) + count_flops(dv, x)) / 1e9,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto (CPU + CUDA if present), cpu, cuda")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads")
    ap.add_argument("--configs", nargs="+", default=["tiny", "fast", "paper"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    devices = []
    if args.device in ("auto", "cpu"):
        devices.append(torch.device("cpu"))
    if args.device in ("auto", "cuda") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
        torch.backends.cudnn.benchmark = True
    out_json = HERE / "speed.json"
    previous = json.loads(out_json.read_text()) if out_json.is_file() else {}
    measured = [dict(r) for r in previous.get("throughput", [])]
    names = {device_name(d) for d in devices}
    measured = [r for r in measured if r["device"] not in names]
    for device in devices:
        for config in args.configs:
            if device.type == "cpu" and config == "paper":
                batch, repeats = 1, 1
            else:
                batch, repeats = (1 if config == "paper" else 4), 5
            for bf16 in [False, True] if device.type == "cuda" else [False]:
                row = time_iteration(config, device, batch, repeats, bf16)
                print(json.dumps(row))
                measured.append(row)
    result = {
        "command": "python benchmarks/speed.py "
        + " ".join(
            f"--{k} {' '.join(v) if isinstance(v, list) else v}" for k, v in vars(args).items()
        ),
        "date": dt.date.today().isoformat(),
        "torch": torch.__version__,
        "cost": cost_rows(),
        "throughput": measured,
    }
    out_json.write_text(json.dumps(result, indent=2) + "\n")
    (HERE / "speed.md").write_text(to_markdown(result))
    print((HERE / "speed.md").read_text())


def to_markdown(r: dict) -> str:
    lines = [
        "# Model cost and training throughput",
        "",
        f"Made by `{r['command']}` on {r['date']} (torch {r['torch']}).",
        "",
        "FLOPs per forward pass of one 24×64×64 sequence (a multiply-add = 2 FLOPs).",
        "",
        "| config | generator params | image D params | video D params "
        "| generator GFLOP | critics GFLOP |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in r["cost"]:
        lines.append(
            f"| {c['config']} | {c['generator_params'] / 1e6:.2f} M "
            f"| {c['image_d_params'] / 1e6:.2f} M | {c['video_d_params'] / 1e6:.2f} M "
            f"| {c['generator_gflop_per_sequence']:.1f} | {c['critics_gflop_per_sequence']:.2f} |"
        )
    lines += [
        "",
        "Training throughput (one iteration = 2 critic updates + 1 generator update):",
        "",
        "| config | device | bf16 | batch | s / iteration | sequences / s |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for t in r["throughput"]:
        lines.append(
            f"| {t['config']} | {t['device']} | {'yes' if t['bf16'] else 'no'} | {t['batch']} "
            f"| {t['seconds_per_iteration']:.3f} | {t['sequences_per_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
