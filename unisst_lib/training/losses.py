"""The losses of UNISST training: hinge GAN losses and a masked reconstruction error.

Scores are raw critic outputs (no sigmoid) of any shape: patch maps or one per
sample; every loss reduces them with the mean.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F


def d_hinge_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Hinge loss of a critic: ``mean(relu(1 − D(y))) + mean(relu(1 + D(ŷ)))``.

    Scores of any shape (patch maps or per-sample). The original halved this sum,
    a constant factor that Adam ignores.

    >>> d_hinge_loss(torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0]))  # 0.25 + 0.5
    tensor(0.7500)
    """
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def g_hinge_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator side of the hinge GAN: ``−mean(D(ŷ))``.

    (The original code used ``mean(relu(1 − D(ŷ)))``, which stops pushing once the
    critic scores a fake above 1; this is the standard form of SAGAN and BigGAN.)

    >>> g_hinge_loss(torch.tensor([1.0, -2.0]))
    tensor(0.5000)
    """
    return -fake_scores.mean()


def masked_error(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    norm: Literal["l1", "l2"],
) -> torch.Tensor:
    """Mean absolute (``l1``) or squared (``l2``) error over the pixels where ``weight`` is 1.

    No pixel selected gives 0 (the sum is divided by at least 1).

    >>> pred, target = torch.tensor([1.0, 3.0, 9.0]), torch.tensor([0.0, 0.0, 0.0])
    >>> masked_error(pred, target, torch.tensor([1.0, 1.0, 0.0]), "l2")  # (1 + 9) / 2
    tensor(5.)
    """
    diff = (pred - target) * weight
    per_px = diff.abs() if norm == "l1" else diff.square()
    return per_px.sum() / weight.sum().clamp(min=1.0)


def masked_crps(members: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The fair CRPS of an ensemble, averaged over the pixels where ``weight`` is 1.

    ``members``: (M, ...) with M >= 2, each member shaped like ``target``. Per pixel,
    mean_i |x_i − y| − Σ_ij |x_i − x_j| / (2 M (M − 1)): a proper scoring rule whose
    expectation is lowest when the members are drawn from the distribution of ``y``
    (Ferro 2014), so it rewards spread where the error is uncertain. No pixel
    selected gives 0.

    >>> y = torch.tensor([0.0])
    >>> masked_crps(torch.tensor([[1.0], [-1.0]]), y, torch.tensor([1.0]))  # 1 - 2 * 2 / 4
    tensor(0.)
    >>> masked_crps(torch.tensor([[1.0], [1.0]]), y, torch.tensor([1.0]))  # 1 - 0
    tensor(1.)
    """
    m = members.shape[0]
    if m < 2:
        raise ValueError(f"the fair CRPS needs at least 2 members, got {m}")
    skill = (members - target).abs().mean(dim=0)
    spread = (members[:, None] - members[None]).abs().sum(dim=(0, 1)) / (2 * m * (m - 1))
    return ((skill - spread) * weight).sum() / weight.sum().clamp(min=1.0)
