"""The bundled model earns its place: it fills a twin file better than temporal interpolation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import xarray as xr

import unisst_lib
from unisst_lib.core.manifest import load_manifest
from unisst_lib.data.io import load_clouds
from unisst_lib.data.masks import gm2_to_kgm2, lwp_to_mask

M = load_manifest()
BUNDLED = Path(unisst_lib.__file__).parent / "checkpoints" / "fast_twin.pt"
N_FRAMES = 48  # two days of 6-hourly frames per window: three half-overlapping windows


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def test_bundled_model_beats_temporal_interpolation_on_the_twin_test_region(tiny_data_dir):
    """The S. Atlantic test file (a region the model never saw), 6-hourly, under twin clouds.

    Measured with the benchmark's 200-step model (tiny twin, x86_64, numpy 2.4): RMSE under
    the clouds 0.207 °C for the bundled model against 0.280 °C for temporal interpolation
    (ratio 0.74, 62 % of the pixels clouded); the cloud window 30 steps earlier gave 0.204
    against 0.277 (0.74). The test asks for a ratio below 0.8: a model no better than its
    own first guess fails.
    """
    raw = xr.open_dataset(tiny_data_dir / M.sst_dataset("twin_test").file)
    six_hourly = raw.isel(time=slice(0, None, 6)).isel(time=slice(0, N_FRAMES)).load()
    truth = six_hourly["thetao"].values[:, 0].copy()  # (time, lat, lon) °C
    # Clouds 10 cloud steps apart (the manifest's cloud_interval), from the record's end.
    lwp = load_clouds(tiny_data_dir / M.cloud_dataset("twin").file)
    step = M.cloud_dataset("twin").cloud_interval
    frames = len(lwp) - 1 - step * np.arange(N_FRAMES)[::-1]
    cloud = lwp_to_mask(lwp[frames], gm2_to_kgm2(70.0))
    assert 0.3 < cloud.mean() < 0.9  # a cloudy test, not an empty one
    observed = six_hourly.copy(deep=True)
    observed["thetao"].values[:, 0][cloud] = np.nan

    ours = unisst_lib.fill(observed, method="unisst")  # the bundled model for 6-hourly frames
    interp = unisst_lib.fill(observed, method="interp")

    want_sha = hashlib.sha256(BUNDLED.read_bytes()).hexdigest()
    assert ours.attrs["unisst_checkpoint_sha256"] == want_sha
    ours_c, interp_c = ours["thetao"].values[:, 0], interp["thetao"].values[:, 0]
    np.testing.assert_array_equal(ours_c[~cloud], truth[~cloud])  # observations kept as they are
    np.testing.assert_array_equal(ours["thetao_filled_mask"].values[:, 0] == 1, cloud)
    rmse_ours = _rmse(ours_c[cloud], truth[cloud])
    rmse_interp = _rmse(interp_c[cloud], truth[cloud])
    assert rmse_ours < 0.8 * rmse_interp, (rmse_ours, rmse_interp)
