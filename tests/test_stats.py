"""Tests of unisst_lib.data.stats on synthetic data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from unisst_lib.data import stats


def _power_law_field(n: int, beta: float, n_fields: int, seed: int) -> np.ndarray:
    """Gaussian fields (n_fields, n, n) whose isotropic spectrum is ∝ k**-beta.

    White noise filtered by |k|**-(beta+1)/2: the 2-D modal power is then
    ∝ k**-(beta+1) and the isotropic (annulus-summed) spectrum ∝ k**-beta.
    """
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n_fields, n, n))
    ky = np.fft.fftfreq(n)[:, None]
    kx = np.fft.rfftfreq(n)[None, :]
    kk = np.sqrt(kx**2 + ky**2)
    filt = np.zeros_like(kk)
    filt[kk > 0] = kk[kk > 0] ** (-(beta + 1.0) / 2.0)
    return np.fft.irfft2(np.fft.rfft2(noise) * filt, s=(n, n))


@pytest.mark.parametrize("beta", [5.0 / 3.0, 3.0])
def test_power_law_slope_is_recovered(beta: float) -> None:
    field = _power_law_field(128, beta, n_fields=12, seed=1)
    dx = 2.0
    k, psd = stats.radial_power_spectrum(field, dx)
    assert k.ndim == 1 and k.shape == psd.shape
    assert np.all(k > 0) and np.all(np.diff(k) > 0)
    assert k[-1] == pytest.approx(0.5 / dx)
    # Fit away from the lowest bins (window) and the Nyquist corner.
    slope = stats.spectral_slope(k, psd, k_min=1 / 100.0, k_max=1 / 8.0)
    assert slope == pytest.approx(-beta, abs=0.25)


def test_slope_differs_between_spectra() -> None:
    """The fit really distinguishes a flatter spectrum from a steeper one."""
    k1, p1 = stats.radial_power_spectrum(_power_law_field(64, 1.5, 6, 2), 1.0)
    k2, p2 = stats.radial_power_spectrum(_power_law_field(64, 3.0, 6, 2), 1.0)
    s1 = stats.spectral_slope(k1, p1, k_min=0.05, k_max=0.3)
    s2 = stats.spectral_slope(k2, p2, k_min=0.05, k_max=0.3)
    assert s2 < s1 - 1.0


@pytest.mark.parametrize(("cx", "cy"), [(8, 0), (0, 5), (3, 4)])
def test_sinusoid_peaks_at_its_wavenumber(cx: int, cy: int) -> None:
    n, dx = 64, 3.0  # km
    y, x = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    field = np.sin(2 * np.pi * (cx * x + cy * y) / n + 0.3)
    k, psd = stats.radial_power_spectrum(field, dx)
    expected = np.hypot(cx, cy) / (n * dx)  # cycles/km
    dk = k[1] - k[0]
    assert abs(k[np.argmax(psd)] - expected) <= 0.5 * dk + 1e-12


def test_variance_is_preserved_without_window() -> None:
    field = _power_law_field(64, 3.0, n_fields=4, seed=3)
    k, psd = stats.radial_power_spectrum(field, 5.0, window=None, detrend=False)
    dk = k[1] - k[0]
    variance = float(np.mean(field.var(axis=(1, 2))))
    # Only the corners beyond the Nyquist circle are left out: for a red
    # spectrum that is a tiny part of the variance.
    assert psd.sum() * dk == pytest.approx(variance, rel=0.05)


def test_hann_window_keeps_the_level() -> None:
    field = _power_law_field(128, 2.0, n_fields=8, seed=4)
    k, p_none = stats.radial_power_spectrum(field, 1.0, window=None)
    _, p_hann = stats.radial_power_spectrum(field, 1.0, window="hann")
    band = (k > 0.05) & (k < 0.3)
    ratio = np.exp(np.mean(np.log(p_hann[band] / p_none[band])))
    assert ratio == pytest.approx(1.0, rel=0.25)


def test_detrend_removes_a_plane() -> None:
    n = 32
    y, x = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    plane = 3.0 + 0.5 * x - 0.2 * y
    _, psd = stats.radial_power_spectrum(plane, 1.0, detrend=True, window=None)
    assert np.max(psd) < 1e-20
    _, psd_raw = stats.radial_power_spectrum(plane, 1.0, detrend=False, window=None)
    assert np.max(psd_raw) > 1.0


def test_anisotropic_spacing() -> None:
    n = 64
    y = np.arange(n)[:, None] * np.ones((1, n))
    field = np.sin(2 * np.pi * 6 * y / n)  # 6 cycles along y
    k, psd = stats.radial_power_spectrum(field, 8.0, dy_km=10.0)
    dk = k[1] - k[0]
    assert abs(k[np.argmax(psd)] - 6 / (n * 10.0)) <= 0.5 * dk + 1e-12


def test_leading_dims_are_averaged() -> None:
    field = _power_law_field(32, 2.0, n_fields=6, seed=8).reshape(2, 3, 32, 32)
    _, psd = stats.radial_power_spectrum(field, 1.0)
    each = [stats.radial_power_spectrum(f, 1.0)[1] for f in field.reshape(6, 32, 32)]
    np.testing.assert_allclose(psd, np.mean(each, axis=0), rtol=1e-10)
    # many realisations are processed by chunks: same answer
    many = np.concatenate([field.reshape(6, 32, 32)] * 800)  # 4800 > one chunk
    np.testing.assert_allclose(stats.radial_power_spectrum(many, 1.0)[1], psd, rtol=1e-8)


def test_spectrum_bad_inputs() -> None:
    with pytest.raises(ValueError, match="shape"):
        stats.radial_power_spectrum(np.zeros(16), 1.0)
    with pytest.raises(ValueError, match="ny, nx >= 4"):
        stats.radial_power_spectrum(np.zeros((3, 16)), 1.0)
    bad = np.zeros((8, 8))
    bad[2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        stats.radial_power_spectrum(bad, 1.0)
    with pytest.raises(ValueError, match="window"):
        stats.radial_power_spectrum(np.zeros((8, 8)), 1.0, window="blackman")
    with pytest.raises(ValueError, match="positive"):
        stats.radial_power_spectrum(np.zeros((8, 8)), 0.0)


def test_spectral_slope_bad_inputs() -> None:
    k = np.arange(1, 11, dtype=float)
    psd = k**-2.0
    assert stats.spectral_slope(k, psd, k_min=1, k_max=10) == pytest.approx(-2.0)
    with pytest.raises(ValueError, match="fewer than 2"):
        stats.spectral_slope(k, psd, k_min=20, k_max=30)
    with pytest.raises(ValueError, match="k_min"):
        stats.spectral_slope(k, psd, k_min=5, k_max=2)
    with pytest.raises(ValueError, match="same length"):
        stats.spectral_slope(k, psd[:-1], k_min=1, k_max=10)


def _ar1(phi: float, n_t: int, n_pts: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.empty((n_t, n_pts))
    x[0] = rng.standard_normal(n_pts)
    eps = rng.standard_normal((n_t, n_pts)) * np.sqrt(1 - phi**2)
    for t in range(1, n_t):
        x[t] = phi * x[t - 1] + eps[t]
    return x


@pytest.mark.parametrize(("phi", "dt"), [(0.9, 1.0), (0.7, 6.0)])
def test_decorrelation_time_of_ar1(phi: float, dt: float) -> None:
    series = _ar1(phi, 3000, 64, seed=5).reshape(3000, 8, 8)
    expected = -dt / np.log(phi)
    assert stats.decorrelation_time(series, dt) == pytest.approx(expected, rel=0.1)


def test_decorrelation_time_many_points() -> None:
    """Long series on many points go through the chunked path."""
    series = _ar1(0.8, 2048, 1500, seed=9)
    assert stats.decorrelation_time(series, 2.0) == pytest.approx(-2 / np.log(0.8), rel=0.05)


def test_decorrelation_time_1d_and_constant_points() -> None:
    series = _ar1(0.8, 4000, 1, seed=6)[:, 0]
    assert stats.decorrelation_time(series, 1.0) == pytest.approx(-1 / np.log(0.8), rel=0.15)
    # A constant point and a NaN point are ignored, not fatal.
    two = np.stack([series, np.full_like(series, 2.0), series], axis=1)
    two[5, 2] = np.nan
    assert stats.decorrelation_time(two, 1.0) == pytest.approx(
        stats.decorrelation_time(series, 1.0)
    )


def test_decorrelation_time_longer_than_max_lag_is_inf() -> None:
    series = _ar1(0.99, 500, 16, seed=7)
    assert stats.decorrelation_time(series, 1.0, max_lag=5) == np.inf


def test_decorrelation_bad_inputs() -> None:
    with pytest.raises(ValueError, match="T >= 2"):
        stats.decorrelation_time(np.zeros((1, 4, 4)), 1.0)
    with pytest.raises(ValueError, match="dt_hours"):
        stats.decorrelation_time(np.random.default_rng(0).random((10, 3)), 0.0)
    with pytest.raises(ValueError, match="max_lag"):
        stats.decorrelation_time(np.random.default_rng(0).random((10, 3)), 1.0, max_lag=10)
    with pytest.raises(ValueError, match="non-constant"):
        stats.decorrelation_time(np.ones((10, 3)), 1.0)


def test_run_lengths_exact() -> None:
    mask = np.zeros((7, 2, 2), dtype=bool)
    mask[:, 0, 0] = [1, 1, 0, 1, 1, 1, 0]
    mask[:, 0, 1] = [0, 0, 0, 0, 0, 0, 1]
    mask[:, 1, 0] = [1, 1, 1, 1, 1, 1, 1]
    # pixel (1, 1) never occluded
    runs = stats.occluded_run_lengths(mask)
    np.testing.assert_array_equal(runs, [2, 3, 1, 7])
    assert runs.dtype == np.int64
    # 0/1 integers and floats are accepted as boolean-like
    np.testing.assert_array_equal(stats.occluded_run_lengths(mask.astype(np.uint8)), runs)
    np.testing.assert_array_equal(stats.occluded_run_lengths(mask.astype(float)), runs)
    assert stats.mean_occlusion_persistence_hours(mask, 6.0) == pytest.approx(6.0 * 13 / 4)


def test_run_lengths_1d_and_empty() -> None:
    np.testing.assert_array_equal(stats.occluded_run_lengths(np.array([0, 1, 1, 0, 1])), [2, 1])
    assert stats.occluded_run_lengths(np.zeros((5, 3), dtype=bool)).size == 0
    assert np.isnan(stats.mean_occlusion_persistence_hours(np.zeros((5, 3), dtype=bool), 6.0))


def test_run_lengths_bad_inputs() -> None:
    with pytest.raises(ValueError, match="boolean-like"):
        stats.occluded_run_lengths(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="boolean-like"):
        stats.occluded_run_lengths(np.array([0.0, 0.5]))
    with pytest.raises(ValueError, match="boolean-like"):
        stats.occluded_run_lengths(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="T >= 1"):
        stats.occluded_run_lengths(np.zeros((0, 3), dtype=bool))
    with pytest.raises(ValueError, match="dt_hours"):
        stats.mean_occlusion_persistence_hours(np.ones((3, 2), dtype=bool), -1.0)


def test_grid_spacing_km() -> None:
    res = 1.0 / 12.0
    deg_km = 6371.0 * np.pi / 180.0
    dy, dx = stats.grid_spacing_km(np.arange(-1, 1.01, res), np.arange(10, 12, res))
    assert dy == pytest.approx(deg_km * res)
    assert dx == pytest.approx(deg_km * res, rel=1e-6)
    dy, dx = stats.grid_spacing_km(np.arange(59, 61.01, res), np.arange(10, 12, res))
    assert dx == pytest.approx(0.5 * deg_km * res, rel=1e-3)
    # decreasing latitudes and a dateline crossing
    dy2, dx2 = stats.grid_spacing_km(np.arange(61, 58.99, -res), np.array([179.9, -179.9]))
    assert dy2 == pytest.approx(dy)
    assert dx2 == pytest.approx(0.2 * deg_km * 0.5, rel=1e-3)
    with pytest.raises(ValueError, match="at least 2"):
        stats.grid_spacing_km(np.array([1.0]), np.arange(3.0))
    with pytest.raises(ValueError, match="non-zero"):
        stats.grid_spacing_km(np.zeros(3), np.arange(3.0))
    with pytest.raises(ValueError, match=r"\[-90, 90\]"):
        stats.grid_spacing_km(np.array([89.0, 91.0]), np.arange(3.0))
