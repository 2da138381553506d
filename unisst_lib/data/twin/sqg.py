"""Sea-surface temperature of the twin data set: analytic background + SQG turbulence.

The twin mimics hourly Copernicus Marine surface temperature on a small box at
1/12° resolution. Each frame is

    SST(t, lat, lon) = background(t, lat, lon) + anomaly(t, lat, lon)

* :func:`background_sst` is analytic: box mean, a meridional gradient, an
  annual cycle and a diurnal cycle driven by local solar time.
* The mesoscale anomaly is the surface buoyancy (temperature) ``θ`` of forced,
  dissipative surface quasi-geostrophic (SQG) turbulence, solved
  pseudo-spectrally (:mod:`unisst_lib.data.twin.sqg_solver`) on a doubly
  periodic square model grid larger than the output box (one model cell = one
  output cell): a random forcing on a ring of wavenumbers, a damping of the
  large scales and a scale-selective dissipation keep it statistically steady,
  with fronts and filaments a few cells wide.

The model is non-dimensional. After a deterministic spin-up to a statistically
steady state (at least 60 days, until the θ variance stops changing) its rms
velocity ``U_m`` is measured and one model time unit is mapped to
``(Δx / Δx_m) · (U_m / U)`` seconds, where ``Δx`` is the output grid spacing
in metres (geometric mean of the zonal and meridional spacings), ``Δx_m`` the
model one and ``U`` = :attr:`SSTTwinParams.eddy_velocity_m_s`: eddies turn
and evolve at a realistic speed. The output box is read from the model field
translated by a uniform drift (:attr:`SSTTwinParams.drift_east_m_s`,
:attr:`SSTTwinParams.drift_north_m_s`: westward eddy propagation and mean
current, an exact spectral shift). Finally the anomaly in the box is shifted
to zero mean and scaled so that its spatial standard deviation, averaged over
the frames, equals :attr:`SSTTwinParams.anomaly_std_c`.

With :data:`NATL` on a 64×64 box the anomaly has an isotropic spectral slope
of about -2.8 between 15 and 150 km and an e-folding time of about 3-4 days
at a point; a year of hourly frames takes about 20 s on 2 CPU cores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import numpy as np

from unisst_lib.data.stats import check_lat_lon, grid_spacing_km
from unisst_lib.data.twin.sqg_solver import (
    CFL,
    CFL_MAX,
    FILTER_START,
    RING_HALF_WIDTH,
    SQGSolver,
    model_size,
    spin_up,
)

__all__ = [
    "NATL",
    "SATL",
    "SSTTwinParams",
    "background_sst",
    "simulate_sst",
]

logger = logging.getLogger(__name__)

_HOUR_NS = 3_600_000_000_000
_DAY_HOURS = 24.0
_YEAR_DAYS = 365.2425
_EPOCH = np.datetime64("2000-01-01T00:00:00", "ns")  # 1 January = day of year 1


@dataclass(frozen=True)
class SSTTwinParams:
    """Parameters of the SST twin for one ocean region.

    Attributes
    ----------
    mean_c : float
        Mean SST of the box over a whole year, °C (the annual and diurnal
        cycles average out; the anomaly has zero mean).
    meridional_gradient_c_per_deg : float
        dSST/dlat across the box, °C per degree of latitude (negative in the
        northern-hemisphere subtropics, positive in the southern: warmer
        toward the equator).
    seasonal_amplitude_c : float
        Amplitude of the annual cycle (half the peak-to-peak range), °C.
    seasonal_peak_doy : float
        Day of year of the annual maximum (1 = 1 January 00:00 UTC).
    diurnal_amplitude_c : float
        Amplitude of the diurnal cycle (half the peak-to-peak range), °C.
    diurnal_peak_local_hour : float
        Local solar hour of the diurnal maximum, hours (about 14-15).
    anomaly_std_c : float
        Target spatial standard deviation of the mesoscale anomaly within the
        output box, averaged over the frames, °C.
    eddy_velocity_m_s : float
        Rms surface velocity of the eddy field, m/s: maps model time to
        physical time.
    eddy_wavelength_km : float
        Wavelength of the forcing of the turbulence, km: the typical size of
        the eddies (a mesoscale eddy is about half a wavelength across).
    drift_east_m_s, drift_north_m_s : float
        Uniform drift of the whole eddy field, m/s (westward propagation of
        mesoscale eddies plus the mean current). Without it the SQG vortices
        sit nearly still and the SST at a point stays correlated for weeks.
    """

    mean_c: float
    meridional_gradient_c_per_deg: float
    seasonal_amplitude_c: float
    seasonal_peak_doy: float
    diurnal_amplitude_c: float
    diurnal_peak_local_hour: float
    anomaly_std_c: float
    eddy_velocity_m_s: float
    eddy_wavelength_km: float = 150.0
    drift_east_m_s: float = 0.0
    drift_north_m_s: float = 0.0

    def __post_init__(self) -> None:
        for field in fields(self):
            if not np.isfinite(getattr(self, field.name)):
                raise ValueError(f"SSTTwinParams.{field.name} must be finite")
        if not -5.0 <= self.mean_c <= 40.0:
            raise ValueError(f"SSTTwinParams.mean_c={self.mean_c} °C is not an ocean temperature")
        for name in ("seasonal_amplitude_c", "diurnal_amplitude_c", "anomaly_std_c"):
            if getattr(self, name) < 0:
                raise ValueError(f"SSTTwinParams.{name} must be >= 0")
        if self.eddy_velocity_m_s <= 0:
            raise ValueError("SSTTwinParams.eddy_velocity_m_s must be > 0")
        if self.eddy_wavelength_km <= 0:
            raise ValueError("SSTTwinParams.eddy_wavelength_km must be > 0")


#: Subtropical North Atlantic, 20–25.25°N 40–34.75°W (the paper's training region).
NATL = SSTTwinParams(
    mean_c=24.6,
    meridional_gradient_c_per_deg=-0.4,
    seasonal_amplitude_c=1.5,
    seasonal_peak_doy=250.0,  # about 7 September
    diurnal_amplitude_c=0.25,
    diurnal_peak_local_hour=14.5,
    anomaly_std_c=0.5,
    eddy_velocity_m_s=0.18,
    eddy_wavelength_km=150.0,
    drift_east_m_s=-0.10,  # westward eddy propagation + North Equatorial Current
    drift_north_m_s=-0.02,
)

#: Subtropical South Atlantic, 14.75–20°S 20–14.75°W (the paper's test region).
SATL = SSTTwinParams(
    mean_c=23.5,
    meridional_gradient_c_per_deg=0.3,
    seasonal_amplitude_c=1.8,
    seasonal_peak_doy=75.0,  # about 16 March
    diurnal_amplitude_c=0.25,
    diurnal_peak_local_hour=14.5,
    anomaly_std_c=0.45,
    eddy_velocity_m_s=0.15,
    eddy_wavelength_km=170.0,
    drift_east_m_s=-0.10,  # westward eddy propagation + South Equatorial Current
    drift_north_m_s=0.02,
)


# --------------------------------------------------------------------------
# Input checks and the analytic background
# --------------------------------------------------------------------------


def _check_times(times: np.ndarray) -> np.ndarray:
    """``times`` as datetime64[ns], 1-D; ValueError otherwise."""
    t = np.asarray(times)
    if t.ndim != 1:
        raise ValueError(f"times must be 1-D; got shape {t.shape}")
    if not np.issubdtype(t.dtype, np.datetime64):
        raise ValueError(f"times must be numpy datetime64 values; got dtype {t.dtype}")
    t = t.astype("datetime64[ns]")
    if np.any(np.isnat(t)):
        raise ValueError("times contains NaT")
    return t


def background_sst(
    times: np.ndarray, lat: np.ndarray, lon: np.ndarray, params: SSTTwinParams
) -> np.ndarray:
    """Analytic large-scale SST (no mesoscale anomaly).

    ``mean_c + G·(lat − lat_c) + A_s·cos(2π(d − d_peak)/365.2425)
    + A_d·cos(2π(h_loc − h_peak)/24)``, where ``lat_c`` is the mid-latitude of
    the box, ``d`` the (continuous) day of year of each time, and ``h_loc`` the
    local solar hour ``UTC hour + lon/15``.

    Parameters
    ----------
    times : ndarray of datetime64, shape (T,)
        Times, UTC.
    lat : ndarray, shape (ny,)
        Latitudes, degrees_north.
    lon : ndarray, shape (nx,)
        Longitudes, degrees_east.
    params : SSTTwinParams
        Region parameters.

    Returns
    -------
    ndarray of float32, shape (T, ny, nx)
        Background SST, °C.
    """
    t = _check_times(times)
    lat, lon = check_lat_lon(lat, lon)
    days = (t - _EPOCH).astype(np.int64) / (_HOUR_NS * _DAY_HOURS)  # days since 2000-01-01
    seasonal = params.seasonal_amplitude_c * np.cos(
        2.0 * np.pi * (days - (params.seasonal_peak_doy - 1.0)) / _YEAR_DAYS
    )
    utc_hour = np.mod(days, 1.0) * _DAY_HOURS
    local_hour = utc_hour[:, None] + lon[None, :] / 15.0  # (T, nx)
    diurnal = params.diurnal_amplitude_c * np.cos(
        2.0 * np.pi * (local_hour - params.diurnal_peak_local_hour) / _DAY_HOURS
    )
    lat_c = 0.5 * (lat[0] + lat[-1])
    spatial = params.mean_c + params.meridional_gradient_c_per_deg * (lat - lat_c)  # (ny,)
    out = np.empty((t.size, lat.size, lon.size), dtype=np.float32)
    out[...] = (spatial[None, :, None] + seasonal[:, None, None] + diurnal[:, None, :]).astype(
        np.float32
    )
    return out


# --------------------------------------------------------------------------
# The anomaly: SQG turbulence in physical units, added to the background
# --------------------------------------------------------------------------


def _frame_hours(t: np.ndarray) -> float:
    """Hours between frames of ``t`` (datetime64[ns]); 1 for a single frame."""
    if t.size <= 1:
        return 1.0
    step_ns = np.diff(t.astype(np.int64))
    if np.any(step_ns <= 0):
        raise ValueError("times must be strictly increasing")
    if np.any(step_ns != step_ns[0]):
        raise ValueError("times must be regularly spaced (e.g. hourly)")
    return float(step_ns[0]) / _HOUR_NS


def _forcing_wavenumber(n: int, cell_km: float, wavelength_km: float) -> float:
    """Model wavenumber of the forcing; ValueError if the ring does not fit the grid."""
    k_force = n * cell_km / wavelength_km
    if not 2.0 * RING_HALF_WIDTH < k_force < 0.5 * FILTER_START * (n // 2):
        raise ValueError(
            f"eddy_wavelength_km={wavelength_km} does not fit a {n}-cell model "
            f"grid of {cell_km:.1f} km cells; use a wavelength between "
            f"{n * cell_km / (0.5 * FILTER_START * (n // 2)):.0f} and "
            f"{n * cell_km / (2.0 * RING_HALF_WIDTH):.0f} km"
        )
    return k_force


def _drift_cells(
    lat: np.ndarray, lon: np.ndarray, params: SSTTwinParams, frame_hours: float
) -> tuple[float, float]:
    """Uniform drift of the eddy field (propagation and mean current), cells per frame (x, y).

    Along the array axes: a drift east moves toward increasing column index
    when the longitudes increase.
    """
    dy_km, dx_km = grid_spacing_km(lat, lon)
    sign_y = 1.0 if lat[-1] > lat[0] else -1.0
    sign_x = 1.0 if ((lon[-1] - lon[0] + 180.0) % 360.0 - 180.0) > 0 else -1.0
    drift_x = sign_x * params.drift_east_m_s * 3.6 * frame_hours / dx_km
    drift_y = sign_y * params.drift_north_m_s * 3.6 * frame_hours / dy_km
    return drift_x, drift_y


def _integrate_frames(
    solver: SQGSolver,
    out: np.ndarray,
    *,
    frame_model: float,
    n_sub: int,
    drift: tuple[float, float],
    frames,
) -> None:
    """Fill ``out`` (T, ny, nx) with θ in the centre of the model grid, one frame per step.

    ``frame_model``: model time between frames, in ``n_sub`` steps (more when the
    flow speeds up past CFL_MAX); ``drift``: cells per frame (x, y); ``frames``:
    ``range(T)``, perhaps wrapped in a progress bar.
    """
    n = solver.n
    ny, nx = out.shape[1:]
    j0 = (n - ny) // 2
    i0 = (n - nx) // 2
    drift_x, drift_y = drift
    for it in frames:
        if it > 0:
            for _ in range(n_sub):
                solver.step()
            solver.velocity_stats()
            solver.set_filter_velocity(solver.u_rms)
            if not solver.cfl() <= CFL_MAX:
                if not np.isfinite(solver.u_max):
                    raise RuntimeError("SQG integration diverged (non-finite velocity)")
                n_sub = int(np.ceil(n_sub * solver.cfl() / CFL))
                solver.set_dt(frame_model / n_sub)
                logger.debug("SQG: flow sped up, now %d steps per frame", n_sub)
        theta = solver.physical(drift_x * it, drift_y * it)
        out[it] = theta[j0 : j0 + ny, i0 : i0 + nx]
    if not np.all(np.isfinite(out)):
        raise RuntimeError("SQG integration diverged (non-finite temperature)")


def _add_background(
    out: np.ndarray, t: np.ndarray, lat: np.ndarray, lon: np.ndarray, params: SSTTwinParams
) -> None:
    """In place: the anomaly ``out`` to zero mean and anomaly_std_c, plus the background.

    The target is the spatial standard deviation averaged over the frames;
    chunks of frames keep the float64 copies small.
    """
    n_t = out.shape[0]
    chunk = 1024
    total = 0.0
    std_sum = 0.0
    for s in range(0, n_t, chunk):
        block = out[s : s + chunk].astype(np.float64)
        total += float(block.sum())
        std_sum += float(block.std(axis=(1, 2)).sum())
    mean = total / out.size
    mean_std = std_sum / n_t
    scale = params.anomaly_std_c / mean_std if mean_std > 0 else 0.0
    for s in range(0, n_t, chunk):
        block = (out[s : s + chunk].astype(np.float64) - mean) * scale
        block += background_sst(t[s : s + chunk], lat, lon, params)
        out[s : s + chunk] = block


def simulate_sst(
    times: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    params: SSTTwinParams,
    *,
    seed: int,
    progress: bool = False,
) -> np.ndarray:
    """Hourly SST frames of the twin: analytic background + SQG mesoscale anomaly.

    Parameters
    ----------
    times : ndarray of datetime64, shape (T,)
        Frame times, UTC, strictly increasing and regularly spaced (hourly in
        the kit; they may start at any minute, e.g. HH:30).
    lat : ndarray, shape (ny,)
        Latitudes of the box, degrees_north (regular, 1/12° in the kit).
    lon : ndarray, shape (nx,)
        Longitudes of the box, degrees_east.
    params : SSTTwinParams
        Region parameters (:data:`NATL`, :data:`SATL` or your own).
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed and inputs give
        bit-identical output.
    progress : bool, default False
        Show a ``tqdm`` progress bar over the frames.

    Returns
    -------
    ndarray of float32, shape (T, ny, nx)
        SST in °C.

    Raises
    ------
    ValueError
        For malformed times or axes.
    RuntimeError
        If the solver diverges (it should not).
    """
    t = _check_times(times)
    lat, lon = check_lat_lon(lat, lon)
    frame_hours = _frame_hours(t)
    out = np.empty((t.size, lat.size, lon.size), dtype=np.float32)
    if t.size == 0:
        return out

    dy_km, dx_km = grid_spacing_km(lat, lon)
    cell_km = float(np.sqrt(dy_km * dx_km))
    n = model_size(lat.size, lon.size)
    k_force = _forcing_wavenumber(n, cell_km, params.eddy_wavelength_km)
    solver = SQGSolver(n, k_force, np.random.default_rng(seed))

    # One physical hour in model units is hour_from_u / U_m.
    hour_from_u = 3600.0 * solver.dx * params.eddy_velocity_m_s / (cell_km * 1000.0)
    u_model, u_top = spin_up(solver, hour_from_u)
    frame_model = frame_hours * hour_from_u / u_model
    n_sub = max(1, int(np.ceil(frame_model * u_top / (CFL * solver.dx))))
    solver.set_dt(frame_model / n_sub)
    logger.info(
        "SQG: %d×%d model grid, k_f=%.1f, %.1f km cells, U_m=%.3f, %d steps per %.2f h frame",
        n,
        n,
        k_force,
        cell_km,
        u_model,
        n_sub,
        frame_hours,
    )
    frames = range(t.size)
    if progress:
        from tqdm.auto import tqdm

        frames = tqdm(frames, desc=f"SST twin (seed {seed})", unit="frame")
    drift = _drift_cells(lat, lon, params, frame_hours)
    _integrate_frames(solver, out, frame_model=frame_model, n_sub=n_sub, drift=drift, frames=frames)
    _add_background(out, t, lat, lon, params)
    return out
