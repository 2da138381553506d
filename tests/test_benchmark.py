"""Tests of the benchmark suite: known answers on synthetic fields, the tiny twin end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from unisst_lib.benchmark import report, runs, scores, windows
from unisst_lib.data.dataset import make_dataset
from unisst_lib.methods.dineof import dineof

REQUIRED_KEYS = {
    "method",
    "rmse_lo",
    "rmse_hi",
    "rmse_seeds",
    "n_seeds",
    "threshold_gm2",
    "occlusion_rate",
    "rmse_c",
    "mae_c",
    "effective_resolution_km",
    "fill_seconds",
    "train_seconds",
    "information",
}


# ------------------------------------------------------------------ helpers
def window_frames(starts: list[int], n_t: int, step: int) -> np.ndarray:
    """(N, T) time indices of windows of ``n_t`` frames ``step`` apart."""
    return np.array([s + step * np.arange(n_t) for s in starts], dtype=np.int64)


def low_rank_field(frames: np.ndarray, size: int = 16) -> np.ndarray:
    """(N, T, H, W) float32 °C sampled at ``frames`` from one continuous rank-3 series.

    A steady pattern plus two separable oscillating modes: the anomaly about any
    constant is of rank 3 over every set of frames, windows or the whole series.
    """
    t = frames.astype(float)[..., None, None]  # (N, T, 1, 1)
    y = np.linspace(0.0, 1.0, size)[:, None]
    x = np.linspace(0.0, 1.0, size)[None, :]
    steady = 20.0 + 2.0 * y + 0.5 * np.cos(2 * np.pi * x)
    mode2 = 1.5 * np.sin(2 * np.pi * t / 40.0) * np.sin(np.pi * x) * np.cos(np.pi * y)
    mode3 = 0.8 * np.cos(2 * np.pi * t / 15.0) * np.sin(2 * np.pi * (x + y))
    return (steady + mode2 + mode3).astype(np.float32)


def clumpy_clouds(shape: tuple[int, ...], fraction: float, seed: int) -> np.ndarray:
    """bool, True on about ``fraction`` of every frame, in smooth blobs."""
    rng = np.random.default_rng(seed)
    sigma = (0,) * (len(shape) - 2) + (2, 2)
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=sigma, mode="wrap")
    return noise > np.quantile(noise, 1.0 - fraction, axis=(-2, -1), keepdims=True)


def synthetic_test_set(fraction: float = 0.3, seed: int = 0) -> windows.TestSet:
    """Two phases (0 and 1) of three 12-frame windows, frames 2 apart, 16×16, no land."""
    frames = window_frames([0, 24, 48, 1, 25, 49], n_t=12, step=2)
    truth = low_rank_field(frames)
    mask = clumpy_clouds(truth.shape, fraction, seed)
    return windows.TestSet(
        truth=truth, mask=mask, frames=frames, dataset=None, threshold_gm2=70.0,
        dy_km=4.0, dx_km=5.0,
    )  # fmt: skip


def occluded_rmse(filled: np.ndarray, test: windows.TestSet) -> float:
    sel = test.mask & np.isfinite(test.truth)
    return float(np.sqrt(np.mean((filled[sel].astype(float) - test.truth[sel]) ** 2)))


class ZeroGenerator(nn.Module):
    """Predicts 0 in normalised units everywhere: the mean of the observed pixels."""

    def forward(self, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(y)


# --------------------------------------------------- effective resolution
def test_effective_resolution_interpolates_log_linearly_at_the_first_crossing():
    k = np.array([0.01, 0.02, 0.05, 0.1])
    truth = np.array([4.0, 2.0, 1.0, 0.5])
    ratio = np.array([0.1, 0.2, 0.4, 0.9])  # crosses 0.5 between k=0.05 and k=0.1
    got = scores.effective_resolution_km(k, ratio * truth, truth)
    frac = (0.5 - 0.4) / (0.9 - 0.4)
    expected = 1.0 / math.exp(math.log(0.05) + frac * (math.log(0.1) - math.log(0.05)))
    assert got == pytest.approx(expected, rel=1e-12)
    assert 10.0 < got < 20.0  # between the two wavelengths, as a check of the hand formula
    # the first crossing counts, even when the ratio dips below the level again
    dip = np.array([0.3, 0.7, 0.2, 0.9])
    frac = (0.5 - 0.3) / (0.7 - 0.3)
    expected = 1.0 / math.exp(math.log(0.01) + frac * (math.log(0.02) - math.log(0.01)))
    assert scores.effective_resolution_km(k, dip, np.ones(4)) == pytest.approx(expected, rel=1e-12)
    # a ratio exactly at the level is the crossing; another level moves it
    assert scores.effective_resolution_km(k, np.array([0.1, 0.5, 0.9, 1.0]), np.ones(4)) == (
        pytest.approx(1 / 0.02)
    )
    assert scores.effective_resolution_km(k, ratio, np.ones(4), level=0.2) == pytest.approx(
        1 / 0.02
    )


def test_effective_resolution_limits():
    k = np.array([0.01, 0.02, 0.04])
    # never reaches the level: resolved down to the grid (Nyquist wavelength)
    assert scores.effective_resolution_km(k, np.array([0.1, 0.2, 0.4]), np.ones(3)) == 25.0
    assert scores.effective_resolution_km(k, np.zeros(3), np.ones(3)) == 25.0
    # above the level at the largest scale: not even that is resolved
    assert math.isnan(scores.effective_resolution_km(k, np.array([0.6, 0.1, 0.1]), np.ones(3)))
    # no power in the truth at a bin: not resolved there
    got = scores.effective_resolution_km(k, np.full(3, 0.1), np.array([1.0, 1.0, 0.0]))
    assert got == pytest.approx(1 / 0.04)
    got = scores.effective_resolution_km(k, np.full(3, 0.1), np.array([1.0, 0.0, 1.0]))
    assert got == pytest.approx(1 / 0.02)


@pytest.mark.parametrize(
    ("k", "pe", "pt"),
    [
        (np.ones(3), np.ones(4), np.ones(3)),  # lengths differ
        (np.ones(3), np.ones(3), np.ones(2)),
        (np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3))),  # not 1-D
        (np.ones(1), np.ones(1), np.ones(1)),  # a single bin
    ],
)
def test_effective_resolution_bad_shapes(k, pe, pt):
    with pytest.raises(ValueError, match="1-D arrays"):
        scores.effective_resolution_km(k, pe, pt)


# ---------------------------------------------------------- series chains
def test_series_chains_groups_phases_in_time_order():
    frames = window_frames([288, 1, 0, 145, 144, 289], n_t=24, step=6)
    chains = runs.series_chains(frames)
    assert sorted(c.tolist() for c in chains) == [[1, 3, 5], [2, 4, 0]]
    for c in chains:  # each chain: one regular time grid, increasing, no frame twice
        f = frames[c].ravel()
        assert np.all(np.diff(f) == 6)


def test_series_chains_refuses_overlapping_windows_of_one_phase():
    frames = window_frames([0, 72, 1], n_t=24, step=6)  # 0 and 72 share frames 72..138
    with pytest.raises(ValueError, match="overlap"):
        runs.series_chains(frames)


# ---------------------------------------------------------------- TestSet
def test_test_set_observation_land_and_occlusion_rate():
    n, n_t, h, w = 2, 3, 4, 5
    truth = np.full((n, n_t, h, w), 15.0, dtype=np.float32)
    truth += np.arange(h * w, dtype=np.float32).reshape(h, w)
    truth[:, :, 0, 0] = np.nan  # no SST in any frame of any window: land
    truth[0, :, 3, 4] = np.nan  # missing in every frame of window 0 only: not land
    truth[1, 1, 2, 2] = np.nan  # a single missing value
    mask = ~np.isfinite(truth)  # missing SST counts as occluded
    mask[:, :, 1, 1] = True  # under cloud in every frame of every window: not land
    mask[0, 2, 3, :] = True
    mask[1, 0, :, 2] = True
    test = windows.TestSet(
        truth=truth, mask=mask, frames=window_frames([0, 1], n_t, 2), dataset=None,
        threshold_gm2=70.0, dy_km=1.0, dx_km=1.0,
    )  # fmt: skip
    assert len(test) == 2
    land = np.zeros((h, w), dtype=bool)
    land[0, 0] = True
    np.testing.assert_array_equal(test.land, land)
    obs = test.observation
    assert obs.shape == truth.shape
    np.testing.assert_array_equal(np.isnan(obs), mask)
    np.testing.assert_array_equal(obs[~mask], truth[~mask])
    # clouds over ocean only: (1, 1) in 6 frames, row 3 of window 0 frame 2 without the
    # missing (3, 4), column 2 of window 1 frame 0; missing SST counts in neither term
    assert test.occlusion_rate == pytest.approx((6 + 4 + 4) / (n * n_t * h * w - 6 - 3 - 1))
    # a pixel cloudy in every frame is filled by the window methods, land stays NaN
    filled, secs = runs.fill_windows(test, "mean")
    assert secs >= 0
    assert np.isnan(filled[:, :, 0, 0]).all()
    assert np.isfinite(filled[:, :, 1, 1]).all()
    np.testing.assert_array_equal(filled[~mask], truth[~mask])


# ---------------------------------------------------------------- fillers
def test_fill_windows_keeps_observations_and_beats_the_mean():
    test = synthetic_test_set()
    assert 0.25 < test.occlusion_rate < 0.35
    mean, _ = runs.fill_windows(test, "mean")
    rmse_mean = occluded_rmse(mean, test)
    assert rmse_mean > 0.5  # the field varies by degrees
    for name, options, ratio in (("temporal", {}, 0.5), ("dineof", {"k_max": 6}, 0.2)):
        filled, secs = runs.fill_windows(test, name, **options)
        assert secs > 0 and filled.shape == test.truth.shape and filled.dtype == np.float32
        assert np.isfinite(filled).all()
        seen = ~test.mask
        assert np.array_equal(filled[seen].view(np.uint32), test.truth[seen].view(np.uint32))
        assert occluded_rmse(filled, test) < ratio * rmse_mean, name


def test_fill_series_recovers_the_low_rank_field():
    test = synthetic_test_set(seed=1)
    chains = runs.series_chains(test.frames)
    assert sorted(c.tolist() for c in chains) == [[0, 1, 2], [3, 4, 5]]
    # every pixel seen at least once in each chain: nothing left to the spatial fallback
    for chain in chains:
        assert (~test.mask[chain]).any(axis=(0, 1)).all()
    options = {"k_max": 6, "patience": 1, "tol": 1e-7, "max_iter": 1000}
    filled, secs = runs.fill_series(test, **options)
    assert secs > 0 and filled.shape == test.truth.shape
    seen = ~test.mask
    assert np.array_equal(filled[seen].view(np.uint32), test.truth[seen].view(np.uint32))
    # cross-validation finds the rank (3) of the series, which is then filled exactly
    assert np.abs(filled.astype(float) - test.truth).max() < 1e-3
    mean, _ = runs.fill_windows(test, "mean")
    assert occluded_rmse(filled, test) < 1e-3 * occluded_rmse(mean, test)
    # each chain is one DINEOF run on its windows end to end, every cloud at its own frame
    obs = test.observation
    for chain in chains:
        series = obs[chain].reshape(-1, *obs.shape[2:])
        res = dineof(series, land=test.land, **options)
        np.testing.assert_array_equal(filled[chain], res.filled.reshape(obs[chain].shape))


def test_fill_series_with_a_given_number_of_eofs():
    test = synthetic_test_set(seed=1)
    filled, _ = runs.fill_series(test, n_eofs=3, tol=1e-7, max_iter=1000)
    assert np.abs(filled.astype(float) - test.truth).max() < 1e-3


# ------------------------------------------------------------------ score
def test_score_perfect_fill_mean_fill_and_bad_shape():
    test = synthetic_test_set(seed=2)
    perfect = scores.score(test.truth.copy(), test)
    assert perfect.rmse_c == 0.0 and perfect.mae_c == 0.0 and perfect.rmse_all_c == 0.0
    assert perfect.effective_resolution_km == pytest.approx(1.0 / perfect.k[-1])
    # the last bin lies at (or just below) the Nyquist wavenumber of the coarser axis
    assert 1.0 / perfect.k[-1] >= 2 * max(test.dx_km, test.dy_km) - 1e-9
    np.testing.assert_allclose(perfect.psd_filled, perfect.psd_truth)
    assert perfect.occlusion_rate == pytest.approx(test.occlusion_rate)

    mean, _ = runs.fill_windows(test, "mean")
    sc = scores.score(mean, test)
    diff = mean[test.mask].astype(float) - test.truth[test.mask]
    assert sc.rmse_c == pytest.approx(np.sqrt(np.mean(diff**2)), rel=1e-6)
    assert sc.mae_c == pytest.approx(np.mean(np.abs(diff)), rel=1e-6)
    assert sc.rmse_all_c == pytest.approx(np.sqrt(np.sum(diff**2) / test.truth.size), rel=1e-6)
    assert sc.k.shape == sc.psd_error.shape == sc.psd_truth.shape == sc.psd_filled.shape
    assert (sc.psd_error > 0).all()
    with pytest.raises(ValueError, match="shape"):
        scores.score(mean[:, :-1], test)


def test_score_leaves_land_out_of_the_errors_and_spectra():
    test = synthetic_test_set(seed=3)
    test.truth[:, :, 0, :3] = np.nan  # three coastal land pixels, NaN in every frame
    test.mask[:, :, 0, :3] = True
    assert test.land.sum() == 3
    mean, _ = runs.fill_windows(test, "mean")
    assert np.isnan(mean[:, :, 0, :3]).all()  # land stays land
    sc = scores.score(mean, test)
    sel = test.mask & np.isfinite(test.truth)
    assert sc.rmse_c == pytest.approx(occluded_rmse(mean, test), rel=1e-6)
    assert sel.sum() < test.mask.sum()
    assert np.isfinite(sc.psd_error).all() and np.isfinite(sc.psd_truth).all()
    perfect = scores.score(np.where(test.land, np.nan, test.truth), test)
    assert perfect.rmse_c == 0.0 and (perfect.psd_error == 0).all()
    assert perfect.effective_resolution_km == pytest.approx(1.0 / perfect.k[-1])


# ------------------------------------------------------------- tiny twin
def test_load_test_set_matches_the_eval_dataset(tiny_data_dir):
    test = windows.load_test_set(threshold_gm2=70.0, max_items=3, data_dir=tiny_data_dir)
    ds = make_dataset(
        "twin", "test", threshold_gm2=70.0, mode="eval", seed=0, data_dir=tiny_data_dir
    )
    assert len(test) == 3 and test.truth.shape[0] == test.mask.shape[0] == 3
    assert test.truth.dtype == np.float32 and test.mask.dtype == np.bool_
    for i in range(3):
        np.testing.assert_array_equal(test.truth[i], ds.sequences[i].values)
        np.testing.assert_array_equal(test.mask[i], ds[i]["mask"][0].numpy() > 0.5)
        np.testing.assert_array_equal(test.frames[i], ds.sequences.frame_indices(i))
    assert test.threshold_gm2 == 70.0 and test.dx_km > 0 and test.dy_km > 0
    np.testing.assert_array_equal(np.isnan(test.observation), test.mask)
    # a higher LWP threshold hides fewer pixels; the windows are the same
    high = windows.load_test_set(threshold_gm2=80.0, max_items=3, data_dir=tiny_data_dir)
    np.testing.assert_array_equal(high.truth, test.truth)
    assert 0 < high.occlusion_rate < test.occlusion_rate < 1
    assert len(windows.load_test_set(threshold_gm2=70.0, data_dir=tiny_data_dir)) == len(ds)


def test_zero_generator_is_the_sequence_mean_fill(tiny_data_dir):
    test = windows.load_test_set(threshold_gm2=70.0, max_items=3, data_dir=tiny_data_dir)
    # batches of 2 over 3 windows: a full batch and a remainder
    filled, secs = runs.fill_generator(ZeroGenerator(), test, batch_size=2)
    mean, _ = runs.fill_windows(test, "mean")
    assert secs > 0 and filled.shape == test.truth.shape and filled.dtype == np.float32
    seen = ~test.mask
    np.testing.assert_array_equal(filled[seen], test.truth[seen])
    np.testing.assert_allclose(filled, mean, rtol=0, atol=1e-4)
    # and the mean differs from window to window (each is filled with its own)
    per_window = [float(filled[i][test.mask[i]].mean()) for i in range(len(test))]
    assert len({round(v, 3) for v in per_window}) == len(test)


def test_benchmark_thresholds_rows_and_spectra(tiny_data_dir):
    baselines = {"mean_fill": ("mean", {}), "temporal_interp": ("temporal", {})}
    res = runs.benchmark_thresholds(
        {"zero_model": [(ZeroGenerator(), 12.5), (ZeroGenerator(), 14.5)]},
        thresholds_gm2=(55.0, 80.0),
        max_items=2,
        baselines=baselines,
        series_options={"k_max": 3},
        pairs=[("zero_model", "mean_fill"), ("temporal_interp", "mean_fill")],
        spectra_threshold_gm2=80.0,
        data_dir=tiny_data_dir,
        progress=False,
    )
    rows = res["rows"]
    methods = ["mean_fill", "temporal_interp", "dineof_series", "first_guess", "zero_model"]
    assert len(rows) == len(methods) * 2
    assert {(r["method"], r["threshold_gm2"]) for r in rows} == {
        (m, t) for m in methods for t in (55.0, 80.0)
    }
    for r in rows:
        assert REQUIRED_KEYS <= set(r), REQUIRED_KEYS - set(r)
        assert r["information"] == ("series" if r["method"] == "dineof_series" else "window")
        assert r["train_seconds"] == (13.5 if r["method"] == "zero_model" else 0.0)  # mean
        assert r["n_windows"] == 2
        assert r["n_seeds"] == (2 if r["method"] == "zero_model" else 1)
        assert len(r["rmse_seeds"]) == r["n_seeds"]
        assert r["mae_c"] <= r["rmse_c"]
        assert r["rmse_lo"] <= r["rmse_c"] <= r["rmse_hi"]
    by = {(r["method"], r["threshold_gm2"]): r for r in rows}
    # one test set per threshold: every method sees the same occlusion
    for t in (55.0, 80.0):
        assert len({by[(m, t)]["occlusion_rate"] for m in methods}) == 1
    assert by[("mean_fill", 55.0)]["occlusion_rate"] > by[("mean_fill", 80.0)]["occlusion_rate"]
    # two windows of two sequence slots: two independent blocks
    assert res["n_blocks"] == 2
    comps = {(c["a"], c["b"], c["threshold_gm2"]): c for c in res["comparisons"]}
    assert set(comps) == {
        (a, "mean_fill", t) for a in ("zero_model", "temporal_interp") for t in (55.0, 80.0)
    }
    for t in (55.0, 80.0):
        # the same fill (to float round-off): a difference of ~0 inside its interval
        zero = comps[("zero_model", "mean_fill", t)]
        assert abs(zero["diff"]) < 1e-4 and zero["lo"] <= zero["diff"] <= zero["hi"]
        d = comps[("temporal_interp", "mean_fill", t)]
        assert d["diff"] == pytest.approx(
            by[("temporal_interp", t)]["rmse_c"] - by[("mean_fill", t)]["rmse_c"]
        )
    # the zero generator is the mean fill
    for t in (55.0, 80.0):
        assert by[("zero_model", t)]["rmse_c"] == pytest.approx(
            by[("mean_fill", t)]["rmse_c"], abs=1e-4
        )
    # the rows are the scores of the fills on the same windows
    test = windows.load_test_set(threshold_gm2=55.0, max_items=2, data_dir=tiny_data_dir)
    sc = scores.score(runs.fill_windows(test, "temporal")[0], test)
    assert by[("temporal_interp", 55.0)]["rmse_c"] == pytest.approx(sc.rmse_c, rel=1e-9)
    assert by[("temporal_interp", 55.0)]["occlusion_rate"] == pytest.approx(test.occlusion_rate)
    # spectra of the chosen threshold only, for every method
    spectra = res["spectra"]
    assert spectra["threshold_gm2"] == 80.0
    assert set(spectra["methods"]) == set(methods)
    n_k = len(spectra["k_cpkm"])
    assert n_k > 2 and len(spectra["truth"]) == n_k
    for v in spectra["methods"].values():
        assert len(v["filled"]) == len(v["error"]) == n_k


# ------------------------------------------------------ goals and markdown
def row(method: str, thr: float, rmse: float, information: str = "window") -> dict:
    return {
        "method": method,
        "threshold_gm2": thr,
        "occlusion_rate": 0.6 if thr == 55.0 else 0.4,
        "rmse_c": rmse,
        "mae_c": rmse / 2,
        "rmse_all_c": rmse / 3,
        "effective_resolution_km": None if method == "mean_fill" else 20.0 + rmse,
        "fill_seconds": 2.0,
        "frames_per_s": 96.0,
        "train_seconds": 3600.0 if method.startswith(("unisst", "oracle")) else 0.0,
        "information": information,
        "n_windows": 4,
    }


def hand_rows() -> list[dict]:
    rows = []
    for thr, hybrid in ((55.0, 0.72), (70.0, 0.4)):
        rows += [
            row("mean_fill", thr, 1.0),
            row("dineof_window", thr, 0.8),
            row("dineof_series", thr, 0.5, "series"),
            row("unisst_hybrid", thr, hybrid),
            row("oracle_supervised", thr, 0.38),  # lower, but not a window method
            row("my_extra", thr, 0.9),
        ]
    rows.append(row("mean_fill", 80.0, 1.0))  # the model is missing at 80: no check
    rows.append(row("unisst_hybrid", 90.0, 0.1))  # the others are missing at 90
    return rows


def test_goal_checks_ratios_and_verdict():
    checks = {c["threshold_gm2"]: c for c in scores.goal_checks(hand_rows())}
    assert sorted(checks) == [55.0, 70.0, 90.0]
    good = checks[70.0]
    assert good["vs_dineof_window"] == pytest.approx(0.4 / 0.8)
    assert good["vs_dineof_series"] == pytest.approx(0.4 / 0.5)
    assert good["vs_oracle"] == pytest.approx(0.4 / 0.38)
    assert good["best_window_method"] == "unisst_hybrid"
    assert good["goals_met"] is True
    bad = checks[55.0]  # 0.72 / 0.8 > 0.75 and 0.72 / 0.5 > 1
    assert bad["vs_dineof_window"] == pytest.approx(0.9)
    assert bad["vs_dineof_series"] == pytest.approx(1.44)
    assert bad["best_window_method"] == "unisst_hybrid"
    assert bad["goals_met"] is False
    alone = checks[90.0]
    assert alone["vs_dineof_window"] is None and alone["vs_oracle"] is None
    assert alone["goals_met"] is False  # a missing comparison is not a goal met
    # the oracle bound alone can fail the goals
    rows = [r if r["method"] != "oracle_supervised" else {**r, "rmse_c": 0.3} for r in hand_rows()]
    fail = {c["threshold_gm2"]: c for c in scores.goal_checks(rows)}[70.0]
    assert fail["vs_oracle"] == pytest.approx(0.4 / 0.3) and fail["goals_met"] is False
    # the best window method beating the model fails the goals too
    rows = [r if r["method"] != "my_extra" else {**r, "rmse_c": 0.35} for r in hand_rows()]
    lost = {c["threshold_gm2"]: c for c in scores.goal_checks(rows)}[70.0]
    assert lost["best_window_method"] == "my_extra" and lost["goals_met"] is False
    # another model name
    other = scores.goal_checks(hand_rows(), model="dineof_window")
    assert [c["threshold_gm2"] for c in other] == [55.0, 70.0]
    assert other[0]["vs_dineof_window"] == pytest.approx(1.0)


def _section(md: str, title: str) -> list[str]:
    """The lines of the Markdown section ``## title`` (up to the next heading)."""
    lines = md.splitlines()
    start = lines.index(f"## {title}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
    return lines[start + 1 : end]


def test_results_markdown_tables():
    rows = [r for r in hand_rows() if r["threshold_gm2"] in (55.0, 70.0)]
    meta = {
        "command": "python benchmarks/accuracy.py --quick",
        "date": "2026-01-01",
        "dx_km": 4.5,
        "models": {"unisst_hybrid": "fast, 2000 steps"},
    }
    md = report.results_markdown({"rows": rows, "meta": meta})
    assert "`python benchmarks/accuracy.py --quick`" in md
    assert "Nyquist wavelength 9.0 km" in md
    order = [
        "mean_fill", "dineof_window", "dineof_series", "unisst_hybrid", "oracle_supervised",
        "my_extra",
    ]  # fmt: skip
    names = {m: report.method_label(m) for m in order}
    assert names["dineof_series"] == "DINEOF (whole series)"
    assert names["unisst_hybrid"] == "UNISST hybrid (fast)"
    assert names["my_extra"] == "my_extra"  # an unknown method keeps its key
    for title, key, spec in (
        ("RMSE (°C)", "rmse_c", ".3f"),
        ("MAE (°C)", "mae_c", ".3f"),
        ("Effective resolution (km)", "effective_resolution_km", ".1f"),
    ):
        section = _section(md, title)
        assert "| 55 g m⁻² | 70 g m⁻² |" in next(li for li in section if li.startswith("| method"))
        assert any(li.startswith("| *occluded (%)* | | 60.0 | 40.0 |") for li in section)
        by_name = {v: k for k, v in names.items()}
        lines = [li for li in section if li.startswith("| ") and li[2:].split(" | ")[0] in by_name]
        assert [li[2:].split(" | ")[0] for li in lines] == [names[m] for m in order]
        for li in lines:
            method = by_name[li[2:].split(" | ")[0]]
            cells = [c.strip() for c in li.strip("|").split("|")]
            info = "series" if method == "dineof_series" else "window"
            expected = [
                "–" if r[key] is None else format(r[key], spec)
                for r in rows
                if r["method"] == method
            ]
            assert cells == [names[method], info, *expected]
    timing = [li for li in _section(md, "Time on this machine") if li.startswith("| UNISST")]
    assert timing == ["| UNISST hybrid (fast) | 3600 | 2.00 | 96 |"]
    goals = _section(md, "Goals for UNISST hybrid (fast)")
    head = "| LWP threshold (g m⁻²) | vs DINEOF (window) | vs DINEOF (whole series) | vs oracle |"
    assert any(li.startswith(head) for li in goals)
    assert "| 55 | 0.90 | 1.44 | 1.89 | UNISST hybrid (fast) | no |" in goals
    assert "| 70 | 0.50 | 0.80 | 1.05 | UNISST hybrid (fast) | yes |" in goals
    assert "- UNISST hybrid (fast), `unisst_hybrid`: fast, 2000 steps" in md


OLD_SPELLINGS = ("g/m²", "g m-2", "g m$^", "(°N)", "(°E)", "_gm2", "rmse_c", "mae_c")
"""What a reader must not see in the kit's tables and figures (house style: ``g m⁻²``, 16°S)."""


def _old_spellings(texts) -> list[str]:
    return [t for t in texts if any(old in str(t) for old in OLD_SPELLINGS)]


def _figure_texts(fig) -> list:
    """The visible, non-empty Text artists of a drawn figure (tick labels included)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    FigureCanvasAgg(fig).draw()
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _tiny_results() -> dict:
    """A benchmark result of three methods at two thresholds, with spectra."""
    rows = [
        row(m, thr, base + (70 - thr) / 100, info)
        for m, info, base in (
            ("mean_fill", "window", 0.7),
            ("dineof_series", "series", 0.2),
            ("unisst_hybrid", "window", 0.25),
        )
        for thr in (55.0, 70.0)
    ]
    truth = np.array([10.0, 3.0, 1.0, 0.3, 0.1])
    spectra = {
        "threshold_gm2": 70.0,
        "k_cpkm": [1 / 600, 1 / 300, 1 / 150, 1 / 75, 1 / 37.5],
        "truth": truth.tolist(),
        "methods": {
            m: {"filled": (truth * f).tolist(), "error": (truth * e).tolist()}
            for m, f, e in (
                ("mean_fill", 0.5, 0.9),
                ("dineof_series", 0.9, 0.4),
                ("unisst_hybrid", 1.0, 0.3),
            )
        },
    }
    meta = {"dx_km": 9.0, "figure": "accuracy.png", "models": {"unisst_hybrid": "fast"}}
    return {"rows": rows, "spectra": spectra, "meta": meta}


def test_results_markdown_image_resolves_where_it_is_rendered():
    from pathlib import Path

    results = _tiny_results()
    images = lambda md: [li for li in md.splitlines() if li.startswith("![")]  # noqa: E731
    # default: the figure named in meta, relative to results.md (written next to it)
    assert images(report.results_markdown(results)) == ["![spectra](accuracy.png)"]
    # rendered elsewhere: the caller's path, or no image at all (the notebook draws it)
    there = report.results_markdown(results, image="../benchmarks/accuracy.png")
    assert images(there) == ["![spectra](../benchmarks/accuracy.png)"]
    assert images(report.results_markdown(results, image=None)) == []
    assert images(report.results_markdown({**results, "meta": {}})) == []
    # the committed report: its image line is what the default still writes there, and
    # the link resolves from benchmarks/ (results.md) and from the root (README)
    root = Path(__file__).resolve().parent.parent
    committed = (root / "benchmarks" / "results.md").read_text()
    (line,) = images(committed)
    meta = {"figure": "accuracy.png"}
    assert images(report.results_markdown({**results, "meta": meta})) == [line]
    assert (root / "benchmarks" / line[line.index("(") + 1 : -1]).is_file()
    readme = [li for li in (root / "README.md").read_text().splitlines() if li.startswith("![")]
    for li in readme:
        assert (root / li[li.index("(") + 1 : li.rindex(")")]).is_file(), li


def test_user_facing_text_has_the_house_units():
    """Tables and figure texts write g m⁻², °C and 16°S, never g/m², g m-2 or (°N)."""
    from unisst_lib.notebooks.helpers import benchmark_table
    from unisst_lib.notebooks.sweep import _sample_title, sweep_markdown
    from unisst_lib.views.plots import benchmark_figure, first_look_figure

    results = _tiny_results()
    md = report.results_markdown(results)
    assert "55 g m⁻²" in md and _old_spellings(md.splitlines()) == []
    table = benchmark_table(results)
    assert list(table[0]) == ["method", "sees", "55 g m⁻²", "70 g m⁻²"]
    assert [r["method"] for r in table] == [
        "mean fill", "DINEOF (whole series)", "UNISST hybrid (fast)",
    ]  # fmt: skip
    assert table[1]["sees"] == "series" and table[1]["70 g m⁻²"] == 0.2
    fig = benchmark_figure(results, labels=report.METHOD_LABELS)
    texts = [t.get_text() for t in _figure_texts(fig)]
    assert "LWP threshold (g m⁻²)" in texts and "UNISST hybrid (fast)" in texts
    assert _old_spellings(texts) == []
    lat = np.linspace(-20.0, -15.0, 8)
    lon = np.linspace(-20.0, -15.0, 8)
    sst = np.full((8, 8), 20.0) + lat[:, None] / 10
    extent = (lon[0], lon[-1], lat[0], lat[-1])
    fig = first_look_figure([("test", sst)], np.full((8, 8), 0.08), 70.0, extent=[extent])
    texts = [t.get_text() for t in _figure_texts(fig)]
    assert "16°S" in texts and "18°W" in texts and "LWP (g m⁻²)" in texts
    assert not any(t.startswith("−") and "°" in t for t in texts)  # no negative degrees
    assert _old_spellings(texts) == []
    sweep_rows = [{"threshold_gm2": 70.0, "status": "ok", "occlusion_rate": 0.4, "mae_c": 0.1,
                   "rmse_c": 0.2, "mean_fill_rmse_c": 0.5, "split": "test"}]  # fmt: skip
    caption = _sample_title(sweep_rows[0])
    assert caption.startswith("70 g m⁻², 40 % occluded")
    lines = sweep_markdown(sweep_rows).splitlines()
    assert "| 70 | 40.0 | 0.100 | 0.200 | 0.500 | test | ok |" in lines
    assert _old_spellings([caption, *lines]) == []


def test_benchmark_figure_fits_a_notebook_column_and_its_legend_hides_no_line():
    from matplotlib.legend import Legend

    from unisst_lib.views.plots import FIG_TEXT_PT, benchmark_figure

    fig = benchmark_figure(_tiny_results(), labels=report.METHOD_LABELS)
    width, height = fig.get_size_inches()
    assert 7.0 <= width <= 9.0 and height <= 8.0  # 900 px at 100 dpi: shown at 100 %
    sizes = {t.get_text(): t.get_fontsize() for t in _figure_texts(fig)}
    assert min(sizes.values()) >= FIG_TEXT_PT >= 9, sorted(sizes.items(), key=lambda kv: kv[1])
    renderer = fig.canvas.get_renderer()
    (legend,) = fig.findobj(Legend)
    assert len(legend.get_texts()) == 4  # three methods and the truth, each once
    box = legend.get_window_extent(renderer)
    drawn = [ax for ax in fig.axes if ax.lines]
    assert len(drawn) == 3
    for ax in drawn:
        assert not box.overlaps(ax.get_window_extent(renderer)), ax.get_title()


def test_training_curves_fit_a_notebook_column_with_legends_beside_the_curves(tmp_path):
    from matplotlib.legend import Legend

    from unisst_lib.views.plots import FIG_TEXT_PT, training_curves_figure

    (tmp_path / "train_log.csv").write_text(
        "step,loss_d,loss_g_adv,loss_self_supervised\n1,4.0,0.1,0.5\n2,3.9,0.2,0.4\n"
    )
    (tmp_path / "val_log.csv").write_text(
        "step,holdout_rmse_c,rmse_occluded_c,mae_occluded_c,mean_fill_rmse_occluded_c,"
        "occlusion_rate,best\n2,0.5,0.6,0.4,0.8,0.5,1\n"
    )
    fig = training_curves_figure(tmp_path, title="run")
    width, _ = fig.get_size_inches()
    assert 7.0 <= width <= 9.0
    sizes = {t.get_text(): t.get_fontsize() for t in _figure_texts(fig)}
    assert min(sizes.values()) >= FIG_TEXT_PT >= 9, sorted(sizes.items(), key=lambda kv: kv[1])
    renderer = fig.canvas.get_renderer()
    legends = fig.findobj(Legend)
    assert len(legends) == 3
    for legend in legends:
        ax = legend.axes
        assert ax.lines and not legend.get_window_extent(renderer).overlaps(
            ax.get_window_extent(renderer)
        )


def test_effective_resolution_ignores_scales_longer_than_k_min():
    k = np.array([0.005, 0.01, 0.02, 0.04])
    ratio = np.array([0.9, 0.1, 0.2, 0.8])  # the largest scale alone is above the level
    assert math.isnan(scores.effective_resolution_km(k, ratio, np.ones(4)))
    frac = (0.5 - 0.2) / (0.8 - 0.2)
    expected = 1.0 / math.exp(math.log(0.02) + frac * (math.log(0.04) - math.log(0.02)))
    got = scores.effective_resolution_km(k, ratio, np.ones(4), k_min=0.01)
    assert got == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="k_min"):
        scores.effective_resolution_km(k, ratio, np.ones(4), k_min=0.03)


def test_results_markdown_shows_intervals_validation_differences_and_real_data():
    rows = [
        {**r, "rmse_lo": r["rmse_c"] - 0.01, "rmse_hi": r["rmse_c"] + 0.02, "n_windows": 60}
        for r in hand_rows()
        if r["threshold_gm2"] == 55.0
    ]
    results = {
        "rows": rows,
        "meta": {"headline": "unisst_hybrid"},
        "validation": {
            "unisst_hybrid": {
                "selected_on": "holdout_rmse_c",
                "holdout_rmse_c": {"mean": 0.25, "seeds": [0.24, 0.26]},
                "best_step": [160, 200],
                "steps_run": [200, 200],
            }
        },
        "comparisons": [
            {"a": "unisst_hybrid", "b": "dineof_window", "threshold_gm2": 55.0,
             "metric": "rmse_c", "diff": -0.0123, "lo": -0.02, "hi": -0.004,
             "verdict": "a better"},
            {"a": "unisst_hybrid", "b": "dineof_series", "threshold_gm2": 55.0,
             "metric": "rmse_c", "diff": 0.001, "lo": -0.01, "hi": 0.012,
             "verdict": "no difference"},
        ],
        "real_cv": {
            "file": "benchmarks/real_cv.json",
            "meta": {"command": "python benchmarks/real_cv.py", "date": "2026-01-02",
                     "share": 0.1, "seeds": [0, 1]},
            "summary": {"methods": {"interp": {
                "cv_rmse_c_mean": 0.3456, "cv_rmse_c_sd": 0.0088,
                "truth_rmse_c_mean": 0.378, "truth_rmse_c_sd": 0.002, "failed": 0}}},
        },
    }  # fmt: skip
    md = report.results_markdown(results, model=None)
    hybrid = next(r for r in rows if r["method"] == "unisst_hybrid")
    lo, hi = hybrid["rmse_c"] - 0.01, hybrid["rmse_c"] + 0.02
    line = next(li for li in _section(md, "RMSE (°C)") if li.startswith("| UNISST hybrid"))
    assert f"| {hybrid['rmse_c']:.3f} ({lo:.3f}–{hi:.3f}) |" in line
    val = _section(md, "Validation: how the recipe was chosen")
    assert (
        "| UNISST hybrid (fast) | holdout_rmse_c | 0.2500 | 0.2400, 0.2600 | 160, 200 | 200, 200 |"
        in val
    )
    diffs = _section(md, "Paired differences")
    assert "| UNISST hybrid (fast) | DINEOF (window) | -0.012 (-0.020, -0.004) **A** |" in diffs
    assert "| UNISST hybrid (fast) | DINEOF (whole series) | +0.001 (-0.010, +0.012) |" in diffs
    real = _section(md, "Real data: cross-validation on the embedded L3 archive")
    assert "| interp | 0.346 ± 0.009 | 0.378 ± 0.002 | 0 |" in real
