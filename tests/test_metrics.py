"""MAE/RMSE in °C against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unisst_lib.evaluation.metrics import ErrorAccumulator, GapMetrics, gap_errors


def test_hand_computed_occluded_and_all():
    truth = np.array([[20.0, 21.0], [22.0, 23.0]])
    pred = np.array([[20.0, 22.0], [19.0, 23.5]])
    mask = np.array([[0, 1], [1, 0]])
    e = gap_errors(pred, truth, mask)
    # occluded errors: +1, -3 ; all: 0, +1, -3, +0.5
    assert e["mae_occluded_c"] == pytest.approx(2.0)
    assert e["rmse_occluded_c"] == pytest.approx(math.sqrt(5.0))
    assert e["mae_all_c"] == pytest.approx(4.5 / 4)
    assert e["rmse_all_c"] == pytest.approx(math.sqrt(10.25 / 4))
    assert e["occlusion_rate"] == pytest.approx(0.5)


def test_nan_truth_is_ignored_and_torch_inputs_work():
    truth = torch.tensor([1.0, float("nan"), 3.0])
    pred = torch.tensor([2.0, 100.0, 3.0], dtype=torch.float32)
    e = gap_errors(pred, truth, torch.tensor([1.0, 1.0, 1.0]))
    assert e["mae_occluded_c"] == pytest.approx(0.5)


def test_occlusion_rate_counts_sea_pixels_only():
    # 6 pixels, 2 of them land (NaN truth); clouds over 1 land pixel and 2 of the 4 sea pixels
    truth = np.array([20.0, np.nan, 21.0, np.nan, 22.0, 23.0])
    mask = np.array([1, 1, 1, 0, 0, 0])
    e = gap_errors(truth, truth, mask)
    assert e["occlusion_rate"] == pytest.approx(2 / 4)
    g = GapMetrics()
    g.update(truth, truth, mask)
    g.update(np.zeros(2), np.zeros(2), np.array([1, 1]))  # pooled: 4 of 6 sea pixels
    assert (g.n_occluded, g.n_pixels) == (4, 6)


def test_pooling_over_batches_weighs_pixels_equally():
    acc = ErrorAccumulator()
    acc.update(np.array([1.0]), np.array([0.0]), np.array([True]))
    acc.update(np.array([0.0, 0.0, 0.0]), np.zeros(3), np.ones(3, bool))
    assert acc.mae == pytest.approx(0.25)
    assert acc.rmse == pytest.approx(0.5)


def test_float64_accumulation():
    # 1e6 errors of 1e-4 °C on a 25 °C field: float32 would lose them
    truth = np.full(10**6, 25.0, dtype=np.float32)
    pred = truth.astype(np.float64) + 1e-4
    e = gap_errors(pred, truth.astype(np.float64), np.ones_like(truth))
    assert e["mae_occluded_c"] == pytest.approx(1e-4, rel=1e-6)


def test_empty_and_bad_input():
    g = GapMetrics()
    assert math.isnan(g.occluded.rmse) and math.isnan(g.occlusion_rate)
    with pytest.raises(ValueError, match="shapes differ"):
        gap_errors(np.zeros(3), np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match="NaN or inf"):
        gap_errors(np.array([np.nan]), np.array([1.0]), np.array([1]))
