"""One UNISST training step: ``d_steps_per_g`` critic updates, then one generator update.

On a batch of cloudy observations ``y`` with cloud masks ``m`` (1 = occluded) —
never the truth under the clouds:

1. ``x̂ = (1 − m)·y + m·G(y, m)``: observed pixels are kept exactly;
2. ``ŷ = occlude(x̂, m′)`` with an independent cloud window ``m′``;
3. the critics (a per-frame 2D PatchGAN and a 3D PatchGAN on temporal
   differences) learn ``y`` = real, ``ŷ`` = fake with the hinge loss; the
   generator is updated every ``d_steps_per_g`` critic updates.

Optionally (``loss.self_supervised_weight > 0``), a further cloud-shaped part of
the *observed* pixels is hidden from G and its reconstruction is penalised there
(DINCAE-style) — still without any truth under the real clouds.

``loss.supervised_weight > 0`` trains an *oracle*: G gets the hybrid's input (the
same further pixels hidden) and is penalised against the truth at every pixel
hidden from it, which only a twin has. It is an upper bound for the benchmark,
not UNISST; with ``adversarial_weight = 0`` the critics are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from unisst_lib.core.errors import UnisstError
from unisst_lib.evaluation.validation import occlude
from unisst_lib.models.device import autocast_context
from unisst_lib.training.config import TrainConfig
from unisst_lib.training.losses import d_hinge_loss, g_hinge_loss, masked_crps, masked_error

Batch = dict[str, torch.Tensor]


class TrainingError(UnisstError, RuntimeError):
    """Training stopped: diverged (NaN/inf) or collapsed (a critic won outright)."""


@dataclass
class Models:
    """The three networks of a run, their optimisers and learning-rate schedules.

    ``generator``, ``image_d`` and ``video_d`` are the plain modules (evaluated
    and checkpointed); ``*_train`` are what the training step calls: the same
    modules, or their DistributedDataParallel wrappers on several processes.
    """

    generator: nn.Module
    image_d: nn.Module
    video_d: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.LRScheduler
    sched_d: torch.optim.lr_scheduler.LRScheduler
    g_train: nn.Module
    i_train: nn.Module
    v_train: nn.Module


@dataclass
class RunState:
    """Where a run stands: what a checkpoint records besides the networks."""

    step: int = 0  # generator updates done
    # the best validation value of cfg.selection_metric (the withheld-pixel RMSE for
    # UNISST; an oracle's truth RMSE)
    best_holdout_rmse_c: float = math.inf
    stale_evals: int = 0  # evaluations since the last new best (for cfg.patience)
    last_eval: dict[str, float] = field(default_factory=dict)
    quiet_critic_updates: int = 0  # consecutive critic updates with a ~0 loss


class GANStep:
    """Callable: one training step on the next batches; returns the step's losses.

    Parameters
    ----------
    models
        The networks, optimisers and schedules to update.
    cfg
        The run's config (loss weights, critic steps, collapse patience, schedule).
    device
        Where the batches go.
    bf16
        Run the networks under bf16 autocast (CUDA only).
    fill_value
        The normalised value of occluded pixels in an observation.
    latest
        The run's ``latest.pt``, named by the divergence error as the state to resume from.
    """

    def __init__(
        self,
        models: Models,
        cfg: TrainConfig,
        *,
        device: torch.device,
        bf16: bool,
        fill_value: float,
        latest: Path,
    ) -> None:
        self.models, self.cfg = models, cfg
        self.device, self.bf16, self.fill, self.latest = device, bf16, fill_value, latest
        self.nan = torch.tensor(float("nan"))  # the loss of a term this run does not use

    def __call__(self, batches: Iterator[Batch], state: RunState) -> dict[str, float]:
        """Update the critics ``cfg.critic_steps`` times, then the generator once.

        Draws one batch per critic update (one in all without critics); the
        generator trains on the last. ``state.step`` is read, not advanced.
        """
        loss_d = loss_di = loss_dv = self.nan
        for _ in range(self.cfg.critic_steps):
            b = {name: t.to(self.device, non_blocking=True) for name, t in next(batches).items()}
            if not self.cfg.adversarial:
                break
            loss_d, loss_di, loss_dv = self._update_critics(b)
            self._watch_critics(loss_d, state)
        loss_g, terms = self._update_generator(b)
        _check_finite(loss_g, "generator", state.step, self.latest)
        if self.cfg.optim.schedule == "cosine":
            self.models.sched_g.step()
            if self.cfg.adversarial:
                self.models.sched_d.step()
        losses = {"loss_d": loss_d, "loss_d_image": loss_di, "loss_d_video": loss_dv, **terms}
        return {key: loss.item() for key, loss in losses.items()}

    def _forward_g(
        self,
        y: torch.Tensor,
        m: torch.Tensor,
        hide: torch.Tensor,
        guess: torch.Tensor | None,
        members: int = 1,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """G on the observation with extra pixels hidden.

        Returns (G output, x̂, hidden-observed or None, every pixel hidden from G).
        ``guess``: the batch's first guess from the record (made without ``hide``), or None.
        ``members > 1`` (a stochastic G): the G outputs of that many members, drawn in
        one pass, (members, B, 1, T, H, W); x̂ is the first member's.
        """
        if members > 1:
            rep = [members] + [1] * (y.dim() - 1)
            both = self._forward_g(
                y.repeat(rep), m.repeat(rep), hide.repeat(rep),
                None if guess is None else guess.repeat(rep),
            )  # fmt: skip
            g_out = both[0].unflatten(0, (members, y.shape[0]))  # (M, B, 1, T, H, W)
            x_hat = both[1][: y.shape[0]]
            withheld = None if both[2] is None else both[2][: y.shape[0]]
            return g_out, x_hat, withheld, both[3][: y.shape[0]]
        if self.cfg.hides_observed:
            m_in = torch.clamp(m + hide, max=1.0)
            withheld = hide * (1 - m)
        else:
            m_in, withheld = m, None
        g_in = occlude(y, m_in, self.fill)
        if guess is None:
            g_out = self.models.g_train(g_in, m_in)
        else:
            g_out = self.models.g_train(g_in, m_in, guess=guess)
        x_hat = torch.where(m.bool(), g_out, y)  # observed pixels kept exactly
        return g_out, x_hat, withheld, m_in

    def _update_critics(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One critic update: real observations ``y`` vs simulated observations ``ŷ``."""
        lc, models = self.cfg.loss, self.models
        y, m = b["y"], b["mask"]
        with torch.no_grad(), autocast_context(self.device, self.bf16):
            _, x_hat, _, _ = self._forward_g(y, m, b["hide"], b.get("guess"))
            y_fake = occlude(x_hat.float(), b["reocclusion"], self.fill)
        with autocast_context(self.device, self.bf16):
            both = torch.cat([y, y_fake])  # (2B, 1, T, H, W): one critic pass (DDP-safe)
            s_img = models.i_train(both).float()
            s_vid = models.v_train(both).float()
            half_i, half_v = s_img.shape[0] // 2, s_vid.shape[0] // 2
            loss_di = d_hinge_loss(s_img[:half_i], s_img[half_i:])
            loss_dv = d_hinge_loss(s_vid[:half_v], s_vid[half_v:])
            loss_d = lc.image_weight * loss_di + lc.video_weight * loss_dv
        models.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        models.opt_d.step()
        return loss_d, loss_di, loss_dv

    def _watch_critics(self, loss_d: torch.Tensor, state: RunState) -> None:
        """Stop on a diverged critic loss, or on one that stayed ~0 for too long."""
        _check_finite(loss_d, "critic", state.step, self.latest)
        quiet = state.quiet_critic_updates + 1 if loss_d.item() < 1e-3 else 0
        state.quiet_critic_updates = quiet
        if quiet >= self.cfg.collapse_patience:
            raise TrainingError(
                f"the critics' loss has been ~0 for {quiet} updates at step {state.step}: "
                "they separate real from simulated observations perfectly and the "
                "generator gets no useful gradient. Lower optim.lr_d, raise "
                "loss.self_supervised_weight, or resume from an earlier checkpoint."
            )

    def _update_generator(self, b: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One generator update; returns its total loss and the terms, NaN where unused."""
        lc, models = self.cfg.loss, self.models
        y, m = b["y"], b["mask"]
        with autocast_context(self.device, self.bf16):
            g_all, x_hat, withheld, m_in = self._forward_g(
                y, m, b["hide"], b.get("guess"), members=2 if self.cfg.crps else 1
            )
            g_out = g_all[0] if self.cfg.crps else g_all
            loss_g = torch.zeros((), device=self.device)
            loss_adv = loss_ss = loss_sup = self.nan
            if self.cfg.adversarial:
                y_fake = occlude(x_hat, b["reocclusion"], self.fill)
                s_img = models.i_train(y_fake).float()
                s_vid = models.v_train(y_fake).float()
                loss_adv = lc.image_weight * g_hinge_loss(s_img)
                loss_adv = loss_adv + lc.video_weight * g_hinge_loss(s_vid)
                loss_g = loss_g + lc.adversarial_weight * loss_adv
            if withheld is not None and lc.self_supervised_weight > 0:
                if self.cfg.crps:
                    loss_ss = masked_crps(g_all.float(), y, withheld)
                else:
                    loss_ss = masked_error(g_out.float(), y, withheld, lc.self_supervised_norm)
                loss_g = loss_g + lc.self_supervised_weight * loss_ss
            if lc.supervised_weight > 0:  # the truth under the clouds: an oracle, not UNISST
                x = b["x"]
                under = m_in * torch.isfinite(x)  # every pixel hidden from G
                loss_sup = masked_error(g_out.float(), torch.nan_to_num(x), under, "l1")
                loss_g = loss_g + lc.supervised_weight * loss_sup
        models.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        models.opt_g.step()
        terms = {
            "loss_g_adv": loss_adv,
            "loss_self_supervised": loss_ss,
            "loss_supervised": loss_sup,
        }
        return loss_g, terms


def _check_finite(loss: torch.Tensor, who: str, step: int, latest: Path) -> None:
    value = loss.detach().item()
    if not math.isfinite(value):
        raise TrainingError(
            f"the {who} loss became {value} at step {step}: training diverged. Lower "
            f"optim.lr_g / optim.lr_d or turn bf16 off, and resume from {latest} "
            "(the last good state)."
        )
