"""Tests of the baselines (unisst_lib.methods.baselines, .interp, .dineof) with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from unisst_lib.core.errors import UnisstError
from unisst_lib.methods import dineof as dineof_module
from unisst_lib.methods.baselines import BASELINE_NAMES, fill_baseline
from unisst_lib.methods.dineof import dineof, fill_dineof
from unisst_lib.methods.interp import fill_laplace, fill_mean, fill_temporal
from unisst_lib.methods.problem import BaselineInputError

METHODS = {
    "mean": fill_mean,
    "temporal": fill_temporal,
    "laplace": fill_laplace,
    "dineof": fill_dineof,
}


def blob_mask(shape: tuple[int, int, int], fraction: float, seed: int) -> np.ndarray:
    """(T, H, W) bool, True on about ``fraction`` of the pixels, in smooth cloud-like blobs."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=(0, 3, 3), mode="wrap")
    return noise > np.quantile(noise, 1.0 - fraction, axis=(1, 2), keepdims=True)


def low_rank_sst(n_t: int, h: int, w: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """(T, H, W) °C: a steady pattern plus two oscillating separable modes (rank 3).

    The steady mode (constant in time) holds the 20 °C offset, so the anomaly
    about the overall mean is exactly of rank 3.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_t, dtype=float)[:, None, None]
    y = np.linspace(0.0, 1.0, h)[None, :, None]
    x = np.linspace(0.0, 1.0, w)[None, None, :]
    steady = 20.0 + 2.0 * y + 0.5 * np.cos(2 * np.pi * x)
    mode2 = 1.5 * np.sin(2 * np.pi * t / 17.0) * np.sin(np.pi * x) * np.cos(np.pi * y)
    mode3 = 0.8 * np.cos(2 * np.pi * t / 7.0) * np.sin(2 * np.pi * (x + y))
    sst = steady + mode2 + mode3
    return sst + noise * rng.standard_normal(sst.shape)


def test_names_and_dispatcher() -> None:
    assert set(BASELINE_NAMES) == set(METHODS)
    sst = low_rank_sst(12, 8, 8)
    mask = blob_mask(sst.shape, 0.3, seed=1)
    for name, fn in METHODS.items():
        np.testing.assert_array_equal(fill_baseline(name, sst, mask), fn(sst, mask))
    with pytest.raises(ValueError, match="'mean', 'temporal', 'laplace', 'dineof'"):
        fill_baseline("kriging", sst, mask)
    with pytest.raises(TypeError):  # a typo in an option is an error, not ignored
        fill_baseline("dineof", sst, mask, kmax=3)


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_observed_pixels_bitwise_and_no_nan(name: str) -> None:
    sst = low_rank_sst(20, 16, 16, noise=0.05).astype(np.float32)
    mask = blob_mask(sst.shape, 0.4, seed=2)
    mask[5] = True  # a frame with no observation at all
    out = fill_baseline(name, sst, mask)
    assert out.dtype == np.float32 and out.shape == sst.shape
    assert np.array_equal(out[~mask].view(np.uint32), sst[~mask].view(np.uint32))
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_land_stays_nan_and_nan_means_missing(name: str) -> None:
    sst = low_rank_sst(16, 12, 12, noise=0.02)
    sst[:, :3, :4] = np.nan  # land: NaN in every frame
    clouds = blob_mask(sst.shape, 0.25, seed=3)
    sst[clouds] = np.nan  # an observation: NaN under the clouds, mask=None
    out = fill_baseline(name, sst)
    assert np.isnan(out[:, :3, :4]).all()
    ocean = np.ones(sst.shape, dtype=bool)
    ocean[:, :3, :4] = False
    assert np.isfinite(out[ocean]).all()
    np.testing.assert_array_equal(out[~clouds & ocean], sst[~clouds & ocean])


def test_explicit_land_and_cloud_in_every_frame() -> None:
    sst = np.full((4, 5, 5), 18.0)
    sst[:, 2, 2] = np.nan  # hidden in every frame, not land when said so
    land = np.zeros((5, 5), dtype=bool)
    land[0, 0] = True
    sst[:, 0, 0] = np.nan
    for fn in METHODS.values():
        default = fn(sst) if fn is not fill_dineof else fn(sst, n_eofs=1)
        assert np.isnan(default[:, 2, 2]).all()  # NaN in every frame: taken as land
        given = fn(sst, land=land) if fn is not fill_dineof else fn(sst, land=land, n_eofs=1)
        np.testing.assert_allclose(given[:, 2, 2], 18.0)
        assert np.isnan(given[:, 0, 0]).all()


def test_fill_mean_value() -> None:
    sst = np.arange(24.0).reshape(2, 3, 4)
    mask = np.zeros(sst.shape, dtype=bool)
    mask[0, 0, :2] = True
    mask[1, 2, 3] = True
    out = fill_mean(sst, mask)
    expected = sst[~mask].mean()
    np.testing.assert_array_equal(out[mask], expected)
    np.testing.assert_array_equal(out[~mask], sst[~mask])


def test_integer_input_gives_float64() -> None:
    sst = np.array([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], dtype=np.int16)
    mask = np.array([[[0, 1], [0, 0]], [[0, 0], [0, 0]]], dtype=np.uint8)  # 0/1 numbers
    out = fill_temporal(sst, mask)
    assert out.dtype == np.float64
    assert out[0, 0, 1] == 6.0  # held from the next observation


def test_temporal_linear_ramp_is_exact() -> None:
    rng = np.random.default_rng(4)
    n_t, h, w = 30, 6, 7
    a = rng.normal(20.0, 2.0, (h, w))
    b = rng.normal(0.0, 0.3, (h, w))
    sst = a + b * np.arange(n_t, dtype=float)[:, None, None]  # linear in time per pixel
    mask = rng.random(sst.shape) < 0.6
    mask[0] = mask[-1] = False  # every gap lies between two observations
    out = fill_temporal(sst, mask)
    np.testing.assert_allclose(out, sst, rtol=0, atol=1e-12)


def test_temporal_holds_ends_and_fills_never_observed_pixel_in_space() -> None:
    n_t, h, w = 5, 4, 6
    sst = np.broadcast_to(10.0 + np.arange(w, dtype=float), (n_t, h, w)).copy()  # linear in x
    sst[:, :, :] += np.arange(n_t, dtype=float)[:, None, None]
    mask = np.zeros(sst.shape, dtype=bool)
    mask[:2, 0, 0] = True  # before the first observation: hold it
    mask[3:, 0, 1] = True  # after the last: hold it
    mask[:, 2, 3] = True  # never observed (sst finite there: not land)
    out = fill_temporal(sst, mask)
    np.testing.assert_array_equal(out[:2, 0, 0], sst[2, 0, 0])
    np.testing.assert_array_equal(out[3:, 0, 1], sst[2, 0, 1])
    np.testing.assert_allclose(out[:, 2, 3], sst[:, 2, 3], atol=1e-10)  # harmonic in space


def test_laplace_linear_field_is_exact() -> None:
    n_t, h, w = 3, 20, 24
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    sst = np.stack([15.0 + 0.3 * yy - 0.2 * xx + t for t in range(n_t)])  # harmonic
    mask = np.zeros(sst.shape, dtype=bool)
    mask[0, 3:9, 4:15] = True  # interior gaps (not touching the edge)
    mask[1, 10:18, 2:6] = True
    mask[1, 5:7, 10:20] = True
    mask[2] = blob_mask((1, h, w), 0.3, seed=5)[0]
    mask[2, [0, -1], :] = False
    mask[2, :, [0, -1]] = False
    out = fill_laplace(sst, mask)
    np.testing.assert_allclose(out, sst, rtol=0, atol=1e-9)


def test_laplace_no_flux_edge_and_empty_frame_fallbacks() -> None:
    # A field constant along y and linear in x is harmonic with zero normal flux at
    # the top and bottom edges: a gap touching them is still filled exactly.
    n_t, h, w = 3, 10, 12
    sst = np.broadcast_to(5.0 + 0.5 * np.arange(w, dtype=float), (n_t, h, w)).copy()
    sst += 2.0 * np.arange(n_t, dtype=float)[:, None, None]
    mask = np.zeros(sst.shape, dtype=bool)
    mask[0, :4, 3:8] = True  # touches the top edge
    mask[1] = True  # no observation: linear in time between frames 0 and 2
    out = fill_laplace(sst, mask)
    np.testing.assert_allclose(out, sst, rtol=0, atol=1e-9)


def test_laplace_unobserved_basin_gets_mean() -> None:
    sst = np.full((2, 6, 7), 12.0)
    sst[:, :, 3] = np.nan  # a land column splits two basins
    sst[0, :, :3] = 10.0
    sst[1, :, :3] = 14.0
    mask = ~np.isfinite(sst)
    mask[:, :, 4:] = True  # the right basin is never observed
    out = fill_laplace(sst, mask)
    assert np.isnan(out[:, :, 3]).all()
    np.testing.assert_allclose(out[:, :, 4:], 12.0)  # the mean of the observations


def test_dineof_recovers_low_rank_field_and_picks_three_eofs() -> None:
    truth = low_rank_sst(60, 24, 24, noise=0.05, seed=6)
    clean = low_rank_sst(60, 24, 24, noise=0.0, seed=6)
    mask = blob_mask(truth.shape, 0.3, seed=7)
    res = dineof(truth, mask, k_max=8, seed=0)
    assert res.n_eofs == 3
    assert res.cv_rmse.shape == (8,) and res.iterations.shape == (8,)
    assert int(np.nanargmin(res.cv_rmse)) + 1 == 3
    assert res.cv_rmse[2] < 0.1  # noise level 0.05 °C
    assert res.converged
    rmse = np.sqrt(np.mean((res.filled[mask] - clean[mask]) ** 2))
    assert rmse < 0.05 * truth.std()
    mean_rmse = np.sqrt(np.mean((fill_mean(truth, mask)[mask] - clean[mask]) ** 2))
    assert rmse < 0.1 * mean_rmse
    assert isinstance(res.center, float)


def test_dineof_is_deterministic_and_seed_changes_cv() -> None:
    sst = low_rank_sst(30, 12, 12, noise=0.05, seed=8)
    mask = blob_mask(sst.shape, 0.3, seed=9)
    a = dineof(sst, mask, k_max=5, seed=3)
    b = dineof(sst, mask, k_max=5, seed=3)
    c = dineof(sst, mask, k_max=5, seed=4)
    np.testing.assert_array_equal(a.filled, b.filled)
    np.testing.assert_array_equal(a.cv_rmse, b.cv_rmse)
    assert not np.array_equal(a.cv_rmse, c.cv_rmse)


@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_dineof_randomised_svd_matches_exact(monkeypatch, alpha: float) -> None:
    sst = low_rank_sst(40, 16, 16, noise=0.05, seed=10)
    mask = blob_mask(sst.shape, 0.3, seed=11)
    opts = {"n_eofs": 3, "tol": 1e-6, "max_iter": 300, "temporal_filter": alpha}
    exact = dineof(sst, mask, **opts)
    monkeypatch.setattr(dineof_module, "EXACT_SVD_MAX_DIM", 8)  # force the subspace iteration
    approx = dineof(sst, mask, **opts)
    assert approx.converged and exact.converged
    np.testing.assert_allclose(approx.filled, exact.filled, atol=2e-3)


def test_dineof_cv_mask_patience_centre_and_filter() -> None:
    sst = low_rank_sst(40, 12, 12, noise=0.05, seed=12)
    mask = blob_mask(sst.shape, 0.3, seed=13)
    cv = blob_mask(sst.shape, 0.05, seed=14)  # a cloud-shaped cross-validation set
    res = dineof(sst, mask, k_max=10, cv_mask=cv, patience=2)
    assert res.n_eofs == 3
    tried = np.isfinite(res.cv_rmse)
    assert tried.sum() == 5 and not tried[5:].any()  # stopped 2 after the best
    assert (res.iterations[5:] == 0).all()
    pix = dineof(sst, mask, k_max=6, center="pixel")
    assert pix.center.shape == (12, 12)
    assert np.isfinite(pix.filled).all()
    smooth = dineof(sst, mask, n_eofs=3, temporal_filter=0.1)
    plain = dineof(sst, mask, n_eofs=3)
    assert smooth.cv_rmse.size == 0
    np.testing.assert_array_equal(smooth.filled[~mask], sst[~mask])
    assert not np.array_equal(smooth.filled, plain.filled)
    err = np.sqrt(np.mean((smooth.filled[mask] - sst[mask]) ** 2))
    assert err < 0.2


def test_dineof_caps_k_at_the_matrix_size() -> None:
    sst = low_rank_sst(4, 6, 6, seed=15)
    mask = blob_mask(sst.shape, 0.2, seed=16)
    res = dineof(sst, mask, k_max=20)
    assert res.cv_rmse.shape == (3,) and 1 <= res.n_eofs <= 3


@pytest.mark.parametrize(
    ("sst", "mask", "match"),
    [
        (np.zeros((4, 4)), None, r"\(T, H, W\)"),
        (np.zeros((2, 4, 4)), np.zeros((2, 4, 5), dtype=bool), "mask has shape"),
        (np.zeros((2, 4, 4)), np.full((2, 4, 4), 2), "only 0 and 1"),
        (np.full((2, 4, 4), np.nan), None, "no observed pixel"),
        (np.zeros((2, 4, 4)), np.ones((2, 4, 4), dtype=bool), "no observed pixel"),
        (np.zeros((2, 4, 4), dtype=complex), None, "real numbers"),
        (np.zeros((0, 4, 4)), None, "empty"),
    ],
)
@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_bad_inputs_raise(name, sst, mask, match) -> None:
    with pytest.raises(BaselineInputError, match=match) as info:
        fill_baseline(name, sst, mask)
    assert isinstance(info.value, UnisstError) and isinstance(info.value, ValueError)


def test_bad_land_and_dineof_options_raise() -> None:
    sst = low_rank_sst(6, 5, 5)
    with pytest.raises(BaselineInputError, match="land must be"):
        fill_mean(sst, land=np.zeros((5, 4), dtype=bool))
    with pytest.raises(BaselineInputError, match="observed pixels lie on the given land"):
        fill_mean(sst, land=np.ones((5, 5), dtype=bool))
    with pytest.raises(BaselineInputError, match="at least 2"):
        fill_dineof(sst[:1])
    bad = [
        {"k_max": 0},
        {"n_eofs": 1.5},
        {"tol": 0.0},
        {"max_iter": 0},
        {"cv_fraction": 0.9},
        {"center": "median"},
        {"temporal_filter": 0.5},
        {"patience": 0},
        {"seed": -1},
        {"cv_mask": np.zeros((6, 5, 5), dtype=bool)},
        {"cv_mask": np.ones((6, 5, 4), dtype=bool)},
    ]
    for opts in bad:
        with pytest.raises(BaselineInputError):
            fill_dineof(sst, **opts)
