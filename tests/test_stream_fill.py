"""The streamed fill (issue 16): ``fill_streamed`` / ``unisst fill … --chunk/--workers/….zarr``.

The streamed fill cuts the output into chunks (tasks) and fills each on its own; with the
generator it must give the in-memory fill's result (:func:`unisst_lib.methods.fill.fill`,
:func:`unisst_lib.methods.archive_fill.fill_archive`) up to float round-off. The files
here are tiny, but the chunks are small (``chunk=48``, ``chunk_frames=16`` on 70 x 90
pixels and 30 frames; 64 x 64 tiles, 24-frame windows overlapping by 12), so chunk edges
cut through tiles and time windows and every chunk needs windows and tiles it shares with
its neighbours.

Synthetic SST (°C, latitude descending, a land strip in columns 0-3, one rectangular
cloud a frame) is written here; the L3 archive is written with ``write_l3_file`` (kelvin,
int16 packed, quality_level, l2p_flags land bit), one file a day.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

from unisst_lib.cli import main
from unisst_lib.core.errors import UnisstError
from unisst_lib.data.archive import open_archive
from unisst_lib.data.ghrsst import l3_filename, write_l3_file
from unisst_lib.data.io import open_netcdf
from unisst_lib.methods.archive_fill import OutputExistsError, fill_archive
from unisst_lib.methods.fill import fill
from unisst_lib.methods.stream import block, plan, run, sizing
from unisst_lib.methods.stream.execute import ClusterError
from unisst_lib.methods.stream.plan import Geometry, Task
from unisst_lib.methods.stream.run import fill_streamed

pytestmark = pytest.mark.filterwarnings("ignore::unisst_lib.core.errors.ArchiveWarning")

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
LAND_COLS = 4  # columns 0-3 are land (missing in every frame)


# ------------------------------------------------------------------ data
def sst_dataset(t: int, h: int, w: int, *, hours: int = 6, seed: int = 0) -> xr.Dataset:
    """A cloudy SST field (°C, float32) on (time, lat descending, lon) with a land strip."""
    rng = np.random.default_rng(seed)
    tt, yy, xx = np.ogrid[:t, :h, :w]
    noise = 0.1 * rng.standard_normal((t, h, w))
    obs = (18 + 3 * np.sin(xx / 9 + tt / 7) * np.cos(yy / 11) + noise).astype(np.float32)
    for k in range(t):
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        obs[k, max(0, cy - 8) : cy + 8, max(0, cx - 12) : cx + 12] = np.nan
    obs[:, :, :LAND_COLS] = np.nan
    attrs = {"units": "degrees_C", "standard_name": "sea_surface_temperature", "comment": "test"}
    coords = {
        "time": pd.date_range("2020-01-01", periods=t, freq=f"{hours}h"),
        "lat": ("lat", np.linspace(44, 40, h), {"units": "degrees_north"}),
        "lon": ("lon", np.linspace(0, 7, w), {"units": "degrees_east"}),
    }
    return xr.Dataset(
        {"sst": (("time", "lat", "lon"), obs, attrs)}, coords=coords, attrs={"title": "t"}
    )


def write(ds: xr.Dataset, path: Path) -> Path:
    ds.to_netcdf(path)
    return path


def in_memory(path: Path, out: Path, **kwargs) -> xr.Dataset:
    """``fill`` on the file as ``unisst fill IN.nc OUT.nc`` runs it, written and read back."""
    with open_netcdf(path) as ds:
        fill(ds, **kwargs).to_netcdf(out)
    return read(out)


def read(path: Path, **kwargs) -> xr.Dataset:
    with xr.open_dataset(path, **kwargs) as ds:
        return ds.load()


def read_zarr(path: Path) -> xr.Dataset:
    with xr.open_zarr(path, consolidated=False) as ds:
        return ds.load()


def no_history(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without its ``history`` (it holds the time of the run)."""
    out = ds.copy()
    assert STAMP.match(out.attrs.pop("history"))
    return out


def same_attrs(a: dict, b: dict) -> bool:
    """Attributes equal in names, order, values and types (arrays compared element-wise)."""
    return list(a) == list(b) and all(
        np.asarray(a[k]).dtype == np.asarray(b[k]).dtype and np.array_equal(a[k], b[k]) for k in a
    )


def assert_same_fill(got: xr.Dataset, ref: xr.Dataset, *, exact: bool = False) -> None:
    """``got`` (streamed, read back) is ``ref`` (in memory, read back): layout, attrs, values."""
    assert list(got.data_vars) == list(ref.data_vars) == ["sst", "sst_filled_mask"]
    for name in ("sst", "sst_filled_mask"):
        assert got[name].dims == ref[name].dims and got[name].dtype == ref[name].dtype
        assert same_attrs(got[name].attrs, ref[name].attrs), name
    assert sorted(got.coords) == sorted(ref.coords)
    for c in ref.coords:
        np.testing.assert_array_equal(got[c].values, ref[c].values)
        assert same_attrs(got[c].attrs, ref[c].attrs), c
    np.testing.assert_array_equal(got["sst_filled_mask"].values, ref["sst_filled_mask"].values)
    v, r = got["sst"].values, ref["sst"].values
    np.testing.assert_array_equal(np.isnan(v), np.isnan(r))
    if exact:
        np.testing.assert_array_equal(v, r)
    else:
        np.testing.assert_allclose(v, r, rtol=0, atol=1e-5)
    assert re.fullmatch(r"[0-9a-f]{16}", got.attrs.pop(run.RUN_ATTR))
    assert STAMP.sub("", got.attrs.pop("history")) == STAMP.sub("", ref.attrs.pop("history"))
    assert same_attrs(got.attrs, ref.attrs)


class Killed(Exception):
    """Stands for the kill of a run (a Ctrl-C, a node lost)."""


class Counting:
    """``fn`` counting its calls; it raises :class:`Killed` once ``fail_after`` calls are done."""

    def __init__(self, fn, fail_after: int | None = None) -> None:
        self.fn, self.fail_after, self.calls = fn, fail_after, 0

    def __call__(self, *args):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise Killed
        self.calls += 1
        return self.fn(*args)


@pytest.fixture(scope="module")
def six_hourly(tmp_path_factory):
    """30 frames 6 h apart on 70 x 90 pixels (2 x 2 tiles, 2 windows), and ``fill``'s result."""
    folder = tmp_path_factory.mktemp("six")
    src = write(sst_dataset(30, 70, 90), folder / "in.nc")
    return src, in_memory(src, folder / "ref.nc")


@pytest.fixture
def small(tmp_path):
    """30 frames 6 h apart on 40 x 64 pixels, for the cheap baselines."""
    ds = sst_dataset(30, 40, 64, seed=3)
    return write(ds, tmp_path / "small.nc"), ds["sst"].values


@pytest.fixture
def torch_threads():
    """Tasks run in threads of this process set torch's threads: put them back after."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


# --------------------------------------------------- identity with fill()
def test_six_hourly_file_equals_the_in_memory_fill(six_hourly, tmp_path):
    src, ref = six_hourly
    out = tmp_path / "out.nc"
    assert fill_streamed(src, out, archive=False, chunk=48, chunk_frames=16) == [out]
    got = read(out)
    assert got["sst"].dims == ("time", "lat", "lon") and got["lat"].values[0] == 44  # descending
    assert got["sst_filled_mask"].values.sum() > 1000  # there were gaps to fill
    assert_same_fill(got, ref)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nc"]  # no .partial left


def test_three_hourly_file_fills_two_interleaved_series(tmp_path):
    # 40 frames 3 h apart: series 0, 2, 4, … and 1, 3, 5, … each at the model's 6 h; chunks
    # of 15 frames start on either series; one 64-pixel tile cut by 32-pixel chunks
    src = write(sst_dataset(40, 40, 64, hours=3, seed=1), tmp_path / "in.nc")
    ref = in_memory(src, tmp_path / "ref.nc")
    out = tmp_path / "out.nc"
    fill_streamed(src, out, archive=False, chunk=32, chunk_frames=15)
    got = read(out)
    assert got.sizes["time"] == 40
    assert_same_fill(got, ref)


def test_absent_dates_netcdf_and_zarr(tmp_path):
    full = sst_dataset(31, 40, 64, seed=2)
    ds = full.drop_isel(time=13)  # a 6-hourly axis with one date absent
    src = write(ds, tmp_path / "in.nc")
    ref = in_memory(src, tmp_path / "ref.nc")
    out = tmp_path / "out.nc"
    fill_streamed(src, out, archive=False, chunk=32, chunk_frames=16)
    got = read(out)
    assert got.sizes["time"] == 30  # the absent date is filled, not written (as fill does)
    assert_same_fill(got, ref)

    store = tmp_path / "out.zarr"
    assert fill_streamed(src, store, archive=False, chunk=32, chunk_frames=16) == [store]
    z = read_zarr(store)
    assert z["sst"].dims == ("time", "latitude", "longitude")
    assert z["sst"].dtype == np.float32 and z["sst_filled_mask"].dtype == np.int8
    assert list(z["time"].values) == list(full["time"].values)  # every frame of the axis
    np.testing.assert_array_equal(z["latitude"].values, ds["lat"].values[::-1])  # ascending
    np.testing.assert_array_equal(z["longitude"].values, ds["lon"].values)
    present = np.flatnonzero(np.arange(31) != 13)
    up = ref.isel(lat=slice(None, None, -1))
    np.testing.assert_allclose(z["sst"].values[present], up["sst"].values, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(
        z["sst_filled_mask"].values[present], up["sst_filled_mask"].values
    )
    sea = np.isfinite(ds["sst"].values).any(axis=0)[::-1]  # seen once: sea (ascending)
    assert sea.sum() == 40 * (64 - LAND_COLS)
    absent_flag, absent_sst = z["sst_filled_mask"].values[13], z["sst"].values[13]
    np.testing.assert_array_equal(absent_flag, sea.astype(np.int8))  # 1 at every sea pixel
    assert np.isfinite(absent_sst[sea]).all() and np.isnan(absent_sst[~sea]).all()
    assert z["sst"].attrs["units"] == "degrees_C" and z.attrs["unisst_method"] == "unisst"
    assert z.attrs[run.RUN_ATTR] and not (tmp_path / "out.zarr.partial").exists()


def test_resample_keeps_every_second_frame(tmp_path):
    src = write(sst_dataset(48, 40, 64, hours=3, seed=7), tmp_path / "in.nc")
    ref = in_memory(src, tmp_path / "ref.nc", resample=True)
    out = tmp_path / "out.nc"
    fill_streamed(src, out, archive=False, resample=True, chunk=32, chunk_frames=7)
    got = read(out)
    assert got.sizes["time"] == 24
    assert_same_fill(got, ref)


def test_mask_variable(tmp_path):
    ds = sst_dataset(20, 30, 40, seed=8)
    ds["qmask"] = xr.zeros_like(ds["sst"], dtype=np.int8)
    ds["qmask"].values[3:6, 5:10, 10:20] = 1  # 1 = missing, on observed values too
    src = write(ds, tmp_path / "in.nc")
    ref = in_memory(src, tmp_path / "ref.nc", method="interp", mask_variable="qmask")
    out = tmp_path / "out.nc"
    kw = {"method": "interp", "mask_variable": "qmask", "chunk": 64, "chunk_frames": 6}
    fill_streamed(src, out, archive=False, **kw)
    got = read(out)
    assert got["sst_filled_mask"].values[3:6, 5:10, 10:20].all()
    assert_same_fill(got, ref, exact=True)


def test_layout_with_a_depth_axis_and_transposed_grid(tmp_path):
    ds = (
        sst_dataset(12, 20, 30)
        .expand_dims(depth=[0.5], axis=1)
        .transpose("time", "depth", "lon", "lat")
    )
    ds["depth"].attrs["axis"] = "Z"
    src = write(ds, tmp_path / "in.nc")
    ref = in_memory(src, tmp_path / "ref.nc", method="interp")
    out = tmp_path / "out.nc"
    fill_streamed(src, out, archive=False, method="interp", chunk=64, chunk_frames=5)
    got = read(out)
    assert got["sst"].dims == ("time", "depth", "lon", "lat")
    assert_same_fill(got, ref, exact=True)


# ------------------------------------------------------------- baselines
@pytest.mark.parametrize("method", ["interp", "dineof"])
def test_baselines_on_one_spatial_chunk_equal_fill(method, tmp_path):
    # 60 frames: two 48-frame windows overlapping by 36, cut by 16-frame chunks
    src = write(sst_dataset(60, 30, 40, seed=4), tmp_path / "in.nc")
    ref = in_memory(src, tmp_path / "ref.nc", method=method)
    out = tmp_path / "out.nc"
    fill_streamed(src, out, archive=False, method=method, chunk=40, chunk_frames=16)
    assert_same_fill(read(out), ref, exact=method == "interp")


@pytest.mark.parametrize("method", ["interp", "dineof"])
def test_baselines_on_small_chunks_fill_every_gap(method, small, tmp_path):
    src, obs = small
    out = tmp_path / "out.nc"
    fill_streamed(src, out, archive=False, method=method, chunk=16, chunk_frames=10, halo=8)
    got = read(out)
    v, flag = got["sst"].values, got["sst_filled_mask"].values
    assert v.shape == flag.shape == obs.shape == (30, 40, 64) and v.dtype == np.float32
    seen = np.isfinite(obs)
    sea = seen.any(axis=0)
    np.testing.assert_array_equal(v[seen], obs[seen])  # observed values bit for bit
    np.testing.assert_array_equal(flag, (~seen & sea).astype(np.int8))
    assert np.isfinite(v[:, sea]).all() and np.isnan(v[:, ~sea]).all()
    assert got.attrs["unisst_method"] == method


# ------------------------------------------------------------ clusters
def test_local_cluster_of_two_workers(six_hourly, tmp_path):
    src, ref = six_hourly
    store = tmp_path / "out.zarr"
    fill_streamed(src, store, archive=False, chunk=48, chunk_frames=16, workers=2)
    z = read_zarr(store)
    up = ref.isel(lat=slice(None, None, -1))
    np.testing.assert_allclose(z["sst"].values, up["sst"].values, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(z["sst_filled_mask"].values, up["sst_filled_mask"].values)


def test_existing_scheduler_by_address_client_and_file(small, tmp_path, torch_threads):
    from distributed import Client, LocalCluster

    src, _ = small
    kw = {"archive": False, "method": "interp", "chunk": 16, "chunk_frames": 10}
    fill_streamed(src, tmp_path / "here.zarr", **kw)
    here = read_zarr(tmp_path / "here.zarr")
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
        dashboard_address=":0",
    ) as cluster:  # fmt: skip
        address = cluster.scheduler_address
        assert address.startswith("tcp://")
        fill_streamed(src, tmp_path / "address.zarr", scheduler=address, **kw)
        with Client(cluster) as client:
            fill_streamed(src, tmp_path / "client.zarr", scheduler=client, **kw)
            assert client.status == "running"  # the user's client is left open
            assert client.submit(sum, [1, 2]).result() == 3
        sched_file = tmp_path / "scheduler.json"  # as `dask scheduler --scheduler-file` writes
        sched_file.write_text(json.dumps({"type": "Scheduler", "address": address}))
        fill_streamed(src, tmp_path / "file.zarr", scheduler=sched_file, **kw)
    for name in ("address.zarr", "client.zarr", "file.zarr"):
        xr.testing.assert_identical(no_history(read_zarr(tmp_path / name)), no_history(here))


# -------------------------------------------------------------- archive
NY, NX, DAYS, ABSENT_DAY = 40, 70, 30, 13
T0 = pd.Timestamp("2018-01-01T12:00")


def write_archive(folder: Path) -> list[Path]:
    """30 daily L3 files (day 13 absent): kelvin int16, quality_level, l2p_flags land bit."""
    folder.mkdir()
    rng = np.random.default_rng(5)
    row, col = np.mgrid[0:NY, 0:NX]
    land = np.zeros((NY, NX), bool)
    land[:8, :6] = True
    files = []
    for t in range(DAYS):
        if t == ABSENT_DAY:
            continue
        noise = 0.05 * rng.standard_normal(land.shape)
        k = 288 + 2 * np.sin(col / 9 + t / 5) * np.cos(row / 7) + noise
        seen = ~land
        cy, cx = rng.integers(0, NY), rng.integers(0, NX)
        seen[max(0, cy - 8) : cy + 8, max(0, cx - 12) : cx + 12] = False
        ql = np.where(seen, 5, 0).astype(np.int8)
        if t % 3 == 0:
            ql[20, 30] = 2  # below min_quality 4: filled
        time = T0 + pd.Timedelta(days=t)
        files.append(write_l3_file(
            folder / l3_filename(time), sst_k=np.where(seen, k, np.nan), time=time,
            latitudes=36 + np.arange(NY)[::-1] / 12, longitudes=-20 + np.arange(NX) / 12,
            quality_level=ql, l2p_flags=np.where(land, 2, 0).astype(np.int16),
        ))  # fmt: skip
    return files


@pytest.fixture
def archive(tmp_path):
    return write_archive(tmp_path / "sst")


def assert_same_files(got: list[Path], ref: list[Path]) -> None:
    """Each file byte-identical in every variable (undecoded), attributes but the run's."""
    assert [p.name for p in got] == [p.name for p in ref]
    for g, r in zip(got, ref, strict=True):
        a, b = read(g, decode_cf=False), read(r, decode_cf=False)
        assert list(a.variables) == list(b.variables), g.name
        for v in b.variables:
            assert a[v].dims == b[v].dims and a[v].dtype == b[v].dtype, (g.name, v)
            assert a[v].values.tobytes() == b[v].values.tobytes(), (g.name, v)
            assert same_attrs(a[v].attrs, b[v].attrs), (g.name, v)
        assert re.fullmatch(r"[0-9a-f]{16}", a.attrs.pop(run.RUN_ATTR))
        assert STAMP.sub("", a.attrs.pop("history")) == STAMP.sub("", b.attrs.pop("history"))
        assert same_attrs(a.attrs, b.attrs), g.name


def test_archive_equals_fill_archive_with_all_days(archive, tmp_path):
    # the bundled daily model, with its 60-day first guess from the record around a window
    pattern = str(archive[0].parent / "*.nc")
    ref = fill_archive(pattern, tmp_path / "mem", all_days=True)
    out = tmp_path / "streamed"
    got = fill_streamed(pattern, out, archive=True, all_days=True, chunk=32, chunk_frames=16)
    assert len(got) == DAYS and got[ABSENT_DAY].name == l3_filename(T0 + pd.Timedelta(days=13))
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in got)
    assert_same_files(got, ref)
    absent = read(got[ABSENT_DAY], decode_cf=False)
    assert (absent["quality_level"].values == 0).all()


def test_archive_to_zarr(archive, tmp_path):
    out = tmp_path / "out.zarr"
    fill_streamed(archive, out, archive=True, method="interp", chunk=NX, chunk_frames=16)
    z = read_zarr(out)
    name = "sea_surface_temperature"
    assert z[name].dims == ("time", "latitude", "longitude") and z.sizes["time"] == DAYS
    assert z[name].attrs["units"] == "degrees_C" and z["latitude"].values[0] == 36  # ascending
    arch = open_archive(archive)
    ref = fill(arch[["sst"]], method="interp", variable="sst", land=arch["land"])
    np.testing.assert_array_equal(z[name].values, ref["sst"].values)
    np.testing.assert_array_equal(z[name + "_filled_mask"].values, ref["sst_filled_mask"].values)
    assert z[name + "_filled_mask"].values[ABSENT_DAY].sum() == NY * NX - 8 * 6  # the sea


def test_archive_restart_in_the_writing_phase(archive, tmp_path, monkeypatch):
    kw = {"archive": True, "method": "interp", "chunk": NX, "chunk_frames": 16}
    ref = fill_archive(archive, tmp_path / "mem", method="interp")
    out = tmp_path / "streamed"
    killer = Counting(run._write_target, fail_after=10)
    monkeypatch.setattr(run, "_write_target", killer)
    with pytest.raises(Killed):
        fill_streamed(archive, out, **kw)
    done = sorted(p.name for p in out.glob("*.nc"))
    assert len(done) == 10 and (out / ".unisst.partial").is_dir()
    stamps = {n: (out / n).stat().st_mtime_ns for n in done}

    writes = Counting(killer.fn)
    chunks = Counting(block.fill_chunk)
    monkeypatch.setattr(run, "_write_target", writes)
    monkeypatch.setattr(run, "fill_chunk", chunks)
    got = fill_streamed(archive, out, **kw)
    assert writes.calls == len(archive) - 10 and chunks.calls == 0  # chunks kept, checked
    assert {n: (out / n).stat().st_mtime_ns for n in done} == stamps
    assert sorted(p.name for p in out.iterdir()) == [f.name for f in archive]  # no .partial
    assert_same_files(got, ref)

    writes.calls = 0
    assert fill_streamed(archive, out, **kw) == got  # finished: nothing to do
    assert writes.calls == 0 and chunks.calls == 0
    with pytest.raises(OutputExistsError, match=r"29 of the 29 .*overwrite=True"):
        fill_streamed(archive, out, **{**kw, "method": "dineof"})


# -------------------------------------------------------------- restart
@pytest.mark.parametrize("name", ["out.nc", "out.zarr"])
def test_killed_run_resumes_with_the_chunks_left(name, small, tmp_path, monkeypatch):
    src, _ = small
    kw = {"archive": False, "method": "interp", "chunk": 32, "chunk_frames": 10}
    total = 3 * 2 * 2  # frames 0:10, 10:20, 20:30 x rows 0:32, 32:40 x cols 0:32, 32:64
    whole = tmp_path / ("whole" + Path(name).suffix)
    fill_streamed(src, whole, **kw)
    out, partial = tmp_path / name, tmp_path / (name + ".partial")
    monkeypatch.setattr(run, "fill_chunk", Counting(block.fill_chunk, fail_after=5))
    with pytest.raises(Killed):
        fill_streamed(src, out, **kw)
    assert not out.exists() and partial.is_dir()  # never a final output that looks complete
    assert len(list((partial / "done").glob("*.json"))) == 5

    resumed = Counting(block.fill_chunk)
    monkeypatch.setattr(run, "fill_chunk", resumed)
    assert fill_streamed(src, out, **kw) == [out]
    assert resumed.calls == total - 5
    assert not partial.exists()
    opened = read_zarr if name.endswith(".zarr") else read
    xr.testing.assert_identical(no_history(opened(out)), no_history(opened(whole)))


def test_a_corrupted_chunk_is_filled_again(small, tmp_path, monkeypatch):
    src, _ = small
    kw = {"archive": False, "method": "interp", "chunk": 32, "chunk_frames": 10}
    whole = tmp_path / "whole.nc"
    fill_streamed(src, whole, **kw)
    out = tmp_path / "out.nc"
    monkeypatch.setattr(run, "fill_chunk", Counting(block.fill_chunk, fail_after=5))
    with pytest.raises(Killed):
        fill_streamed(src, out, **kw)
    partial = tmp_path / "out.nc.partial"
    first = Task(0, 10, 0, 32, 0, 32)
    assert (partial / "done" / f"{first.key}.json").is_file()
    zarr.open_group(partial / "store.zarr", mode="r+")["sst"][0:10, 0:32, 0:32] = 0.0
    resumed = Counting(block.fill_chunk)
    monkeypatch.setattr(run, "fill_chunk", resumed)
    fill_streamed(src, out, **kw)
    assert resumed.calls == 12 - 5 + 1
    a, b = read(out), read(whole)
    np.testing.assert_array_equal(a["sst"].values, b["sst"].values)
    np.testing.assert_array_equal(a["sst_filled_mask"].values, b["sst_filled_mask"].values)


def test_finished_fill_is_not_redone_and_another_fill_needs_overwrite(small, tmp_path, monkeypatch):
    src, _ = small
    kw = {"archive": False, "chunk": 32, "chunk_frames": 10}
    out = tmp_path / "out.nc"
    fill_streamed(src, out, method="interp", **kw)
    stamp = out.stat().st_mtime_ns
    chunks = Counting(block.fill_chunk)
    monkeypatch.setattr(run, "fill_chunk", chunks)
    assert fill_streamed(src, out, method="interp", **kw) == [out]
    assert chunks.calls == 0 and out.stat().st_mtime_ns == stamp
    with pytest.raises(OutputExistsError, match=r"out\.nc exists.*overwrite=True"):
        fill_streamed(src, out, method="dineof", **kw)
    assert chunks.calls == 0 and out.stat().st_mtime_ns == stamp
    with pytest.raises(OutputExistsError):  # other chunks: another fill too
        fill_streamed(src, out, method="interp", **{**kw, "chunk": 16})
    fill_streamed(src, out, method="dineof", overwrite=True, **kw)
    assert chunks.calls == 12 and read(out).attrs["unisst_method"] == "dineof"


def test_the_partial_store_of_another_fill_is_started_again(small, tmp_path, monkeypatch):
    src, _ = small
    kw = {"archive": False, "chunk": 32, "chunk_frames": 10}
    out = tmp_path / "out.zarr"
    monkeypatch.setattr(run, "fill_chunk", Counting(block.fill_chunk, fail_after=5))
    with pytest.raises(Killed):
        fill_streamed(src, out, method="interp", **kw)
    chunks = Counting(block.fill_chunk)
    monkeypatch.setattr(run, "fill_chunk", chunks)
    fill_streamed(src, out, method="dineof", **kw)
    assert chunks.calls == 12  # none of the interp chunks is kept
    fill_streamed(src, tmp_path / "whole.zarr", method="dineof", **kw)
    a, b = read_zarr(out), read_zarr(tmp_path / "whole.zarr")
    np.testing.assert_array_equal(a["sst"].values, b["sst"].values)
    assert a.attrs["unisst_method"] == "dineof"


# --------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "options, message",
    [
        ({"chunk": 0}, r"chunk \(0\) and chunk_frames \(10\) must be at least 1"),
        ({"chunk_frames": 0}, r"chunk \(32\) and chunk_frames \(0\) must be at least 1"),
        ({"halo": -1}, r"halo \(-1\) at least 0"),
    ],
)
def test_bad_chunks(options, message, small, tmp_path):
    src, _ = small
    out = tmp_path / "out.zarr"
    kw = {"archive": False, "method": "interp", "chunk": 32, "chunk_frames": 10}
    with pytest.raises(UnisstError, match=message):
        fill_streamed(src, out, **{**kw, **options})
    assert sorted(tmp_path.iterdir()) == [src]  # nothing written


@pytest.mark.parametrize(
    "options, message",
    [
        ({"workers": 2, "scheduler": "tcp://127.0.0.1:8786"}, "not both"),
        ({"workers": 0}, "workers must be at least 1, got 0"),
    ],
)
def test_bad_clusters(options, message, small, tmp_path):
    src, _ = small
    with pytest.raises(ClusterError, match=message):
        fill_streamed(src, tmp_path / "o.nc", archive=False, method="interp", **options)
    assert sorted(tmp_path.iterdir()) == [src]


@pytest.fixture
def quick_client(monkeypatch):
    """distributed.Client giving up after 1 s instead of the fill's 20 s (same code path)."""
    import distributed

    class QuickClient(distributed.Client):
        def __init__(self, *args, timeout=None, **kwargs):
            if kwargs.get("scheduler_file") and not Path(kwargs["scheduler_file"]).exists():
                # distributed waits for a missing scheduler file forever, whatever the timeout
                raise AssertionError("a missing scheduler file was handed to distributed")
            super().__init__(*args, timeout="1s", **kwargs)

    monkeypatch.setattr(distributed, "Client", QuickClient)


def test_unreachable_scheduler(small, tmp_path, quick_client):
    src, _ = small
    with pytest.raises(ClusterError, match=r"cannot reach the dask scheduler tcp://127\.0\.0\.1:1"):
        fill_streamed(
            src, tmp_path / "o.nc", archive=False, method="interp", scheduler="tcp://127.0.0.1:1"
        )
    assert sorted(tmp_path.iterdir()) == [src]


def test_missing_scheduler_file(small, tmp_path, quick_client):
    # distributed.Client would wait for the file forever: refused before
    src, _ = small
    missing = tmp_path / "scheduler.json"
    with pytest.raises(ClusterError, match="scheduler file .*scheduler.json does not exist"):
        fill_streamed(src, tmp_path / "o.nc", archive=False, method="interp", scheduler=missing)


# ----------------------------------------------------------------- plan
def test_windows_for():
    # starts(50, 24, 12): 0, 12, 24 and the last window flush with the end, 26
    assert plan.windows_for(50, 24, 12, 20, 30) == [0, 12, 24, 26]
    assert plan.windows_for(50, 24, 12, 0, 12) == [0]
    assert plan.windows_for(50, 24, 12, 24, 25) == [12, 24]  # window 0 ends at 24
    assert plan.windows_for(50, 24, 12, 36, 50) == [24, 26]  # window 12 ends at 36
    assert plan.windows_for(10, 24, 12, 3, 5) == [0]  # shorter than a window: one


def test_tiles_for():
    # 100 pixels, 64-pixel tiles overlapping by 16: tiles at 0 and 36
    assert plan.tiles_for(100, 64, 16, 0, 36) == [0]
    assert plan.tiles_for(100, 64, 16, 36, 48) == [0, 36]
    assert plan.tiles_for(100, 64, 16, 64, 100) == [36]
    # 130 pixels: tiles at 0, 48 and 66
    assert plan.tiles_for(130, 64, 16, 0, 48) == [0]
    assert plan.tiles_for(130, 64, 16, 48, 96) == [0, 48, 66]
    assert plan.tiles_for(130, 64, 16, 112, 130) == [66]
    assert plan.tiles_for(40, 64, 16, 32, 40) == [0]  # a domain smaller than a tile


def test_series_range():
    g = Geometry(frames=11, height=1, width=1, window=4, overlap=2, phases=2)
    # series 0: frames 0, 2, 4, 6, 8, 10; series 1: frames 1, 3, 5, 7, 9
    assert (g.series_length(0), g.series_length(1)) == (6, 5)
    assert plan.series_range(g, 0, 3, 8) == (2, 4)  # frames 4, 6
    assert plan.series_range(g, 1, 3, 8) == (1, 4)  # frames 3, 5, 7
    assert plan.series_range(g, 0, 0, 1) == (0, 1)
    j0, j1 = plan.series_range(g, 1, 0, 1)  # frame 0 is not in series 1
    assert j1 == j0
    assert plan.series_range(g, 1, 9, 11) == (4, 5)  # frame 9
    assert plan.series_range(g, 0, 10, 11) == (5, 6)  # frame 10
    g3 = Geometry(frames=10, height=1, width=1, window=4, overlap=2, phases=3)
    assert plan.series_range(g3, 2, 6, 10) == (2, 3)  # series 2: 2, 5, 8
    g1 = Geometry(frames=20, height=1, width=1, window=4, overlap=2)
    assert plan.series_range(g1, 0, 5, 9) == (5, 9)


def test_tasks_cover_every_pixel_and_frame_once():
    g = Geometry(frames=35, height=100, width=130, window=24, overlap=12, chunk=48,
                 chunk_frames=16)  # fmt: skip
    ts = plan.tasks(g)
    assert len(ts) == 3 * 3 * 3  # frames 0:16, 16:32, 32:35; rows 0:48, 48:96, 96:100; cols
    assert ts[0] == Task(0, 16, 0, 48, 0, 48) and ts[-1] == Task(32, 35, 96, 100, 96, 130)
    assert [t.t0 for t in ts] == [0] * 9 + [16] * 9 + [32] * 9  # time-major
    assert ts[-1].shape == (3, 4, 34) and ts[-1].key == "t32-35_y96-100_x96-130"
    assert len({t.key for t in ts}) == len(ts)
    seen = np.zeros((35, 100, 130), int)
    for t in ts:
        seen[t.t0 : t.t1, t.y0 : t.y1, t.x0 : t.x1] += 1
    assert (seen == 1).all()


# ------------------------------------------------------------------ CLI
def test_cli_zarr_output_equals_the_api(small, tmp_path, capsys):
    src, _ = small
    out = tmp_path / "cli.zarr"
    argv = ["fill", str(src), str(out), "--method", "interp", "--chunk", "16"]
    assert main([*argv, "--chunk-frames", "10", "-q"]) == 0
    assert capsys.readouterr().out.strip() == f"{out}: {out} written (interp, streamed)"
    api = tmp_path / "api.zarr"
    fill_streamed(src, api, archive=False, method="interp", chunk=16, chunk_frames=10)
    a, b = read_zarr(out), read_zarr(api)
    assert a.attrs.pop("history").endswith(
        f"unisst fill {src} {out} --method interp --device cpu --chunk 16 --chunk-frames 10"
    )
    b.attrs.pop("history")
    assert a.attrs[run.RUN_ATTR] == b.attrs[run.RUN_ATTR]  # the same fill
    xr.testing.assert_identical(a, b)
    assert zarr.open_group(out, mode="r")["sst"].chunks == (10, 16, 16)


def test_cli_chunk_streams_a_plain_file(small, tmp_path, capsys):
    src, obs = small
    out = tmp_path / "out.nc"
    assert main(["fill", str(src), str(out), "--method", "interp", "--chunk", "32", "-q"]) == 0
    assert "streamed" in capsys.readouterr().out
    got = read(out)
    assert run.RUN_ATTR in got.attrs and got["sst"].shape == obs.shape


def test_cli_streams_when_memory_would_not_do(small, tmp_path, monkeypatch, capsys):
    src, _ = small
    monkeypatch.setattr(sizing.psutil, "virtual_memory", lambda: SimpleNamespace(available=1000))
    out = tmp_path / "out.nc"
    assert main(["fill", str(src), str(out), "--method", "interp", "-q"]) == 0
    assert capsys.readouterr().out.strip() == f"{out}: {out} written (interp, streamed)"
    assert run.RUN_ATTR in read(out).attrs


def test_cli_refuses_workers_with_a_scheduler(small, tmp_path, capsys):
    src, _ = small
    out = tmp_path / "out.zarr"
    argv = ["fill", str(src), str(out), "--method", "interp", "--workers", "1"]
    assert main([*argv, "--scheduler", "x", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "workers" in err and "scheduler" in err and "not both" in err
    assert sorted(tmp_path.iterdir()) == [src]


@pytest.mark.parametrize("option", ["--chunk", "--chunk-frames"])
def test_cli_refuses_a_zero_chunk(option, small, tmp_path, capsys):
    src, _ = small
    out = tmp_path / "out.zarr"
    code = main(["fill", str(src), str(out), "--method", "interp", option, "0", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "must be at least 1" in err
    assert not out.exists()


# --------------------------------------------------------------- sizing
def test_in_memory_bytes_and_too_big_for_memory(small, archive, monkeypatch):
    src, _ = small
    need = 30 * 40 * 64 * sizing.BYTES_PER_VALUE
    assert sizing.in_memory_bytes([str(src)], archive=False) == need
    pattern = str(archive[0].parent / "*.nc")
    assert sizing.in_memory_bytes([pattern], archive=True) == 29 * NY * NX * sizing.BYTES_PER_VALUE

    def free(n):
        monkeypatch.setattr(sizing.psutil, "virtual_memory", lambda: SimpleNamespace(available=n))

    free(1000)
    assert sizing.too_big_for_memory([str(src)], archive=False)
    free(10**15)
    assert not sizing.too_big_for_memory([str(src)], archive=False)
    free(2 * need)  # exactly half the free memory: still in memory
    assert not sizing.too_big_for_memory([str(src)], archive=False)
    free(2 * need - 1)
    assert sizing.too_big_for_memory([str(src)], archive=False)


def test_unknown_method_is_refused(small, tmp_path):
    src, _ = small
    with pytest.raises(UnisstError, match="unknown method 'kriging': use one of unisst, dineof"):
        fill_streamed(src, tmp_path / "o.zarr", archive=False, method="kriging")
    assert sorted(tmp_path.iterdir()) == [src]


def test_cli_worker_processes_belongs_to_workers(small, tmp_path, capsys):
    src, _ = small
    out = tmp_path / "out.zarr"
    code = main(["fill", str(src), str(out), "--method", "interp", "--worker-processes", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "--worker-processes belongs to --workers N" in err
    assert not out.exists()
