"""What a training run logs: ``train_log.csv``, ``val_log.csv`` and TensorBoard.

Columns are fixed (:data:`TRAIN_COLUMNS`, :data:`VAL_COLUMNS`); a resumed run
first drops the rows after its checkpoint (:func:`truncate_csv`) and then appends,
so the logs read as those of one uninterrupted run.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Any

from unisst_lib.core.paths import atomic_path

log = logging.getLogger(__name__)

TRAIN_COLUMNS = [
    "step", "loss_d", "loss_d_image", "loss_d_video", "loss_g_adv", "loss_self_supervised",
    "loss_supervised", "lr_g", "lr_d", "sequences_per_s",
]  # fmt: skip
VAL_COLUMNS = [
    "step", "holdout_rmse_c", "holdout_mae_c", "rmse_occluded_c", "mae_occluded_c",
    "rmse_all_c", "mae_all_c", "occlusion_rate", "mean_fill_rmse_occluded_c", "best",
]  # fmt: skip


class CSVLog:
    """A CSV file with fixed columns, one row appended per :meth:`write`."""

    def __init__(self, path: Path, columns: list[str], *, append: bool) -> None:
        self.path, self.columns = path, columns
        if not (append and path.is_file()):
            with open(path, "w", newline="") as f:
                csv.writer(f).writerow(columns)

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([row.get(c, "") for c in self.columns])


def truncate_csv(path: Path, step: int) -> None:
    """Drop rows after ``step`` (a resumed run rewrites them)."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [r for r in rows[1:] if r and int(r[0]) <= step]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            csv.writer(f).writerows(kept)


def open_tensorboard(out: Path, enabled: bool):
    """A TensorBoard ``SummaryWriter`` on ``out/tensorboard``; None if disabled or not installed."""
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        log.info("tensorboard not installed: metrics go to CSV only")
        return None
    return SummaryWriter(log_dir=str(out / "tensorboard"))


class RunLogs:
    """The logs of one run directory: both CSV files and, optionally, TensorBoard."""

    def __init__(self, out: Path, *, append: bool, tensorboard: bool) -> None:
        self.train = CSVLog(out / "train_log.csv", TRAIN_COLUMNS, append=append)
        self.val = CSVLog(out / "val_log.csv", VAL_COLUMNS, append=append)
        self.writer = open_tensorboard(out, tensorboard)

    def write_train(self, row: dict[str, float]) -> None:
        """One row of :data:`TRAIN_COLUMNS` (``row["step"]`` is the generator step)."""
        self.train.write(row)
        if self.writer is not None:
            for key, v in row.items():
                if key != "step":
                    self.writer.add_scalar(f"train/{key}", v, row["step"])

    def write_val(self, step: int, metrics: dict[str, float], *, best: bool) -> None:
        """The validation metrics of ``step``; ``best``: they are the best so far."""
        self.val.write({"step": step, **metrics, "best": int(best)})
        if self.writer is not None:
            for key, v in metrics.items():
                self.writer.add_scalar(f"val/{key}", v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class LossMeter:
    """Mean losses over the generator steps since the last row, and the throughput."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.t_window, self.sequences = time.perf_counter(), 0

    def add(self, losses: dict[str, float], *, sequences: int) -> None:
        """One generator step's losses; ``sequences``: how many the critics saw."""
        for key, v in losses.items():
            self.sums[key] = self.sums.get(key, 0.0) + v
        self.sequences += sequences

    def row(self, n_steps: int, **fields: float) -> dict[str, float]:
        """Means over the last ``n_steps`` steps, ``fields``, ``sequences_per_s``; then resets."""
        row = {key: v / n_steps for key, v in self.sums.items()}
        row.update(fields)
        row["sequences_per_s"] = self.sequences / max(time.perf_counter() - self.t_window, 1e-9)
        self.sums = {}
        self.t_window, self.sequences = time.perf_counter(), 0
        return row
