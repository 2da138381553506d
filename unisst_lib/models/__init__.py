"""Models: generators and critics for UNISST gap filling, and the device they run on.

May import: ``core`` (models know nothing of files, training or evaluation).

Two generators share one call signature, ``G(y, mask) -> (B, 1, T, H, W)``:

* ``"fast"`` (default): a (2+1)D U-Net, 1.26 M parameters, 13.1 GFLOP per 24×64×64
  sequence; trains on a laptop CPU and flies on a GPU (:mod:`.fast`);
* ``"paper"``: the original 3D ResNet of Yin et al. (2019), 14.80 M parameters,
  2.92 TFLOP per sequence: GPU only (:mod:`.paper`).

FLOPs count a multiply-add as 2 (:mod:`unisst_lib.models.flops`); the device and
bf16 autocast they run with are chosen in :mod:`unisst_lib.models.device`.

The two critics are those of the original (:class:`.paper.ImageDiscriminator`,
:class:`.paper.VideoDiscriminator`); their hinge losses are training's
(:mod:`unisst_lib.training.losses`). Tensors are ``(B, C, T, H, W)``; ``y`` is the
normalised observation with occluded pixels set to 1.0 and ``mask`` is 1.0 where
occluded, 0.0 where observed.

>>> import torch
>>> g = build_generator(GeneratorConfig())
>>> y, mask = torch.zeros(1, 1, 4, 32, 32), torch.zeros(1, 1, 4, 32, 32)
>>> mask[..., 8:24, 8:24] = 1.0
>>> reconstruct(g, y, mask).shape
torch.Size([1, 1, 4, 32, 32])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .fast import FastGenerator
from .paper import ImageDiscriminator, PaperGenerator, VideoDiscriminator

__all__ = [
    "DiscriminatorConfig",
    "FastGenerator",
    "GeneratorConfig",
    "ImageDiscriminator",
    "PaperGenerator",
    "VideoDiscriminator",
    "build_discriminators",
    "build_generator",
    "reconstruct",
]


@dataclass(frozen=True)
class GeneratorConfig:
    """Which generator to build, and its size.

    Attributes
    ----------
    arch
        ``"fast"`` (the (2+1)D U-Net, default) or ``"paper"`` (the original 3D ResNet).
    base_channels
        fast: width at full resolution (default 16; on a CPU, 24 is 3.5× slower).
    channel_mults
        fast: width multiplier per resolution, full resolution first; there are
        ``len(channel_mults) - 1`` spatial 2× down-samplings (default (1, 2, 4, 8):
        64×64 → 8×8 with widths 16, 32, 64, 128).
    norm_groups
        fast: GroupNorm groups; must divide ``base_channels * m`` for every multiplier.
    first_guess
        fast: ``"temporal"`` feeds a per-pixel temporal interpolation of the
        observations in the window and learns a correction to it; ``"record"`` the
        same, but the caller gives the interpolation over a longer record
        (``guess=``: what DINEOF sees, a window cannot; without it, the window's);
        ``"none"`` (default) neither.
    noise_channels
        fast: channels of Gaussian noise fed with the input (and, pooled, at the
        bottleneck): 0 (default) is a deterministic generator; > 0 makes one whose
        members (different noise, same observation) differ under the clouds, trained
        with ``loss.self_supervised_norm: crps`` so that their spread is learnt.
    paper_ngf
        paper: base width of the original (32 gives the published 14.8 M parameters).
    """

    arch: Literal["paper", "fast"] = "fast"
    base_channels: int = 16
    channel_mults: tuple[int, ...] = (1, 2, 4, 8)
    norm_groups: int = 8
    first_guess: Literal["none", "temporal", "record"] = "none"
    noise_channels: int = 0
    paper_ngf: int = 32

    def __post_init__(self) -> None:
        if self.arch not in ("paper", "fast"):
            raise ValueError(f"GeneratorConfig.arch must be 'paper' or 'fast', got {self.arch!r}")
        if len(self.channel_mults) < 1 or min(self.channel_mults) < 1 or self.base_channels < 1:
            raise ValueError(
                "GeneratorConfig needs base_channels >= 1 and a non-empty channel_mults of "
                f"positive integers, got {self.base_channels} and {self.channel_mults}"
            )
        if self.noise_channels < 0 or (self.noise_channels and self.arch != "fast"):
            raise ValueError(
                "GeneratorConfig.noise_channels must be >= 0, and > 0 only with arch 'fast' "
                f"(got {self.noise_channels} with arch {self.arch!r})"
            )
        widths = [self.base_channels * m for m in self.channel_mults]
        if any(w % self.norm_groups for w in widths):
            raise ValueError(
                f"norm_groups={self.norm_groups} must divide every fast-generator width "
                f"{widths}; change base_channels or norm_groups"
            )
        if self.paper_ngf < 4 or self.paper_ngf % 4:
            # The attention layer runs on 2·ngf channels and needs them divisible by 8.
            raise ValueError(f"paper_ngf must be a positive multiple of 4, got {self.paper_ngf}")


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Size of the two PatchGAN critics (defaults are the original's).

    Attributes
    ----------
    ndf
        Width of the first convolution; later widths double, capped at 8·ndf.
    n_layers
        Number of stride-2 convolutions (spatial strides only in the video critic).
        6 takes a 64×64 frame to a single patch.
    spectral_norm
        Spectrally normalise every convolution (the original did).
    """

    ndf: int = 32
    n_layers: int = 6
    spectral_norm: bool = True

    def __post_init__(self) -> None:
        if self.ndf < 1 or self.n_layers < 1:
            raise ValueError(
                f"DiscriminatorConfig needs ndf >= 1 and n_layers >= 1, got {self.ndf}, "
                f"{self.n_layers}"
            )


def build_generator(cfg: GeneratorConfig) -> nn.Module:
    """Build the generator ``cfg`` describes (on the current default device)."""
    if cfg.arch == "paper":
        return PaperGenerator(ngf=cfg.paper_ngf)
    return FastGenerator(
        base_channels=cfg.base_channels,
        channel_mults=cfg.channel_mults,
        norm_groups=cfg.norm_groups,
        first_guess=cfg.first_guess,
        noise_channels=cfg.noise_channels,
    )


def build_discriminators(cfg: DiscriminatorConfig) -> tuple[nn.Module, nn.Module]:
    """Build ``(image_d, video_d)``; see their classes for the output shapes."""
    image_d = ImageDiscriminator(cfg.ndf, cfg.n_layers, use_spectral_norm=cfg.spectral_norm)
    video_d = VideoDiscriminator(cfg.ndf, cfg.n_layers, use_spectral_norm=cfg.spectral_norm)
    return image_d, video_d


def reconstruct(
    generator: nn.Module,
    y: torch.Tensor,
    mask: torch.Tensor,
    guess: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fill the occluded pixels of ``y`` with the generator's output.

    ``x̂ = (1 − mask)·y + mask·G(y, mask)`` for a binary mask, computed with
    ``torch.where`` so that observed pixels are copied bit for bit (the arithmetic
    form would turn −0.0 into 0.0 and a non-finite G output into NaN). Gradients
    reach G only through occluded pixels.

    Parameters
    ----------
    generator
        Any unisst generator, called as ``generator(y, mask)``.
    y
        Observation ``(B, 1, T, H, W)``, occluded pixels at any fill value.
    mask
        Same shape, 1 (or True) where occluded, 0 where observed.
    guess
        Same shape: a first guess from outside the window (``first_guess="record"``),
        normalised like ``y``; None: the generator's own.
    noise
        ``(B, K, T, H, W)``: one ensemble member's noise for a generator with K noise
        channels; None: its central member in eval mode.
    """
    if mask.shape != y.shape:
        raise ValueError(
            f"mask shape {tuple(mask.shape)} differs from y shape {tuple(y.shape)}; both must "
            "be (B, 1, T, H, W)"
        )
    extra = {k: v for k, v in (("guess", guess), ("noise", noise)) if v is not None}
    filled = generator(y, mask, **extra)
    if filled.shape != y.shape:
        raise ValueError(
            f"generator returned shape {tuple(filled.shape)} for input {tuple(y.shape)}"
        )
    return torch.where(mask.bool(), filled, y)
