"""A summary of a data set on disk: SST statistics and cloud occlusion rates.

Used by ``unisst data summary``, ``make demo`` and the notebooks to show what
the data look like and whether the twin is realistic (magnitudes, spectral
slope, temporal decorrelation, cloud persistence).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

from unisst_lib.core.manifest import Manifest, load_manifest
from unisst_lib.core.paths import data_dir
from unisst_lib.data import stats
from unisst_lib.data.io import load_clouds, open_sst
from unisst_lib.data.masks import lwp_to_mask, occlusion_rate_curve


@dataclass(frozen=True)
class SSTSummary:
    """Statistics of one SST file (all temperatures in °C)."""

    dataset: str
    frames: int
    ny: int
    nx: int
    start: str
    end: str
    mean_c: float
    min_c: float
    max_c: float
    spatial_std_c: float  # std within each frame, averaged over time
    anomaly_spatial_std_c: float  # same after removing each frame's plane fit
    spectral_slope: float  # of the anomaly's isotropic spectrum, 15-150 km wavelengths
    decorrelation_hours: float  # e-folding time of the anomaly's lag autocorrelation


@dataclass(frozen=True)
class CloudSummary:
    """Statistics of one cloud (LWP) array."""

    dataset: str
    steps: int
    ny: int
    nx: int
    mean_lwp_kgm2: float
    occlusion_rate: dict[float, float]  # threshold g m-2 -> fraction of occluded pixels
    persistence_hours: float  # mean occluded run at the default threshold, frames 6 h apart
    frame_hours: float


def _plane_anomaly(sst: np.ndarray) -> np.ndarray:
    """Remove a least-squares plane from each frame of (T, ny, nx) (the background gradient)."""
    t, ny, nx = sst.shape
    yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    design = np.stack([np.ones(ny * nx), yy.ravel(), xx.ravel()], axis=1)
    coef, *_ = np.linalg.lstsq(design, sst.reshape(t, -1).T, rcond=None)
    return sst - (design @ coef).T.reshape(t, ny, nx)


def summarise_sst(
    dataset: str,
    *,
    manifest: Manifest | None = None,
    root: str | os.PathLike[str] | None = None,
    max_frames: int = 2000,
) -> SSTSummary:
    """Statistics of one manifest SST data set on disk.

    Mean, min and max cover the whole file; spatial std, spectral slope and
    decorrelation time use its first ``max_frames`` frames.
    """
    manifest = manifest or load_manifest()
    da = open_sst(data_dir(root) / manifest.sst_dataset(dataset).file)
    sst = da.isel(time=slice(0, max_frames)).values.astype(np.float64)
    frame_hours = float(np.median(np.diff(da.time.values[:2]) / np.timedelta64(1, "h")))
    dy_km, dx_km = stats.grid_spacing_km(da.latitude.values, da.longitude.values)
    anomaly = _plane_anomaly(sst)
    k, psd = stats.radial_power_spectrum(anomaly, dx_km=0.5 * (dx_km + dy_km))
    slope = stats.spectral_slope(k, psd, k_min=1 / 150.0, k_max=1 / 15.0)
    # subtract each frame's box mean so the (uniform) diurnal cycle does not count
    decor = stats.decorrelation_time(
        anomaly - anomaly.mean(axis=(1, 2), keepdims=True), frame_hours
    )
    return SSTSummary(
        dataset=dataset,
        frames=int(da.sizes["time"]),
        ny=int(da.sizes["latitude"]),
        nx=int(da.sizes["longitude"]),
        start=str(da.time.values[0])[:16],
        end=str(da.time.values[-1])[:16],
        mean_c=float(da.mean()),
        min_c=float(da.min()),
        max_c=float(da.max()),
        spatial_std_c=float(np.nanmean(np.nanstd(sst, axis=(1, 2)))),
        anomaly_spatial_std_c=float(np.nanmean(np.nanstd(anomaly, axis=(1, 2)))),
        spectral_slope=float(slope),
        decorrelation_hours=float(decor),
    )


def summarise_clouds(
    name: str = "twin",
    *,
    manifest: Manifest | None = None,
    root: str | os.PathLike[str] | None = None,
) -> CloudSummary:
    """Occlusion rate per studied threshold and persistence of one manifest cloud data set."""
    manifest = manifest or load_manifest()
    spec = manifest.cloud_dataset(name)
    lwp = load_clouds(data_dir(root) / spec.file)
    rates = occlusion_rate_curve(lwp, manifest.thresholds.studied)
    frames = np.asarray(lwp[:: spec.cloud_interval], dtype=np.float32)
    mask = lwp_to_mask(frames, manifest.thresholds.default_kgm2)
    from unisst_lib.data.twin.clouds import STEP_HOURS

    frame_hours = STEP_HOURS * spec.cloud_interval
    return CloudSummary(
        dataset=name,
        steps=int(lwp.shape[0]),
        ny=int(lwp.shape[1]),
        nx=int(lwp.shape[2]),
        mean_lwp_kgm2=float(np.mean(frames)),
        occlusion_rate={float(t): float(r) for t, r in _curve_items(rates)},
        persistence_hours=float(stats.mean_occlusion_persistence_hours(mask, frame_hours)),
        frame_hours=frame_hours,
    )


def _curve_items(rates) -> list[tuple[float, float]]:
    if isinstance(rates, dict):
        return sorted(rates.items())
    # an xarray.DataArray indexed by threshold
    return [
        (float(t), float(r)) for t, r in zip(rates["threshold"].values, rates.values, strict=True)
    ]


def format_summary(ssts: list[SSTSummary], clouds: list[CloudSummary]) -> str:
    """Plain-text tables for a terminal or a notebook."""
    lines = ["SST", "---"]
    for s in ssts:
        lines.append(
            f"{s.dataset}: {s.frames} frames {s.ny}x{s.nx}, {s.start} .. {s.end}\n"
            f"  mean {s.mean_c:.2f} °C (min {s.min_c:.2f}, max {s.max_c:.2f}); "
            f"spatial std {s.spatial_std_c:.2f} °C, mesoscale anomaly std "
            f"{s.anomaly_spatial_std_c:.2f} °C\n"
            f"  spectral slope {s.spectral_slope:.2f} (15-150 km); "
            f"decorrelation time {s.decorrelation_hours:.0f} h "
            f"({s.decorrelation_hours / 24:.1f} days)"
        )
    lines += ["", "Clouds", "------"]
    for c in clouds:
        lines.append(
            f"{c.dataset}: {c.steps} steps {c.ny}x{c.nx}, "
            f"mean LWP {c.mean_lwp_kgm2 * 1000:.0f} g m-2"
        )
        lines.append("  threshold (g m-2): " + "  ".join(f"{t:>5.0f}" for t in c.occlusion_rate))
        lines.append(
            "  occlusion rate:    " + "  ".join(f"{r:>5.1%}" for r in c.occlusion_rate.values())
        )
        lines.append(
            f"  a pixel stays occluded {c.persistence_hours:.0f} h on average "
            f"(frames {c.frame_hours:.0f} h apart, default threshold)"
        )
    return "\n".join(lines)


def summary_dict(ssts: list[SSTSummary], clouds: list[CloudSummary]) -> dict:
    """The summary as plain JSON-able data."""
    return {"sst": [asdict(s) for s in ssts], "clouds": [asdict(c) for c in clouds]}
