"""Typed training configs and the YAML files they are read from.

A run is described by one :class:`TrainConfig` (generator, critics, data,
optimiser, loss weights, schedule); the files in ``unisst_lib/configs``
(``tiny``, ``fast``, ``paper``) map onto it key for key, and unknown keys are
refused with their dotted name.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from unisst_lib.core.config import ConfigError, from_dict, load_yaml, to_dict
from unisst_lib.models import DiscriminatorConfig, GeneratorConfig

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


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
    archive
        Train on a cloudy archive itself (a file, folder or glob of L3 files, opened
        with :func:`unisst_lib.data.archive.open_archive`): its own observations and
        its own real clouds; ``split_set``, ``clouds`` and ``threshold_gm2`` are then
        unused. ``None``: the manifest's split set and cloud data.
    seq_len, tile
        Archive: frames per training window (at the archive's cadence) and its
        size in pixels (a smaller domain is padded with land).
    min_quality
        Archive: the lowest ``quality_level`` kept (default: open_archive's, 4).
    val_share
        Archive: share of the observed sea pixels withheld, under the real clouds of
        other dates, to select the model (never trained on).
    guess_context
        Archive, with ``generator.first_guess: record``: frames either side of a
        window that its first guess is interpolated from.
    """

    split_set: str = "twin"
    clouds: str = "twin"
    threshold_gm2: float = 70.0
    data_dir: str | None = None
    twin_size: Literal["full", "tiny"] = "full"
    val_sequences: int | None = 30
    num_workers: int = 0
    augment: bool = True
    archive: str | None = None
    seq_len: int = 24
    tile: int = 64
    min_quality: int | None = None
    val_share: float = 0.1
    guess_context: int = 60

    def __post_init__(self) -> None:
        if self.seq_len < 2 or self.tile < 8:
            raise ValueError(
                f"data.seq_len must be >= 2 and data.tile >= 8, got {self.seq_len}, {self.tile}"
            )
        if self.guess_context < 0:
            raise ValueError(f"data.guess_context must be >= 0, got {self.guess_context}")
        if not 0 < self.val_share <= 0.5:
            raise ValueError(f"data.val_share must be in (0, 0.5], got {self.val_share}")


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
    ``adversarial_weight = 0`` skips the critics. ``self_supervised_norm: crps``
    (a generator with ``noise_channels > 0``) scores two members drawn with different
    noise by the fair CRPS on the withheld observed pixels, so that their spread is
    learnt (without truth); the adversarial term scores the first member.
    ``supervised_weight > 0`` uses the truth under the clouds (twin only): an oracle
    for benchmarks, not UNISST.
    """

    adversarial_weight: float = 1.0
    image_weight: float = 1.0
    video_weight: float = 1.0
    self_supervised_weight: float = 0.0
    self_supervised_norm: Literal["l1", "l2", "crps"] = "l1"
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
    patience: int = 0  # evaluations without a new best before stopping early (0: never)
    # a checkpoint whose networks start the run (fine-tuning; weights the checkpoint does
    # not have, e.g. the noise inputs of a stochastic generator, keep their initialisation)
    init_from: str | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0 (0: never stop early), got {self.patience}")
        if self.crps and self.generator.noise_channels < 1:
            raise ValueError(
                "loss.self_supervised_norm: crps scores an ensemble: give the generator "
                "noise (generator.noise_channels >= 1)"
            )
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
    def crps(self) -> bool:
        """Whether the self-supervised term scores an ensemble of two members (fair CRPS)."""
        return self.loss.self_supervised_norm == "crps"

    @property
    def oracle(self) -> bool:
        """Whether the run trains on the truth under the clouds (a benchmark bound, not UNISST)."""
        return self.loss.supervised_weight > 0

    @property
    def hides_observed(self) -> bool:
        """Whether G's input hides a further cloud-shaped part of the observed pixels.

        The self-supervised term scores G there; an oracle gets the same input as the
        hybrid it bounds, so that the two solve the same problem.
        """
        return self.loss.self_supervised_weight > 0 or self.oracle

    @property
    def selection_metric(self) -> str:
        """The validation error ``best.pt`` minimises.

        UNISST: the error on withheld *observed* pixels (no truth). Only an oracle,
        which trains on the truth anyway, is selected on the truth under the clouds.
        """
        return "rmse_occluded_c" if self.oracle else "holdout_rmse_c"

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


def iter_configs() -> Iterator[str]:
    """Names of the configs shipped with the package."""
    return (p.stem for p in sorted(CONFIG_DIR.glob("*.yaml")))
