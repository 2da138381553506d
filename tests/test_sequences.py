"""Sequence cutting, normalisation and the occluded dataset."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
import yaml

from unisst_lib.core.errors import DataNotFoundError, GridError, ManifestError
from unisst_lib.core.manifest import default_manifest_path, load_manifest, manifest_from_dict
from unisst_lib.data.dataset import OccludedSequenceDataset, make_dataset
from unisst_lib.data.masks import CloudSampler
from unisst_lib.data.normalise import MIN_STD, NormalisationError, denormalise, normalise
from unisst_lib.data.sequences import SSTSequences, interval_frames_for, sequence_starts


# ----------------------------------------------------------------- helpers
def _sst(n_time=300, ny=64, nx=64, seed=0, nan_box=False) -> xr.DataArray:
    """Synthetic hourly SST (time, latitude, longitude) in °C; each frame tagged by its index."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_time)[:, None, None]
    data = 24.0 + 0.001 * t + 0.5 * rng.standard_normal((n_time, ny, nx))
    if nan_box:
        data[:, :5, :7] = np.nan  # "land"
    return xr.DataArray(
        data.astype(np.float32),
        dims=("time", "latitude", "longitude"),
        coords={
            "time": pd.date_range("2018-01-01T00:30", periods=n_time, freq="h"),
            "latitude": 20 + np.arange(ny) / 12,
            "longitude": -40 + np.arange(nx) / 12,
        },
        name="sst",
        attrs={"units": "degrees_C"},
    )


def _clouds(n_steps=400, ny=64, nx=64, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.07 * np.exp(0.8 * rng.standard_normal((n_steps, ny, nx)))).astype(np.float32)


def _dataset(mode="eval", n_time=300, seed=0, nan_box=False, sst=None):
    seqs = SSTSequences(
        _sst(n_time, nan_box=nan_box) if sst is None else sst,
        seq_len=24,
        interval_frames=6,
        phases=[0, 1],
    )
    clouds = CloudSampler(_clouds(), seq_len=24, cloud_interval=10, threshold_kgm2=0.07)
    return OccludedSequenceDataset(seqs, clouds, mode=mode, seed=seed)


def _raw_manifest() -> dict:
    return yaml.safe_load(default_manifest_path().read_text(encoding="utf-8"))


# ----------------------------------------------------------------- cutting
def test_paper_split_starts_by_hand():
    # one year hourly, 6 phases of 1460 frames -> 60 sequences of 24 per phase
    starts = sequence_starts(8760, seq_len=24, interval_frames=6, phases=range(6))
    assert len(starts) == 360
    assert starts[:3].tolist() == [0, 144, 288]
    assert starts[59] == 59 * 144  # last of phase 0
    assert starts[60] == 1  # phase-major: phase 1 comes next
    train = sequence_starts(8760, seq_len=24, interval_frames=6, phases=[0, 1, 2, 3, 4])
    val = sequence_starts(8760, seq_len=24, interval_frames=6, phases=[5])
    np.testing.assert_array_equal(starts[:300], train)  # first 300 = phases 0-4
    assert set(train % 6) == {0, 1, 2, 3, 4}
    assert val[0] == 5 and len(val) == 60
    assert (starts + 23 * 6).max() <= 8759
    # 2019 H1 test set: 4344 h -> 30 per phase, 60 over phases 0-1
    assert len(sequence_starts(4344, seq_len=24, interval_frames=6, phases=[0, 1])) == 60


def test_only_complete_windows():
    # phase 0 frames 0,2,4,6,8 -> one window [0,2,4]; phase 1 frames 1,3,5,7,9 -> [1,3,5]
    assert sequence_starts(10, seq_len=3, interval_frames=2, phases=[0, 1]).tolist() == [0, 1]
    assert sequence_starts(12, seq_len=3, interval_frames=2, phases=[0, 1]).tolist() == [
        0,
        6,
        1,
        7,
    ]
    assert sequence_starts(11, seq_len=3, interval_frames=2, phases=[1, 0]).tolist() == [1, 0, 6]
    assert sequence_starts(4, seq_len=3, interval_frames=2, phases=[0]).size == 0


def test_daily_data_one_phase():
    starts = sequence_starts(365, seq_len=24, interval_frames=1, phases=[0])
    assert starts.tolist() == list(range(0, 15 * 24, 24))
    assert interval_frames_for(24, 24) == 1
    assert interval_frames_for(6, 1) == 6


@pytest.mark.parametrize("bad", [0, -1, 1.5, "6"])
def test_bad_interval_frames(bad):
    with pytest.raises(ValueError, match="whole number"):
        sequence_starts(100, seq_len=3, interval_frames=bad, phases=[0])


def test_bad_interval_hours_and_phases():
    with pytest.raises(ManifestError, match="not a whole number of frames"):
        interval_frames_for(6, 24)
    with pytest.raises(ValueError, match="outside"):
        sequence_starts(100, seq_len=3, interval_frames=2, phases=[2])


# --------------------------------------------------------------- SSTSequences
def test_sequences_items_with_coordinates():
    sst = _sst(300)
    seqs = SSTSequences(sst, seq_len=24, interval_frames=6, phases=[0, 1], first=1, stop=3)
    # all starts: [0, 144, 1, 145]; [1:3] -> [144, 1]
    assert seqs.starts.tolist() == [144, 1]
    assert len(seqs) == 2
    item = seqs[1]
    assert item.dims == ("time", "latitude", "longitude")
    assert item.shape == (24, 64, 64) and item.dtype == np.float32
    np.testing.assert_array_equal(item.values, sst.values[1:140:6])
    np.testing.assert_array_equal(item["time"].values, sst["time"].values[1:140:6])
    assert (np.diff(item["time"].values) == np.timedelta64(6, "h")).all()
    assert seqs.frame_indices(-1).tolist() == list(range(1, 140, 6))
    with pytest.raises(IndexError):
        seqs[2]


def test_lazy_and_dask_backed_match_preloaded():
    pytest.importorskip("dask")
    sst = _sst(300)
    eager = SSTSequences(sst, seq_len=24, interval_frames=6, phases=[0, 1])
    lazy = SSTSequences(
        sst.chunk({"time": 50}), seq_len=24, interval_frames=6, phases=[0, 1], preload=False
    )
    assert lazy.sst.chunks is not None  # not loaded at construction
    for i in range(len(eager)):
        np.testing.assert_array_equal(eager[i].values, lazy[i].values)
        assert isinstance(lazy[i].data, np.ndarray)


def test_transposed_input_is_accepted_and_bad_dims_are_not():
    sst = _sst(150)
    seqs = SSTSequences(
        sst.transpose("latitude", "time", "longitude"), seq_len=24, interval_frames=6, phases=[0]
    )
    np.testing.assert_array_equal(seqs[0].values, sst.values[0:139:6])
    with pytest.raises(GridError, match="dims"):
        SSTSequences(sst.rename(latitude="y"), seq_len=24, interval_frames=6, phases=[0])


def test_grid_error_for_32x32():
    with pytest.raises(GridError, match=r"32×32.*at least 64×64"):
        SSTSequences(_sst(150, ny=32, nx=32), seq_len=24, interval_frames=6, phases=[0])


def test_too_short_series_is_a_grid_error():
    with pytest.raises(GridError, match="no complete sequence"):
        SSTSequences(_sst(100), seq_len=24, interval_frames=6, phases=[0])
    with pytest.raises(GridError, match="selects none"):
        SSTSequences(_sst(300), seq_len=24, interval_frames=6, phases=[0], first=5)


# ------------------------------------------------------------- from_manifest
def _write_sst(path, sst: xr.DataArray) -> None:
    from unisst_lib.data.io import write_sst_netcdf

    write_sst_netcdf(
        sst.values,
        path,
        times=sst["time"].values,
        latitudes=sst["latitude"].values,
        longitudes=sst["longitude"].values,
        depth_m=0.494,
    )


def test_from_manifest_reads_the_file(tmp_path):
    pytest.importorskip("unisst_lib.data.io")
    m = load_manifest()
    sst = _sst(1200)
    _write_sst(tmp_path / m.sst_dataset("twin_train_val").file, sst)
    # val: phases 0 and 3 of the last 18 % (frames 984..1199): a sequence spans 139 frames
    val = SSTSequences.from_manifest("twin", "val", manifest=m, data_dir=tmp_path)
    assert val.starts.tolist() == [1008, 1011]
    np.testing.assert_allclose(val[0].values, sst.values[1008:1147:6], atol=0.0004)  # int16
    # train: every phase of the first 80 % (frames 0..959): starts up to 821
    train = SSTSequences.from_manifest(
        "twin", "train", manifest=m, data_dir=tmp_path, preload=False
    )
    assert train.starts.tolist() == [p + 144 * k for p in range(6) for k in range(6)]
    assert not train.preload
    np.testing.assert_allclose(train[7].values, sst.values[145:284:6], atol=0.0004)
    # the held-out period starts well after the last training frame (863)
    last_train = max(train.frame_indices(i)[-1] for i in range(len(train)))
    assert (last_train, min(val.starts)) == (863, 1008)


def test_from_manifest_daily_split_set_uses_first_stop(tmp_path):
    pytest.importorskip("unisst_lib.data.io")
    raw = _raw_manifest()
    raw["splits"]["reanalysis"]["train"]["stop"] = 2
    raw["splits"]["reanalysis"]["val"]["first"] = 2
    m = manifest_from_dict(raw)
    daily = _sst(80).assign_coords(time=pd.date_range("2018-01-01", periods=80, freq="D"))
    _write_sst(tmp_path / m.sst_dataset("reanalysis_train_val").file, daily)
    train = SSTSequences.from_manifest("reanalysis", "train", manifest=m, data_dir=tmp_path)
    val = SSTSequences.from_manifest("reanalysis", "val", manifest=m, data_dir=tmp_path)
    assert train.starts.tolist() == [0, 24]
    assert val.starts.tolist() == [48]


def test_from_manifest_interval_not_whole_frames():
    raw = _raw_manifest()
    raw["splits"]["reanalysis"]["interval_hours"] = 6  # 6 h on daily data
    with pytest.raises(ManifestError, match="not a whole number of frames"):
        SSTSequences.from_manifest("reanalysis", "train", manifest=manifest_from_dict(raw))


def test_missing_file_names_the_command(tmp_path):
    m = load_manifest()
    with pytest.raises(DataNotFoundError, match=r"unisst data make --size full"):
        SSTSequences.from_manifest("twin", "train", manifest=m, data_dir=tmp_path)
    with pytest.raises(DataNotFoundError, match=r"unisst download sst --split anfc"):
        SSTSequences.from_manifest("anfc", "test", manifest=m, data_dir=tmp_path)
    with pytest.raises(DataNotFoundError, match=r"can no longer be downloaded.*anfc"):
        SSTSequences.from_manifest("paper", "train", manifest=m, data_dir=tmp_path)


def test_from_manifest_32x32_file_is_a_grid_error(tmp_path):
    pytest.importorskip("unisst_lib.data.io")
    m = load_manifest()
    _write_sst(tmp_path / m.sst_dataset("twin_test").file, _sst(200, ny=32, nx=32))
    with pytest.raises(GridError, match=r"32×32"):
        SSTSequences.from_manifest("twin", "test", manifest=m, data_dir=tmp_path)


# ------------------------------------------------------------- normalisation
def _field(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = (22.0 + 1.7 * rng.standard_normal((24, 16, 16))).astype(dtype)
    observed = rng.random(x.shape) > 0.4
    return x, observed


@pytest.mark.parametrize(("dtype", "tol"), [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_denormalise_is_the_exact_inverse(dtype, tol):
    x, observed = _field(dtype)
    y, xn, mean, std = normalise(x, observed, std_factor=3.0, fill_value=1.0)
    assert y.dtype == dtype and xn.dtype == dtype
    back = denormalise(xn, mean, std, std_factor=3.0)
    assert back.dtype == dtype
    assert np.abs(back.astype(np.float64) - x.astype(np.float64)).max() <= tol
    # torch, same numbers
    yt, xnt, mt, st = normalise(torch.from_numpy(x), torch.from_numpy(observed))
    assert mt.dtype == torch.float64 and mt.ndim == 0
    np.testing.assert_allclose(float(mt), mean, rtol=1e-12)
    np.testing.assert_allclose(float(st), std, rtol=1e-12)
    np.testing.assert_allclose(yt.numpy(), y, rtol=1e-6, atol=1e-7)
    backt = denormalise(xnt, mt, st)
    assert backt.dtype == torch.from_numpy(x).dtype
    assert (backt.double() - torch.from_numpy(x).double()).abs().max().item() <= tol


def test_statistics_use_observed_pixels_only():
    x, observed = _field()
    y, xn, mean, std = normalise(x, observed, std_factor=3.0, fill_value=1.0)
    assert mean == pytest.approx(x[observed].mean(), rel=1e-14)
    assert std == pytest.approx(x[observed].std(), rel=1e-12)
    assert xn[observed].mean() == pytest.approx(0.0, abs=1e-12)
    assert xn[observed].std() == pytest.approx(1 / 3, rel=1e-12)
    assert (y[~observed] == 1.0).all()
    np.testing.assert_array_equal(y[observed], xn[observed])
    # garbage under the clouds changes nothing the model sees (bit-identical)
    garbage = x.copy()
    garbage[~observed] = np.random.default_rng(9).uniform(-1e4, 1e4, (~observed).sum())
    garbage.flat[np.flatnonzero(~observed)[::7]] = np.nan
    y2, _, mean2, std2 = normalise(garbage, observed, std_factor=3.0, fill_value=1.0)
    assert mean2 == mean and std2 == std
    assert np.array_equal(y2, y)
    # torch too
    yt, _, mt, st = normalise(torch.from_numpy(x), torch.from_numpy(observed))
    yt2, _, mt2, st2 = normalise(torch.from_numpy(garbage), torch.from_numpy(observed))
    assert torch.equal(yt, yt2) and torch.equal(mt, mt2) and torch.equal(st, st2)


def test_nan_pixels_are_not_observed():
    x, observed = _field()
    x[0, :3, :3] = np.nan
    observed[0, :3, :3] = True  # claimed observed, but missing
    y, xn, mean, _ = normalise(x, observed)
    assert np.isfinite(y).all() and (y[0, :3, :3] == 1.0).all()
    assert np.isnan(xn[0, :3, :3]).all()
    assert np.isfinite(mean)


def test_no_observed_pixel_and_constant_field():
    x, _ = _field()
    with pytest.raises(NormalisationError, match="no observed pixel"):
        normalise(x, np.zeros(x.shape, bool))
    with pytest.raises(NormalisationError):
        normalise(torch.full((2, 3), float("nan")), torch.ones(2, 3, dtype=torch.bool))
    const = np.full((4, 8, 8), 18.25)
    const_obs = np.ones(const.shape, bool)
    const_obs[0, 0, 0] = False
    const[0, 0, 0] = 19.0  # hidden truth differs from the constant observed field
    y, xn, mean, std = normalise(const, const_obs)
    assert std == MIN_STD and mean == 18.25
    assert np.isfinite(xn).all() and (y[const_obs] == 0).all()
    np.testing.assert_allclose(denormalise(xn, mean, std), const, atol=1e-9)


def test_denormalise_broadcasts_over_a_batch():
    xs = [_field(seed=s)[0] for s in range(3)]
    outs = [normalise(x, np.ones(x.shape, bool)) for x in xs]
    xn = np.stack([o[1] for o in outs])[:, None]  # (B, 1, T, H, W)
    mean = np.array([o[2] for o in outs])
    std = np.array([o[3] for o in outs])
    np.testing.assert_allclose(denormalise(xn, mean, std)[:, 0], np.stack(xs), atol=1e-12)
    back = denormalise(torch.from_numpy(xn), torch.from_numpy(mean), torch.from_numpy(std))
    np.testing.assert_allclose(back[:, 0].numpy(), np.stack(xs), atol=1e-12)
    with pytest.raises(ValueError, match="do not match"):
        denormalise(xn, mean[:2], std[:2])


# ------------------------------------------------------------------ dataset
def test_item_shapes_and_dtypes():
    ds = _dataset()
    assert len(ds) == 4
    item = ds[2]
    for key in ("y", "mask", "x"):
        assert item[key].shape == (1, 24, 64, 64), key
        assert item[key].dtype == torch.float32, key
    assert item["mean"].dtype == torch.float64 and item["mean"].ndim == 0
    assert item["std"].dtype == torch.float64 and item["std"].ndim == 0
    assert item["index"] == 2
    assert set(torch.unique(item["mask"]).tolist()) == {0.0, 1.0}
    occluded = item["mask"].bool()
    assert (item["y"][occluded] == 1.0).all()
    assert torch.equal(item["y"][~occluded], item["x"][~occluded])
    # the truth comes back in °C
    sst = ds.sequences[2].values
    back = denormalise(item["x"][0], item["mean"], item["std"])
    np.testing.assert_allclose(back.numpy(), sst, atol=2e-5)
    # and the mask is the cloud window of the eval draw
    where = ds.clouds.draw_for_index(2, 0)
    assert item["cloud_start"] == where.start
    np.testing.assert_array_equal(occluded[0].numpy(), ds.clouds.mask(where))


def test_eval_is_deterministic_train_varies():
    ev1, ev2 = _dataset("eval"), _dataset("eval")
    a = [ev1[i]["mask"] for i in (3, 0, 1)]
    b = [ev2[i]["mask"] for i in (0, 1, 3)]  # other call order, other instance
    assert torch.equal(a[0], b[2]) and torch.equal(a[1], b[0]) and torch.equal(a[2], b[1])
    assert torch.equal(ev1[0]["y"], ev1[0]["y"])
    assert not torch.equal(ev1[0]["mask"], _dataset("eval", seed=1)[0]["mask"])

    tr = _dataset("train")
    draws = [tr[0]["mask"] for _ in range(4)]
    assert not all(torch.equal(draws[0], d) for d in draws[1:])


def test_train_draws_follow_torch_seed():
    tr = _dataset("train")
    torch.manual_seed(123)
    a = [tr[0]["cloud_start"] for _ in range(5)]
    torch.manual_seed(123)
    tr2 = _dataset("train")
    b = [tr2[0]["cloud_start"] for _ in range(5)]
    torch.manual_seed(124)
    c = [tr[0]["cloud_start"] for _ in range(5)]
    assert a == b  # reproducible
    assert a != c  # a new torch seed (as each DataLoader worker has) -> new draws


def test_dataloader_workers_draw_differently():
    tr = _dataset("train", n_time=1200)  # 16 sequences
    loader = torch.utils.data.DataLoader(tr, batch_size=None, num_workers=2, shuffle=False)
    starts = [item["cloud_start"] for item in loader]
    # worker 0 serves even indices, worker 1 odd ones; same seeds would repeat the draws
    assert starts[0::2] != starts[1::2]


def test_missing_sst_pixels_are_occluded():
    ds = _dataset(nan_box=True)
    item = ds[1]
    assert (item["mask"][0, :, :5, :7] == 1.0).all()
    assert (item["y"][0, :, :5, :7] == 1.0).all()
    assert torch.isnan(item["x"][0, :, :5, :7]).all()
    assert torch.isfinite(item["y"]).all()
    assert not torch.isnan(item["x"][item["mask"] == 0]).any()


def test_truth_under_clouds_does_not_reach_the_model():
    ds = _dataset()
    item = ds[1]
    hidden = item["mask"][0].bool().numpy()
    sst = ds.sequences.sst.copy(deep=True)
    frames = ds.sequences.frame_indices(1)
    vals = sst.values[frames]
    vals[hidden] = np.float32(-999.0)
    sst.values[frames] = vals
    item2 = _dataset(sst=sst)[1]
    assert torch.equal(item["y"], item2["y"])
    assert torch.equal(item["mask"], item2["mask"])
    assert item["mean"] == item2["mean"] and item["std"] == item2["std"]
    assert not torch.equal(item["x"], item2["x"])


def test_include_truth_false_and_shape_mismatch():
    seqs = SSTSequences(_sst(300), seq_len=24, interval_frames=6, phases=[0])
    clouds = CloudSampler(_clouds(), seq_len=24, cloud_interval=10, threshold_kgm2=0.07)
    ds = OccludedSequenceDataset(seqs, clouds, include_truth=False)
    assert "x" not in ds[0]
    small = CloudSampler(_clouds(ny=48, nx=48), seq_len=24, cloud_interval=10, threshold_kgm2=0.07)
    with pytest.raises(GridError, match=r"size=sequences.grid"):
        OccludedSequenceDataset(seqs, small)


def test_fully_occluded_windows_are_redrawn_or_reported():
    seqs = SSTSequences(_sst(300), seq_len=24, interval_frames=6, phases=[0, 1])
    lwp = _clouds()  # 400 steps, windows span 231: 170 windows
    lwp[:380] = 1.0  # every window starting before 380 - 230 = 150 is overcast
    clouds = CloudSampler(lwp, seq_len=24, cloud_interval=10, threshold_kgm2=0.07)
    ds = OccludedSequenceDataset(seqs, clouds, mode="eval", max_redraws=100)
    redrawn = 0
    for i in range(len(ds)):
        item = ds[i]
        assert (item["mask"] == 0).any()
        assert item["cloud_start"] >= 150
        assert torch.equal(item["mask"], ds[i]["mask"])  # redraws are deterministic too
        redrawn += clouds.draw_for_index(i, 0).start < 150
    assert redrawn > 0
    tr = OccludedSequenceDataset(seqs, clouds, mode="train", max_redraws=100)
    assert all(tr[0]["cloud_start"] >= 150 for _ in range(10))
    allnan = _sst(300)
    allnan[:] = np.nan
    bad = OccludedSequenceDataset(
        SSTSequences(allnan, seq_len=24, interval_frames=6, phases=[0]), clouds, max_redraws=2
    )
    with pytest.raises(NormalisationError, match="every pixel is occluded after 3"):
        bad[0]


# ------------------------------------------------------------- make_dataset
def test_make_dataset_from_files(tmp_path):
    pytest.importorskip("unisst_lib.data.io")
    m = load_manifest()
    _write_sst(tmp_path / m.sst_dataset("twin_train_val").file, _sst(1200))
    with pytest.raises(DataNotFoundError, match="unisst data make --size full"):
        make_dataset("twin", "train", manifest=m, data_dir=tmp_path)
    cloud_path = tmp_path / m.cloud_dataset("twin").file
    cloud_path.parent.mkdir(parents=True)
    np.save(cloud_path, _clouds(800))
    train = make_dataset("twin", "train", manifest=m, data_dir=tmp_path)
    val = make_dataset("twin", "val", manifest=m, data_dir=tmp_path, threshold_gm2=55)
    assert train.mode == "train" and val.mode == "eval"
    assert train.clouds.threshold_kgm2 == pytest.approx(0.070)
    assert val.clouds.threshold_kgm2 == pytest.approx(0.055)
    assert train.clouds.cloud_interval == 10
    assert train.std_factor == 3.0 and train.fill_value == 1.0
    assert len(train) == 36 and len(val) == 2
    # 800 cloud steps: val and test take 240 each (10 windows of 231 steps), train the rest
    assert (train.clouds.segment, val.clouds.segment) == ((0, 320), (320, 560))
    assert all(320 <= val[i]["cloud_start"] <= 329 for i in range(len(val)))
    assert val[0]["y"].shape == (1, 24, 64, 64)
    assert copy.deepcopy(val)[1]["cloud_start"] == val[1]["cloud_start"]
