"""Where the networks run: device choice, bf16 autocast and the cuDNN autotuner.

Training, evaluation, gap filling and the notebooks all pick their device and
mixed precision here, so ``"auto"`` and ``bf16`` mean the same everywhere.

>>> select_device("cpu")
device(type='cpu')
>>> with cudnn_benchmark(False):
...     pass
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from unisst_lib.core.errors import UnisstError


def select_device(spec: str = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU; otherwise the device ``spec`` names.

    Raises
    ------
    UnisstError
        ``spec`` names a CUDA device but CUDA is not available.
    """
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UnisstError(f"device {spec!r} asked for but CUDA is not available: use --device cpu")
    return device


def autocast_context(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA when ``enabled``; a no-op elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def cudnn_benchmark(enabled: bool) -> Iterator[None]:
    """Let cuDNN pick the fastest convolution algorithms while inside; restore the flag after.

    ``torch.backends.cudnn.benchmark`` is process-wide: setting it for a run and
    leaving it set would change the speed (and algorithm choice) of whatever the
    caller runs next.
    """
    saved = torch.backends.cudnn.benchmark
    if enabled:
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved
