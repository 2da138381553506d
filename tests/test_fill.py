"""unisst fill / unisst_lib.methods.fill.fill on small files made here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import unisst_lib
from unisst_lib.cli import main
from unisst_lib.core.errors import UnisstError
from unisst_lib.methods.fill import default_checkpoint, fill


@pytest.fixture(scope="module")
def ckpt(tiny_data_dir, tmp_path_factory):
    from unisst_lib.training.config import load_config
    from unisst_lib.training.loop import train

    out = tmp_path_factory.mktemp("fillrun") / "run"
    cfg = load_config(
        "tiny", steps=1, eval_every=1, log_every=1, data={"data_dir": str(tiny_data_dir)}
    )
    train(cfg, out, progress=False, tensorboard=False)
    return out / "checkpoints" / "best.pt"


def make_ds(t=30, h=40, w=70, *, hours=6, kelvin=False, depth=False, land=True, seed=0, name="sst"):
    rng = np.random.default_rng(seed)
    tt = np.arange(t)[:, None, None]
    yy = np.arange(h)[None, :, None]
    xx = np.arange(w)[None, None, :]
    field = (
        18 + 3 * np.sin(xx / 9 + tt / 7) * np.cos(yy / 11) + 0.1 * rng.standard_normal((t, h, w))
    )
    field = field.astype(np.float32)
    clouds = np.zeros((t, h, w), bool)
    for k in range(t):
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        clouds[k, max(0, cy - 8) : cy + 8, max(0, cx - 12) : cx + 12] = True
    obs = np.where(clouds, np.nan, field)
    if land:
        obs[:, :, :4] = np.nan  # a land strip
    units = "degrees_C"
    if kelvin:
        obs = obs + np.float32(273.15)
        units = "K"
    attrs = {"units": units, "standard_name": "sea_surface_temperature", "comment": "test"}
    coords = {
        "time": pd.date_range("2020-01-01", periods=t, freq=f"{hours}h"),
        "lat": ("lat", np.linspace(40, 44, h), {"units": "degrees_north"}),
        "lon": ("lon", np.linspace(0, 7, w), {"units": "degrees_east"}),
    }
    dims = ("time", "lat", "lon")
    data = obs
    if depth:
        coords["depth"] = ("depth", np.array([0.5, 10.0]), {"axis": "Z"})
        dims = ("time", "depth", "lat", "lon")
        data = np.stack([obs, obs + 1], axis=1)
    ds = xr.Dataset({name: (dims, data, attrs)}, coords=coords, attrs={"title": "t"})
    return ds, obs


def check_result(res, obs, name="sst"):
    v = res[name].values
    observed = np.isfinite(obs)
    assert v.dtype == obs.dtype
    assert np.array_equal(v[observed], obs[observed])
    land = ~observed.any(axis=0)
    assert np.isnan(v[:, land]).all()
    mask = res[f"{name}_filled_mask"].values
    assert mask.dtype == np.int8
    np.testing.assert_array_equal(mask.astype(bool), ~observed & ~land[None])
    assert np.isfinite(v[:, ~land]).all()


def test_unisst_fill_keeps_observed_values_and_land(ckpt):
    ds, obs = make_ds()
    res = fill(ds, checkpoint=ckpt, progress=True)
    check_result(res, obs)
    v = res["sst"].values
    filled = res["sst_filled_mask"].values.astype(bool)
    assert 10 < np.nanmin(v[filled]) and np.nanmax(v[filled]) < 26
    a = res.attrs
    assert a["unisst_method"] == "unisst" and a["unisst_version"] == unisst_lib.__version__
    assert len(a["unisst_checkpoint_sha256"]) == 64 and a["Conventions"].startswith("CF")
    assert "history" in a and a["title"] == "t"
    assert res["sst"].attrs["comment"] == "test"
    assert res["sst_filled_mask"].attrs["flag_meanings"] == "observed_or_land reconstructed"


def test_small_and_large_domains_without_seams(ckpt):
    ds, obs = make_ds(t=10, h=20, w=20, land=False)
    check_result(fill(ds, checkpoint=ckpt), obs)
    ds, obs = make_ds(t=8, h=70, w=100, land=False, seed=1)
    res = fill(ds, checkpoint=ckpt, tile_overlap=16)
    check_result(res, obs)
    v = res["sst"].values.astype(np.float64)
    jx = np.abs(np.diff(v, axis=2)).max(axis=(0, 1))  # jump between columns c and c+1
    jy = np.abs(np.diff(v, axis=1)).max(axis=(0, 2))
    borders_x = [35, 63]  # tiles start at 0 and 36; ends at 64
    borders_y = [5, 63]
    others_x = np.delete(jx, borders_x)
    others_y = np.delete(jy, borders_y)
    assert jx[borders_x].max() <= others_x.max()
    assert jy[borders_y].max() <= others_y.max()


def test_long_sequence_kelvin_and_depth(ckpt):
    ds, obs = make_ds(t=60, h=20, w=30, kelvin=True, depth=True)
    res = fill(ds, checkpoint=ckpt, overlap_frames=8)
    check_result(res, obs)
    assert res["sst"].attrs["units"] == "K"
    assert res["sst"].attrs == ds["sst"].attrs
    assert float(np.nanmin(res["sst"].values)) > 250


def test_explicit_mask_variable(ckpt):
    full = make_ds(t=12, h=20, w=20, land=False, seed=0)[0]["sst"].fillna(15.0)
    mask = xr.zeros_like(full, dtype=np.int8)
    mask.values[:6, :5, :5] = 1  # missing in 6 frames: a cloud, not land
    ds2 = xr.Dataset({"sst": full, "qmask": mask})
    res = fill(ds2, checkpoint=ckpt, mask_variable="qmask")
    m = res["sst_filled_mask"].values.astype(bool)
    assert m[:6, :5, :5].all() and m.sum() == 6 * 25
    assert np.array_equal(res["sst"].values[~m], full.values[~m])


@pytest.mark.parametrize("method", ["dineof", "interp"])
def test_baselines_through_the_same_path(method):
    ds, obs = make_ds(t=20, h=16, w=18)
    res = fill(ds, method=method)
    check_result(res, obs)
    assert res.attrs["unisst_method"] == method


def test_bad_inputs(ckpt, tmp_path):
    ds, _ = make_ds(t=6, h=20, w=40, land=False)
    with pytest.raises(UnisstError, match="sea-surface-temperature"):
        fill(ds.rename(sst="foo").assign(foo=lambda d: d.foo.assign_attrs(standard_name="x")))
    with pytest.raises(UnisstError, match="latitude"):
        fill(ds.rename(lat="a").drop_vars("a"), method="interp")
    with pytest.raises(UnisstError, match="time"):
        fill(ds.isel(time=0), method="interp")
    with pytest.raises(UnisstError, match="nothing to fill"):
        fill(ds.assign(sst=ds.sst * np.nan), method="interp")
    hourly, _ = make_ds(t=30, h=20, w=40, hours=1, land=False)
    res = fill(hourly, checkpoint=ckpt, resample=True)
    assert res.sizes["time"] == 5
    four_h, _ = make_ds(t=30, h=20, w=40, hours=4, land=False)
    with pytest.raises(UnisstError, match=r"4 h apart.*6 h apart.*does not divide"):
        fill(four_h, checkpoint=ckpt)
    irregular = ds.assign_coords(time=ds.time.values[[0, 1, 2, 4, 5, 5]] + np.arange(6))
    with pytest.raises(UnisstError, match="irregular"):
        fill(irregular, method="interp")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(UnisstError, match="cannot read checkpoint"):
        fill(ds, checkpoint=bad)
    assert default_checkpoint().name == "fast_twin.pt"


def test_cli(ckpt, tmp_path, capsys):
    ds, obs = make_ds(t=10, h=20, w=20)
    src, dst = tmp_path / "in.nc", tmp_path / "out.nc"
    ds.to_netcdf(src)
    assert main(["fill", str(src), str(dst), "--checkpoint", str(ckpt), "-q"]) == 0
    with xr.open_dataset(dst) as out:
        check_result(out.load(), obs)
        assert out.attrs["history"].endswith(
            f"unisst fill {src} {dst} --method unisst --checkpoint {ckpt} --device cpu"
        )
    capsys.readouterr()
    assert main(["fill", str(src), str(dst), "--checkpoint", str(ckpt), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--overwrite" in err and err.count("\n") == 1
    assert main(["fill", str(src), str(dst), "--method", "interp", "--overwrite", "-q"]) == 0
    txt = tmp_path / "notnc.nc"
    txt.write_text("hello")
    dst2 = tmp_path / "out2.nc"
    assert main(["fill", str(txt), str(dst2), "--method", "interp"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not dst2.exists()
    assert [p.name for p in tmp_path.iterdir() if ".part" in p.name] == []


def write_cmems_file(tmp_path):
    """A small cloudy file in the Copernicus Marine layout (packed int16, depth, descending lat)."""
    from unisst_lib.data.io import write_sst_netcdf

    ds, obs = make_ds(t=12, h=20, w=24)
    src = tmp_path / "cmems.nc"
    write_sst_netcdf(
        obs,
        src,
        times=ds.time.values,
        latitudes=ds.lat.values,
        longitudes=ds.lon.values,
        depth_m=0.494,
    )
    return ds, obs, src


def test_packed_copernicus_file_opened_lazily(tmp_path, capsys):
    _, _, src = write_cmems_file(tmp_path)
    dst = tmp_path / "out.nc"
    with xr.open_dataset(src, chunks={"time": 12}) as lazy:
        res = fill(lazy, method="interp")
        decoded = lazy["thetao"].isel(depth=0).values
    check_result(res.isel(depth=0), decoded, name="thetao")
    assert main(["fill", str(src), str(dst), "--method", "interp", "-q"]) == 0
    with xr.open_dataset(dst) as out:
        back = out["thetao"].isel(depth=0).values
    seen = np.isfinite(decoded)
    assert np.array_equal(back[seen], decoded[seen])


@pytest.mark.skipif(not default_checkpoint().is_file(), reason="no bundled checkpoint yet")
def test_default_checkpoint_works_out_of_the_box():
    ds, obs = make_ds(t=6, h=24, w=24)
    res = fill(ds)
    check_result(res, obs)


def test_finer_frames_filled_as_interleaved_series(ckpt):
    three_h, obs = make_ds(t=40, h=20, w=24, hours=3)
    res = fill(three_h, checkpoint=ckpt)
    check_result(res, obs)  # every frame filled, the time axis unchanged
    np.testing.assert_array_equal(res.time.values, three_h.time.values)
    # each phase (every 2nd frame from 0, from 1) is the 6-hourly fill of that phase alone
    for p in (0, 1):
        alone = fill(three_h.isel(time=slice(p, None, 2)), checkpoint=ckpt)
        np.testing.assert_array_equal(res["sst"].values[p::2], alone["sst"].values)
        np.testing.assert_array_equal(
            res["sst_filled_mask"].values[p::2], alone["sst_filled_mask"].values
        )
    sub = fill(three_h, checkpoint=ckpt, resample=True)
    assert sub.sizes["time"] == 20
    np.testing.assert_array_equal(sub.time.values, three_h.time.values[::2])


def test_output_keeps_the_copernicus_layout(ckpt, tmp_path):
    ds, _, src = write_cmems_file(tmp_path)
    dst = tmp_path / "out.nc"
    with xr.open_dataset(src) as f:  # make latitude descending, as many products have it
        desc = f.load().isel(latitude=slice(None, None, -1))
    src2 = tmp_path / "cmems_desc.nc"
    desc.to_netcdf(src2)
    for method, extra in (("interp", []), ("unisst", ["--checkpoint", str(ckpt)])):
        assert (
            main(["fill", str(src2), str(dst), "--method", method, "--overwrite", "-q", *extra])
            == 0
        )
        with xr.open_dataset(dst) as out, xr.open_dataset(src2) as inp:
            for v in ("thetao", "thetao_filled_mask"):
                assert out[v].dims == ("time", "depth", "latitude", "longitude")
            assert out.latitude.values[0] > out.latitude.values[-1]
            np.testing.assert_array_equal(out.latitude.values, inp.latitude.values)
            np.testing.assert_array_equal(out.longitude.values, inp.longitude.values)
            assert out.depth.values.tolist() == inp.depth.values.tolist()
            assert out.depth.attrs["standard_name"] == "depth"
            assert out["thetao"].encoding["dtype"] == inp["thetao"].encoding["dtype"]
            a, b = inp["thetao"].values, out["thetao"].values
            seen = np.isfinite(a)
            assert np.array_equal(b[seen], a[seen])
            land = ~seen.any(axis=0)
            assert np.isfinite(b[:, ~land]).all()
            m = out["thetao_filled_mask"].values.astype(bool)
            np.testing.assert_array_equal(m, ~seen & ~land[None])
    # a variable with other dim names keeps them too
    res = fill(ds.isel(lat=slice(None, None, -1)), method="interp")
    assert res["sst"].dims == ("time", "lat", "lon")
    np.testing.assert_array_equal(res.lat.values, ds.lat.values[::-1])


def _one_pixel_series(times, values) -> xr.Dataset:
    """A 3×3 field equal to ``values`` at every pixel; NaN stays a gap."""
    data = np.repeat(np.asarray(values, float)[:, None, None], 3, 1).repeat(3, 2)
    return xr.Dataset(
        {"sst": (("time", "lat", "lon"), data, {"units": "degC"})},
        coords={"time": pd.DatetimeIndex(times), "lat": [10.0, 10.1, 10.2], "lon": [0, 0.1, 0.2]},
    )


def test_absent_days_are_missing_frames_not_neighbours_and_are_not_written():
    # Days 0, 1, 2 and 4: day 3 absent. The pixel is seen on days 0 (0 °C) and 4 (4 °C):
    # linear in time on the real calendar gives 1 and 2 °C on days 1 and 2 (frame
    # indices would give 4/3 and 8/3).
    times = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-05"])
    res = fill(_one_pixel_series(times, [0.0, np.nan, np.nan, 4.0]), method="interp")
    assert list(res.time.values) == list(times.values)  # the absent day is not added
    np.testing.assert_allclose(res.sst.values[:, 1, 1], [0.0, 1.0, 2.0, 4.0])
    assert res.sst_filled_mask.values[:, 1, 1].tolist() == [0, 1, 1, 0]


def test_calendar_axes_are_regular_and_no_advice_resamples():
    # yearly means stamped on 15 January: 365- and 366-day steps are one cadence
    years = pd.to_datetime([f"{y}-01-15" for y in range(1963, 1969)])
    res = fill(_one_pixel_series(years, [0, np.nan, 2, 3, np.nan, 5]), method="interp")
    np.testing.assert_allclose(res.sst.values[:, 0, 0], [0, 1, 2, 3, 4, 5])
    with pytest.raises(UnisstError, match=r"calendar axis \(P1Y\).*--method dineof") as err:
        fill(_one_pixel_series(years, [0, np.nan, 2, 3, np.nan, 5]), method="unisst")
    assert "resample" not in str(err.value)
    assert "unisst fill --fit" in str(err.value)
    # frames 2 days apart: no bundled model of that cadence (daily ones get fast_l3_daily.pt)
    two_daily = pd.date_range("2020-01-01", periods=30, freq="2D")
    with pytest.raises(UnisstError, match="48 h apart.*6 h apart.*--fit.*--method dineof") as err:
        fill(_one_pixel_series(two_daily, np.where(np.arange(30) % 3, np.nan, 20.0)))
    assert "resample" not in str(err.value)
