"""The forced, dissipative surface quasi-geostrophic (SQG) model behind the twin's eddies.

The mesoscale SST anomaly of :func:`unisst_lib.data.twin.sqg.simulate_sst` is the
surface buoyancy (temperature) ``θ`` of

    ∂θ/∂t + u·∇θ = F − μ(k) θ − D(k) θ,   û = (−i l, i k) θ̂ / |k|,

solved pseudo-spectrally by :class:`SQGSolver` on a doubly periodic square grid of
side 2π (non-dimensional: unit wavenumbers). ``F`` is a random forcing on a ring
of wavenumbers (a complex Ornstein-Uhlenbeck process per mode, so the phases
wander slowly and the flow never locks), ``μ`` a linear damping of the scales
larger than the forcing (it stops the inverse energy cascade) and ``D`` a smooth,
high-wavenumber filter (scale-selective dissipation whose strength follows the
rms velocity, so it keeps the grid-scale clean whatever the flow amplitude). The
advection term is computed in skew-symmetric form, which conserves ``θ`` variance
exactly under aliasing; no 2/3-rule truncation is needed, so the spectrum extends
almost to the grid scale (fronts and filaments a few cells wide). Time stepping
is third-order Adams-Bashforth with an integrating factor for the linear terms,
and a step chosen from the velocity (CFL) that is reduced if the flow speeds up.

:func:`spin_up` integrates a new solver to a statistically steady state;
:func:`model_size` chooses the model grid for an output box. The constants below
are tuned for a model grid of :data:`REF_SIZE` cells (rates scale with the grid
size). Same seed, same numbers: every random draw comes from the solver's
``numpy.random.Generator``.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.fft as sfft

logger = logging.getLogger(__name__)

REF_SIZE = 128  # the model grid the constants below are tuned for
RING_HALF_WIDTH = 2.0  # forcing ring: |k - k_f| <= this
DAMP_RATIO = 0.7  # linear damping acts on |k| <= DAMP_RATIO * k_f
DAMP_RATE = 10.0  # μ, per model time unit
FORCE_STD = 10.0  # rms of the forcing in physical space, model units
FORCE_TAU = 0.1  # correlation time of the forcing, model time units
FILTER_START = 0.85  # the dissipation filter acts on |k| > this * k_Nyquist
FILTER_GAIN = 10.0  # its rate at the Nyquist wavenumber, in units of U_rms * k_Nyquist / 64
CFL = 0.2  # target max|u| dt / dx (AB3 here is stable up to about 0.3)
CFL_MAX = 0.28  # above this the step is shortened
CHECK_EVERY = 8  # spin-up: check the velocity every this many steps
INIT_STD = 4.0  # rms θ of the initial condition (near the equilibrium level)
SPINUP_MIN_DAYS = 60
SPINUP_MAX_DAYS = 240
SPINUP_BLOCK_DAYS = 20
PLATEAU_TOL = 0.1  # relative change of θ variance between blocks at the plateau


class SQGSolver:
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
        rate_scale = n / REF_SIZE
        # Large-scale linear damping, a steep roll-off above k_d.
        k_d = DAMP_RATIO * k_force
        with np.errstate(divide="ignore"):
            self.rate_damp = (DAMP_RATE * rate_scale) * np.where(
                kk <= k_d, 1.0, (k_d / np.maximum(kk, 1e-12)) ** 8
            )
        # High-wavenumber filter shape (its gain follows the rms velocity).
        x = np.clip((kk / k_nyq - FILTER_START) / (1.0 - FILTER_START), 0.0, None)
        self.filter_shape = FILTER_GAIN * (k_nyq / 64.0) * x**2
        self.u_filter = 1.0

        # Forcing ring: modes of the half plane (kx > 0, or kx = 0 and ky > 0).
        ring = (np.abs(kk - k_force) <= RING_HALF_WIDTH) & ~((kx == 0) & (ky <= 0))
        self.ring = np.nonzero(ring)
        self.n_ring = int(np.count_nonzero(ring))
        col0 = np.nonzero(ring[:, 0])[0]
        self.ring_col0 = (col0, (n - col0) % n)  # mirrored partners of the kx = 0 modes
        # A coefficient c on n_ring half-plane modes gives a physical rms of
        # sqrt(2 n_ring) |c| / n², so scale the coefficients accordingly.
        self.force_tau = FORCE_TAU / rate_scale
        self.force_coef_std = FORCE_STD * rate_scale * n * n / np.sqrt(2.0 * self.n_ring)
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
        """Random θ̂ with a k^(-5/3) spectrum above k_f, rolled off below, rms INIT_STD."""
        n = self.n
        amp = np.zeros_like(kk)
        pos = kk > 0
        amp[pos] = (kk[pos] / k_force) ** (-4.0 / 3.0) * np.exp(-((k_force / kk[pos]) ** 2))
        coef = amp * self._complex_normal(kk.size).reshape(kk.shape) * self.keep
        field = sfft.irfft2(coef, s=(n, n))
        field *= INIT_STD / max(float(field.std()), 1e-300)
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


def model_size(ny: int, nx: int) -> int:
    """Model grid: at least 128 and twice the larger side of the box, even and FFT-friendly."""
    n = max(128, 2 * max(ny, nx))
    n = sfft.next_fast_len(n, real=True)
    return n + (n % 2)


def _run_day(solver: SQGSolver, n_steps: int) -> tuple[float, float]:
    """``n_steps`` steps, the velocity checked every CHECK_EVERY; (mean rms, max) speed.

    The step is shortened whenever the CFL number passes CFL_MAX.
    """
    u_sum = 0.0
    n_checks = 0
    u_top = 0.0
    for i in range(n_steps):
        solver.step()
        if i % CHECK_EVERY == CHECK_EVERY - 1 or i == n_steps - 1:
            u_rms, u_max = solver.velocity_stats()
            if not np.isfinite(u_max):
                raise RuntimeError("SQG spin-up diverged (non-finite velocity)")
            u_sum += u_rms
            n_checks += 1
            u_top = max(u_top, u_max)
            if solver.cfl() > CFL_MAX:
                solver.set_dt(CFL * solver.dx / u_max)
    return u_sum / n_checks, u_top


def _spin_up_done(day_var: list[float]) -> bool:
    """Whether the daily θ variances ``day_var`` reached the plateau (or the day limit)."""
    blocks = SPINUP_BLOCK_DAYS
    n_days = len(day_var)
    if n_days < SPINUP_MIN_DAYS or n_days % blocks != 0:
        return False
    last = np.mean(day_var[-blocks:])
    prev = np.mean(day_var[-2 * blocks : -blocks])
    change = abs(last - prev) / max(prev, 1e-300)
    if change <= PLATEAU_TOL:
        logger.debug("SQG spin-up: plateau after %d days (variance change %.3f)", n_days, change)
        return True
    if n_days >= SPINUP_MAX_DAYS:
        logger.warning(
            "SQG spin-up: variance still changing by %.0f%% after %d days; going on",
            100 * change,
            n_days,
        )
        return True
    return False


def spin_up(solver: SQGSolver, hour_from_u: float) -> tuple[float, float]:
    """Integrate to a statistically steady state; return (U_m, max |u|) of the late spin-up.

    ``hour_from_u / U_m`` is one physical hour in model time units for an rms
    model velocity ``U_m``; the spin-up length is counted in physical days
    with the running estimate of ``U_m``. It lasts at least
    ``SPINUP_MIN_DAYS`` and ends when the mean θ variance of the last
    ``SPINUP_BLOCK_DAYS`` differs from that of the block before by less than
    ``PLATEAU_TOL`` (relative), or after ``SPINUP_MAX_DAYS``.
    """
    u_est = solver.theta_rms()
    solver.set_filter_velocity(u_est)
    solver.velocity_stats()
    solver.set_dt(CFL * solver.dx / max(solver.u_max, 1e-12))
    day_var: list[float] = []
    day_u: list[float] = []
    day_umax: list[float] = []
    blocks = SPINUP_BLOCK_DAYS
    while True:
        day_model = 24.0 * hour_from_u / u_est
        u_mean, u_top = _run_day(solver, max(1, int(np.ceil(day_model / solver.dt))))
        day_var.append(solver.theta_rms() ** 2)
        day_u.append(u_mean)
        day_umax.append(u_top)
        solver.set_filter_velocity(day_u[-1])
        # Track the velocity scale with the mean of the last block of days.
        u_est = float(np.mean(day_u[-blocks:]))
        target = solver.dx * CFL / max(u_top, 1e-12)
        if target < 0.8 * solver.dt or target > 1.5 * solver.dt:
            solver.set_dt(target)
        if _spin_up_done(day_var):
            break
    return float(np.mean(day_u[-blocks:])), float(np.max(day_umax[-blocks:]))
