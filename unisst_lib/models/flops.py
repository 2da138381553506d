"""Parameter and FLOP counts of unisst models.

FLOPs come from :class:`torch.utils.flop_counter.FlopCounterMode`, which counts a
multiply-add as **2 FLOPs** and counts only convolutions, matrix products and
attention; element-wise work (normalisation, activations, softmax, additions) is
left out, as is usual. Counting runs on a copy of the model on PyTorch's ``meta``
device by default: shapes are propagated, no arithmetic is done, so counting the
paper generator at full size takes well under a second and needs no memory.

>>> from unisst_lib.models import GeneratorConfig
>>> rows = model_cost_table({"fast": GeneratorConfig()}, seq_shape=(24, 64, 64))
>>> rows[0]["params"] > 0 and rows[0]["flops"] > 0
True
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from unisst_lib.models import GeneratorConfig, build_generator

__all__ = ["count_flops", "count_parameters", "model_cost_table"]


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameter elements, ``sum(p.numel())`` (buffers excluded).

    Spectral-norm layers count their weight once (its power-iteration vectors are
    buffers).
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_flops(module: nn.Module, *example_inputs: torch.Tensor, on_meta: bool = True) -> int:
    """FLOPs of one forward pass ``module(*example_inputs)``; a multiply-add counts 2.

    The module runs in eval mode without gradients, so nothing about it changes:
    no BatchNorm running statistics, no spectral-norm power iteration. With
    ``on_meta=True`` (default) a copy of the module and the inputs is moved to the
    ``meta`` device first, so the count is instant and the module's own device
    and memory are not touched. Use ``on_meta=False`` for a module whose forward
    pass reads tensor values (data-dependent control flow).
    """
    if on_meta:
        target = copy.deepcopy(module).to("meta")
        inputs = tuple(x.to("meta") for x in example_inputs)
    else:
        target, inputs = module, example_inputs
    was_training = target.training
    target.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            target(*inputs)
    finally:
        target.train(was_training)
    return int(counter.get_total_flops())


def model_cost_table(
    configs: dict[str, GeneratorConfig],
    seq_shape: tuple[int, int, int] = (24, 64, 64),
) -> list[dict]:
    """Parameters and FLOPs per forward pass of one sequence, for each generator config.

    Parameters
    ----------
    configs
        Name → generator config, e.g. ``{"paper": GeneratorConfig(arch="paper")}``.
    seq_shape
        ``(T, H, W)`` of the sequence, batch size 1.

    Returns
    -------
    list of dict
        One row per config, in order, with keys ``name``, ``arch``, ``params``,
        ``flops`` (forward pass, multiply-add = 2) and ``seq_shape``.
    """
    rows = []
    shape = (1, 1, *seq_shape)  # (B, C, T, H, W)
    for name, cfg in configs.items():
        with torch.device("meta"):  # build without allocating or initialising real weights
            generator = build_generator(cfg)
        y = torch.zeros(shape, device="meta")
        mask = torch.zeros(shape, device="meta")
        rows.append(
            {
                "name": name,
                "arch": cfg.arch,
                "params": count_parameters(generator),
                "flops": count_flops(generator, y, mask),
                "seq_shape": tuple(seq_shape),
            }
        )
    return rows
