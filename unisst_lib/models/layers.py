"""Building blocks shared by the generators and discriminators.

Everything here works on PyTorch's ``(B, C, T, H, W)`` video layout, except
:class:`SelfAttention2d`, which works on single frames ``(N, C, H, W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def maybe_spectral_norm(layer: nn.Module, enabled: bool = True) -> nn.Module:
    """Wrap ``layer`` in spectral normalisation (Miyato et al. 2018) when ``enabled``.

    Uses the parametrization API, so the learnable tensor is
    ``layer.parametrizations.weight.original`` and the power-iteration vectors are
    buffers: parameter counts are those of the plain layer.
    """
    return spectral_norm(layer) if enabled else layer


def frames(x: torch.Tensor) -> torch.Tensor:
    """Fold time into the batch: ``(B, C, T, H, W)`` → ``(B·T, C, H, W)``, frame-major."""
    b, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(b * t, c, h, w)  # (B·T, C, H, W)


def unframes(x: torch.Tensor, t: int) -> torch.Tensor:
    """Inverse of :func:`frames`: ``(B·T, C, H, W)`` → ``(B, C, T, H, W)``."""
    bt, c, h, w = x.shape
    return x.reshape(bt // t, t, c, h, w).transpose(1, 2)  # (B, C, T, H, W)


class SelfAttention2d(nn.Module):
    """Self-attention across the positions of a frame, as in the original UNISST code.

    This is the SAGAN layer (Zhang et al. 2019) in the memory-saving form of
    BigGAN, which is what the original repository used: query and key have
    ``C/8`` channels, the value has ``C/2`` channels and is mapped back to ``C`` by
    a 1×1 convolution; keys and values are max-pooled 2×2, so each of the ``H·W``
    queries attends over ``H·W/4`` positions. No ``1/sqrt(d)`` scaling (as in
    SAGAN). The output is ``x + gamma · attention(x)`` with ``gamma`` learned and
    initialised to 0, so the layer starts as the identity. All 1×1 convolutions
    are spectrally normalised.

    Pooling uses ``ceil_mode=True`` so frames of odd size work as well (the
    original required even sizes).
    """

    def __init__(self, channels: int):
        super().__init__()
        if channels % 8:
            raise ValueError(f"SelfAttention2d needs channels divisible by 8, got {channels}")
        self.query = spectral_norm(nn.Conv2d(channels, channels // 8, 1))
        self.key = spectral_norm(nn.Conv2d(channels, channels // 8, 1))
        self.value = spectral_norm(nn.Conv2d(channels, channels // 2, 1))
        self.out = spectral_norm(nn.Conv2d(channels // 2, channels, 1))
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        # One attention "head" per frame: (N, 1, L, d) as scaled_dot_product_attention wants.
        q = self.query(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (N, 1, H·W, C/8)
        k = self.pool(self.key(x)).flatten(2).transpose(1, 2).unsqueeze(1)  # (N, 1, L, C/8)
        v = self.pool(self.value(x)).flatten(2).transpose(1, 2).unsqueeze(1)  # (N, 1, L, C/2)
        # scale=1.0: plain softmax(q·k) as in SAGAN; fused kernels avoid materialising the
        # (H·W) × (H·W/4) attention matrix on GPU.
        a = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # (N, 1, H·W, C/2)
        a = a.squeeze(1).transpose(1, 2).reshape(n, -1, h, w)  # (N, C/2, H, W)
        return x + self.gamma * self.out(a)


class FactorisedConv3d(nn.Module):
    """A (2+1)D convolution (Tran et al. 2018): 1×3×3 in space, SiLU, then 3×1×1 in time.

    About ``(9·C_in + 3·C_out)·C_out`` multiply-adds per position instead of
    ``27·C_in·C_out`` for a full 3×3×3 kernel, with an extra non-linearity and the
    same 3×3×3 receptive field. Sequence ends are zero-padded in time.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.spatial = nn.Conv3d(in_channels, out_channels, (1, 3, 3), padding=(0, 1, 1))
        self.temporal = nn.Conv3d(out_channels, out_channels, (3, 1, 1), padding=(1, 0, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._temporal(F.silu(self.spatial(x)))

    def _temporal(self, x: torch.Tensor) -> torch.Tensor:
        """The 3×1×1 convolution, on one CPU thread as a 1×1×3 one over (N, C, H, W, T).

        On one CPU thread and a batch under 16, PyTorch runs a kernel whose last two
        sizes are 1 with its slow reference convolution instead of oneDNN (5.7× slower
        than on two threads here; 2× slower than this route). Equal to float round-off.
        """
        if x.device.type != "cpu" or torch.get_num_threads() > 1 or x.shape[0] >= 16:
            return self.temporal(x)
        w = self.temporal.weight.permute(0, 1, 3, 4, 2)  # (C_out, C_in, 1, 1, 3)
        y = F.conv3d(x.permute(0, 1, 3, 4, 2), w, self.temporal.bias, padding=(0, 0, 1))
        return y.permute(0, 1, 4, 2, 3)  # (N, C, T, H, W)
