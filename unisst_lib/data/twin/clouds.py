"""Liquid-water-path (LWP) clouds of the twin data set.

The twin mimics the figshare ``cloud_dataset.npy`` of the UNISST paper: a
sequence of LWP fields (kg m⁻²) on 64×64 pixels, one field per cloud step
(:data:`STEP_HOURS` = 36 min); the kit turns them into occlusion masks with a
threshold between 55 and 80 g m⁻² and takes frames 10 steps (6 h) apart.

Model
-----
``ln LWP = μ + σ_s g(x, t) + σ_t o(t)`` (then a clear-sky compression of
small values, see below), where

* ``g`` is a stationary Gaussian random field of unit variance on a periodic
  grid larger than the output box (which is cropped from it, so the output is
  not periodic). Its spectrum is flat at scales larger than
  :attr:`CloudTwinParams.length_scale_px` and falls as
  ``k**-small_scale_exponent`` (isotropic spectrum) below: cloud systems
  tens of pixels across with structure down to the pixel. Each Fourier mode
  follows an AR(1) process whose e-folding time is
  :attr:`CloudTwinParams.persistence_steps` at the large scales and shorter
  at small scales (``∝ k**-2/3``), and the whole field is translated every
  step by a wind (an exact spectral phase shift) that wanders slowly around
  its mean (an Ornstein-Uhlenbeck process);
* ``o`` is a spatially uniform AR(1) process of unit variance (synoptic
  changes: some frames nearly clear, some overcast).

The log-normal parameters are set so that the fraction of pixels with LWP
above 55, 60, …, 80 g m⁻² falls from about 70 % to about 30 %. Values below
:attr:`CloudTwinParams.clear_sky_lwp` are compressed as
``c (LWP / c)**clear_sky_power``: clear sky has LWP near zero, as in real
data, and no threshold of interest is affected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

__all__ = ["DEFAULT_CLOUDS", "STEP_HOURS", "CloudTwinParams", "simulate_lwp"]

logger = logging.getLogger(__name__)

#: Duration of one cloud step, hours (36 min): 10 steps = 6 h, the SST frame interval.
STEP_HOURS = 0.6


@dataclass(frozen=True)
class CloudTwinParams:
    """Parameters of the LWP twin (lengths in pixels, times in cloud steps).

    Attributes
    ----------
    length_scale_px : float
        Size of the cloud systems, pixels: the spectrum of ``ln LWP`` is flat
        at wavelengths longer than ``2π × length_scale_px`` and steepens below
        (roughly, the spatial correlation length of the field).
    small_scale_exponent : float
        Exponent ``a`` of the isotropic spectrum ``∝ k**-a`` of ``ln LWP`` at
        scales smaller than ``length_scale_px`` (observed cloud spectra: about 5/3 to 2).
    persistence_steps : float
        E-folding lifetime of the large cloud structures, steps (in a frame
        moving with the wind); smaller structures live shorter (``∝ k**-2/3``).
    advection_speed_px_per_step : float
        Mean wind speed moving the clouds, pixels per step.
    advection_direction_deg : float
        Direction the mean wind blows toward, degrees counter-clockwise from
        the +x (column) axis.
    wind_variability_px_per_step : float
        Standard deviation of each wind component around the mean, pixels per step.
    wind_timescale_steps : float
        Correlation time of the wind fluctuations, steps.
    log_mean : float
        Mean ``μ`` of ``ln(LWP / 1 kg m⁻²)`` (the median LWP is ``exp(μ)`` kg m⁻²).
    log_std_spatial : float
        Standard deviation ``σ_s`` of the spatially varying part of ``ln LWP``.
    log_std_temporal : float
        Standard deviation ``σ_t`` of the uniform, slowly varying part of ``ln LWP``.
    temporal_timescale_steps : float
        Correlation time of the uniform part, steps.
    clear_sky_lwp : float
        LWP below which values are compressed toward zero, kg m⁻².
    clear_sky_power : float
        Exponent of that compression (> 1).
    """

    length_scale_px: float = 20.0
    small_scale_exponent: float = 2.0
    persistence_steps: float = 30.0
    advection_speed_px_per_step: float = 0.5
    advection_direction_deg: float = 200.0
    wind_variability_px_per_step: float = 0.25
    wind_timescale_steps: float = 80.0
    log_mean: float = -2.69
    log_std_spatial: float = 0.28
    log_std_temporal: float = 0.22
    temporal_timescale_steps: float = 40.0
    clear_sky_lwp: float = 0.045
    clear_sky_power: float = 4.0

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not np.isfinite(value):
                raise ValueError(f"CloudTwinParams.{name} must be finite")
        for name in (
            "length_scale_px",
            "persistence_steps",
            "wind_timescale_steps",
            "temporal_timescale_steps",
            "clear_sky_lwp",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"CloudTwinParams.{name} must be > 0")
        for name in (
            "advection_speed_px_per_step",
            "wind_variability_px_per_step",
            "log_std_spatial",
            "log_std_temporal",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"CloudTwinParams.{name} must be >= 0")
        if self.small_scale_exponent <= 0:
            raise ValueError("CloudTwinParams.small_scale_exponent must be > 0")
        if self.clear_sky_power < 1:
            raise ValueError("CloudTwinParams.clear_sky_power must be >= 1")


#: Defaults tuned to the occlusion statistics of the UNISST cloud data set.
DEFAULT_CLOUDS = CloudTwinParams()


def _grid_size(ny: int, nx: int) -> int:
    n = max(128, 2 * max(ny, nx))
    n = sfft.next_fast_len(n, real=True)
    return n + (n % 2)


def _ar1(tau: float) -> tuple[float, float]:
    """(ρ, innovation std) of a unit-variance AR(1) process with e-folding time tau steps."""
    rho = float(np.exp(-1.0 / tau))
    return rho, float(np.sqrt(1.0 - rho * rho))


def simulate_lwp(
    n_steps: int,
    *,
    ny: int = 64,
    nx: int = 64,
    seed: int,
    params: CloudTwinParams = DEFAULT_CLOUDS,
    progress: bool = False,
) -> np.ndarray:
    """Simulate a sequence of liquid-water-path fields.

    Parameters
    ----------
    n_steps : int
        Number of cloud steps (fields), each :data:`STEP_HOURS` after the last.
    ny, nx : int, default 64
        Field size, pixels.
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed and arguments give
        bit-identical output.
    params : CloudTwinParams, default DEFAULT_CLOUDS
        Statistical parameters.
    progress : bool, default False
        Show a ``tqdm`` progress bar.

    Returns
    -------
    ndarray of float32, shape (n_steps, ny, nx)
        LWP, kg m⁻², all >= 0.

    Raises
    ------
    ValueError
        If ``n_steps < 0`` or ``ny``, ``nx`` < 2.
    """
    if int(n_steps) != n_steps or n_steps < 0:
        raise ValueError(f"n_steps must be a non-negative integer; got {n_steps!r}")
    if int(ny) != ny or int(nx) != nx or ny < 2 or nx < 2:
        raise ValueError(f"ny and nx must be integers >= 2; got ny={ny!r}, nx={nx!r}")
    n_steps, ny, nx = int(n_steps), int(ny), int(nx)
    out = np.empty((n_steps, ny, nx), dtype=np.float32)
    if n_steps == 0:
        return out

    p = params
    rng = np.random.default_rng(seed)
    m = _grid_size(ny, nx)
    logger.debug("LWP twin: %d steps of %d×%d cropped from a %d×%d grid", n_steps, ny, nx, m, m)
    ky = np.fft.fftfreq(m, 1.0 / m)  # cycles per domain
    kx = np.fft.rfftfreq(m, 1.0 / m)
    kk = np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    shape = kk.shape

    # Spectrum of g: modal variance ∝ (1 + (k/k0)²)^-(a+1)/2, i.e. an isotropic
    # spectrum flat below k0 and ∝ k^-a above; k0 = domain / (2π L).
    k0 = m / (2.0 * np.pi * p.length_scale_px)
    modal = (1.0 + (kk / k0) ** 2) ** (-(p.small_scale_exponent + 1.0) / 2.0)
    modal[0, 0] = 0.0
    modal[m // 2, :] = 0.0
    modal[:, -1] = 0.0
    # Variance of the real field made by irfft2 from independent complex
    # normal coefficients of modal variance `modal`: the columns kx > 0 count
    # twice, the column kx = 0 (only its real part survives) half.
    col_w = np.full(shape[1], 2.0)
    col_w[0] = 0.5
    var_g = float(np.sum(modal * col_w[None, :])) / float(m) ** 4
    amp = np.sqrt(modal / var_g)

    # Per-mode AR(1): lifetime persistence_steps at k <= k0, ∝ k^-2/3 above.
    with np.errstate(divide="ignore"):
        tau = p.persistence_steps * np.minimum(1.0, (k0 / np.maximum(kk, 1e-12)) ** (2.0 / 3.0))
    tau = np.maximum(tau, 0.5)
    rho = np.exp(-1.0 / tau)
    kick = np.sqrt(1.0 - rho * rho) * amp

    def complex_normal() -> np.ndarray:
        z = rng.standard_normal(2 * kk.size)
        return (z[: kk.size] + 1j * z[kk.size :]).reshape(shape) * np.sqrt(0.5)

    g_hat = amp * complex_normal()
    offset = float(rng.standard_normal())
    off_rho, off_kick = _ar1(p.temporal_timescale_steps)
    ang = np.deg2rad(p.advection_direction_deg)
    wind_mean = np.array([np.cos(ang), np.sin(ang)]) * p.advection_speed_px_per_step  # (x, y)
    wind_rho, wind_kick = _ar1(p.wind_timescale_steps)
    wind_anom = rng.standard_normal(2) * p.wind_variability_px_per_step

    # Phase factors for a translation by (wx, wy) pixels: exp(-2πi (kx wx + ky wy) / m).
    two_pi_kx = 2.0 * np.pi * kx / m
    two_pi_ky = 2.0 * np.pi * ky / m
    j0 = (m - ny) // 2
    i0 = (m - nx) // 2
    log_c = np.log(p.clear_sky_lwp)

    steps = range(n_steps)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=f"LWP twin (seed {seed})", unit="step")
    for it in steps:
        if it > 0:
            wx, wy = wind_mean + wind_anom
            shift = np.exp(-1j * two_pi_ky * wy)[:, None] * np.exp(-1j * two_pi_kx * wx)[None, :]
            g_hat *= rho * shift
            g_hat += kick * complex_normal()
            offset = off_rho * offset + off_kick * float(rng.standard_normal())
            wind_anom = wind_rho * wind_anom + (
                wind_kick * p.wind_variability_px_per_step
            ) * rng.standard_normal(2)
        g = sfft.irfft2(g_hat, s=(m, m))[j0 : j0 + ny, i0 : i0 + nx]
        log_lwp = p.log_mean + p.log_std_spatial * g + p.log_std_temporal * offset
        # Clear-sky compression below clear_sky_lwp: c (x/c)**power.
        low = log_lwp < log_c
        log_lwp[low] = log_c + p.clear_sky_power * (log_lwp[low] - log_c)
        out[it] = np.exp(log_lwp)
    return out
