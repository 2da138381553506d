"""Training UNISST: set a run up, step it, evaluate and checkpoint it, resume it exactly.

What one step does — critic updates on real vs re-occluded observations, then a
generator update — is in :mod:`unisst_lib.training.step`; this module runs the
steps. :func:`train` is four parts: :func:`_setup` (run directory, data, models,
optimisers, resume), the loop (:func:`_run_steps`), :func:`_evaluate_and_checkpoint`
every ``eval_every`` steps, and :func:`_agreed_digest` at the end.

Model selection needs no truth either: ``best`` is the checkpoint with the
lowest error on withheld *observed* pixels of the validation set. Truth-based
MAE/RMSE on the twin are logged for evaluation only and never steer training
(only an oracle, ``loss.supervised_weight > 0``, is selected on the truth:
:attr:`TrainConfig.selection_metric`). ``patience`` stops a run after that many
evaluations without a new best.

With ``data.archive`` (or ``train(data=...)``) the run learns from a cloudy
archive itself (:mod:`unisst_lib.training.archive_data`): windows of its own
observations, re-occluded and self-supervised with its own real cloud masks,
``best`` selected on observed pixels withheld from training.

Multi-GPU: run under ``torchrun --nproc_per_node=N``; every process trains on its
own batches and PyTorch DDP averages the gradients (``gloo`` on CPU, ``nccl``
on CUDA).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from unisst_lib.core.config import to_dict
from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.core.paths import atomic_path, data_dir
from unisst_lib.data.archive_samples import ArchiveSequences
from unisst_lib.data.dataset import OccludedSequenceDataset, make_dataset
from unisst_lib.evaluation.validation import evaluate, to_celsius
from unisst_lib.evaluation.withheld import evaluate_withheld
from unisst_lib.models import build_discriminators, build_generator, reconstruct
from unisst_lib.models.device import cudnn_benchmark, select_device
from unisst_lib.training.archive_data import archive_datasets
from unisst_lib.training.batches import StepBatches, batch_loader, ensure_data
from unisst_lib.training.checkpoints import (
    check_compatible,
    init_from_checkpoint,
    load_checkpoint,
    parameter_digest,
    restore_training_state,
    save_checkpoint,
    training_state,
)
from unisst_lib.training.config import TrainConfig
from unisst_lib.training.logs import LossMeter, RunLogs, truncate_csv
from unisst_lib.training.step import GANStep, Models, RunState, TrainingError

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a run produced."""

    out_dir: Path
    step: int
    best_holdout_rmse_c: float
    last_eval: dict[str, float]
    seconds: float
    generator_digest: str


@dataclass(frozen=True)
class _Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


@dataclass
class _Run:
    """One call of :func:`train`, set up: what the loop and the evaluations share."""

    cfg: TrainConfig
    out: Path
    device: torch.device
    dist: _Dist
    bf16: bool  # bf16 autocast (CUDA only)
    train_ds: OccludedSequenceDataset | ArchiveSequences
    val_ds: OccludedSequenceDataset | ArchiveSequences
    models: Models
    state: RunState
    logs: RunLogs | None  # None off the main process
    data_info: dict | None = None  # the archive trained on (cadence, window, grid)

    @property
    def latest(self) -> Path:
        return self.out / "checkpoints" / "latest.pt"


def train(
    cfg: TrainConfig,
    out_dir: str | os.PathLike[str],
    *,
    resume: bool = True,
    stop_at: int | None = None,
    progress: bool = True,
    tensorboard: bool = True,
    manifest: Manifest | None = None,
    on_eval: Callable[[int, dict[str, float]], None] | None = None,
    data=None,
    max_seconds: float | None = None,
) -> TrainResult:
    """Train (or resume training) a UNISST model.

    Parameters
    ----------
    cfg
        The configuration (see :func:`unisst_lib.training.config.load_config`).
    out_dir
        Run directory: ``config.yaml``, ``checkpoints/{latest,best}.pt``,
        ``train_log.csv``, ``val_log.csv``, ``samples/``, ``tensorboard/``.
    resume
        Continue from ``checkpoints/latest.pt`` when it exists (exactly: the
        same parameters as an uninterrupted run).
    stop_at
        Stop this run after this generator step (as if interrupted), leaving
        ``latest.pt`` to resume from; ``None`` runs to ``cfg.steps``.
    on_eval
        Called with (step, metrics) after each evaluation (e.g. live plots).
    data
        Train on this cloudy archive (an ``open_archive`` Dataset, or files for it)
        instead of ``cfg.data.archive`` / the manifest's split set.
    max_seconds
        A safety stop: after the step that passes this many seconds since the call,
        evaluate, checkpoint and stop early (a warning says so); ``None``: no limit.

    The cuDNN autotuner flag and the torch RNG are the run's own: both are
    restored when it ends, so the caller's process is left as it was.
    """
    t_start = time.perf_counter()
    manifest = manifest or load_manifest()
    device = select_device(cfg.device)
    dist_info, device = _init_distributed(device)
    with _process_state_kept(device):
        run = _setup(
            cfg, Path(out_dir), device, dist_info, manifest, resume=resume,
            tensorboard=tensorboard, data=data,
        )  # fmt: skip
        end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
        deadline = None if max_seconds is None else t_start + max_seconds
        _run_steps(run, end=end, progress=progress, on_eval=on_eval, deadline=deadline)
        if run.logs is not None:
            run.logs.close()
        digest = _agreed_digest(run)
    return TrainResult(
        out_dir=run.out,
        step=run.state.step,
        best_holdout_rmse_c=run.state.best_holdout_rmse_c,
        last_eval=run.state.last_eval,
        seconds=time.perf_counter() - t_start,
        generator_digest=digest,
    )


@contextlib.contextmanager
def _process_state_kept(device: torch.device) -> Iterator[None]:
    """Autotune cuDNN and fork the torch RNG for the run; restore both afterwards."""
    cuda = device.type == "cuda"
    rng_devices = [device] if cuda else []
    with cudnn_benchmark(cuda), torch.random.fork_rng(devices=rng_devices, device_type="cuda"):
        yield


def _init_distributed(device: torch.device) -> tuple[_Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist(), device
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank()
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return _Dist(rank, dist.get_world_size()), device


# ------------------------------------------------------------------------ setup
def _setup(
    cfg: TrainConfig,
    out: Path,
    device: torch.device,
    dist_info: _Dist,
    manifest: Manifest,
    *,
    resume: bool,
    tensorboard: bool,
    data=None,
) -> _Run:
    """Run directory, data, models and optimisers; the checkpoint's state when resuming.

    The order is part of the run: the torch RNG seeds the models here, and a
    resumed run restores it before the batch loader draws from it.
    """
    if dist_info.main:
        _write_run_dir(cfg, out)
    _barrier(dist_info)
    data_info = None
    if data is not None or cfg.data.archive is not None:
        _refuse_archive_oracle(cfg)
        train_ds, val_ds, data_info = archive_datasets(cfg, manifest, data)
    else:
        if cfg.generator.first_guess == "record":
            raise TrainingError(
                "generator.first_guess: record takes its first guess from an archive's record: "
                "train on an archive (--data / data.archive), or use first_guess: temporal"
            )
        train_ds, val_ds = _datasets(cfg, manifest, dist_info)
    torch.manual_seed(cfg.seed)
    models = _build_models(cfg, device)
    latest = out / "checkpoints" / "latest.pt"
    state = RunState()
    if resume and latest.is_file():
        ckpt = load_checkpoint(latest, map_location=device)
        check_compatible(ckpt, cfg, latest)
        state.step, state.best_holdout_rmse_c = restore_training_state(ckpt, models)
        state.stale_evals = int(ckpt.get("stale_evals", 0))
        log.info("resuming %s from step %d", out, state.step)
    elif cfg.init_from:
        init_from_checkpoint(cfg.init_from, models)
        log.info("starting %s from the networks of %s", out, cfg.init_from)
    if dist_info.main:
        for name in ("train_log.csv", "val_log.csv"):
            truncate_csv(out / name, state.step)
    if dist_info.world > 1:
        _wrap_ddp(models, device)
    logs = None
    if dist_info.main:
        logs = RunLogs(out, append=state.step > 0, tensorboard=tensorboard)
    return _Run(
        cfg=cfg,
        out=out,
        device=device,
        dist=dist_info,
        bf16=cfg.bf16 and device.type == "cuda",
        train_ds=train_ds,
        val_ds=val_ds,
        models=models,
        state=state,
        logs=logs,
        data_info=data_info,
    )


def _refuse_archive_oracle(cfg: TrainConfig) -> None:
    if cfg.loss.supervised_weight > 0:
        raise TrainingError(
            "loss.supervised_weight > 0 trains on the truth under the clouds, which a real "
            "archive does not have: set it to 0 to train on an archive"
        )


def _barrier(dist_info: _Dist) -> None:
    """Wait for every process (a no-op on one)."""
    if dist_info.world > 1:
        dist.barrier()


def _write_run_dir(cfg: TrainConfig, out: Path) -> None:
    """``samples/``, ``checkpoints/`` and ``config.yaml`` (the config as run)."""
    import yaml

    (out / "samples").mkdir(parents=True, exist_ok=True)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def _datasets(
    cfg: TrainConfig, manifest: Manifest, dist_info: _Dist
) -> tuple[OccludedSequenceDataset, OccludedSequenceDataset]:
    """The training and validation sets; the main process makes sure they are on disk."""
    root = ensure_data(cfg.data, manifest) if dist_info.main else data_dir(cfg.data.data_dir)
    _barrier(dist_info)
    common = dict(
        threshold_gm2=cfg.data.threshold_gm2,
        clouds=cfg.data.clouds,
        manifest=manifest,
        data_dir=root,
    )
    oracle = cfg.loss.supervised_weight > 0
    if oracle:
        log.warning(
            "loss.supervised_weight > 0: training an ORACLE on the truth under the clouds "
            "(possible on a twin only) — an upper bound for benchmarks, not UNISST"
        )
    train_ds = make_dataset(
        cfg.data.split_set, "train", mode="train", seed=cfg.seed, include_truth=oracle, **common
    )
    val_ds = make_dataset(cfg.data.split_set, "val", mode="eval", seed=cfg.seed, **common)
    return train_ds, val_ds


def _build_models(cfg: TrainConfig, device: torch.device) -> Models:
    """Generator, both critics, Adam for each side and their schedules (from the torch RNG)."""
    generator = build_generator(cfg.generator).to(device)
    image_d, video_d = build_discriminators(cfg.discriminator)
    image_d, video_d = image_d.to(device), video_d.to(device)
    betas = (cfg.optim.beta1, cfg.optim.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.optim.lr_g, betas=betas)
    opt_d = torch.optim.Adam(
        [*image_d.parameters(), *video_d.parameters()], lr=cfg.optim.lr_d, betas=betas
    )
    return Models(
        generator=generator,
        image_d=image_d,
        video_d=video_d,
        opt_g=opt_g,
        opt_d=opt_d,
        sched_g=_scheduler(opt_g, cfg),
        sched_d=_scheduler(opt_d, cfg),
        g_train=generator,
        i_train=image_d,
        v_train=video_d,
    )


def _scheduler(
    opt: torch.optim.Optimizer, cfg: TrainConfig
) -> torch.optim.lr_scheduler.LRScheduler:
    """The paper's exponential decay per evaluation, or a cosine decay per step to 5 %."""
    if cfg.optim.schedule == "paper":
        return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.optim.lr_decay)
    floor, total = 0.05, cfg.steps

    def factor(step: int) -> float:
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _wrap_ddp(models: Models, device: torch.device) -> None:
    """Train through DDP wrappers (after any resume: DDP broadcasts rank 0's weights)."""
    ids = [device.index] if device.type == "cuda" else None
    models.g_train = nn.parallel.DistributedDataParallel(models.generator, device_ids=ids)
    models.i_train = nn.parallel.DistributedDataParallel(models.image_d, device_ids=ids)
    models.v_train = nn.parallel.DistributedDataParallel(models.video_d, device_ids=ids)


# ------------------------------------------------------------------------- loop
def _run_steps(
    run: _Run,
    *,
    end: int,
    progress: bool,
    on_eval: Callable[[int, dict[str, float]], None] | None,
    deadline: float | None = None,
) -> None:
    """Generator steps up to ``end``: log every ``log_every``, evaluate every ``eval_every``.

    Past ``deadline`` (a ``time.perf_counter`` value) the run evaluates, checkpoints and stops.
    """
    cfg, state = run.cfg, run.state
    # Batches are a pure function of the iteration number, so worker processes can
    # prefetch them (data.num_workers) without changing a single bit of the run.
    batches = StepBatches(run.train_ds, cfg, run.dist.rank)
    loader = batch_loader(batches, start_step=state.step, pin_memory=run.device.type == "cuda")
    batch_iter = iter(loader)  # draws the loader's base seed from the torch RNG
    gan_step = GANStep(
        run.models,
        cfg,
        device=run.device,
        bf16=run.bf16,
        fill_value=run.train_ds.fill_value,
        latest=run.latest,
    )
    bar = tqdm(
        total=cfg.steps,
        initial=state.step,
        desc=f"train {cfg.name}",
        unit="step",
        disable=not (progress and run.dist.main),
        dynamic_ncols=True,
    )
    meter = LossMeter()
    while state.step < end:
        losses = gan_step(batch_iter, state)
        state.step += 1
        meter.add(losses, sequences=cfg.batch_size * cfg.critic_steps * run.dist.world)
        bar.update(1)
        if state.step % cfg.log_every == 0 or state.step == end:
            _log_train(run, meter, bar)
        if state.step % cfg.eval_every == 0 or state.step in (cfg.steps, end):
            _evaluate_and_checkpoint(run, on_eval)
            if cfg.patience and state.stale_evals >= cfg.patience:
                log.info(
                    "no better %s for %d evaluations: stopping at step %d (best %.4f °C)",
                    cfg.selection_metric, state.stale_evals, state.step,
                    state.best_holdout_rmse_c,
                )  # fmt: skip
                break
        elif deadline is not None and time.perf_counter() >= deadline:
            log.warning(
                "time limit reached at step %d of %d: evaluating and stopping", state.step, end
            )
            _log_train(run, meter, bar)
            _evaluate_and_checkpoint(run, on_eval)
            break
    bar.close()
    del batch_iter  # shuts prefetching workers down


def _log_train(run: _Run, meter: LossMeter, bar: tqdm) -> None:
    """A row of mean losses since the last one: CSV, TensorBoard and the progress bar."""
    step, every = run.state.step, run.cfg.log_every
    n_steps = every if step % every == 0 else step % every
    row = meter.row(
        n_steps,
        step=step,
        lr_g=run.models.opt_g.param_groups[0]["lr"],
        lr_d=run.models.opt_d.param_groups[0]["lr"],
    )
    shown = ("loss_d", "loss_g_adv", "loss_self_supervised", "loss_supervised")
    bar.set_postfix({k: f"{row[k]:.3f}" for k in shown if math.isfinite(row[k])})
    if run.logs is not None:
        run.logs.write_train(row)


# ------------------------------------------------------ evaluate and checkpoint
def _evaluate_and_checkpoint(
    run: _Run, on_eval: Callable[[int, dict[str, float]], None] | None
) -> None:
    """Validate, decay the paper schedule, save ``latest`` (and ``best``), call ``on_eval``."""
    cfg, models, state = run.cfg, run.models, run.state
    if run.dist.main:
        _validate(run)
    # The paper decays the rates at every evaluation of its cadence; the extra evaluation of
    # a run stopped in between (stop_at) must not decay them, or its resume would differ.
    if cfg.optim.schedule == "paper" and state.step % cfg.eval_every == 0:
        models.sched_g.step()
        if cfg.adversarial:
            models.sched_d.step()
    if run.dist.main:
        ckpt = training_state(cfg, models, state, data_info=run.data_info)
        save_checkpoint(run.latest, ckpt)
        metric = cfg.selection_metric
        if state.last_eval and state.last_eval[metric] <= state.best_holdout_rmse_c:
            save_checkpoint(run.out / "checkpoints" / "best.pt", ckpt)
        if on_eval is not None:
            on_eval(state.step, state.last_eval)
    _barrier(run.dist)


def _validate(run: _Run) -> None:
    """Errors on the validation set (withheld observed pixels select ``best``); a sample figure."""
    state = run.state
    if isinstance(run.val_ds, ArchiveSequences):
        state.last_eval = evaluate_withheld(
            run.models.generator, run.val_ds, device=run.device, autocast=run.bf16
        )
    else:
        res = evaluate(
            run.models.generator,
            run.val_ds,
            device=run.device,
            max_items=run.cfg.data.val_sequences,
            seed=run.cfg.seed,
            autocast=run.bf16,
        )
        state.last_eval = res.as_dict()
    value = state.last_eval[run.cfg.selection_metric]
    is_best = value < state.best_holdout_rmse_c
    if is_best:
        state.best_holdout_rmse_c = value
    state.stale_evals = 0 if is_best else state.stale_evals + 1
    assert run.logs is not None  # the main process logs
    run.logs.write_val(state.step, state.last_eval, best=is_best)
    if "rmse_occluded_c" in state.last_eval:
        log.info(
            "step %d: holdout RMSE %.4f °C; truth RMSE on occluded pixels %.4f °C "
            "(mean fill %.4f °C)",
            state.step,
            state.last_eval["holdout_rmse_c"],
            state.last_eval["rmse_occluded_c"],
            state.last_eval["mean_fill_rmse_occluded_c"],
        )
    else:
        log.info(
            "step %d: RMSE %.4f °C on %d withheld observed pixels",
            state.step, state.last_eval["holdout_rmse_c"], state.last_eval["holdout_pixels"],
        )  # fmt: skip
    sample = run.out / "samples" / f"step_{state.step:06d}.png"
    _save_sample(run.models.generator, run.val_ds, run.device, sample)


def _save_sample(generator: nn.Module, ds: OccludedSequenceDataset, device, path: Path) -> None:
    from unisst_lib.views.plots import sequence_figure

    item = ds[0]
    was = generator.training
    generator.eval()
    guess = item["guess"][None].to(device) if "guess" in item else None
    with torch.no_grad():
        x_hat = reconstruct(
            generator, item["y"][None].to(device), item["mask"][None].to(device), guess
        )
    generator.train(was)
    to_c = functools.partial(
        to_celsius, mean=item["mean"], std=item["std"], std_factor=ds.std_factor
    )
    truth = to_c(item["x"])[0].numpy() if "x" in item else None
    fig = sequence_figure(
        truth,
        to_c(item["y"])[0].numpy(),
        item["mask"][0].numpy(),
        to_c(x_hat[0])[0].numpy(),
        title=f"validation sequence 0 — {path.stem}",
    )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")


def _agreed_digest(run: _Run) -> str:
    """The generator's :func:`parameter_digest`, checked equal on every process."""
    digest = parameter_digest(run.models.generator)
    if run.dist.world > 1:
        digests: list[str | None] = [None] * run.dist.world
        dist.all_gather_object(digests, digest)
        if len(set(digests)) != 1:
            raise TrainingError(f"processes ended with different generator parameters: {digests}")
        log.info("all %d processes hold identical generator parameters", run.dist.world)
    return digest
