"""The benchmark's honesty rules: equal budgets, choices on validation only, a real oracle."""

from __future__ import annotations

import math

import pytest

from unisst_lib.benchmark import selection
from unisst_lib.benchmark.recipes import RECIPES, recipe_config
from unisst_lib.training import loop
from unisst_lib.training.config import load_config, replace_config
from unisst_lib.training.loop import train


# ---------------------------------------------------------------- the recipes
def test_every_recipe_gets_the_same_budget_and_data():
    cfgs = {n: recipe_config(n, steps=200, seed=4, evaluations=5) for n in RECIPES}
    for name in ("unisst_paper", "unisst_self_supervised", "unisst_hybrid"):
        c = cfgs[name]
        assert (c.steps, c.eval_every, c.batch_size, c.seed, c.patience) == (200, 40, 4, 4, 0)
        assert c.data == cfgs["unisst_hybrid"].data
        assert c.generator == cfgs["unisst_hybrid"].generator
        assert c.loss.supervised_weight == 0 and c.selection_metric == "holdout_rmse_c"
    oracle = cfgs["oracle_supervised"]
    assert (oracle.steps, oracle.eval_every, oracle.patience) == (400, 40, 3)
    assert oracle.selection_metric == "rmse_occluded_c" and oracle.hides_observed
    # what each ablation switches on
    lc = {
        n: (c.loss.adversarial_weight > 0, c.loss.self_supervised_weight > 0)
        for n, c in cfgs.items()
    }
    assert lc == {
        "unisst_paper": (True, False),
        "unisst_self_supervised": (False, True),
        "unisst_hybrid": (True, True),
        "oracle_supervised": (False, False),
    }
    paper = cfgs["unisst_paper"].optim
    assert (paper.lr_g, paper.lr_d, paper.d_steps_per_g, paper.schedule) == (
        1e-4, 1e-4, 2, "paper",
    )  # fmt: skip
    assert not cfgs["unisst_paper"].hides_observed
    with pytest.raises(KeyError, match="unknown benchmark recipe"):
        recipe_config("dincae", steps=10, seed=0)


# ---------------------------------------------------------- choices on validation
def _run(holdout: list[float], truth: list[float], best: list[int]) -> dict:
    rows = [
        {"step": 10.0 * (i + 1), "holdout_rmse_c": h, "rmse_occluded_c": t, "best": float(b)}
        for i, (h, t, b) in enumerate(zip(holdout, truth, best, strict=True))
    ]
    return {"validation": rows}


def test_the_headline_recipe_is_chosen_on_withheld_observed_pixels_not_the_truth():
    records = {
        # the best on the truth under the clouds, but not on withheld observed pixels
        "unisst_paper": [_run([0.30, 0.29], [0.10, 0.09], [1, 1])],
        "unisst_hybrid": [_run([0.20, 0.25], [0.40, 0.20], [1, 0]), _run([0.22], [0.5], [1])],
        "oracle_supervised": [_run([0.50, 0.60], [0.09, 0.05], [1, 1])],
    }
    val = selection.validation_summary(records)
    assert val["unisst_hybrid"]["holdout_rmse_c"] == {
        "mean": pytest.approx(0.21),
        "seeds": [0.20, 0.22],
    }
    assert val["unisst_hybrid"]["best_step"] == [10, 10]
    assert val["unisst_hybrid"]["steps_run"] == [20, 10]
    assert val["oracle_supervised"]["best_step"] == [20]  # its own (truth) selection
    assert selection.headline(val) == "unisst_hybrid"  # the oracle is never the headline
    with pytest.raises(ValueError, match="no validation row is flagged best"):
        selection.selected([{"step": 1.0, "holdout_rmse_c": 0.1, "best": 0.0}])


def test_comparisons_cover_the_headline_and_the_ablation_questions():
    methods = ["dineof_window", "unisst_hybrid", "oracle_supervised"]
    pairs = selection.comparison_pairs("unisst_hybrid", methods)
    assert pairs[:2] == [
        ("unisst_hybrid", "dineof_window"),
        ("unisst_hybrid", "oracle_supervised"),
    ]
    assert ("unisst_hybrid", "unisst_self_supervised") in pairs  # what the critics add
    assert ("oracle_supervised", "unisst_hybrid") not in pairs  # asked the other way already
    # another headline: the oracle question is asked of the hybrid as well
    other = selection.comparison_pairs("unisst_self_supervised", methods)
    assert ("oracle_supervised", "unisst_hybrid") in other
    assert all(a != b for a, b in pairs + other)
    assert len({frozenset(p) for p in pairs}) == len(pairs)  # each unordered pair once


# ------------------------------------------ selection metric and early stopping
@pytest.fixture
def tiny_cfg(tiny_data_dir):
    return load_config("tiny", data={"data_dir": str(tiny_data_dir)})


class _FakeEval:
    """Stands in for the validation: withheld-pixel error rises, truth error falls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        k = self.calls
        metrics = {
            "holdout_rmse_c": 0.1 * k,
            "holdout_mae_c": 0.1 * k,
            "rmse_occluded_c": 1.0 / k,
            "mean_fill_rmse_occluded_c": 1.0,
        }
        return type("R", (), {"as_dict": lambda self: metrics})()


@pytest.mark.parametrize(
    ("oracle", "best_step", "steps_run"),
    [(False, 1, 3), (True, 5, 5)],  # UNISST stops after 2 evaluations without a new best
)
def test_best_follows_the_selection_metric_and_patience_stops(
    tiny_cfg, tmp_path, monkeypatch, oracle, best_step, steps_run
):
    monkeypatch.setattr(loop, "evaluate", _FakeEval())
    loss = {"adversarial_weight": 0.0, "self_supervised_weight": 1.0}
    if oracle:
        loss = {"adversarial_weight": 0.0, "self_supervised_weight": 0.0, "supervised_weight": 1.0}
    cfg = replace_config(tiny_cfg, steps=5, eval_every=1, patience=2, loss=loss)
    res = train(cfg, tmp_path / "run", progress=False, tensorboard=False)
    assert res.step == steps_run
    best = loop.load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    assert best["step"] == best_step
    assert best["selection_metric"] == ("rmse_occluded_c" if oracle else "holdout_rmse_c")
    expect = 1.0 / best_step if oracle else 0.1
    assert math.isclose(res.best_holdout_rmse_c, expect)


def test_patience_must_not_be_negative():
    with pytest.raises(ValueError, match="patience must be >= 0"):
        load_config("tiny", patience=-1)
