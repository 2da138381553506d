"""Physical behaviour of the twin generators (SQG sea-surface temperature, LWP clouds).

Short runs only: the statistics checked here are those the full default data
set must also have (see the module docstrings of unisst_lib.data.twin.sqg/clouds).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from unisst_lib.data import stats
from unisst_lib.data.twin import clouds, sqg

RES = 1.0 / 12.0
NATL_LAT = 20.0 + (np.arange(64) + 0.5) * RES
NATL_LON = -40.0 + (np.arange(64) + 0.5) * RES
SATL_LAT = -20.0 + (np.arange(64) + 0.5) * RES
SATL_LON = -20.0 + (np.arange(64) + 0.5) * RES
N_FRAMES = 480  # 20 days of hourly frames


def _hourly(start: str, n: int) -> np.ndarray:
    return np.datetime64(start) + np.arange(n).astype("timedelta64[h]")


@pytest.fixture(scope="module")
def natl_run() -> tuple[np.ndarray, np.ndarray]:
    times = _hourly("2018-03-01T00:30", N_FRAMES)
    return times, sqg.simulate_sst(times, NATL_LAT, NATL_LON, sqg.NATL, seed=11)


@pytest.fixture(scope="module")
def natl_anomaly(natl_run: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    times, sst = natl_run
    return sst.astype(np.float64) - sqg.background_sst(times, NATL_LAT, NATL_LON, sqg.NATL)


# --------------------------------------------------------------------------
# Background (analytic)
# --------------------------------------------------------------------------


def _box_mean(times: np.ndarray, lat: np.ndarray, lon: np.ndarray, p: sqg.SSTTwinParams):
    return sqg.background_sst(times, lat, lon, p).mean(axis=(1, 2))


def test_background_seasonal_cycle_sign_and_size() -> None:
    # Daily means at 12 UTC on the 15th of each month of a year.
    months = np.arange("2018-01", "2019-01", dtype="datetime64[M]")
    noon = months.astype("datetime64[D]") + np.timedelta64(14, "D") + np.timedelta64(12, "h")
    natl = _box_mean(noon, NATL_LAT, NATL_LON, sqg.NATL)
    satl = _box_mean(noon, SATL_LAT, SATL_LON, sqg.SATL)
    # Northern subtropics: warm in late summer (Sep), cold in late winter (Mar).
    assert natl[8] > natl[2] + 1.5 * sqg.NATL.seasonal_amplitude_c
    assert int(np.argmax(natl)) in (7, 8)
    # Southern subtropics: the opposite.
    assert satl[2] > satl[8] + 1.5 * sqg.SATL.seasonal_amplitude_c
    assert int(np.argmax(satl)) in (1, 2)
    # The annual mean is mean_c (the diurnal term at a fixed hour is constant).
    hourly = _hourly("2018-01-01T00:00", 24 * 365)
    year = _box_mean(hourly[::7], NATL_LAT, NATL_LON, sqg.NATL)
    assert year.mean() == pytest.approx(sqg.NATL.mean_c, abs=0.02)


def test_background_meridional_gradient() -> None:
    t = _hourly("2018-06-01T00:00", 1)
    natl = sqg.background_sst(t, NATL_LAT, NATL_LON, sqg.NATL)[0]
    satl = sqg.background_sst(t, SATL_LAT, SATL_LON, sqg.SATL)[0]
    assert natl.dtype == np.float32 and natl.shape == (64, 64)
    span = NATL_LAT[-1] - NATL_LAT[0]
    # NATL colder to the north (pole), SATL warmer to the north (equator).
    assert natl[-1].mean() - natl[0].mean() == pytest.approx(
        sqg.NATL.meridional_gradient_c_per_deg * span, rel=1e-3
    )
    assert satl[-1].mean() - satl[0].mean() == pytest.approx(
        sqg.SATL.meridional_gradient_c_per_deg * span, rel=1e-3
    )
    assert natl[-1].mean() < natl[0].mean() and satl[-1].mean() > satl[0].mean()


def _harmonic_fit(local_hour: np.ndarray, series: np.ndarray) -> tuple[float, float]:
    """Amplitude and peak hour of the 24-h harmonic, after removing a linear trend."""
    ph = 2 * np.pi * local_hour / 24.0
    idx = np.arange(series.size, dtype=float)
    design = np.stack([np.ones_like(ph), idx, np.cos(ph), np.sin(ph)], axis=1)
    coef, *_ = np.linalg.lstsq(design, series, rcond=None)
    amp = float(np.hypot(coef[2], coef[3]))
    peak = float(np.mod(np.arctan2(coef[3], coef[2]) * 24.0 / (2 * np.pi), 24.0))
    return amp, peak


def test_background_diurnal_cycle_follows_local_time() -> None:
    times = _hourly("2018-05-01T00:30", 72)
    p = sqg.NATL
    bg = sqg.background_sst(times, NATL_LAT, NATL_LON, p)
    utc = (times - times.astype("datetime64[D]")).astype("timedelta64[m]").astype(float) / 60.0
    # The western edge peaks later in UTC than the eastern edge (by the longitude span / 15).
    west = _harmonic_fit(utc, bg[:, :, 0].mean(axis=1).astype(float))
    east = _harmonic_fit(utc, bg[:, :, -1].mean(axis=1).astype(float))
    assert west[0] == pytest.approx(p.diurnal_amplitude_c, rel=0.02)
    assert (west[1] - east[1]) == pytest.approx((NATL_LON[-1] - NATL_LON[0]) / 15.0, abs=0.05)
    local = utc + NATL_LON[0] / 15.0
    amp, peak = _harmonic_fit(local, bg[:, :, 0].mean(axis=1).astype(float))
    assert amp == pytest.approx(p.diurnal_amplitude_c, rel=0.02)
    assert peak == pytest.approx(p.diurnal_peak_local_hour, abs=0.05)


def test_params_validation() -> None:
    with pytest.raises(ValueError, match="anomaly_std_c"):
        dataclasses.replace(sqg.NATL, anomaly_std_c=-0.1)
    with pytest.raises(ValueError, match="eddy_velocity_m_s"):
        dataclasses.replace(sqg.NATL, eddy_velocity_m_s=0.0)
    with pytest.raises(ValueError, match="finite"):
        dataclasses.replace(sqg.NATL, mean_c=float("nan"))


# --------------------------------------------------------------------------
# SQG simulation
# --------------------------------------------------------------------------


def test_sst_shape_dtype_and_range(natl_run: tuple[np.ndarray, np.ndarray]) -> None:
    times, sst = natl_run
    assert sst.shape == (N_FRAMES, 64, 64)
    assert sst.dtype == np.float32
    assert np.all(np.isfinite(sst))
    bg = sqg.background_sst(times, NATL_LAT, NATL_LON, sqg.NATL)
    # The anomaly has zero mean: the run mean is that of the background, which
    # in March is about mean_c - seasonal amplitude.
    assert sst.mean() == pytest.approx(bg.mean(), abs=0.01)
    assert sqg.NATL.mean_c - 2.0 < sst.mean() < sqg.NATL.mean_c
    assert 15.0 < sst.min() and sst.max() < 32.0


def test_sst_anomaly_std(natl_anomaly: np.ndarray) -> None:
    # (The mean over frames of the spatial std is what simulate_sst scales to: not tested.)
    # The mesoscale field is not frozen in amplitude: no frame is far below the mean.
    spatial_std = natl_anomaly.std(axis=(1, 2))
    assert 0.5 * sqg.NATL.anomaly_std_c < spatial_std.min()


def test_sst_anomaly_has_fronts(natl_anomaly: np.ndarray) -> None:
    """SQG stirring makes sharp fronts: the gradients are intermittent (heavy-tailed).

    A Gaussian field has gradient kurtosis 3 whatever its spectrum: a random-phase
    surrogate of this very anomaly (same spectrum) gave 3.03 for its differences between
    neighbouring pixels, the anomaly 3.92 (north-south) and 3.83 (east-west) (x86_64,
    numpy 2.4). Nothing in the generator rescales it.
    """
    for axis in (1, 2):
        g = np.diff(natl_anomaly, axis=axis).ravel()
        g = g - g.mean()
        kurtosis = np.mean(g**4) / np.mean(g**2) ** 2
        assert kurtosis > 3.3, (axis, kurtosis)


def test_sst_anomaly_spectrum_slope(natl_anomaly: np.ndarray) -> None:
    dy, dx = stats.grid_spacing_km(NATL_LAT, NATL_LON)
    k, psd = stats.radial_power_spectrum(natl_anomaly[::12], dx, dy_km=dy)
    slope = stats.spectral_slope(k, psd, k_min=1 / 150.0, k_max=1 / 15.0)
    assert -3.5 <= slope <= -1.5
    # Fronts and filaments: the smallest resolved scales still hold variance.
    assert psd[-1] > 1e-4 * psd.max()


def test_sst_decorrelation_time(natl_anomaly: np.ndarray) -> None:
    tau = stats.decorrelation_time(natl_anomaly, 1.0)
    assert 12.0 <= tau <= 7 * 24.0
    # Features live for days: hourly frames are strongly correlated.
    a = natl_anomaly - natl_anomaly.mean(axis=0)
    r1 = np.mean(a[1:] * a[:-1]) / np.mean(a * a)
    assert r1 > 0.95


def test_sst_diurnal_cycle_visible(natl_run: tuple[np.ndarray, np.ndarray]) -> None:
    times, sst = natl_run
    utc = (times - times.astype("datetime64[D]")).astype("timedelta64[m]").astype(float) / 60.0
    local = utc + NATL_LON.mean() / 15.0
    amp, peak = _harmonic_fit(local, sst.mean(axis=(1, 2)).astype(float))
    assert amp == pytest.approx(sqg.NATL.diurnal_amplitude_c, abs=0.05)
    assert peak == pytest.approx(sqg.NATL.diurnal_peak_local_hour, abs=1.0)


def test_sst_not_periodic(natl_anomaly: np.ndarray) -> None:
    """The box is cut from a larger domain: opposite edges are not neighbours."""
    edge = np.mean((natl_anomaly[:, :, 0] - natl_anomaly[:, :, -1]) ** 2)
    inner = np.mean((natl_anomaly[:, :, 0] - natl_anomaly[:, :, 1]) ** 2)
    assert edge > 4 * inner


def test_sst_deterministic_and_seeded() -> None:
    times = _hourly("2019-01-01T00:30", 24)
    a = sqg.simulate_sst(times, SATL_LAT, SATL_LON, sqg.SATL, seed=3)
    b = sqg.simulate_sst(times, SATL_LAT, SATL_LON, sqg.SATL, seed=3, progress=True)
    c = sqg.simulate_sst(times, SATL_LAT, SATL_LON, sqg.SATL, seed=4)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 0.1 * sqg.SATL.anomaly_std_c


def test_sst_bad_inputs() -> None:
    times = _hourly("2018-01-01T00:00", 4)
    with pytest.raises(ValueError, match="regularly spaced"):
        sqg.simulate_sst(times[[0, 1, 3]], NATL_LAT, NATL_LON, sqg.NATL, seed=0)
    with pytest.raises(ValueError, match="increasing"):
        sqg.simulate_sst(times[::-1], NATL_LAT, NATL_LON, sqg.NATL, seed=0)
    with pytest.raises(ValueError, match="datetime64"):
        sqg.simulate_sst(np.arange(4.0), NATL_LAT, NATL_LON, sqg.NATL, seed=0)
    with pytest.raises(ValueError, match="lat"):
        sqg.simulate_sst(times, NATL_LAT[:, None], NATL_LON, sqg.NATL, seed=0)
    assert sqg.simulate_sst(times[:0], NATL_LAT, NATL_LON, sqg.NATL, seed=0).shape == (0, 64, 64)


# --------------------------------------------------------------------------
# Clouds
# --------------------------------------------------------------------------

THRESHOLDS = np.array([55, 60, 65, 70, 75, 80]) / 1000.0  # kg m-2


@pytest.fixture(scope="module")
def lwp_run() -> np.ndarray:
    return clouds.simulate_lwp(1500, seed=0)


def test_lwp_shape_dtype_sign(lwp_run: np.ndarray) -> None:
    assert lwp_run.shape == (1500, 64, 64)
    assert lwp_run.dtype == np.float32
    assert np.all(np.isfinite(lwp_run)) and np.all(lwp_run >= 0)
    # Clear sky near zero, thick clouds well above the thresholds.
    assert np.quantile(lwp_run, 0.01) < 0.03
    assert lwp_run.max() > 0.15


def test_lwp_occlusion_rates(lwp_run: np.ndarray) -> None:
    rates = np.array([(lwp_run > t).mean() for t in THRESHOLDS])
    assert np.all(np.diff(rates) < -0.02)
    assert 0.55 <= rates[0] <= 0.85
    assert 0.15 <= rates[-1] <= 0.45
    # Some frames nearly clear, some nearly overcast.
    per_frame = (lwp_run[::10] > 0.07).mean(axis=(1, 2))
    assert np.quantile(per_frame, 0.05) < 0.2
    assert np.quantile(per_frame, 0.95) > 0.75


def test_lwp_persistence(lwp_run: np.ndarray) -> None:
    mask = lwp_run[::10] > 0.07  # frames 6 h apart
    hours = stats.mean_occlusion_persistence_hours(mask, 10 * clouds.STEP_HOURS)
    assert 6.0 < hours <= 24.0
    assert hours > 1.5 * 6.0  # not flickering frame to frame
    # ... and not frozen: many pixels change state between frames.
    changed = np.mean(mask[1:] != mask[:-1])
    assert changed > 0.1


def test_lwp_spatial_correlation(lwp_run: np.ndarray) -> None:
    g = np.log(lwp_run[::25].astype(np.float64))
    g -= g.mean(axis=(1, 2), keepdims=True)
    var = np.mean(g * g)
    for lag in (8,):
        assert np.mean(g[:, :, :-lag] * g[:, :, lag:]) / var > 0.3
        assert np.mean(g[:, :-lag] * g[:, lag:]) / var > 0.3
    # ... with structure at small scales (not a smooth blob).
    assert np.mean(g[:, :, :-1] * g[:, :, 1:]) / var < 0.98


def test_lwp_deterministic_seeded_and_sized() -> None:
    a = clouds.simulate_lwp(50, seed=5)
    np.testing.assert_array_equal(a, clouds.simulate_lwp(50, seed=5, progress=True))
    assert not np.array_equal(a, clouds.simulate_lwp(50, seed=6))
    b = clouds.simulate_lwp(3, ny=40, nx=72, seed=5)
    assert b.shape == (3, 40, 72) and b.dtype == np.float32
    assert clouds.simulate_lwp(0, seed=1).shape == (0, 64, 64)


def test_lwp_bad_inputs() -> None:
    with pytest.raises(ValueError, match="n_steps"):
        clouds.simulate_lwp(-1, seed=0)
    with pytest.raises(ValueError, match="ny and nx"):
        clouds.simulate_lwp(5, ny=1, seed=0)
    with pytest.raises(ValueError, match="persistence_steps"):
        clouds.CloudTwinParams(persistence_steps=0.0)
