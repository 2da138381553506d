"""The original UNISST networks (Yin et al. 2019): 3D ResNet generator, PatchGAN critics.

Faithful to the original code in layer order, widths, kernels, biases and
spectral normalisation, so parameter counts match (≈14.8 M, 2.2 M, 6.5 M). Two
deliberate differences, both bug fixes that change no parameter or FLOP:

* the original folded time into the batch for the attention layer with
  ``x.view(-1, C, H, W)`` on a ``(B, C, T, H, W)`` tensor, which mixes channels and
  time steps; we transpose first, so attention really runs on each frame;
* attention pooling uses ``ceil_mode``, so frames of any size work.

The original initialised weights with ``normal(0, 0.02)`` *after* wrapping the
convolutions in spectral norm, which wrote into the derived ``weight`` tensor and
was overwritten on the next forward pass; the effective initialisation was
PyTorch's default, which is what we keep.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from .layers import SelfAttention2d, frames, maybe_spectral_norm, unframes


class PaperResBlock3d(nn.Module):
    """Pre-activation 3D residual block at constant resolution.

    BN → ReLU → Conv3d 3×3×3 → BN → ReLU → Conv3d 3×3×3, plus a 1×1×1 shortcut
    convolution when the width changes (identity otherwise). Convolutions are
    spectrally normalised and have no bias (as in the original: BN follows them).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()

        def conv(c_in: int, c_out: int, k: int) -> nn.Module:
            return maybe_spectral_norm(nn.Conv3d(c_in, c_out, k, padding=k // 2, bias=False))

        self.norm1 = nn.BatchNorm3d(in_channels)
        self.conv1 = conv(in_channels, out_channels, 3)
        self.norm2 = nn.BatchNorm3d(out_channels)
        self.conv2 = conv(out_channels, out_channels, 3)
        self.relu = nn.ReLU()
        self.shortcut = (
            conv(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.relu(self.norm1(x)))
        h = self.conv2(self.relu(self.norm2(h)))
        return self.shortcut(x) + h


class PaperGenerator(nn.Module):
    """The original UNISST generator: a full-resolution 3D ResNet with frame attention.

    Widths 1 → ngf → 16·ngf → 8·ngf → 4·ngf → 2·ngf (five residual blocks), 2D
    self-attention on each frame at 2·ngf channels, a residual block to ngf, then
    BN → ReLU → spectral-norm Conv3d 3×3×3 (with bias) → 1 channel → tanh.
    With ``ngf=32`` it has 14,799,700 parameters and costs 2.92 TFLOP
    (multiply-add = 2 FLOPs) per 24×64×64 sequence: a GPU model.

    Called as ``G(y, mask)`` like every unisst generator, but, as in the original,
    only the occluded observation ``y`` (occluded pixels set to 1.0) is used;
    ``mask`` is accepted and ignored. Output ``(B, 1, T, H, W)`` in (-1, 1).
    BatchNorm is used as in the original (batch statistics over B·T·H·W positions,
    so batch 1 is fine in training).
    """

    def __init__(self, ngf: int = 32):
        super().__init__()
        widths = [1, ngf, 16 * ngf, 8 * ngf, 4 * ngf, 2 * ngf]
        self.trunk = nn.Sequential(*[PaperResBlock3d(a, b) for a, b in pairwise(widths)])
        self.attention = SelfAttention2d(2 * ngf)
        self.tail = PaperResBlock3d(2 * ngf, ngf)
        self.head = nn.Sequential(
            nn.BatchNorm3d(ngf),
            nn.ReLU(),
            maybe_spectral_norm(nn.Conv3d(ngf, 1, 3, padding=1)),
            nn.Tanh(),
        )

    def forward(self, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.trunk(y)  # (B, 2·ngf, T, H, W)
        h = unframes(self.attention(frames(h)), t=y.shape[2])  # (B, 2·ngf, T, H, W)
        return self.head(self.tail(h))  # (B, 1, T, H, W)


def _patchgan(
    conv: type[nn.Conv2d] | type[nn.Conv3d],
    stride: int | tuple[int, int, int],
    ndf: int,
    n_layers: int,
    use_spectral_norm: bool,
) -> nn.Sequential:
    """The pix2pix/vid2vid PatchGAN stack the original used, in 2D or 3D.

    ``n_layers`` strided convolutions with widths ndf·min(2^i, 8), then a
    stride-1 convolution at ndf·min(2^n_layers, 8) and a stride-1 convolution to
    one channel; LeakyReLU 0.2 after all but the last; all with bias. Every kernel
    is 3 (padding 1), as in the original code. Kernel 4 (pix2pix's default) would
    give 3.8 M (2D) and 15.4 M (4×4×4) parameters instead of the published 2.2 M
    and 6.5 M, and its two stride-1 layers would shrink a 1×1 map to nothing.
    With kernel 3, padding 1 and stride 2 a side of n becomes ceil(n/2), so any
    size ≥ 1 stays valid (64 → 32 → 16 → 8 → 4 → 2 → 1 with 6 layers, then 1 → 1).
    """
    widths = [1] + [ndf * min(2**i, 8) for i in range(n_layers)]
    last = ndf * min(2**n_layers, 8)

    def block(c_in: int, c_out: int, s: int | tuple[int, int, int]) -> list[nn.Module]:
        layer = conv(c_in, c_out, 3, stride=s, padding=1)
        return [maybe_spectral_norm(layer, use_spectral_norm), nn.LeakyReLU(0.2)]

    layers: list[nn.Module] = []
    for c_in, c_out in pairwise(widths):
        layers += block(c_in, c_out, stride)
    layers += block(widths[-1], last, 1)
    layers.append(maybe_spectral_norm(conv(last, 1, 3, stride=1, padding=1), use_spectral_norm))
    return nn.Sequential(*layers)


class ImageDiscriminator(nn.Module):
    """2D PatchGAN critic applied to every frame independently.

    2,160,385 parameters with the defaults (ndf 32, 6 stride-2 layers).

    Input ``(B, 1, T, H, W)``; frames are folded into the batch. Returns raw patch
    scores (no sigmoid) as ``(B, 1, T, h, w)`` with ``h = ceil(H / 2^n_layers)``:
    ``(B, 1, T, 1, 1)`` for 64×64 frames and the default 6 layers. The original
    took the mean of the hinge loss over these scores, which is what
    :func:`unisst_lib.training.losses.d_hinge_loss` does.
    """

    def __init__(self, ndf: int = 32, n_layers: int = 6, use_spectral_norm: bool = True):
        super().__init__()
        self.net = _patchgan(nn.Conv2d, 2, ndf, n_layers, use_spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return unframes(self.net(frames(x)), t=x.shape[2])  # (B, 1, T, h, w)


class VideoDiscriminator(nn.Module):
    """3D PatchGAN critic on temporal differences.

    6,478,657 parameters with the defaults (ndf 32, 6 stride-2 layers).

    Input ``(B, 1, T, H, W)`` with T ≥ 2; the critic sees
    ``x[:, :, 1:] − x[:, :, :-1]`` (the original used the opposite sign, which a
    critic learns either way). Strides are (1, 2, 2): time is never down-sampled.
    Returns one raw score per sample, shape ``(B,)``: the patch scores summed over
    (t, h, w), as in the original (``pooling: True``), so the score grows with the
    number of frames.
    """

    def __init__(self, ndf: int = 32, n_layers: int = 6, use_spectral_norm: bool = True):
        super().__init__()
        self.net = _patchgan(nn.Conv3d, (1, 2, 2), ndf, n_layers, use_spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] < 2:
            raise ValueError(
                f"VideoDiscriminator needs at least 2 frames to take differences, got "
                f"T={x.shape[2]}; pass sequences shaped (B, 1, T, H, W) with T >= 2"
            )
        diff = x[:, :, 1:] - x[:, :, :-1]  # (B, 1, T-1, H, W)
        return self.net(diff).sum(dim=(1, 2, 3, 4))  # (B,)
