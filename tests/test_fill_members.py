"""``fill(…, members=N)``, ``fill_archive(…, members=N)`` and ``unisst fill --members N``.

The stochastic model is built here: a small fast generator with 2 noise inputs whose
weights are set to nonzero values (a fresh one starts with equal members), saved as a
checkpoint ``load_model`` accepts: 6-hourly (the twin split set), or daily (recording
the archive it was "trained" on, as ``unisst fill --fit`` does).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from stochastic_checkpoints import stochastic_checkpoint

from unisst_lib.cli import main
from unisst_lib.core.errors import UnisstError, UnisstWarning
from unisst_lib.data.ghrsst import l3_filename, write_l3_file
from unisst_lib.methods.archive_fill import fill_archive
from unisst_lib.methods.ensemble import EnsembleError, SpreadCalibration
from unisst_lib.methods.fill import FillError, fill

pytestmark = pytest.mark.filterwarnings("ignore::unisst_lib.core.errors.ArchiveWarning")

#: A calibration as a checkpoint stores it: σ per distance bin, half the spread kept.
STORED = SpreadCalibration(
    factors=(1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5), weight=0.5, members=4,
    pixels=1000, rmse_c=0.5, raw_sd_c=0.3, fitted_on="a test", bin_pixels=(100,) * 10,
    levels=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)  # fmt: skip
#: A generator smaller than the tiny config's (a fill here runs it many times).
#: The lower edges of the distance bins (frames to the nearest observation), as documented.
EDGES = (1, 2, 3, 4, 6, 8, 12, 16, 24, math.inf)
DAILY = {
    "cadence": "P1D",
    "interval_hours": 24.0,
    "seq_len": 8,
    "tile": 64,
    "guess_context": 0,
    "std_factor": 3.0,
    "fill_value": 1.0,
}


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpts")
    return {
        "six": stochastic_checkpoint(d / "six.pt"),
        "stored": stochastic_checkpoint(d / "stored.pt", spread_calibration=STORED.to_dict()),
        "det": stochastic_checkpoint(d / "det.pt", noise=0),
        "guess_only": stochastic_checkpoint(d / "guess_only.pt", first_guess_only=True),
        "old_bins": stochastic_checkpoint(
            d / "old_bins.pt", spread_calibration={**STORED.to_dict(), "edges": ["1.0", "inf"]}
        ),
        "daily": stochastic_checkpoint(d / "daily.pt", archive=DAILY),
    }


def test_auto_falls_back_on_the_stored_calibration_with_a_warning(ckpts):
    # four frames of one calendar day: no other date lends its clouds, no data calibration
    ds, _ = make_ds(t=4)
    with pytest.raises(EnsembleError, match="cannot be calibrated on this data.*'checkpoint'"):
        fill(ds, checkpoint=ckpts["stored"], members=2, calibration="data")
    with pytest.warns(UnisstWarning, match="cannot be calibrated on this data.*checkpoint's"):
        res = fill(ds, checkpoint=ckpts["stored"], members=2, calibration="auto")
    assert res.attrs["unisst_spread_calibration"] == "a test"
    with pytest.raises(EnsembleError, match="cannot be calibrated"):  # nothing to fall back on
        fill(ds, checkpoint=ckpts["six"], members=2, calibration="auto")


def make_ds(t=12, h=20, w=24, *, freq="6h", times=None, seed=0, land=True, dtype=np.float32):
    """A cloudy SST field (°C) on (time, lat, lon); land: the first 3 columns."""
    times = pd.date_range("2020-01-01", periods=t, freq=freq) if times is None else times
    t = len(times)
    rng = np.random.default_rng(seed)
    tt, yy, xx = np.ogrid[:t, :h, :w]
    truth = 18 + 3 * np.sin(xx / 9 + tt / 7) * np.cos(yy / 11) + 0.1 * rng.normal(size=(t, h, w))
    clouds = np.zeros((t, h, w), bool)
    for k in range(t):
        r, c = rng.integers(0, h), rng.integers(0, w)
        clouds[k, max(0, r - 6) : r + 6, max(0, c - 8) : c + 8] = True
    obs = np.where(clouds, np.nan, truth).astype(dtype)
    if land:
        obs[:, :, :3] = np.nan
    attrs = {
        "units": "degC",
        "standard_name": "sea_surface_temperature",
        "ancillary_variables": "sst_quality",
    }
    coords = {"time": times, "lat": 40 + 0.1 * np.arange(h), "lon": 0.1 * np.arange(w)}
    return xr.Dataset({"sst": (("time", "lat", "lon"), obs, attrs)}, coords=coords), obs


def check_members(res, obs, *, name="sst"):
    """Every member and the mean equal the observation where observed; land NaN."""
    seen = np.isfinite(obs)
    land = ~seen.any(axis=0)
    members = res[f"{name}_members"].values
    for m in (*members, res[name].values):
        assert m.dtype == obs.dtype
        np.testing.assert_array_equal(m[seen], obs[seen])
        assert np.isnan(m[:, land]).all() and np.isfinite(m[:, ~land]).all()
    return members, seen, land


# ---------------------------------------------------------------- fill()
def test_members_agree_where_observed_and_differ_under_the_clouds(ckpts, tmp_path):
    ds, obs = make_ds()
    res = fill(ds, checkpoint=ckpts["six"], members=3, keep_members=True, calibration=1.0)
    members, seen, land = check_members(res, obs)
    needed = res["sst_filled_mask"].values.astype(bool)
    np.testing.assert_array_equal(needed, ~seen & ~land[None])
    for i, j in ((0, 1), (0, 2), (1, 2)):
        assert (members[i] != members[j])[needed].mean() > 0.99
    # the mean and the error from the members, by hand
    np.testing.assert_allclose(res["sst"].values[needed], members.mean(axis=0)[needed], rtol=1e-6)
    err = res["sst_error"].values
    assert err.dtype == np.float32 and res["sst_error"].dims == ("time", "lat", "lon")
    assert (err[seen] == 0).all() and (err[needed] > 0).all() and np.isnan(err[:, land]).all()
    by_hand = math.sqrt(4 / 3) * members.astype(np.float64).std(axis=0, ddof=1)
    np.testing.assert_allclose(err[needed], by_hand[needed], rtol=1e-4, atol=1e-5)
    # CF: an ancillary variable of sst, in its units
    a = res["sst_error"].attrs
    assert a["units"] == "degC"
    assert a["standard_name"] == "sea_surface_temperature standard_error"
    assert a["long_name"].startswith("standard deviation of the error of sst")
    assert "N = 3 members" in a["comment"] and "0 where observed, NaN on land" in a["comment"]
    assert res["sst"].attrs["ancillary_variables"] == "sst_quality sst_error"
    assert res["sst_members"].dims == ("member", "time", "lat", "lon")
    assert res["member"].values.tolist() == [0, 1, 2]
    g = res.attrs
    assert (g["unisst_members"], g["unisst_spread_calibration"]) == (3, "given")
    # written and read back as CF netCDF
    path = tmp_path / "out.nc"
    res.to_netcdf(path)
    with xr.open_dataset(path) as back:
        assert back["sst_error"].dtype == np.float32
        np.testing.assert_array_equal(back["sst_error"].values, err)
        assert back["sst_error"].attrs["units"] == "degC"
        assert back["sst"].attrs["ancillary_variables"] == "sst_quality sst_error"
        np.testing.assert_array_equal(back["sst_members"].values, res["sst_members"].values)


def distance_by_hand(seen: np.ndarray) -> np.ndarray:
    """Frames from each pixel to the nearest frame it is observed in (inf: never)."""
    out = np.full(seen.shape, np.inf)
    frames = np.arange(seen.shape[0])
    for r in range(seen.shape[1]):
        for c in range(seen.shape[2]):
            at = frames[seen[:, r, c]]
            if len(at):
                out[:, r, c] = np.abs(frames[:, None] - at[None]).min(axis=1)
    return out


def sigma_by_hand(raw: np.ndarray, seen, needed, factors, weight, levels=None) -> np.ndarray:
    """The documented calibrated sd: levels[k] · clip(s / s̄ₖ, 1/4, 4)^weight; without
    levels, factors[k] · s̄ₖ · clip(s / s̄ₖ, 1/4, 4)^weight."""
    m = raw.shape[0]
    s = math.sqrt((m + 1) / m) * raw.astype(np.float64).std(axis=0, ddof=1)
    d = distance_by_hand(seen)
    out = np.zeros(s.shape)
    for k, (lo, hi) in enumerate(itertools.pairwise((*EDGES, math.inf))):
        where = needed & (d >= lo) & ((d < hi) | (k == len(EDGES) - 1))
        if where.any():
            s_bar = math.sqrt(np.mean(s[where] ** 2))
            level = levels[k] if levels else factors[k] * s_bar
            out[where] = level * np.clip(s[where] / s_bar, 0.25, 4) ** weight
    return out


def test_calibrations_scale_the_spread_as_documented(ckpts):
    ds, obs = make_ds(t=8)
    obs[1:7, 2:6, 10:14] = np.nan  # 1 to 3 frames from an observation
    obs[:, 15, 20] = np.nan  # sea never observed: the last bin
    ds["sst"].values[:] = obs
    land = np.zeros(obs.shape[1:], bool)
    land[:, :3] = True
    seen = np.isfinite(obs)
    needed = ~seen & ~land[None]

    def run(ckpt="six", **kw):
        return fill(ds, checkpoint=ckpts[ckpt], members=2, keep_members=True, land=land, **kw)

    none = run(calibration="none")  # the raw members and their spread
    raw = none["sst_members"].values
    assert "unisst_spread_calibration" not in none.attrs and none.attrs["unisst_members"] == 2
    assert "uncalibrated" in none["sst_error"].attrs["comment"]
    raw_sd = math.sqrt(1.5) * raw.astype(np.float64).std(axis=0, ddof=1)
    np.testing.assert_allclose(none["sst_error"].values[needed], raw_sd[needed], rtol=1e-5)
    one, two = run(calibration=1.0), run(calibration=2.0)
    np.testing.assert_array_equal(two["sst_error"].values, 2 * one["sst_error"].values)
    by_hand = sigma_by_hand(raw, seen, needed, [1.0] * 10, 1.0)  # clipped at 1/4 and 4 × s̄
    np.testing.assert_allclose(one["sst_error"].values[needed], by_hand[needed], rtol=1e-5)
    np.testing.assert_allclose(two["sst"].values, one["sst"].values, rtol=1e-6)  # same mean
    dev1 = one["sst_members"].values - one["sst"].values
    dev2 = two["sst_members"].values - two["sst"].values
    np.testing.assert_allclose(dev2, 2 * dev1, atol=1e-4)  # spread doubled about the mean
    assert one.attrs["unisst_spread_calibration"] == "given"
    # the checkpoint's calibration, asked for
    expected = sigma_by_hand(raw, seen, needed, STORED.factors, STORED.weight, STORED.levels)
    assert {1, 2, 3, 4, math.inf} <= set(distance_by_hand(seen)[needed].tolist())  # 5+ bins
    res = run("stored", calibration="checkpoint")
    err = res["sst_error"].values
    np.testing.assert_allclose(err[needed], expected[needed], rtol=1e-5)
    assert (err[seen] == 0).all()
    # the members are spread to match it
    kept = res["sst_members"].values.astype(np.float64)
    np.testing.assert_allclose(
        math.sqrt(1.5) * kept.std(axis=0, ddof=1)[needed], err[needed], rtol=1e-3
    )
    assert res.attrs["unisst_spread_calibration"] == "a test"
    comment = res["sst_error"].attrs["comment"]
    assert "sigma 0.1, 0.2, 0.3" in comment and "spread 0.5), fitted on a test" in comment
    # auto fits on the data's withheld observed pixels, with or without a stored one
    auto = run(calibration="auto")
    assert auto.attrs["unisst_spread_calibration"] == "sst: withheld observed pixels"
    auto_stored = run("stored", calibration="auto")
    assert auto_stored.attrs["unisst_spread_calibration"] == "sst: withheld observed pixels"
    np.testing.assert_array_equal(auto_stored["sst_error"].values, auto["sst_error"].values)
    # the seed decides the members
    other = run(calibration=1.0, seed=1)
    assert (other["sst_members"].values[0] != one["sst_members"].values[0])[needed].all()


def test_members_keep_the_input_layout(ckpts):
    ds, obs = make_ds(t=8, h=18, w=22)
    kelvin = obs[:, None] + np.float32(273.15)  # (time, depth, lat, lon)
    lay = xr.Dataset(
        {
            "sst": (
                ("time", "depth", "lat", "lon"),
                kelvin[:, :, ::-1],
                {"units": "K", "standard_name": "sea_surface_temperature"},
            )
        },
        coords={
            "time": ds.time,
            "depth": ("depth", [0.5], {"axis": "Z"}),
            "lat": ds.lat.values[::-1],
            "lon": ds.lon,
        },
    )
    res = fill(lay, checkpoint=ckpts["six"], members=2, keep_members=True, calibration=1.0)
    assert res["sst"].dims == ("time", "depth", "lat", "lon")
    assert res["sst_error"].dims == ("time", "depth", "lat", "lon")
    assert res["sst_members"].dims == ("member", "time", "depth", "lat", "lon")
    np.testing.assert_array_equal(res["lat"].values, lay["lat"].values)  # still descending
    assert res["depth"].values.tolist() == [0.5]
    check_members(res, lay["sst"].values)
    assert res["sst_error"].attrs["units"] == "K"
    err = res["sst_error"].values
    seen = np.isfinite(lay["sst"].values)
    assert (err[seen] == 0).all() and (err[~seen & seen.any(axis=0)] > 0).all()


def test_a_domain_of_several_tiles_and_windows(ckpts):
    ds, obs = make_ds(t=30, h=90, w=100, seed=1)
    res = fill(ds, checkpoint=ckpts["six"], members=2, keep_members=True, calibration=1.0)
    members, seen, land = check_members(res, obs)
    needed = ~seen & ~land[None]
    assert (res["sst_error"].values[needed] > 0).all()
    assert (members[0] != members[1])[needed].mean() > 0.99


def test_hourly_frames_with_a_six_hourly_model(ckpts):
    ds, obs = make_ds(t=14, freq="1h", seed=2)  # 6 series of frames 6 h apart
    res = fill(ds, checkpoint=ckpts["six"], members=2, keep_members=True, calibration=1.0)
    np.testing.assert_array_equal(res["time"].values, ds["time"].values)  # every frame
    members, seen, land = check_members(res, obs)
    needed = ~seen & ~land[None]
    assert (res["sst_error"].values[needed] > 0).all()
    assert (members[0] != members[1])[needed].mean() > 0.99


def test_daily_frames_with_an_absent_day(ckpts):
    days = pd.date_range("2019-05-01T12:00", periods=10, freq="D").delete(4)
    ds, obs = make_ds(times=days, seed=3)
    res = fill(ds, checkpoint=ckpts["daily"], members=2, keep_members=True, calibration=1.0)
    np.testing.assert_array_equal(res["time"].values, days.values)  # the absent day not added
    assert res["sst_members"].shape == (2, 9, 20, 24) and res["sst_error"].shape == (9, 20, 24)
    _, seen, land = check_members(res, obs)
    assert (res["sst_error"].values[~seen & ~land[None]] > 0).all()
    with pytest.raises(FillError, match="no bundled stochastic model for frames P1D apart.*--fit"):
        fill(ds, members=2)


def test_float64_observations_are_kept_bit_for_bit(ckpts):
    ds, obs = make_ds(t=8, dtype=np.float64)
    ds, obs = ds.assign(sst=ds["sst"] - 6.0), obs - 6.0  # 9 to 15 °C: (x + x + x) / 3 != x
    res = fill(ds, checkpoint=ckpts["six"], members=3, keep_members=True, calibration=2.0)
    check_members(res, obs)


def test_bad_ensembles_are_refused(ckpts):
    ds, _ = make_ds(t=6, land=False)
    six = ckpts["six"]
    for bad in (0, -2, 2.5, True, "3"):
        with pytest.raises(FillError, match=f"members must be an integer >= 1, got {bad!r}"):
            fill(ds, checkpoint=six, members=bad)
    for method in ("dineof", "interp"):
        with pytest.raises(FillError, match=f"ensembles come from a stochastic.*{method!r} gives"):
            fill(ds, method=method, members=2)
    with pytest.raises(FillError, match="keep_members needs an ensemble: give members >= 2"):
        fill(ds, checkpoint=six, keep_members=True)
    with pytest.raises(FillError, match=r"members=2: the model .*det\.pt is deterministic"):
        fill(ds, checkpoint=ckpts["det"], members=2)
    with pytest.raises(EnsembleError, match="the checkpoint stores no spread calibration"):
        fill(ds, checkpoint=six, members=2, calibration="checkpoint")
    with pytest.raises(EnsembleError, match="other distance bins.*calibration='data'"):
        fill(ds, checkpoint=ckpts["old_bins"], members=2, calibration="checkpoint")
    with pytest.raises(FillError, match=r"guess_only\.pt was replaced by its first guess"):
        fill(ds, checkpoint=ckpts["guess_only"], members=2)
    for bad in ("bogus", 0, -1.5, True):
        words = "auto, checkpoint, data, none or a positive spread factor"
        with pytest.raises(EnsembleError, match=f"calibration must be one of {words}, got {bad!r}"):
            fill(ds, checkpoint=six, members=2, calibration=bad)
    assert issubclass(FillError, UnisstError) and issubclass(EnsembleError, UnisstError)


# -------------------------------------------------------------- archives
NY, NX = 16, 20
LAT = 30 + np.arange(NY)[::-1] / 12  # descending
LON = -25 + np.arange(NX) / 12
T0 = pd.Timestamp("2018-03-01T12:00")
SST = "sea_surface_temperature"


def _land() -> np.ndarray:
    out = np.zeros((NY, NX), bool)
    out[:4, :3] = True
    return out


def _write_day(folder, t: int):
    row, col = np.mgrid[0:NY, 0:NX]
    kelvin = 290 + 0.05 * col + 0.03 * row + 0.1 * np.sin(t + col / 4)
    seen = ~_land()
    seen[3 + t : 9 + t, 6:14] = False  # a cloud moving south
    return write_l3_file(
        folder / l3_filename(T0 + pd.Timedelta(days=t)),
        sst_k=np.where(seen, kelvin, np.nan),
        time=T0 + pd.Timedelta(days=t),
        latitudes=LAT,
        longitudes=LON,
        quality_level=np.where(seen, 5, 0).astype(np.int8),
        l2p_flags=np.where(_land(), 2, 0).astype(np.int16),
    )


def _raw(path) -> xr.Dataset:
    with xr.open_dataset(path, decode_cf=False) as ds:
        return ds.load()


def test_an_archive_gets_the_error_and_packed_members_in_each_file(ckpts, tmp_path):
    folder = tmp_path / "l3"
    folder.mkdir()
    files = [_write_day(folder, t) for t in range(5)]
    written = fill_archive(
        folder,
        tmp_path / "out",
        checkpoint=ckpts["daily"],
        members=2,
        keep_members=True,
        calibration=1.0,
    )
    assert [p.name for p in written] == [f.name for f in files]
    land = _land()
    for src, dst in zip(files, written, strict=True):
        a, b = _raw(src), _raw(dst)
        before, after = a[SST].values, b[SST].values
        seen = before != -32768
        needed = b[f"{SST}_filled_mask"].values.astype(bool)
        np.testing.assert_array_equal(needed, ~seen & ~land[None])
        np.testing.assert_array_equal(after[seen], before[seen])
        err = b[f"{SST}_error"]
        assert err.dtype == np.float32 and err.dims == a[SST].dims
        assert err.attrs["units"] == "kelvin" == a[SST].attrs["units"]
        assert err.attrs["standard_name"] == f"{a[SST].attrs['standard_name']} standard_error"
        assert (err.values[seen] == 0).all() and (err.values[needed] > 0).all()
        assert np.isnan(err.values[:, land]).all()
        assert b[SST].attrs["ancillary_variables"].split()[-1] == f"{SST}_error"
        mem = b[f"{SST}_members"]
        assert mem.dims == ("member", *a[SST].dims) and mem.dtype == a[SST].dtype
        for k in ("scale_factor", "add_offset", "_FillValue", "units"):
            assert mem.attrs[k] == a[SST].attrs[k]
        for m in mem.values:
            np.testing.assert_array_equal(m[seen], before[seen])  # the input's integers
            assert (m[:, land] == -32768).all()
        assert (mem.values[0] != mem.values[1])[needed].mean() > 0.9
        assert b.attrs["unisst_members"] == 2 and b.attrs["unisst_spread_calibration"] == "given"
    with xr.open_dataset(written[2]) as dec:  # decoded: kelvin members about the SST
        m = dec[f"{SST}_members"].values
        filled = dec[f"{SST}_filled_mask"].values.astype(bool)
        assert dec[f"{SST}_error"].dtype == np.float32
        assert (m[:, filled] > 270).all() and (m[:, filled] < 310).all()
        # the SST is the members' mean, each packed to 0.01 K
        mean = dec[SST].values[filled]
        assert np.abs(mean - m.mean(axis=0)[filled]).max() <= 0.01 + 1e-4


# -------------------------------------------------------------------- CLI
def test_cli_writes_the_ensemble_and_refuses_what_it_cannot_do(ckpts, tmp_path, capsys):
    ds, obs = make_ds(t=8)
    src, dst = tmp_path / "in.nc", tmp_path / "out.nc"
    ds.to_netcdf(src)
    argv = [
        "fill",
        str(src),
        str(dst),
        "--members",
        "3",
        "--keep-members",
        "--checkpoint",
        ckpts["six"],
        "--calibration",
        "2",
        "-q",
    ]
    assert main(argv) == 0
    with xr.open_dataset(dst) as out:
        res = out.load()
    check_members(res, obs)
    assert res["sst_members"].sizes["member"] == 3
    assert res["sst_error"].dtype == np.float32 and res["sst_error"].attrs["units"] == "degC"
    assert res.attrs["unisst_members"] == 3 and res.attrs["unisst_spread_calibration"] == "given"
    assert "spread factors 2.00, 2.00" in res["sst_error"].attrs["comment"]  # --calibration 2
    assert "--members 3 --seed 0 --calibration 2" in res.attrs["history"]
    assert "--keep-members" in res.attrs["history"]
    capsys.readouterr()
    refusals = [
        (["--keep-members"], "--keep-members: only with an ensemble; add --members N (N >= 2)"),
        (["--calibration", "data"], "--calibration: only with an ensemble; add --members N"),
        (["--members", "0"], "--members must be >= 1, got 0"),
        (["--members", "2", "--chunk", "32"], "ensembles are filled in memory only"),
    ]
    for extra, message in refusals:
        code = main(
            ["fill", str(src), str(tmp_path / "x.nc"), "--checkpoint", ckpts["six"], "-q", *extra]
        )
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
        assert message in err, err
        assert not (tmp_path / "x.nc").exists()
