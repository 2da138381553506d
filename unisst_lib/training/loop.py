"""Training UNISST: the unsupervised adversarial scheme of Yin et al. (2019).

One training iteration, on a batch of cloudy observations ``y`` with cloud
masks ``m`` (1 = occluded) — never the truth under the clouds:

1. ``x̂ = (1 − m)·y + m·G(y, m)``: observed pixels are kept exactly;
2. ``ŷ = occlude(x̂, m′)`` with an independent cloud window ``m′``;
3. the critics (a per-frame 2D PatchGAN and a 3D PatchGAN on temporal
   differences) learn ``y`` = real, ``ŷ`` = fake with the hinge loss; the
   generator is updated every ``d_steps_per_g`` critic updates.

Optionally (``loss.self_supervised_weight > 0``), a further cloud-shaped part of
the *observed* pixels is hidden from G and its reconstruction is penalised there
(DINCAE-style) — still without any truth under the real clouds.

``loss.supervised_weight > 0`` trains an *oracle*: G is penalised against the
truth under the clouds, which only a twin has. It is an upper bound for the
benchmark, not UNISST; with ``adversarial_weight = 0`` the critics are skipped.

Model selection uses the same idea: ``best`` is the checkpoint with the lowest
error on withheld *observed* pixels of the validation set. Truth-based MAE/RMSE
on the twin are logged for evaluation only and never steer training.

Multi-GPU: run under ``torchrun --nproc_per_node=N``; every process trains on its
own batches and PyTorch DDP averages the gradients (``gloo`` on CPU, ``nccl``
on CUDA).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from unisst_lib import __version__
from unisst_lib.core.config import ConfigError, from_dict, load_yaml, to_dict
from unisst_lib.core.errors import CorruptFileError, DataNotFoundError, UnisstError
from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.core.paths import atomic_path, data_dir
from unisst_lib.data.sequences import OccludedSequenceDataset, make_dataset
from unisst_lib.evaluation.validation import autocast_context, evaluate, occlude, to_celsius
from unisst_lib.models import (
    DiscriminatorConfig,
    GeneratorConfig,
    build_discriminators,
    build_generator,
    d_hinge_loss,
    g_hinge_loss,
    reconstruct,
)

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "unisst-checkpoint-1"
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


class TrainingError(UnisstError, RuntimeError):
    """Training stopped: diverged (NaN/inf) or collapsed (a critic won outright)."""


# ----------------------------------------------------------------------- config
@dataclass(frozen=True)
class DataConfig:
    """Which data to train on.

    Attributes
    ----------
    split_set
        A ``splits`` entry of the manifest (``twin``, ``anfc``, ``reanalysis``, ``paper``).
    clouds
        A ``clouds`` entry of the manifest (``twin`` or ``figshare``).
    threshold_gm2
        Liquid-water-path threshold, g m-2: occluded where LWP exceeds it.
    data_dir
        Data directory (default ``$UNISST_DATA_DIR`` or ``./data``).
    twin_size
        Size of the embedded twin to generate when it is not on disk.
    val_sequences
        Evaluate on at most this many validation sequences (``None``: all).
    num_workers
        DataLoader worker processes (0: load in the training process).
    augment
        Mirror training samples north-south / east-west at random, so the model does
        not learn one region's gradient direction or eddy rotation sense.
    """

    split_set: str = "twin"
    clouds: str = "twin"
    threshold_gm2: float = 70.0
    data_dir: str | None = None
    twin_size: Literal["full", "tiny"] = "full"
    val_sequences: int | None = 30
    num_workers: int = 0
    augment: bool = True


@dataclass(frozen=True)
class OptimConfig:
    """Adam for the generator and both critics (the paper's: lr 1e-4, betas (0, 0.999))."""

    lr_g: float = 1e-4
    lr_d: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.999
    d_steps_per_g: int = 2
    lr_decay: float = 0.99  # "paper" schedule: both rates × lr_decay at every evaluation
    schedule: Literal["paper", "cosine"] = "paper"  # "cosine": to 5 % over ``steps``


@dataclass(frozen=True)
class LossConfig:
    """Weights of the generator's loss terms (normalised units).

    ``self_supervised_weight = 0`` is the paper's pure adversarial training;
    ``adversarial_weight = 0`` skips the critics. ``supervised_weight > 0`` uses
    the truth under the clouds (twin only): an oracle for benchmarks, not UNISST.
    """

    adversarial_weight: float = 1.0
    image_weight: float = 1.0
    video_weight: float = 1.0
    self_supervised_weight: float = 0.0
    self_supervised_norm: Literal["l1", "l2"] = "l1"
    supervised_weight: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; YAML files in ``unisst_lib/configs`` map onto it."""

    name: str
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    steps: int = 2000  # generator updates
    batch_size: int = 4  # per process
    eval_every: int = 200  # generator updates between evaluations (and checkpoints)
    log_every: int = 10
    seed: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    bf16: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    collapse_patience: int = 200  # critic updates with a ~0 loss before stopping

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.optim.d_steps_per_g < 1:
            raise ValueError("optim.d_steps_per_g must be >= 1")
        lc = self.loss
        if lc.adversarial_weight + lc.self_supervised_weight + lc.supervised_weight <= 0:
            raise ValueError(
                "loss: adversarial_weight, self_supervised_weight and supervised_weight "
                "are all 0 — the generator would learn nothing"
            )

    @property
    def adversarial(self) -> bool:
        """Whether the critics are trained (``loss.adversarial_weight > 0``)."""
        return self.loss.adversarial_weight > 0

    @property
    def critic_steps(self) -> int:
        """Critic updates (and batches drawn) per generator update."""
        return self.optim.d_steps_per_g if self.adversarial else 1


def config_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A config file: a path to a YAML file, or the name of a shipped config (``fast``)."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist")
        return p
    shipped = CONFIG_DIR / f"{name_or_path}.yaml"
    if not shipped.is_file():
        known = ", ".join(iter_configs())
        raise ConfigError(f"no config named {name_or_path!r}: use one of {known} or a YAML path")
    return shipped


def load_config(name_or_path: str | os.PathLike[str], **overrides: Any) -> TrainConfig:
    """Load a training config by name (``tiny``, ``fast``, ``paper``) or path.

    ``overrides`` replace top-level fields (e.g. ``steps=50``); nested sections
    may be given as dicts (``data={"threshold_gm2": 60}``), merged into the file's.
    """
    cfg = load_yaml(TrainConfig, config_path(name_or_path))
    return replace_config(cfg, **overrides) if overrides else cfg


def replace_config(cfg: TrainConfig, **overrides: Any) -> TrainConfig:
    """A copy of ``cfg`` with fields replaced; dict values merge into nested sections."""
    raw = to_dict(cfg)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        elif dataclasses.is_dataclass(value):
            raw[key] = to_dict(value)
        else:
            raw[key] = value
    return from_dict(TrainConfig, raw)


# ------------------------------------------------------------------- utilities
def select_device(spec: str = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UnisstError(f"device {spec!r} asked for but CUDA is not available: use --device cpu")
    return device


@dataclass(frozen=True)
class _Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


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


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def parameter_digest(module: nn.Module) -> str:
    """SHA-256 of all parameters and buffers (to compare runs or processes bit for bit)."""
    h = hashlib.sha256()
    for name, t in sorted(_unwrap(module).state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def ensure_data(cfg: DataConfig, manifest: Manifest) -> Path:
    """Make sure the training data are on disk; generate the embedded twin if needed."""
    root = data_dir(cfg.data_dir)
    split_set = manifest.split_set(cfg.split_set)
    names = {split_set.split(s).dataset for s in ("train", "val", "test")}
    missing = [n for n in sorted(names) if not (root / manifest.sst_dataset(n).file).is_file()]
    cloud = manifest.cloud_dataset(cfg.clouds)
    cloud_missing = not (root / cloud.file).is_file()
    if not missing and not cloud_missing:
        return root
    embedded = all(manifest.source_of(n).provider == "embedded" for n in names)
    if embedded and cloud.provider == "embedded":
        from unisst_lib.data.twin.make import make_twin

        log.warning(
            "the embedded data set is not in %s: generating the '%s' twin first",
            root,
            cfg.twin_size,
        )
        make_twin(cfg.twin_size, root, manifest=manifest)
        return root
    if missing:
        raise DataNotFoundError(
            f"SST data {', '.join(missing)} not found under {root}: download them with "
            f"`unisst download sst --split train` (and val/test), or train on the embedded "
            "default (data.split_set: twin)."
        )
    raise DataNotFoundError(
        f"cloud data {cfg.clouds!r} not found at {root / cloud.file}: download it with "
        "`unisst download clouds`, or use the embedded clouds (data.clouds: twin)."
    )


# ------------------------------------------------------------------- batching
class _IterationBatches(torch.utils.data.Dataset):
    """Iteration number -> training batch, for a DataLoader that prefetches in workers."""

    def __init__(self, batches: _StepBatches, n_iterations: int) -> None:
        self.batches, self.n = batches, n_iterations

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, iteration: int) -> dict[str, torch.Tensor]:
        return self.batches.batch(iteration)


class _StepBatches:
    """Training batches as a pure function of (seed, step, rank): exact resume, no RNG state.

    Each item also carries the re-occlusion mask ``m′`` and, for the
    self-supervised term, a further hiding mask — independent cloud windows.
    """

    def __init__(self, ds: OccludedSequenceDataset, cfg: TrainConfig, rank: int) -> None:
        self.ds, self.cfg, self.rank = ds, cfg, rank

    def batch(self, iteration: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.cfg.seed, iteration, self.rank, 0x5E5])
        items = []
        for _ in range(self.cfg.batch_size):
            i = int(rng.integers(len(self.ds)))
            item = self.ds.sample(i, rng)
            clouds = self.ds.clouds
            start = item["cloud_start"]
            reocc = clouds.mask(clouds.draw(rng, avoid=start))
            hide = clouds.mask(clouds.draw(rng, avoid=start))
            reocc = reocc | (item["missing"][0].numpy() > 0.5)  # land stays hidden in ŷ
            item["reocclusion"] = torch.from_numpy(reocc.astype(np.float32))[None]
            item["hide"] = torch.from_numpy(hide.astype(np.float32))[None]
            if self.cfg.data.augment:
                # Mirror the whole sample north-south and/or east-west: the model must not
                # learn one region's gradient direction or eddy rotation sense (a test
                # region in the other hemisphere has both reversed).
                dims = [d for d in (-2, -1) if rng.random() < 0.5]
                if dims:
                    item = {
                        k: v.flip(dims) if isinstance(v, torch.Tensor) and v.ndim == 4 else v
                        for k, v in item.items()
                    }
            items.append(item)
        keys = ("y", "mask", "reocclusion", "hide") + (("x",) if "x" in items[0] else ())
        return {k: torch.stack([it[k] for it in items]) for k in keys}


# ----------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write a checkpoint atomically (temp file, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a unisst checkpoint safely (``weights_only=True``), with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises RuntimeError/EOFError/UnpicklingError/...
        raise CorruptFileError(
            f"cannot read checkpoint {path} ({type(err).__name__}: {str(err)[:200]}). "
            "It is truncated or not a unisst checkpoint: use another one or train again."
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CorruptFileError(f"{path} is not a unisst checkpoint ({CHECKPOINT_FORMAT})")
    return state


def load_generator(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, TrainConfig]:
    """The generator of a checkpoint, in eval mode, and the config it was trained with."""
    state = load_checkpoint(path, map_location=device)
    try:
        cfg = from_dict(TrainConfig, state["config"])
        generator = build_generator(cfg.generator).to(device)
        generator.load_state_dict(state["models"]["generator"])
    except (KeyError, RuntimeError, ConfigError) as err:
        raise CorruptFileError(
            f"checkpoint {path} does not match this unisst version's models ({err}); "
            "train again or use the unisst version that wrote it."
        ) from None
    return generator.eval(), cfg


def export_generator(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write a small checkpoint with the generator only (no critics, optimisers or RNG).

    Enough for :func:`load_generator` (gap filling, evaluation), not for resuming
    training. Returns ``out``; written atomically.
    """
    state = load_checkpoint(checkpoint)
    slim = {
        "format": CHECKPOINT_FORMAT,
        "unisst_version": state.get("unisst_version", __version__),
        "config": state["config"],
        "step": state.get("step"),
        "best_holdout_rmse_c": state.get("best_holdout_rmse_c"),
        "last_eval": state.get("last_eval", {}),
        "models": {"generator": state["models"]["generator"]},
        "exported_from": Path(checkpoint).name,
    }
    return save_checkpoint(out, slim)


def check_compatible(state: dict[str, Any], cfg: TrainConfig, path: Path) -> None:
    """Refuse a checkpoint whose model architecture differs from ``cfg``'s."""
    saved = state["config"]
    for section in ("generator", "discriminator"):
        if saved[section] != to_dict(cfg)[section]:
            raise ConfigError(
                f"checkpoint {path} was trained with another {section} "
                f"({saved[section]}) than config {cfg.name!r} ({to_dict(cfg)[section]}): "
                "use the config it was made with, or a new --out directory."
            )


# ------------------------------------------------------------------- logging
class _CSVLog:
    def __init__(self, path: Path, columns: list[str], *, append: bool) -> None:
        self.path, self.columns = path, columns
        if not (append and path.is_file()):
            with open(path, "w", newline="") as f:
                csv.writer(f).writerow(columns)

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([row.get(c, "") for c in self.columns])


def _truncate_csv(path: Path, step: int) -> None:
    """Drop rows after ``step`` (a resumed run rewrites them)."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [r for r in rows[1:] if r and int(r[0]) <= step]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            csv.writer(f).writerows(kept)


def _tensorboard(out: Path, enabled: bool):
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        log.info("tensorboard not installed: metrics go to CSV only")
        return None
    return SummaryWriter(log_dir=str(out / "tensorboard"))


TRAIN_COLUMNS = [
    "step", "loss_d", "loss_d_image", "loss_d_video", "loss_g_adv", "loss_self_supervised",
    "loss_supervised", "lr_g", "lr_d", "sequences_per_s",
]  # fmt: skip
VAL_COLUMNS = [
    "step", "holdout_rmse_c", "holdout_mae_c", "rmse_occluded_c", "mae_occluded_c",
    "rmse_all_c", "mae_all_c", "occlusion_rate", "mean_fill_rmse_occluded_c", "best",
]  # fmt: skip


# ---------------------------------------------------------------------- train
@dataclass
class TrainResult:
    """What a run produced."""

    out_dir: Path
    step: int
    best_holdout_rmse_c: float
    last_eval: dict[str, float]
    seconds: float
    generator_digest: str


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
) -> TrainResult:
    """Train (or resume training) a UNISST model.

    Parameters
    ----------
    cfg
        The configuration (see :func:`load_config`).
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
    """
    t_start = time.perf_counter()
    manifest = manifest or load_manifest()
    device = select_device(cfg.device)
    dist_info, device = _init_distributed(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    use_bf16 = cfg.bf16 and device.type == "cuda"
    out = Path(out_dir)
    ckpt_dir = out / "checkpoints"
    if dist_info.main:
        (out / "samples").mkdir(parents=True, exist_ok=True)
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        import yaml

        with atomic_path(out / "config.yaml") as tmp:
            tmp.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    if dist_info.world > 1:
        dist.barrier()

    root = ensure_data(cfg.data, manifest) if dist_info.main else data_dir(cfg.data.data_dir)
    if dist_info.world > 1:
        dist.barrier()
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

    torch.manual_seed(cfg.seed)
    generator = build_generator(cfg.generator).to(device)
    image_d, video_d = build_discriminators(cfg.discriminator)
    image_d, video_d = image_d.to(device), video_d.to(device)
    betas = (cfg.optim.beta1, cfg.optim.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.optim.lr_g, betas=betas)
    opt_d = torch.optim.Adam(
        [*image_d.parameters(), *video_d.parameters()], lr=cfg.optim.lr_d, betas=betas
    )
    sched_g, sched_d = _scheduler(opt_g, cfg), _scheduler(opt_d, cfg)

    step, best = 0, math.inf
    latest = ckpt_dir / "latest.pt"
    if resume and latest.is_file():
        state = load_checkpoint(latest, map_location=device)
        check_compatible(state, cfg, latest)
        generator.load_state_dict(state["models"]["generator"])
        image_d.load_state_dict(state["models"]["image_d"])
        video_d.load_state_dict(state["models"]["video_d"])
        opt_g.load_state_dict(state["optim"]["generator"])
        opt_d.load_state_dict(state["optim"]["critics"])
        sched_g.load_state_dict(state["sched"]["generator"])
        sched_d.load_state_dict(state["sched"]["critics"])
        torch.set_rng_state(state["rng"]["torch"])
        step, best = int(state["step"]), float(state["best_holdout_rmse_c"])
        log.info("resuming %s from step %d", out, step)
    if dist_info.main:
        for name in ("train_log.csv", "val_log.csv"):
            _truncate_csv(out / name, step)

    g_model, i_model, v_model = generator, image_d, video_d
    if dist_info.world > 1:
        ids = [device.index] if device.type == "cuda" else None
        g_model = nn.parallel.DistributedDataParallel(generator, device_ids=ids)
        i_model = nn.parallel.DistributedDataParallel(image_d, device_ids=ids)
        v_model = nn.parallel.DistributedDataParallel(video_d, device_ids=ids)

    train_log = val_log = writer = None
    if dist_info.main:
        train_log = _CSVLog(out / "train_log.csv", TRAIN_COLUMNS, append=step > 0)
        val_log = _CSVLog(out / "val_log.csv", VAL_COLUMNS, append=step > 0)
        writer = _tensorboard(out, tensorboard)

    batches = _StepBatches(train_ds, cfg, dist_info.rank)
    # Batches are a pure function of the iteration number, so worker processes can
    # prefetch them (data.num_workers) without changing a single bit of the run.
    workers = cfg.data.num_workers
    loader = torch.utils.data.DataLoader(
        _IterationBatches(batches, cfg.steps * cfg.critic_steps),
        batch_size=None,
        sampler=range(step * cfg.critic_steps, cfg.steps * cfg.critic_steps),
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers else None,
    )
    batch_iter = iter(loader)
    fill = train_ds.fill_value
    lc = cfg.loss
    k = cfg.critic_steps
    nan = torch.tensor(float("nan"))
    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    small_d = 0
    last_eval: dict[str, float] = {}
    bar = tqdm(
        total=cfg.steps,
        initial=step,
        desc=f"train {cfg.name}",
        unit="step",
        disable=not (progress and dist_info.main),
        dynamic_ncols=True,
    )
    running: dict[str, float] = {}
    t_window, n_window = time.perf_counter(), 0

    def forward_g(y, m, hide):
        """G on the observation with extra pixels hidden; returns (G output, x̂, hidden-observed)."""
        if lc.self_supervised_weight > 0:
            m_in = torch.clamp(m + hide, max=1.0)
            withheld = hide * (1 - m)
        else:
            m_in, withheld = m, None
        g_out = g_model(occlude(y, m_in, fill), m_in)
        x_hat = torch.where(m.bool(), g_out, y)  # observed pixels kept exactly
        return g_out, x_hat, withheld

    while step < end:
        for _ in range(k):
            b = {name: t.to(device, non_blocking=True) for name, t in next(batch_iter).items()}
            y, m = b["y"], b["mask"]
            if not cfg.adversarial:
                loss_d = loss_di = loss_dv = nan
                break
            # ---- critics: real observations y vs simulated observations ŷ
            with torch.no_grad(), autocast_context(device, use_bf16):
                _, x_hat, _ = forward_g(y, m, b["hide"])
                y_fake = occlude(x_hat.float(), b["reocclusion"], fill)
            with autocast_context(device, use_bf16):
                both = torch.cat([y, y_fake])  # (2B, 1, T, H, W): one critic pass (DDP-safe)
                s_img = i_model(both).float()
                s_vid = v_model(both).float()
                half_i, half_v = s_img.shape[0] // 2, s_vid.shape[0] // 2
                loss_di = d_hinge_loss(s_img[:half_i], s_img[half_i:])
                loss_dv = d_hinge_loss(s_vid[:half_v], s_vid[half_v:])
                loss_d = lc.image_weight * loss_di + lc.video_weight * loss_dv
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            _check_finite(loss_d, "critic", step, latest)
            small_d = small_d + 1 if loss_d.item() < 1e-3 else 0
            if small_d >= cfg.collapse_patience:
                raise TrainingError(
                    f"the critics' loss has been ~0 for {small_d} updates at step {step}: "
                    "they separate real from simulated observations perfectly and the "
                    "generator gets no useful gradient. Lower optim.lr_d, raise "
                    "loss.self_supervised_weight, or resume from an earlier checkpoint."
                )
        # ---- generator
        with autocast_context(device, use_bf16):
            g_out, x_hat, withheld = forward_g(y, m, b["hide"])
            loss_g = torch.zeros((), device=device)
            loss_adv = loss_ss = loss_sup = nan
            if cfg.adversarial:
                y_fake = occlude(x_hat, b["reocclusion"], fill)
                s_img = i_model(y_fake).float()
                s_vid = v_model(y_fake).float()
                loss_adv = lc.image_weight * g_hinge_loss(s_img)
                loss_adv = loss_adv + lc.video_weight * g_hinge_loss(s_vid)
                loss_g = loss_g + lc.adversarial_weight * loss_adv
            if withheld is not None:
                loss_ss = _masked_error(g_out.float(), y, withheld, lc.self_supervised_norm)
                loss_g = loss_g + lc.self_supervised_weight * loss_ss
            if oracle:  # the truth under the clouds: an oracle, not UNISST
                x = b["x"]
                under = m * torch.isfinite(x)
                loss_sup = _masked_error(g_out.float(), torch.nan_to_num(x), under, "l1")
                loss_g = loss_g + lc.supervised_weight * loss_sup
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        _check_finite(loss_g, "generator", step, latest)
        if cfg.optim.schedule == "cosine":
            sched_g.step()
            if cfg.adversarial:
                sched_d.step()
        step += 1
        n_window += cfg.batch_size * k * dist_info.world
        bar.update(1)

        vals = {
            "loss_d": loss_d.item(),
            "loss_d_image": loss_di.item(),
            "loss_d_video": loss_dv.item(),
            "loss_g_adv": loss_adv.item(),
            "loss_self_supervised": loss_ss.item(),
            "loss_supervised": loss_sup.item(),
        }
        for key, v in vals.items():
            running[key] = running.get(key, 0.0) + v
        if step % cfg.log_every == 0 or step == end:
            n_logged = cfg.log_every if step % cfg.log_every == 0 else step % cfg.log_every
            row = {key: v / n_logged for key, v in running.items()}
            running = {}
            row.update(
                step=step,
                lr_g=opt_g.param_groups[0]["lr"],
                lr_d=opt_d.param_groups[0]["lr"],
                sequences_per_s=n_window / max(time.perf_counter() - t_window, 1e-9),
            )
            t_window, n_window = time.perf_counter(), 0
            bar.set_postfix(
                {
                    k: f"{row[k]:.3f}"
                    for k in ("loss_d", "loss_g_adv", "loss_self_supervised", "loss_supervised")
                    if math.isfinite(row[k])
                }
            )
            if train_log is not None:
                train_log.write(row)
            if writer is not None:
                for key, v in row.items():
                    if key != "step":
                        writer.add_scalar(f"train/{key}", v, step)

        if step % cfg.eval_every == 0 or step == cfg.steps or step == end:
            if dist_info.main:
                res = evaluate(
                    generator,
                    val_ds,
                    device=device,
                    max_items=cfg.data.val_sequences,
                    seed=cfg.seed,
                    autocast=use_bf16,
                )
                last_eval = res.as_dict()
                is_best = last_eval["holdout_rmse_c"] < best
                if is_best:
                    best = last_eval["holdout_rmse_c"]
                assert val_log is not None
                val_log.write({"step": step, **last_eval, "best": int(is_best)})
                if writer is not None:
                    for key, v in last_eval.items():
                        writer.add_scalar(f"val/{key}", v, step)
                log.info(
                    "step %d: holdout RMSE %.4f °C; truth RMSE on occluded pixels %.4f °C "
                    "(mean fill %.4f °C)",
                    step,
                    last_eval["holdout_rmse_c"],
                    last_eval["rmse_occluded_c"],
                    last_eval["mean_fill_rmse_occluded_c"],
                )
                _save_sample(generator, val_ds, device, out / "samples" / f"step_{step:06d}.png")
            if cfg.optim.schedule == "paper":  # the paper decays the rates at every evaluation
                sched_g.step()
                if cfg.adversarial:
                    sched_d.step()
            if dist_info.main:
                state = {
                    "format": CHECKPOINT_FORMAT,
                    "unisst_version": __version__,
                    "config": to_dict(cfg),
                    "step": step,
                    "best_holdout_rmse_c": best,
                    "models": {
                        "generator": generator.state_dict(),
                        "image_d": image_d.state_dict(),
                        "video_d": video_d.state_dict(),
                    },
                    "optim": {"generator": opt_g.state_dict(), "critics": opt_d.state_dict()},
                    "sched": {"generator": sched_g.state_dict(), "critics": sched_d.state_dict()},
                    "rng": {"torch": torch.get_rng_state()},
                    "last_eval": last_eval,
                }
                save_checkpoint(latest, state)
                if last_eval and last_eval["holdout_rmse_c"] <= best:
                    save_checkpoint(ckpt_dir / "best.pt", state)
                if on_eval is not None:
                    on_eval(step, last_eval)
            if dist_info.world > 1:
                dist.barrier()
    bar.close()
    del batch_iter  # shuts prefetching workers down
    if writer is not None:
        writer.close()
    digest = parameter_digest(generator)
    if dist_info.world > 1:
        digests: list[str | None] = [None] * dist_info.world
        dist.all_gather_object(digests, digest)
        if len(set(digests)) != 1:
            raise TrainingError(f"processes ended with different generator parameters: {digests}")
        log.info("all %d processes hold identical generator parameters", dist_info.world)
    return TrainResult(
        out_dir=out,
        step=step,
        best_holdout_rmse_c=best,
        last_eval=last_eval,
        seconds=time.perf_counter() - t_start,
        generator_digest=digest,
    )


def _masked_error(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, norm: str
) -> torch.Tensor:
    """Mean absolute (``l1``) or squared (``l2``) error over the pixels where ``weight`` is 1."""
    diff = (pred - target) * weight
    per_px = diff.abs() if norm == "l1" else diff.square()
    return per_px.sum() / weight.sum().clamp(min=1.0)


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


def _check_finite(loss: torch.Tensor, who: str, step: int, latest: Path) -> None:
    value = loss.detach().item()
    if not math.isfinite(value):
        raise TrainingError(
            f"the {who} loss became {value} at step {step}: training diverged. Lower "
            f"optim.lr_g / optim.lr_d or turn bf16 off, and resume from {latest} "
            "(the last good state)."
        )


def _save_sample(generator: nn.Module, ds: OccludedSequenceDataset, device, path: Path) -> None:
    from unisst_lib.views.plots import sequence_figure

    item = ds[0]
    was = generator.training
    generator.eval()
    with torch.no_grad():
        x_hat = reconstruct(generator, item["y"][None].to(device), item["mask"][None].to(device))
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


def iter_configs() -> Iterator[str]:
    """Names of the configs shipped with the package."""
    return (p.stem for p in sorted(CONFIG_DIR.glob("*.yaml")))
