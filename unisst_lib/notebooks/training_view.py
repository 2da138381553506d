"""What the training notebook calls: the config, live curves, tables and summaries of a run.

``03_training`` builds its config with :func:`training_config` (the notebook's
parameters over a named config), shows it with :func:`describe_config`, trains
with a :class:`LiveTrainingPlot` redrawing the curves at every evaluation, and
reports with :func:`training_summary`, :func:`validation_table`,
:func:`checkpoint_table` and :func:`training_metrics` (for the sweep).
``04_visualisation`` gets its model from :func:`choose_model` (the checkpoint given,
else your latest run, else the bundled model; it never trains) and, only when asked,
trains one first with :func:`train_model`, which says what it will cost.

The notebooks import this module as ``tv``::

    from unisst_lib.notebooks import training_view as tv
"""

from __future__ import annotations

import datetime
import io
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
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
        {"setting": "LWP threshold", "value": f"{cfg.data.threshold_gm2:g} g m⁻²"},
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


DEFAULT_RUNS = ("runs/notebook", "runs/demo", "runs/demo_tiny", "runs/visualisation")
"""Where :func:`choose_model` looks for your runs (relative to the working directory, the
project root in a notebook): ``03_training``'s run, ``make demo``'s (full and tiny twin)
and the one ``04_visualisation`` trains into with ``train_steps``."""

GIVEN, LATEST_RUN, BUNDLED, TRAINED_HERE = "given", "your latest run", "bundled", "trained here"
"""Where a :class:`ModelChoice` came from."""


@dataclass(frozen=True)
class ModelChoice:
    """Which model a notebook uses, and what its checkpoint says about it.

    ``holdout_rmse_c`` is the validation error the run selected its ``best.pt``
    by: RMSE (°C) on observed pixels withheld from the model (None when the
    checkpoint was never evaluated); ``bundled_holdout_rmse_c`` the same number
    of the model shipped with unisst, for comparison.
    """

    path: Path
    source: str
    config: str
    threshold_gm2: float | None
    steps: int | None
    written: datetime.datetime
    holdout_rmse_c: float | None
    bundled_holdout_rmse_c: float | None
    searched: tuple[str, ...] = ()

    def line(self, now: datetime.datetime | None = None) -> str:
        """The one line a notebook prints about the model it uses."""
        where = {
            GIVEN: "the checkpoint you gave,",
            LATEST_RUN: "your latest run",
            BUNDLED: "the bundled model",
            TRAINED_HERE: "the model trained here,",
        }[self.source]
        facts = [f"config {self.config}"]
        if self.threshold_gm2 is not None:
            facts[0] += f" (clouds above {self.threshold_gm2:g} g m⁻²)"
        if self.steps is not None:
            facts.append(f"{self.steps} steps")
        if self.source != BUNDLED:  # the installed file's date is not when it was trained
            facts.append(f"trained {self.written:%Y-%m-%d %H:%M} ({_ago(self.written, now)})")
        facts.append(
            "not evaluated"
            if self.holdout_rmse_c is None
            else f"validation error {self.holdout_rmse_c:.3f} °C (withheld observed pixels)"
        )
        text = f"Using {where} {_shown(self.path)} — {', '.join(facts)}."
        if self.source == BUNDLED:
            if self.searched:
                text += f" No run of yours in {', '.join(self.searched)}."
        elif self.bundled_holdout_rmse_c is not None:
            text += f" The bundled model: {self.bundled_holdout_rmse_c:.3f} °C."
        return text


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _ago(when: datetime.datetime, now: datetime.datetime | None = None) -> str:
    """``just now``, ``12 min ago``, ``3 h ago``, ``5 days ago``."""
    seconds = ((now or datetime.datetime.now()) - when).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def _holdout_rmse(state: Mapping[str, Any]) -> float | None:
    """The validation error a checkpoint records (best withheld-pixel RMSE, else its last one)."""
    for value in (
        state.get("best_holdout_rmse_c"),
        (state.get("last_eval") or {}).get("holdout_rmse_c"),
    ):
        if value is not None and math.isfinite(float(value)):
            return float(value)
    return None


def _describe(path: Path, source: str, bundled_rmse: float | None, searched=()) -> ModelChoice:
    from unisst_lib.training.checkpoints import load_checkpoint

    state = load_checkpoint(path)
    step = state.get("step")
    config = state.get("config") or {}
    threshold = (config.get("data") or {}).get("threshold_gm2")
    return ModelChoice(
        path=path,
        source=source,
        config=str(config.get("name", "?")),
        threshold_gm2=float(threshold) if threshold is not None else None,
        steps=int(step) if step is not None else None,
        written=datetime.datetime.fromtimestamp(path.stat().st_mtime),
        holdout_rmse_c=_holdout_rmse(state),
        bundled_holdout_rmse_c=bundled_rmse,
        searched=tuple(searched),
    )


def latest_run_checkpoint(runs=DEFAULT_RUNS) -> Path | None:
    """The most recently written ``<run>/checkpoints/best.pt`` among ``runs``, or None."""
    found = [Path(r) / "checkpoints" / "best.pt" for r in runs]
    found = [p for p in found if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def choose_model(
    checkpoint: str | os.PathLike[str] | None = None,
    *,
    runs: tuple[str | os.PathLike[str], ...] = DEFAULT_RUNS,
    device: str = "auto",
    trained: bool = False,
):
    """The model a notebook uses: the one given, else your latest run, else the bundled one.

    Nothing is trained here (:func:`train_model` does that, when asked).

    Parameters
    ----------
    checkpoint
        A checkpoint to use (e.g. ``runs/demo/checkpoints/best.pt``); None:
        the most recently written ``best.pt`` among ``runs``
        (:func:`latest_run_checkpoint`), or, when there is none, the model
        shipped with unisst (:func:`unisst_lib.methods.fill.default_checkpoint`).
    runs
        Run directories to look in (relative to the working directory).
    device
        Where the generator goes (``auto``: CUDA when available).
    trained
        ``checkpoint`` was trained by this notebook just now (said so in the line).

    Returns
    -------
    (generator, config, choice)
        The generator in eval mode, its training config and a :class:`ModelChoice`
        (print ``choice.line()``).

    Raises
    ------
    NotebookError
        ``checkpoint`` is given but there is no file there.
    """
    from unisst_lib.methods.fill import default_checkpoint
    from unisst_lib.models.device import select_device
    from unisst_lib.training.checkpoints import load_checkpoint, load_generator

    bundled = default_checkpoint()
    bundled_rmse = _holdout_rmse(load_checkpoint(bundled)) if bundled.is_file() else None
    searched = [str(r) for r in runs]
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise NotebookError(
                f"checkpoint {path} does not exist: name the best.pt of a run "
                "(03_training writes runs/notebook/checkpoints/best.pt), leave it None to use "
                "your latest run or the bundled model, or set train_steps to train one here"
            )
        source = TRAINED_HERE if trained else GIVEN
    elif (path := latest_run_checkpoint(runs)) is not None:
        source = LATEST_RUN
    else:
        path, source = bundled, BUNDLED
    choice = _describe(path, source, bundled_rmse, searched if source == BUNDLED else ())
    generator, cfg = load_generator(path, device=select_device(device))
    log.debug("model: %s (%s)", path, source)
    return generator, cfg, choice


def train_model(
    config: str,
    steps: int,
    run_dir: str | os.PathLike[str],
    *,
    threshold_gm2: float | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    device: str = "auto",
    progress: bool = True,
) -> Path:
    """Train ``config`` for ``steps`` steps into ``run_dir`` (resuming it); its ``best.pt``.

    The cost is said before the bulk of the work: the first two steps and an
    evaluation are timed, and the time the rest will take on this machine is
    logged (:func:`estimate_seconds`) before training goes on. A run that has
    already reached ``steps`` is used as it is.
    """
    from unisst_lib.training.checkpoints import load_checkpoint
    from unisst_lib.training.config import replace_config
    from unisst_lib.training.loop import train

    if int(steps) < 1:
        raise NotebookError(f"train_steps must be >= 1 to train (got {steps}); 0: no training")
    cfg = training_config(
        config, steps=int(steps), threshold_gm2=threshold_gm2, data_dir=data_dir, device=device
    )
    run = Path(run_dir)
    best = run / "checkpoints" / "best.pt"
    latest = run / "checkpoints" / "latest.pt"
    start = int(load_checkpoint(latest)["step"]) if latest.is_file() else 0
    if start >= cfg.steps and best.is_file():
        log.info("%s has already trained %d steps: using it as it is", run, start)
        return best
    probe_end = min(start + 2, cfg.steps)
    log.info("timing the first %d step(s) of %r in %s …", probe_end - start, cfg.name, run)
    train(replace_config(cfg, log_every=1), run, stop_at=probe_end, progress=False,
          tensorboard=False)  # fmt: skip
    if probe_end < cfg.steps:
        step_s, eval_s = _timed_probe(run, cfg.batch_size * cfg.critic_steps)
        total = estimate_seconds(cfg, probe_end, step_s, eval_s)
        log.info(
            "training %r for %d more steps into %s: about %s on this machine (one step %.1f s, "
            "one evaluation on %s validation sequences %.1f s)",
            cfg.name, cfg.steps - probe_end, run, _duration(total), step_s,
            cfg.data.val_sequences or "all", eval_s,
        )  # fmt: skip
        train(cfg, run, resume=True, progress=progress, tensorboard=False)
    if not best.is_file():
        raise NotebookError(f"training into {run} wrote no {best} (no evaluation happened)")
    return best


def _timed_probe(run: Path, sequences_per_step: int) -> tuple[float, float]:
    """(seconds of one step, seconds of one evaluation) from a run that just logged every step.

    A step: the throughput of the last ``train_log.csv`` row (one step, after the
    loader started); an evaluation: from that row to the ``val_log.csv`` row it
    wrote next (the files' modification times).
    """
    from unisst_lib.views.plots import read_log

    rows = read_log(run / "train_log.csv")
    sps = float(rows[-1].get("sequences_per_s", math.nan)) if rows else math.nan
    step_s = sequences_per_step / sps if math.isfinite(sps) and sps > 0 else math.nan
    t_log = (run / "train_log.csv").stat().st_mtime
    t_val = (run / "val_log.csv").stat().st_mtime
    return step_s, max(t_val - t_log, 0.0)


def estimate_seconds(cfg, done: int, step_s: float, eval_s: float) -> float:
    """Seconds to train ``cfg`` from step ``done`` to ``cfg.steps``: steps and evaluations."""
    remaining = range(done + 1, cfg.steps + 1)
    n_eval = sum(1 for s in remaining if s % cfg.eval_every == 0 or s == cfg.steps)
    return len(remaining) * step_s + n_eval * eval_s


def _duration(seconds: float) -> str:
    """``40 s``, ``12 min``, ``1.5 h`` (``?`` when unknown)."""
    if not math.isfinite(seconds):
        return "an unknown time"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def sequence_errors_table(errors: Mapping[str, float], label: str) -> list[dict[str, Any]]:
    """One sequence's errors (:func:`~unisst_lib.evaluation.validation.recovery_errors`), named.

    One row, keyed ``sequence`` (``label``, e.g. ``test sequence 0``), for a table
    with a named index: ``pd.DataFrame(rows).set_index("sequence")``.
    """
    return [
        {
            "sequence": label,
            "occluded (%)": round(100 * errors["occlusion_rate"], 1),
            "RMSE under clouds (°C)": round(errors["rmse_occluded_c"], 3),
            "MAE under clouds (°C)": round(errors["mae_occluded_c"], 3),
            "RMSE, all sea pixels (°C)": round(errors["rmse_all_c"], 3),
            "MAE, all sea pixels (°C)": round(errors["mae_all_c"], 3),
        }
    ]


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
