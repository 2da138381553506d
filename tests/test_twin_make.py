"""The embedded twin on disk: the real products' layouts, determinism, caching, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import netCDF4
import numpy as np
import pytest
import xarray as xr

from unisst_lib.cli import main
from unisst_lib.core.errors import DataFormatError
from unisst_lib.core.manifest import load_manifest
from unisst_lib.data.io import load_clouds, open_sst
from unisst_lib.data.twin.make import make_twin, platform_fingerprint, sha256, twin_checksums

M = load_manifest()
TINY = M.twin_size("tiny")
FILES = [
    M.sst_dataset("twin_train_val").file,
    M.sst_dataset("twin_test").file,
    M.cloud_dataset("twin").file,
]


def test_sst_files_have_the_copernicus_layout(tiny_data_dir):
    for name, hours in (("twin_train_val", TINY.train_val_hours), ("twin_test", TINY.test_hours)):
        ds_m = M.sst_dataset(name)
        path = tiny_data_dir / ds_m.file
        raw = xr.open_dataset(path, mask_and_scale=False)
        th = raw["thetao"]
        assert th.dims == ("time", "depth", "latitude", "longitude")
        assert th.shape == (hours, 1, 64, 64)
        assert th.dtype == np.int16 and th.attrs["units"] == "degrees_C"
        assert raw["depth"].values.tolist() == pytest.approx([0.494])
        region = M.regions[ds_m.region]
        np.testing.assert_allclose(raw["latitude"].values, region.latitudes(), atol=1e-5)
        np.testing.assert_allclose(raw["longitude"].values, region.longitudes(), atol=1e-5)
        sst = open_sst(path)
        t = sst.time.values
        assert t[0] == np.datetime64(ds_m.start.replace(tzinfo=None))
        assert np.all(np.diff(t) == np.timedelta64(1, "h"))
        assert 15 < float(sst.mean()) < 30  # °C, subtropical
        assert raw.attrs["dataset_id"] == M.source_of(name).dataset_id


def test_cloud_file_is_like_figshare(tiny_data_dir):
    lwp = load_clouds(tiny_data_dir / M.cloud_dataset("twin").file)
    assert lwp.shape == (TINY.cloud_steps, 64, 64) and lwp.dtype == np.float32
    assert float(lwp.min()) >= 0


_MAKE_IN_A_FRESH_PROCESS = """
import json, sys
import numpy as np
from unisst_lib.data.twin.make import make_twin
make_twin("tiny", sys.argv[1], progress=False)
features = np._core._multiarray_umath.__cpu_features__
print(json.dumps(sorted(f for f in sys.argv[2:] if features.get(f))))
"""


def _dispatched_simd() -> list[str]:
    """numpy's runtime-dispatched SIMD levels (e.g. X86_V3 = AVX2, X86_V4 = AVX-512)."""
    return list(getattr(np._core._multiarray_umath, "__cpu_dispatch__", []))


def _arithmetic(fingerprint: str) -> str:
    """The platform string less the AVX-512 flag, which the bytes do not depend on
    (:func:`test_same_seed_same_bytes_at_numpys_baseline_simd_level`)."""
    return fingerprint.replace(" avx512f", "")


def test_same_seed_same_bytes_at_numpys_baseline_simd_level(tiny_data_dir, tmp_path):
    """A fresh process held to numpy's baseline SIMD kernels (no AVX2 or AVX-512 paths, as
    on an older CPU) writes the very same bytes as this one: the twin depends on the
    machine and the numpy version, not on the CPU's vector extensions."""
    dispatched = _dispatched_simd()
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(dispatched), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", _MAKE_IN_A_FRESH_PROCESS, str(tmp_path), *dispatched]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == []  # every dispatched level was off
    for rel in FILES:
        assert sha256(tmp_path / rel) == sha256(tiny_data_dir / rel), rel
    # every file, the L3 archive's daily files and its truth too
    again = twin_checksums(tmp_path)
    assert len(again) == 5 and again == twin_checksums(tiny_data_dir)


def test_bytes_match_the_manifest_checksums(tiny_data_dir):
    # Recorded on the reference platform; they hold on the same machine and numpy with or
    # without AVX-512 (the baseline-SIMD test above), so both platform strings check them.
    if _arithmetic(platform_fingerprint()) != _arithmetic(M.twin.reference_platform):
        pytest.skip(
            f"checksums were recorded on {M.twin.reference_platform!r}, this is "
            f"{platform_fingerprint()!r} (same-seed-same-bytes is still tested)"
        )
    expected = M.twin.checksums.get("tiny")
    assert expected, "run `unisst data checksums` on the tiny twin and record them"
    assert {rel: sha256(tiny_data_dir / rel) for rel in FILES} == {
        rel: expected[rel] for rel in FILES
    }
    assert twin_checksums(tiny_data_dir) == expected  # with the L3 archive and its truth


def test_files_are_reused_and_a_corrupt_one_is_rebuilt(tiny_data_dir, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(tiny_data_dir, root)
    again = make_twin("tiny", root, progress=False)
    assert all(f.seconds == 0.0 for f in again)
    sst = root / FILES[1]
    sst.write_bytes(sst.read_bytes()[:1000])  # truncated
    rebuilt = make_twin("tiny", root, progress=False)
    assert [f.seconds > 0 for f in rebuilt] == [False, True, False, False, False]
    assert sha256(sst) == sha256(tiny_data_dir / FILES[1])


def test_another_size_is_never_replaced_silently(tiny_data_dir, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(tiny_data_dir, root)
    with netCDF4.Dataset(root / FILES[0], "a") as nc:
        nc.unisst_twin_size = "full"
    with pytest.raises(DataFormatError, match="holds the 'full' twin.*--overwrite"):
        make_twin("tiny", root, progress=False)
    np.save(root / FILES[2], np.zeros((5, 64, 64), np.float32))
    (root / FILES[0]).unlink()
    with pytest.raises(DataFormatError, match="5 cloud steps"):
        make_twin("tiny", root, progress=False)


def test_cli_make_and_summary(tiny_data_dir, tmp_path, capsys):
    root = tmp_path / "d"
    shutil.copytree(tiny_data_dir, root)
    assert main(["data", "make", "--size", "tiny", "--out", str(root), "-q"]) == 0
    out = capsys.readouterr().out
    assert "already there" in out and "cloud_dataset.npy" in out
    assert main(["data", "summary", "--dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "occlusion rate" in out and "spectral slope" in out


def test_cli_reports_errors_in_one_line(tmp_path, capsys):
    assert main(["data", "summary", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
