"""Statistics helpers for gridded geophysical fields.

These functions validate the embedded twin data set (``unisst_lib.data.twin``) and
are used by the benchmark (effective resolution from power spectra, temporal
decorrelation of the SST, persistence of the cloud cover). They are general:
nothing here knows about SST or clouds.

Conventions
-----------
* Arrays are ``numpy`` arrays; time is always the first axis, and the last two
  axes of a field are ``(ny, nx)`` = (latitude, longitude).
* Wavenumbers are in cycles per km (a wavelength of ``1 / k`` km).
* Power spectral densities are normalised so that they integrate to the
  variance: ``sum(psd) * dk ≈ var(field)`` (for an untapered, detrended field).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "EARTH_RADIUS_KM",
    "decorrelation_time",
    "grid_spacing_km",
    "mean_occlusion_persistence_hours",
    "occluded_run_lengths",
    "radial_power_spectrum",
    "spectral_slope",
]

#: Radius of the spherical earth used for grid spacings, km.
EARTH_RADIUS_KM = 6371.0


def _hann(n: int) -> np.ndarray:
    """Symmetric Hann taper of length ``n`` (all ones if ``n < 3``)."""
    if n < 3:
        return np.ones(n)
    return np.hanning(n)


def _detrend_plane(field: np.ndarray) -> np.ndarray:
    """Remove from each 2-D slice of ``field`` (..., ny, nx) its least-squares plane."""
    ny, nx = field.shape[-2:]
    yy, xx = np.meshgrid(
        np.arange(ny, dtype=np.float64) - (ny - 1) / 2.0,
        np.arange(nx, dtype=np.float64) - (nx - 1) / 2.0,
        indexing="ij",
    )
    out = field - field.mean(axis=(-2, -1), keepdims=True)
    # The centred coordinates are orthogonal to each other and to the constant,
    # so the three least-squares coefficients decouple.
    for coord in (yy, xx):
        norm = float(np.sum(coord * coord))
        if norm > 0.0:
            coef = np.sum(out * coord, axis=(-2, -1), keepdims=True) / norm
            out = out - coef * coord
    return out


def radial_power_spectrum(
    field: np.ndarray,
    dx_km: float,
    *,
    dy_km: float | None = None,
    detrend: bool = True,
    window: str | None = "hann",
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic (radially binned) power spectral density of a 2-D field.

    Parameters
    ----------
    field : ndarray, shape (..., ny, nx)
        The field (any unit ``u``), on a regular grid. Leading dimensions
        (e.g. time) are treated as independent realisations: their 2-D
        spectra are averaged. Must be finite, with ``ny, nx >= 4``.
    dx_km : float
        Grid spacing along the last axis (x, longitude), km.
    dy_km : float, optional
        Grid spacing along the second-last axis (y, latitude), km; defaults
        to ``dx_km``.
    detrend : bool, default True
        Remove from each 2-D slice its least-squares plane (mean and linear
        trends in x and y) before the transform. When False only the mean is
        removed.
    window : {"hann", None}, default "hann"
        Taper applied to each slice (separable 2-D Hann window) to limit the
        leakage from the non-periodic edges. The spectrum is divided by the
        mean square of the window, so that its level is that of the field.

    Returns
    -------
    k : ndarray, shape (nk,)
        Centres of the wavenumber bins, cycles/km: ``k[i] = (i + 1) * dk``
        with ``dk = max(1 / (nx * dx_km), 1 / (ny * dy_km))``, up to the
        smaller Nyquist wavenumber. Only ``k > 0``.
    psd : ndarray, shape (nk,)
        Isotropic power spectral density, ``u**2 * km`` (power per unit of
        wavenumber in cycles/km): the 2-D periodogram summed over the annulus
        ``|k - k[i]| < dk / 2`` and divided by ``dk``, so that
        ``psd.sum() * dk`` approximates the variance of the field.

    Notes
    -----
    This is the isotropic (1-D equivalent) spectrum whose slopes theory and
    observations quote (SQG: ``k**-5/3`` for temperature; along-track SST:
    ``k**-2`` to ``k**-3``). A field whose 2-D Fourier amplitudes scale as
    ``|k|**-γ`` has ``psd ∝ k**(1 - 2γ)``: the azimuthal *mean* of the 2-D
    spectrum would be one power of ``k`` steeper.

    Raises
    ------
    ValueError
        If the field has fewer than 2 dimensions, fewer than 4 points along
        either spatial axis, non-finite values, a non-positive spacing or an
        unknown window.
    """
    arr = np.asarray(field)
    if arr.ndim < 2:
        raise ValueError(
            f"radial_power_spectrum needs a field of shape (..., ny, nx); got shape {arr.shape}"
        )
    ny, nx = arr.shape[-2:]
    if ny < 4 or nx < 4:
        raise ValueError(f"radial_power_spectrum needs ny, nx >= 4; got ny={ny}, nx={nx}")
    if arr.size == 0:
        raise ValueError(f"radial_power_spectrum got an empty field of shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"radial_power_spectrum needs a real numeric field; got {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("radial_power_spectrum: the field has NaN or infinite values")
    if dy_km is None:
        dy_km = dx_km
    if not (np.isfinite(dx_km) and np.isfinite(dy_km) and dx_km > 0 and dy_km > 0):
        raise ValueError(f"grid spacings must be positive; got dx_km={dx_km}, dy_km={dy_km}")
    if window is None:
        w2d = None
        norm_w = 1.0
    elif isinstance(window, str) and window.lower() == "hann":
        w2d = np.outer(_hann(ny), _hann(nx))
        norm_w = float(np.mean(w2d**2))
    else:
        raise ValueError(f"unknown window {window!r}; use 'hann' or None")
    arr = arr.reshape((-1, ny, nx))

    # 2-D periodogram (one-sided in x via rfft2), averaged over the
    # realisations, which are processed by chunks to bound the memory.
    n_real = arr.shape[0]
    chunk = max(1, int(2**22 // (ny * nx)))
    p2d = np.zeros((ny, nx // 2 + 1))
    for start in range(0, n_real, chunk):
        block = arr[start : start + chunk].astype(np.float64)
        if detrend:
            block = _detrend_plane(block)
        else:
            block = block - block.mean(axis=(-2, -1), keepdims=True)
        if w2d is not None:
            block *= w2d
        spec = np.fft.rfft2(block, axes=(-2, -1))
        p2d += (spec.real**2 + spec.imag**2).sum(axis=0)
    p2d /= n_real
    # Weights of the one-sided x axis: columns other than 0 and Nyquist stand
    # for two conjugate coefficients.
    wcol = np.full(p2d.shape[-1], 2.0)
    wcol[0] = 1.0
    if nx % 2 == 0:
        wcol[-1] = 1.0
    p2d = p2d * wcol
    # Normalise so that sum(p2d) * dkx * dky = variance.
    dkx = 1.0 / (nx * dx_km)
    dky = 1.0 / (ny * dy_km)
    p2d = p2d * (dx_km * dy_km) / (nx * ny * norm_w)

    kx = np.fft.rfftfreq(nx, d=dx_km)
    ky = np.fft.fftfreq(ny, d=dy_km)
    kmag = np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)

    dk = max(dkx, dky)
    k_nyq = min(0.5 / dx_km, 0.5 / dy_km)
    nk = int(np.floor(k_nyq / dk + 1e-9))
    idx = np.rint(kmag / dk).astype(np.int64)
    sums = np.bincount(idx.ravel(), weights=p2d.ravel(), minlength=nk + 1)
    psd = sums[1 : nk + 1] * dkx * dky / dk
    k = dk * np.arange(1, nk + 1, dtype=np.float64)
    return k, psd


def spectral_slope(k: np.ndarray, psd: np.ndarray, *, k_min: float, k_max: float) -> float:
    """Least-squares slope of ``log(psd)`` against ``log(k)`` for ``k_min <= k <= k_max``.

    Parameters
    ----------
    k : ndarray, shape (nk,)
        Wavenumbers (any unit, e.g. cycles/km), > 0.
    psd : ndarray, shape (nk,)
        Power spectral density at ``k``. Non-positive values are ignored.
    k_min, k_max : float
        Fitting range, in the unit of ``k`` (for a range of wavelengths
        ``[l_min, l_max]`` use ``k_min = 1 / l_max`` and ``k_max = 1 / l_min``).

    Returns
    -------
    float
        The exponent ``s`` of the best fit ``psd ∝ k**s`` (negative for a red
        spectrum).

    Raises
    ------
    ValueError
        If the shapes differ, the range is empty or inverted, or fewer than 2
        usable points fall in it.
    """
    k = np.asarray(k, dtype=np.float64)
    psd = np.asarray(psd, dtype=np.float64)
    if k.ndim != 1 or k.shape != psd.shape:
        raise ValueError(
            f"k and psd must be 1-D arrays of the same length; got {k.shape} and {psd.shape}"
        )
    if not (k_min > 0 and k_max > k_min):
        raise ValueError(f"need 0 < k_min < k_max; got k_min={k_min}, k_max={k_max}")
    sel = (k >= k_min) & (k <= k_max) & (psd > 0) & np.isfinite(psd) & (k > 0)
    if np.count_nonzero(sel) < 2:
        raise ValueError(f"fewer than 2 spectral points with positive power in [{k_min}, {k_max}]")
    slope, _ = np.polyfit(np.log(k[sel]), np.log(psd[sel]), 1)
    return float(slope)


def decorrelation_time(series: np.ndarray, dt_hours: float, *, max_lag: int | None = None) -> float:
    """E-folding time of the spatially averaged temporal autocorrelation.

    Each point's series is taken as an anomaly about its own time mean; its
    lag autocorrelation ``r(L) = <a(t) a(t+L)> / <a(t)**2>`` (means over the
    available pairs) is averaged over all points with non-zero variance, and
    the first lag at which the average drops below ``1/e`` is found by linear
    interpolation between the two bracketing lags.

    Parameters
    ----------
    series : ndarray, shape (T, ...)
        Time series, time first (e.g. (T, ny, nx) frames or (T,) one point).
        Points (trailing indices) with any non-finite value are ignored.
    dt_hours : float
        Time between successive samples, hours.
    max_lag : int, optional
        Largest lag (in samples) examined; default ``T // 2``. Must satisfy
        ``1 <= max_lag <= T - 1``.

    Returns
    -------
    float
        The e-folding time in hours, or ``inf`` if the autocorrelation stays
        above ``1/e`` up to ``max_lag``.

    Raises
    ------
    ValueError
        If there are fewer than 2 time steps, ``dt_hours <= 0``, ``max_lag``
        is out of range, or no point has a finite, non-constant series.
    """
    arr = np.asarray(series)
    if arr.ndim < 1 or arr.shape[0] < 2:
        raise ValueError(
            f"decorrelation_time needs a series of shape (T, ...) with T >= 2; got {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"decorrelation_time needs a real numeric series; got {arr.dtype}")
    if not (np.isfinite(dt_hours) and dt_hours > 0):
        raise ValueError(f"dt_hours must be positive; got {dt_hours}")
    n_t = arr.shape[0]
    if max_lag is None:
        max_lag = max(1, n_t // 2)
    if not (1 <= int(max_lag) <= n_t - 1):
        raise ValueError(f"max_lag must be in [1, {n_t - 1}]; got {max_lag}")
    max_lag = int(max_lag)

    # Autocorrelations via zero-padded FFT along time, by chunks of points so
    # the memory stays bounded for long series on large grids.
    flat = arr.reshape(n_t, -1)
    n_fft = 1 << int(np.ceil(np.log2(2 * n_t - 1)))
    chunk = max(1, int(2**22 // n_fft))
    pairs = n_t - np.arange(max_lag + 1)
    acc = np.zeros(max_lag + 1)
    n_pts = 0
    for start in range(0, flat.shape[1], chunk):
        block = flat[:, start : start + chunk].astype(np.float64)
        block = block[:, np.all(np.isfinite(block), axis=0)]
        if block.shape[1] == 0:
            continue
        # Constant points (up to rounding) carry no correlation information.
        scale = np.abs(block).max(axis=0)
        block -= block.mean(axis=0, keepdims=True)
        var = np.mean(block * block, axis=0)
        keep = var > (1e-10 * scale) ** 2
        if not np.any(keep):
            continue
        block = block[:, keep] / np.sqrt(var[keep])
        spec = np.fft.rfft(block, n=n_fft, axis=0)
        acov = np.fft.irfft(spec.real**2 + spec.imag**2, n=n_fft, axis=0)[: max_lag + 1]
        # Each normalised series has <a**2> = 1, so r(L) = sum_t a(t) a(t+L) / (T - L).
        acc += acov.sum(axis=1)
        n_pts += block.shape[1]
    if n_pts == 0:
        raise ValueError("decorrelation_time: no point has a finite, non-constant series")
    r = acc / pairs / n_pts

    target = np.exp(-1.0)
    below = np.nonzero(r < target)[0]
    if below.size == 0:
        return float("inf")
    j = int(below[0])
    r0, r1 = r[j - 1], r[j]
    frac = (r0 - target) / (r0 - r1)
    return float((j - 1 + frac) * dt_hours)


def _as_bool_mask(mask: np.ndarray) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind in "iuf":
        if arr.size and not np.all((arr == 0) | (arr == 1)):
            raise ValueError(
                "mask must be boolean-like: a bool array or numbers that are all 0 or 1"
            )
        return arr.astype(bool)
    raise ValueError(f"mask must be boolean-like; got dtype {arr.dtype}")


def occluded_run_lengths(mask: np.ndarray) -> np.ndarray:
    """Lengths of every run of consecutive True values along time, for every pixel.

    Parameters
    ----------
    mask : ndarray, shape (T, ...)
        Boolean-like occlusion mask (True / 1 = occluded), time first.

    Returns
    -------
    ndarray of int64, shape (n_runs,)
        The length, in frames, of each maximal run of True along the time
        axis. Runs are listed pixel by pixel (C order over the trailing axes)
        and, within a pixel, in time order. Runs cut by the start or the end
        of the series are included with their observed length.

    Raises
    ------
    ValueError
        If the mask has no time axis, no frame, or values other than 0/1.
    """
    m = _as_bool_mask(mask)
    if m.ndim < 1 or m.shape[0] < 1:
        raise ValueError(f"mask must have shape (T, ...) with T >= 1; got {m.shape}")
    n_t = m.shape[0]
    per_pixel = m.reshape(n_t, -1).T  # (P, T)
    padded = np.zeros((per_pixel.shape[0], n_t + 2), dtype=np.int8)
    padded[:, 1:-1] = per_pixel
    edges = np.diff(padded, axis=1)
    # np.nonzero walks row by row, so starts and ends pair up in order.
    _, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    return (ends - starts).astype(np.int64)


def mean_occlusion_persistence_hours(mask: np.ndarray, dt_hours: float) -> float:
    """Mean duration, in hours, of an uninterrupted occlusion at a pixel.

    Parameters
    ----------
    mask : ndarray, shape (T, ...)
        Boolean-like occlusion mask, time first, frames ``dt_hours`` apart.
    dt_hours : float
        Time between successive frames, hours.

    Returns
    -------
    float
        ``dt_hours`` times the mean of :func:`occluded_run_lengths`; ``nan``
        if nothing is ever occluded.

    Raises
    ------
    ValueError
        As :func:`occluded_run_lengths`, or if ``dt_hours <= 0``.
    """
    if not (np.isfinite(dt_hours) and dt_hours > 0):
        raise ValueError(f"dt_hours must be positive; got {dt_hours}")
    runs = occluded_run_lengths(mask)
    if runs.size == 0:
        return float("nan")
    return float(runs.mean() * dt_hours)


def check_lat_lon(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate 1-D latitude/longitude axes (degrees); return them as float64.

    Raises ``ValueError`` if an axis is not 1-D with at least 2 finite values,
    or a latitude is outside [-90, 90].
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    for name, ax in (("lat", lat), ("lon", lon)):
        if ax.ndim != 1 or ax.size < 2:
            raise ValueError(f"{name} must be 1-D with at least 2 values; got shape {ax.shape}")
        if not np.all(np.isfinite(ax)):
            raise ValueError(f"{name} has NaN or infinite values")
    if np.any(np.abs(lat) > 90.0):
        raise ValueError("lat must lie within [-90, 90] degrees_north")
    return lat, lon


def grid_spacing_km(lat: np.ndarray, lon: np.ndarray) -> tuple[float, float]:
    """Grid spacings at the centre of a regular latitude-longitude box.

    Parameters
    ----------
    lat : ndarray, shape (ny,)
        Latitudes, degrees_north, regularly spaced, monotonic.
    lon : ndarray, shape (nx,)
        Longitudes, degrees_east, regularly spaced, monotonic (a crossing of
        the ±180° meridian is handled).

    Returns
    -------
    (dy_km, dx_km) : tuple of float
        Meridional spacing ``R * dlat`` and zonal spacing
        ``R * cos(lat_centre) * dlon`` (radians), km, on a sphere of radius
        :data:`EARTH_RADIUS_KM`; ``lat_centre`` is the mid-point of the first
        and last latitudes, and ``dlat``, ``dlon`` the median steps.

    Raises
    ------
    ValueError
        If an axis is not 1-D, has fewer than 2 values, is not finite or has a
        zero step, or the latitudes are outside [-90, 90].
    """
    lat, lon = check_lat_lon(lat, lon)
    dlat = float(np.median(np.abs(np.diff(lat))))
    dlon_all = (np.diff(lon) + 180.0) % 360.0 - 180.0
    dlon = float(np.median(np.abs(dlon_all)))
    if dlat == 0.0 or dlon == 0.0:
        raise ValueError("lat and lon must have non-zero steps")
    lat_c = 0.5 * (lat[0] + lat[-1])
    dy = EARTH_RADIUS_KM * np.deg2rad(dlat)
    dx = EARTH_RADIUS_KM * np.cos(np.deg2rad(lat_c)) * np.deg2rad(dlon)
    return float(dy), float(dx)
