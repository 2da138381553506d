"""What the training notebook calls: the config, live curves, tables and summaries of a run.

``03_training`` builds its config with :func:`training_config` (the notebook's
parameters over a named config), shows it with :func:`describe_config`, trains
with a :class:`LiveTrainingPlot` redrawing the curves at every evaluation, and
reports with :func:`training_summary`, :func:`validation_table`,
:func:`checkpoint_table` and :func:`training_metrics` (for the sweep).
``04_visualisation`` gets its model from :func:`load_or_train_generator`.

The notebooks import this module as ``tv``::

    from unisst_lib.notebooks import training_view as tv
"""

from __future__ import annotations

import io
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unisst_lib.notebooks.helpers import metrics_from_eval
from unisst_lib.notebooks.locations import NotebookError

log = logging.getLogger(__name__)


def training_config(
    config: str,
    *,
    steps: int | None = None,
    threshold_gm2: float | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
    eval_every: int | None = None,
    val_sequences: int | None = None,
    split_set: str | None = None,
    clouds: str | None = None,
):
    """:func:`~unisst_lib.training.config.load_config` with the notebook's overrides (None: keep).

    ``eval_every`` is capped at ``steps`` so that a short run still evaluates;
    ``val_sequences`` is how many validation sequences each evaluation scores;
    ``split_set`` / ``clouds`` pick other data of the manifest (e.g. ``anfc`` and
    ``figshare`` once downloaded).
    """
    from unisst_lib.training.config import load_config

    base = load_config(config)
    over: dict[str, Any] = {}
    if steps is not None:
        over["steps"] = int(steps)
    if device is not None:
        over["device"] = device
    n = int(steps) if steps is not None else base.steps
    every = int(eval_every) if eval_every is not None else base.eval_every
    if every > n:
        every = n
    if every != base.eval_every:
        over["eval_every"] = every
    if base.log_every > n:
        over["log_every"] = n
    data = _data_overrides(
        threshold_gm2=threshold_gm2,
        data_dir=data_dir,
        val_sequences=val_sequences,
        split_set=split_set,
        clouds=clouds,
    )
    if data:
        over["data"] = data
    return load_config(config, **over)


def _data_overrides(
    *,
    threshold_gm2: float | None,
    data_dir: str | os.PathLike[str] | None,
    val_sequences: int | None,
    split_set: str | None,
    clouds: str | None,
) -> dict[str, Any]:
    """The ``data:`` section overrides of :func:`training_config` (the ones not None)."""
    data: dict[str, Any] = {}
    if threshold_gm2 is not None:
        data["threshold_gm2"] = float(threshold_gm2)
    if data_dir is not None:
        data["data_dir"] = os.fspath(data_dir)
    if val_sequences is not None:
        data["val_sequences"] = int(val_sequences)
    if split_set is not None:
        data["split_set"] = str(split_set)
    if clouds is not None:
        data["clouds"] = str(clouds)
    return data


def describe_config(cfg) -> list[dict[str, Any]]:
    """The settings of a training config that matter to a reader, as (setting, value) rows."""
    from unisst_lib.models import build_generator

    n_params = sum(p.numel() for p in build_generator(cfg.generator).parameters())
    lc = cfg.loss
    losses = [f"adversarial × {lc.adversarial_weight:g}"] if lc.adversarial_weight else []
    if lc.self_supervised_weight:
        losses.append(f"withheld observed pixels ({lc.self_supervised_norm}) × "
                      f"{lc.self_supervised_weight:g}")  # fmt: skip
    if lc.supervised_weight:
        losses.append(f"truth under the clouds (ORACLE) × {lc.supervised_weight:g}")
    return [
        {"setting": "config", "value": cfg.name},
        {"setting": "generator", "value": f"{cfg.generator.arch}, {n_params / 1e6:.2f} M params"},
        {"setting": "generator loss", "value": " + ".join(losses)},
        {"setting": "steps (generator updates)", "value": cfg.steps},
        {"setting": "batch (sequences)", "value": cfg.batch_size},
        {"setting": "critic updates per step", "value": cfg.critic_steps},
        {
            "setting": "learning rates (G, critics)",
            "value": f"{cfg.optim.lr_g:g}, {cfg.optim.lr_d:g}",
        },
        {"setting": "evaluate every", "value": f"{cfg.eval_every} steps"},
        {"setting": "validation sequences", "value": cfg.data.val_sequences or "all"},
        {"setting": "LWP threshold", "value": f"{cfg.data.threshold_gm2:g} g m-2"},
        {
            "setting": "data",
            "value": f"{cfg.data.split_set} / {cfg.data.clouds} clouds, "
            f"{cfg.data.data_dir or 'default data dir'}",
        },
        {"setting": "device", "value": cfg.device},
    ]


class LiveTrainingPlot:
    """Loss and validation curves redrawn in the notebook at every evaluation.

    Pass an instance as ``on_eval`` to :func:`unisst_lib.training.loop.train`; it reads
    the run's ``train_log.csv`` / ``val_log.csv`` and replaces the figure shown
    in the cell output (one image, updated in place). With ``resume`` and a
    run that has already logged evaluations, the curves so far show at once.
    """

    def __init__(
        self, run_dir: str | os.PathLike[str], *, resume: bool = True, title: str | None = None
    ) -> None:
        from IPython.display import Markdown, display

        self.run_dir = Path(run_dir)
        self.title = title
        self.updates = 0
        self._handle = display(
            Markdown("*The curves appear here after the first evaluation.*"), display_id=True
        )
        if resume and (self.run_dir / "checkpoints" / "latest.pt").is_file():
            last = last_validation(self.run_dir)
            if last:
                self(int(last["step"]), last)

    def __call__(self, step: int, metrics: Mapping[str, float]) -> None:
        from IPython.display import Image

        from unisst_lib.views.plots import training_curves_figure

        title = self.title or f"{self.run_dir} — step {step}"
        if metrics:
            title += (
                f": withheld-pixel RMSE {metrics.get('holdout_rmse_c', math.nan):.3f} °C, "
                f"under the clouds {metrics.get('rmse_occluded_c', math.nan):.3f} °C"
            )
        fig = training_curves_figure(self.run_dir, title=title)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        if self._handle is not None:
            self._handle.update(Image(data=buf.getvalue(), format="png"))
        self.updates += 1


def checkpoint_table(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The checkpoints of a run: file, step, best withheld-pixel RMSE (°C), size (MB)."""
    from unisst_lib.training.checkpoints import load_checkpoint

    rows = []
    for path in sorted((Path(run_dir) / "checkpoints").glob("*.pt")):
        state = load_checkpoint(path)
        rows.append(
            {
                "checkpoint": str(path),
                "step": int(state["step"]),
                "withheld-pixel RMSE (°C)": round(float(state["best_holdout_rmse_c"]), 4),
                "size (MB)": round(path.stat().st_size / 1e6, 1),
            }
        )
    return rows


def load_or_train_generator(
    checkpoint: str | os.PathLike[str],
    *,
    fallback_config: str = "fast",
    fallback_steps: int = 30,
    threshold_gm2: float | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    device: str = "auto",
):
    """The generator of ``checkpoint``; when it does not exist, train one briefly first.

    The fallback trains ``fallback_config`` for ``fallback_steps`` steps into the
    checkpoint's run directory (``runs/x`` for ``runs/x/checkpoints/best.pt``),
    resuming if it can, so the next call finds the checkpoint.

    Returns
    -------
    (generator, config, trained)
        The generator in eval mode on ``device``, its training config, and
        whether it was trained by this call.
    """
    from unisst_lib.models.device import select_device
    from unisst_lib.training.checkpoints import load_generator
    from unisst_lib.training.loop import train

    checkpoint = Path(checkpoint)
    trained = False
    if not checkpoint.is_file():
        in_ckpt_dir = checkpoint.parent.name == "checkpoints"
        run = checkpoint.parent.parent if in_ckpt_dir else checkpoint.parent
        log.warning(
            "no checkpoint at %s: training the %r config for %d steps into %s first",
            checkpoint, fallback_config, fallback_steps, run,
        )  # fmt: skip
        cfg = training_config(
            fallback_config,
            steps=fallback_steps,
            threshold_gm2=threshold_gm2,
            data_dir=data_dir,
            device=device,
        )
        train(cfg, run, resume=True, tensorboard=False)
        trained = True
        if not checkpoint.is_file():
            raise NotebookError(
                f"training into {run} did not write {checkpoint}: name a checkpoint "
                "`<run>/checkpoints/best.pt` or `latest.pt`"
            )
    dev = select_device(device)
    generator, cfg = load_generator(checkpoint, device=dev)
    return generator, cfg, trained


def last_validation(run_dir: str | os.PathLike[str]) -> dict[str, float]:
    """The last row of a run's ``val_log.csv`` (empty when it has not evaluated yet)."""
    from unisst_lib.views.plots import read_log

    rows = read_log(Path(run_dir) / "val_log.csv")
    return rows[-1] if rows else {}


def training_summary(result) -> str:
    """One paragraph on a finished :func:`unisst_lib.training.loop.train` run (°C)."""
    ev = result.last_eval or last_validation(result.out_dir)
    if not ev:
        return f"step {result.step}: no evaluation yet ({result.out_dir})"
    return (
        f"step {result.step} ({result.seconds:.0f} s this session): RMSE on withheld observed "
        f"pixels {ev['holdout_rmse_c']:.3f} °C (best {result.best_holdout_rmse_c:.3f} °C, "
        f"which selects best.pt); RMSE under the clouds against the truth "
        f"{ev['rmse_occluded_c']:.3f} °C, against {ev['mean_fill_rmse_occluded_c']:.3f} °C for "
        f"filling with the sequence mean ({100 * ev['occlusion_rate']:.0f} % of the pixels "
        "occluded)."
    )


def validation_table(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The run's validation log with readable column names (°C; occlusion in %)."""
    from unisst_lib.views.plots import read_log

    out = []
    for r in read_log(Path(run_dir) / "val_log.csv"):
        out.append(
            {
                "step": int(r["step"]),
                "withheld-pixel RMSE (°C)": round(r["holdout_rmse_c"], 4),
                "RMSE under clouds (°C)": round(r["rmse_occluded_c"], 4),
                "MAE under clouds (°C)": round(r["mae_occluded_c"], 4),
                "sequence-mean RMSE (°C)": round(r["mean_fill_rmse_occluded_c"], 4),
                "occluded (%)": round(100 * r["occlusion_rate"], 1),
                "best so far": "★" if r.get("best") == 1 else "",
            }
        )
    return out


def latest_sample(run_dir: str | os.PathLike[str]) -> Path | None:
    """The newest sample figure a run saved (``samples/step_*.png``), or None."""
    samples = sorted((Path(run_dir) / "samples").glob("step_*.png"))
    return samples[-1] if samples else None


def training_metrics(result, cfg) -> dict[str, Any]:
    """What ``03_training`` hands to the sweep: validation errors of the last evaluation."""
    ev = result.last_eval or last_validation(result.out_dir)
    return metrics_from_eval(
        ev,
        split="val",
        threshold_gm2=cfg.data.threshold_gm2,
        step=result.step,
        config=cfg.name,
        checkpoint=str(Path(result.out_dir) / "checkpoints" / "best.pt"),
    )
