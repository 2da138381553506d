"""Sea-surface temperature of the twin data set: analytic background + SQG turbulence.

The twin mimics hourly Copernicus Marine surface temperature on a small box at
1/12° resolution. Each frame is

    SST(t, lat, lon) = background(t, lat, lon) + anomaly(t, lat, lon)

* :func:`background_sst` is analytic: box mean, a meridional gradient, an
  annual cycle and a diurnal cycle driven by local solar time.
* The mesoscale anomaly is the surface buoyancy (temperature) ``θ`` of forced,
  dissipative surface quasi-geostrophic (SQG) turbulence,

      ∂θ/∂t + u·∇θ = F − μ(k) θ − D(k) θ,   û = (−i l, i k) θ̂ / |k|,

  solved pseudo-spectrally on a doubly periodic square model grid larger than
  the output box (one model cell = one output cell). ``F`` is a random forcing
  on a ring of wavenumbers (a complex Ornstein-Uhlenbeck process per mode, so
  the phases wander slowly and the flow never locks), ``μ`` a linear damping
  of the scales larger than the forcing (it stops the inverse energy cascade)
  and ``D`` a smooth, high-wavenumber filter (scale-selective dissipation whose
  strength follows the rms velocity, so it keeps the grid-scale clean whatever
  the flow amplitude). The advection term is computed in skew-symmetric form,
  which conserves ``θ`` variance exactly under aliasing; no 2/3-rule
  truncation is needed, so the spectrum extends almost to the grid scale
  (fronts and filaments a few cells wide). Time stepping is third-order
  Adams-Bashforth with an integrating factor for the linear terms, and a step
  chosen from the velocity (CFL) that is reduced if the flow speeds up.

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
import scipy.fft as sfft

from unisst_lib.data.stats import check_lat_lon, grid_spacing_km

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
# The SQG solver (non-dimensional: domain 2π, unit wavenumbers)
# --------------------------------------------------------------------------

# Tuned constants of the non-dimensional model (see the module docstring),
# for a model grid of _REF_SIZE cells (rates scale with the grid size).
_REF_SIZE = 128
_RING_HALF_WIDTH = 2.0  # forcing ring: |k - k_f| <= this
_DAMP_RATIO = 0.7  # linear damping acts on |k| <= _DAMP_RATIO * k_f
_DAMP_RATE = 10.0  # μ, per model time unit
_FORCE_STD = 10.0  # rms of the forcing in physical space, model units
_FORCE_TAU = 0.1  # correlation time of the forcing, model time units
_FILTER_START = 0.85  # the dissipation filter acts on |k| > this * k_Nyquist
_FILTER_GAIN = 10.0  # its rate at the Nyquist wavenumber, in units of U_rms * k_Nyquist / 64
_CFL = 0.2  # target max|u| dt / dx (AB3 here is stable up to about 0.3)
_CFL_MAX = 0.28  # above this the step is shortened
_CHECK_EVERY = 8  # spin-up: check the velocity every this many steps
_INIT_STD = 4.0  # rms θ of the initial condition (near the equilibrium level)
_SPINUP_MIN_DAYS = 60
_SPINUP_MAX_DAYS = 240
_SPINUP_BLOCK_DAYS = 20
_PLATEAU_TOL = 0.1  # relative change of θ variance between blocks at the plateau


class _SQGSolver:
    """Forced-dissipative SQG on an ``n × n`` periodic grid of side 2π."""

    def __init__(self, n: int, k_force: float, rng: np.random.Generator) -> None:
        self.n = n
        self.dx = 2.0 * np.pi / n
        self.rng = rng
        ky = np.fft.fftfreq(n, 1.0 / n)[:, None]
        kx = np.fft.rfftfreq(n, 1.0 / n)[None, :]
        kk = np.sqrt(kx**2 + ky**2)
        self.kx_int = kx[0].copy()
        self.ky_int = ky[:, 0].copy()
        kinv = np.zeros_like(kk)
        kinv[kk > 0] = 1.0 / kk[kk > 0]
        shape = kk.shape
        self.ikx = np.broadcast_to(1j * kx, shape).astype(np.complex128)
        self.iky = np.broadcast_to(1j * ky, shape).astype(np.complex128)
        # SQG inversion ψ̂ = θ̂/|k|; u = −∂ψ/∂y, v = ∂ψ/∂x.
        self.op_u = -self.iky * kinv
        self.op_v = self.ikx * kinv
        k_nyq = n // 2
        self.keep = np.ones(shape, dtype=np.float64)  # zero the mean and the Nyquist modes
        self.keep[0, 0] = 0.0
        self.keep[k_nyq, :] = 0.0
        self.keep[:, k_nyq] = 0.0

        # The constants are calibrated for a 128-cell grid; a larger grid is a
        # larger domain of the same cells, whose model time runs faster by
        # n / 128 (θ and u keep their amplitude, lengths shrink).
        rate_scale = n / _REF_SIZE
        # Large-scale linear damping, a steep roll-off above k_d.
        k_d = _DAMP_RATIO * k_force
        with np.errstate(divide="ignore"):
            self.rate_damp = (_DAMP_RATE * rate_scale) * np.where(
                kk <= k_d, 1.0, (k_d / np.maximum(kk, 1e-12)) ** 8
            )
        # High-wavenumber filter shape (its gain follows the rms velocity).
        x = np.clip((kk / k_nyq - _FILTER_START) / (1.0 - _FILTER_START), 0.0, None)
        self.filter_shape = _FILTER_GAIN * (k_nyq / 64.0) * x**2
        self.u_filter = 1.0

        # Forcing ring: modes of the half plane (kx > 0, or kx = 0 and ky > 0).
        ring = (np.abs(kk - k_force) <= _RING_HALF_WIDTH) & ~((kx == 0) & (ky <= 0))
        self.ring = np.nonzero(ring)
        self.n_ring = int(np.count_nonzero(ring))
        col0 = np.nonzero(ring[:, 0])[0]
        self.ring_col0 = (col0, (n - col0) % n)  # mirrored partners of the kx = 0 modes
        # A coefficient c on n_ring half-plane modes gives a physical rms of
        # sqrt(2 n_ring) |c| / n², so scale the coefficients accordingly.
        self.force_tau = _FORCE_TAU / rate_scale
        self.force_coef_std = _FORCE_STD * rate_scale * n * n / np.sqrt(2.0 * self.n_ring)
        self.force = self._complex_normal(self.n_ring) * self.force_coef_std
        self.force_full = np.zeros(shape, dtype=np.complex128)

        self.theta = self._initial_state(kk, k_force)
        self.dt = 0.0
        self.history: list[np.ndarray] = []
        self.u_rms = 0.0
        self.u_max = 0.0
        self.e1 = self.e2 = self.e3 = self.keep

    # -- set-up ---------------------------------------------------------
    def _complex_normal(self, size: int) -> np.ndarray:
        z = self.rng.standard_normal(2 * size)
        return (z[:size] + 1j * z[size:]) * np.sqrt(0.5)

    def _initial_state(self, kk: np.ndarray, k_force: float) -> np.ndarray:
        """Random θ̂ with a k^(-5/3) spectrum above k_f, rolled off below, rms _INIT_STD."""
        n = self.n
        amp = np.zeros_like(kk)
        pos = kk > 0
        amp[pos] = (kk[pos] / k_force) ** (-4.0 / 3.0) * np.exp(-((k_force / kk[pos]) ** 2))
        coef = amp * self._complex_normal(kk.size).reshape(kk.shape) * self.keep
        field = sfft.irfft2(coef, s=(n, n))
        field *= _INIT_STD / max(float(field.std()), 1e-300)
        return sfft.rfft2(field)

    def set_dt(self, dt: float) -> None:
        """Use time step ``dt`` (model units); restarts the multistep scheme."""
        self.dt = float(dt)
        self.history = []
        self.force_rho = float(np.exp(-self.dt / self.force_tau))
        self.force_kick = float(np.sqrt(1.0 - self.force_rho**2)) * self.force_coef_std
        self._update_linear()

    def set_filter_velocity(self, u_rms: float) -> None:
        """Scale the high-wavenumber filter with the current rms velocity."""
        self.u_filter = float(u_rms)
        self._update_linear()

    def _update_linear(self) -> None:
        rate = self.rate_damp + self.u_filter * self.filter_shape
        e1 = np.exp(-rate * self.dt) * self.keep
        self.e1 = e1
        self.e2 = e1 * e1
        self.e3 = self.e2 * e1

    # -- dynamics -------------------------------------------------------
    def _tendency(self) -> np.ndarray:
        """Spectral tendency −u·∇θ + F, the advection in skew-symmetric form.

        ``u·∇θ = ½ (u·∇θ + ∇·(uθ))``: the two forms are equal for a
        non-divergent flow, and their average conserves the grid sum of θ²
        exactly even with aliasing (the spectral derivative is antisymmetric
        on the grid), which keeps the scheme stable without a 2/3-rule
        truncation. 5 inverse and 3 forward FFTs.
        """
        n = self.n
        th = self.theta
        s = (n, n)
        u = sfft.irfft2(self.op_u * th, s=s)
        v = sfft.irfft2(self.op_v * th, s=s)
        tx = sfft.irfft2(self.ikx * th, s=s)
        ty = sfft.irfft2(self.iky * th, s=s)
        t = sfft.irfft2(th, s=s)
        tx *= u
        tx += v * ty
        adv = sfft.rfft2(tx)
        adv += self.ikx * sfft.rfft2(u * t)
        adv += self.iky * sfft.rfft2(v * t)
        adv *= -0.5
        f = self.force_full
        f[self.ring] = self.force
        c0, c0m = self.ring_col0
        f[c0m, 0] = np.conj(f[c0, 0])
        adv += f
        return adv

    def velocity_stats(self) -> tuple[float, float]:
        """(rms, max) of the speed |u| on the model grid, model units.

        In SQG |û| = |θ̂|, so the rms speed is the rms of θ (Parseval); the
        maximum needs the velocity in physical space.
        """
        n = self.n
        u = sfft.irfft2(self.op_u * self.theta, s=(n, n))
        v = sfft.irfft2(self.op_v * self.theta, s=(n, n))
        speed2 = u * u + v * v
        self.u_rms = float(np.sqrt(speed2.mean()))
        self.u_max = float(np.sqrt(speed2.max()))
        return self.u_rms, self.u_max

    def theta_rms(self) -> float:
        """rms of θ (= rms speed), from the spectrum (Parseval), model units."""
        th = self.theta
        p = th.real**2 + th.imag**2
        total = 2.0 * p.sum() - p[:, 0].sum() - p[:, -1].sum()
        return float(np.sqrt(total)) / (self.n * self.n)

    def step(self) -> None:
        """One AB3 step (AB1, AB2 for the first two after a restart)."""
        rhs = self._tendency()
        h = self.history
        h.insert(0, rhs)
        del h[3:]
        dt = self.dt
        if len(h) == 3:
            new = self.e1 * (self.theta + (23.0 / 12.0 * dt) * h[0])
            new -= (16.0 / 12.0 * dt) * self.e2 * h[1]
            new += (5.0 / 12.0 * dt) * self.e3 * h[2]
        elif len(h) == 2:
            new = self.e1 * (self.theta + 1.5 * dt * h[0])
            new -= (0.5 * dt) * self.e2 * h[1]
        else:
            new = self.e1 * (self.theta + dt * h[0])
        self.theta = new
        # Ornstein-Uhlenbeck update of the forcing coefficients.
        self.force *= self.force_rho
        self.force += self.force_kick * self._complex_normal(self.n_ring)

    def physical(self, shift_x: float = 0.0, shift_y: float = 0.0) -> np.ndarray:
        """θ on the model grid, shape (n, n), float64, translated by (shift_x, shift_y) cells.

        The translation is exact (a spectral phase shift): the field is
        returned as ``θ(x − shift_x·Δx, y − shift_y·Δy)``.
        """
        th = self.theta
        if shift_x or shift_y:
            phase_x = np.exp(-1j * self.dx * shift_x * self.kx_int)
            phase_y = np.exp(-1j * self.dx * shift_y * self.ky_int)
            th = th * (phase_y[:, None] * phase_x[None, :])
        return sfft.irfft2(th, s=(self.n, self.n))

    def cfl(self) -> float:
        """max|u| dt / dx with the speed of the last :meth:`velocity_stats`."""
        return self.u_max * self.dt / self.dx


def _model_size(ny: int, nx: int) -> int:
    """Model grid: at least 128 and twice the larger side of the box, even and FFT-friendly."""
    n = max(128, 2 * max(ny, nx))
    n = sfft.next_fast_len(n, real=True)
    return n + (n % 2)


def _spin_up(solver: _SQGSolver, hour_from_u: float) -> tuple[float, float]:
    """Integrate to a statistically steady state; return (U_m, max |u|) of the late spin-up.

    ``hour_from_u / U_m`` is one physical hour in model time units for an rms
    model velocity ``U_m``; the spin-up length is counted in physical days
    with the running estimate of ``U_m``. It lasts at least
    ``_SPINUP_MIN_DAYS`` and ends when the mean θ variance of the last
    ``_SPINUP_BLOCK_DAYS`` differs from that of the block before by less than
    ``_PLATEAU_TOL`` (relative), or after ``_SPINUP_MAX_DAYS``.
    """
    u_est = solver.theta_rms()
    solver.set_filter_velocity(u_est)
    solver.velocity_stats()
    solver.set_dt(_CFL * solver.dx / max(solver.u_max, 1e-12))
    day_var: list[float] = []
    day_u: list[float] = []
    day_umax: list[float] = []
    blocks = _SPINUP_BLOCK_DAYS
    while True:
        day_model = 24.0 * hour_from_u / u_est
        n_steps = max(1, int(np.ceil(day_model / solver.dt)))
        u_sum = 0.0
        n_checks = 0
        u_top = 0.0
        for i in range(n_steps):
            solver.step()
            if i % _CHECK_EVERY == _CHECK_EVERY - 1 or i == n_steps - 1:
                u_rms, u_max = solver.velocity_stats()
                if not np.isfinite(u_max):
                    raise RuntimeError("SQG spin-up diverged (non-finite velocity)")
                u_sum += u_rms
                n_checks += 1
                u_top = max(u_top, u_max)
                if solver.cfl() > _CFL_MAX:
                    solver.set_dt(_CFL * solver.dx / u_max)
        day_var.append(solver.theta_rms() ** 2)
        day_u.append(u_sum / n_checks)
        day_umax.append(u_top)
        solver.set_filter_velocity(day_u[-1])
        # Track the velocity scale with the mean of the last block of days.
        u_est = float(np.mean(day_u[-blocks:]))
        target = solver.dx * _CFL / max(u_top, 1e-12)
        if target < 0.8 * solver.dt or target > 1.5 * solver.dt:
            solver.set_dt(target)
        n_days = len(day_var)
        if n_days >= _SPINUP_MIN_DAYS and n_days % blocks == 0:
            last = np.mean(day_var[-blocks:])
            prev = np.mean(day_var[-2 * blocks : -blocks])
            change = abs(last - prev) / max(prev, 1e-300)
            if change <= _PLATEAU_TOL:
                logger.debug(
                    "SQG spin-up: plateau after %d days (variance change %.3f)", n_days, change
                )
                break
            if n_days >= _SPINUP_MAX_DAYS:
                logger.warning(
                    "SQG spin-up: variance still changing by %.0f%% after %d days; going on",
                    100 * change,
                    n_days,
                )
                break
    return float(np.mean(day_u[-blocks:])), float(np.max(day_umax[-blocks:]))


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
    n_t, ny, nx = t.size, lat.size, lon.size
    if n_t > 1:
        step_ns = np.diff(t.astype(np.int64))
        if np.any(step_ns <= 0):
            raise ValueError("times must be strictly increasing")
        if np.any(step_ns != step_ns[0]):
            raise ValueError("times must be regularly spaced (e.g. hourly)")
        frame_hours = float(step_ns[0]) / _HOUR_NS
    else:
        frame_hours = 1.0
    out = np.empty((n_t, ny, nx), dtype=np.float32)
    if n_t == 0:
        return out

    dy_km, dx_km = grid_spacing_km(lat, lon)
    cell_km = float(np.sqrt(dy_km * dx_km))
    n = _model_size(ny, nx)
    k_force = n * cell_km / params.eddy_wavelength_km
    if not 2.0 * _RING_HALF_WIDTH < k_force < 0.5 * _FILTER_START * (n // 2):
        raise ValueError(
            f"eddy_wavelength_km={params.eddy_wavelength_km} does not fit a {n}-cell model "
            f"grid of {cell_km:.1f} km cells; use a wavelength between "
            f"{n * cell_km / (0.5 * _FILTER_START * (n // 2)):.0f} and "
            f"{n * cell_km / (2.0 * _RING_HALF_WIDTH):.0f} km"
        )
    rng = np.random.default_rng(seed)
    solver = _SQGSolver(n, k_force, rng)

    # One physical hour in model units is hour_from_u / U_m.
    hour_from_u = 3600.0 * solver.dx * params.eddy_velocity_m_s / (cell_km * 1000.0)
    u_model, u_top = _spin_up(solver, hour_from_u)
    frame_model = frame_hours * hour_from_u / u_model
    n_sub = max(1, int(np.ceil(frame_model * u_top / (_CFL * solver.dx))))
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

    j0 = (n - ny) // 2
    i0 = (n - nx) // 2
    # Uniform drift of the eddy field (propagation and mean current), in
    # cells per frame along the array axes.
    sign_y = 1.0 if lat[-1] > lat[0] else -1.0
    sign_x = 1.0 if ((lon[-1] - lon[0] + 180.0) % 360.0 - 180.0) > 0 else -1.0
    drift_x = sign_x * params.drift_east_m_s * 3.6 * frame_hours / dx_km
    drift_y = sign_y * params.drift_north_m_s * 3.6 * frame_hours / dy_km
    frames = range(n_t)
    if progress:
        from tqdm.auto import tqdm

        frames = tqdm(frames, desc=f"SST twin (seed {seed})", unit="frame")
    for it in frames:
        if it > 0:
            for _ in range(n_sub):
                solver.step()
            solver.velocity_stats()
            solver.set_filter_velocity(solver.u_rms)
            if not solver.cfl() <= _CFL_MAX:
                if not np.isfinite(solver.u_max):
                    raise RuntimeError("SQG integration diverged (non-finite velocity)")
                n_sub = int(np.ceil(n_sub * solver.cfl() / _CFL))
                solver.set_dt(frame_model / n_sub)
                logger.debug("SQG: flow sped up, now %d steps per frame", n_sub)
        theta = solver.physical(drift_x * it, drift_y * it)
        out[it] = theta[j0 : j0 + ny, i0 : i0 + nx]
    if not np.all(np.isfinite(out)):
        raise RuntimeError("SQG integration diverged (non-finite temperature)")

    # Zero mean, and spatial std (averaged over frames) = anomaly_std_c.
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
    return out
