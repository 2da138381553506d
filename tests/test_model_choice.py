"""Which model 04_visualisation uses (given > your latest run > bundled), what it says, and
that it trains only when asked (then saying the cost first)."""

from __future__ import annotations

import datetime
import logging
import math
import os
from pathlib import Path

import pytest

from unisst_lib.core.config import to_dict
from unisst_lib.methods.fill import default_checkpoint
from unisst_lib.models import build_generator
from unisst_lib.notebooks import training_view as tv
from unisst_lib.notebooks.locations import NotebookError
from unisst_lib.notebooks.params import demo_parameters, notebook_parameters
from unisst_lib.training import loop
from unisst_lib.training.checkpoints import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from unisst_lib.training.config import load_config

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _write_run(root: Path, *, step: int, best: float, mtime: float | None = None) -> Path:
    """``root/checkpoints/best.pt``: a tiny generator-only checkpoint (like export_generator's)."""
    cfg = load_config("tiny")
    state = {
        "format": CHECKPOINT_FORMAT,
        "config": to_dict(cfg),
        "step": step,
        "best_holdout_rmse_c": best,
        "last_eval": {} if math.isinf(best) else {"holdout_rmse_c": best},
        "models": {"generator": build_generator(cfg.generator).state_dict()},
    }
    path = save_checkpoint(root / "checkpoints" / "best.pt", state)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def no_training(monkeypatch):
    """Any training fails the test: choosing a model must never train one."""

    def refuse(*args, **kwargs):
        raise AssertionError("choose_model trained a model")

    monkeypatch.setattr(loop, "train", refuse)


def test_given_beats_latest_run_beats_bundled(tmp_path, no_training):
    old = _write_run(tmp_path / "old", step=5, best=0.9, mtime=1_700_000_000)
    new = _write_run(tmp_path / "new", step=7, best=0.7, mtime=1_700_000_600)
    runs = (tmp_path / "old", tmp_path / "new", tmp_path / "missing")

    _, cfg, choice = tv.choose_model(None, runs=runs, device="cpu")
    assert (choice.path, choice.source, choice.steps) == (new, tv.LATEST_RUN, 7)
    assert cfg.name == "tiny"

    os.utime(old, (1_700_001_000, 1_700_001_000))  # now the older run was written last
    assert tv.choose_model(None, runs=runs, device="cpu")[2].path == old

    given = tv.choose_model(new, runs=runs, device="cpu")[2]  # given wins over the latest
    assert (given.path, given.source) == (new, tv.GIVEN)

    _, cfg, bundled = tv.choose_model(None, runs=(tmp_path / "missing",), device="cpu")
    assert (bundled.path, bundled.source) == (default_checkpoint(), tv.BUNDLED)
    assert cfg.name == load_checkpoint(default_checkpoint())["config"]["name"]


def test_a_given_checkpoint_that_is_not_there_is_an_error(tmp_path, no_training):
    with pytest.raises(NotebookError, match="does not exist.*train_steps"):
        tv.choose_model(tmp_path / "runs" / "x" / "checkpoints" / "best.pt", device="cpu")
    assert not (tmp_path / "runs").exists()  # nothing trained, nothing written


def test_the_line_says_which_model_and_its_numbers_from_the_checkpoints(tmp_path, no_training):
    written = datetime.datetime(2026, 11, 29, 14, 40)
    path = _write_run(tmp_path / "demo", step=40, best=0.2137, mtime=written.timestamp())
    bundled = load_checkpoint(default_checkpoint())["best_holdout_rmse_c"]
    choice = tv.choose_model(None, runs=(tmp_path / "demo",), device="cpu")[2]
    line = choice.line(now=written + datetime.timedelta(hours=3))
    assert line == (
        f"Using your latest run {path} — config tiny (clouds above 70 g m⁻²), 40 steps, "
        "trained 2026-11-29 14:40 (3 h ago), validation error 0.214 °C (withheld observed "
        f"pixels). The bundled model: {bundled:.3f} °C."
    )
    assert "Using the checkpoint you gave," in tv.choose_model(path, device="cpu")[2].line()

    unevaluated = _write_run(tmp_path / "new", step=2, best=math.inf)
    assert "not evaluated" in tv.choose_model(unevaluated, device="cpu")[2].line()

    own = tv.choose_model(None, runs=(tmp_path / "none",), device="cpu")[2].line()
    assert own.startswith("Using the bundled model ") and f"{bundled:.3f} °C" in own
    assert "trained 2" not in own  # the installed file's date is not a training date
    assert f"No run of yours in {tmp_path / 'none'}." in own


def test_the_notebook_trains_nothing_by_default():
    params = notebook_parameters("04_visualisation", NOTEBOOKS)
    assert params["checkpoint"]["default"] == "None"
    assert params["train_steps"]["default"] == "0"
    assert not {"fallback_config", "fallback_steps"} & set(params)


def test_make_demo_maps_the_run_it_just_trained():
    for size in ("full", "tiny"):
        _, overrides = demo_parameters(size=size)
        run = overrides["03_training"]["run_dir"]
        assert overrides["04_visualisation"]["checkpoint"] == f"{run}/checkpoints/best.pt"
        assert "train_steps" not in overrides["04_visualisation"]


def test_estimate_counts_the_remaining_steps_and_evaluations():
    cfg = load_config("tiny", steps=10, eval_every=4)
    # steps 3..10 remain: 8 steps, evaluations at 4, 8 and 10
    assert tv.estimate_seconds(cfg, 2, 1.5, 10.0) == pytest.approx(8 * 1.5 + 3 * 10.0)
    assert tv.estimate_seconds(cfg, 10, 1.5, 10.0) == 0


def test_train_model_says_the_cost_before_training_on(tiny_data_dir, tmp_path, caplog, monkeypatch):
    run = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="unisst_lib"):
        best = tv.train_model("tiny", 4, run, data_dir=tiny_data_dir, device="cpu", progress=False)
    assert best == run / "checkpoints" / "best.pt" and load_checkpoint(best)["step"] >= 2
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["step"] == 4
    messages = [r.getMessage() for r in caplog.records]
    (estimate,) = [i for i, m in enumerate(messages) if "training 'tiny' for 2 more steps" in m]
    assert "on this machine (one step " in messages[estimate]
    step_4 = next(i for i, m in enumerate(messages) if m.startswith("step 4:"))
    assert estimate < step_4  # said before the remaining steps ran

    def refuse(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(loop, "train", refuse)
    assert tv.train_model("tiny", 4, run, data_dir=tiny_data_dir, device="cpu") == best
    with pytest.raises(NotebookError, match="train_steps must be >= 1"):
        tv.train_model("tiny", 0, run, data_dir=tiny_data_dir, device="cpu")
