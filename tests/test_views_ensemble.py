"""Ensemble views: σ next to the error, spread–skill, rank histogram, members, GIF, slider."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

pytest.importorskip("cartopy")
pytest.importorskip("holoviews")

from cartopy.mpl.geoaxes import GeoAxes
from matplotlib.collections import QuadMesh
from matplotlib.contour import ContourSet

from unisst_lib.core.errors import GridError, UnisstError
from unisst_lib.views import animation, ensemble, interactive
from unisst_lib.views.ensemble import EnsembleInputError
from unisst_lib.views.map_panels import DIMS, MapInputError

M, T, N = 3, 4, 16
CHROMIUM = Path("/usr/bin/chromium")
TIMES = pd.date_range("2019-01-01T00:30", periods=T, freq="6h")


@pytest.fixture(scope="module")
def ens():
    """3 members of 4 frames of 16×16: the truth where observed, truth + noise under the
    clouds (40 %, random); σ = 0.3 °C under the clouds, 0 where observed."""
    rng = np.random.default_rng(0)
    lat, lon = np.linspace(20, 25, N), np.linspace(-20, -15, N)
    yy, xx = np.meshgrid(lat, lon, indexing="ij")
    truth = np.stack([24.0 - 0.4 * (yy - 20) + 0.3 * np.sin(xx + t) for t in range(T)])
    clouds = rng.random(truth.shape) < 0.4
    noise = 0.3 * rng.standard_normal((M, *truth.shape))
    members = np.where(clouds, truth + noise, truth)
    coords = {"time": TIMES, "latitude": lat, "longitude": lon}

    def da(a):
        return xr.DataArray(a.astype(np.float32), dims=DIMS, coords=coords,
                            attrs={"units": "degrees_C"})  # fmt: skip

    mem = xr.DataArray(
        members.astype(np.float32), dims=("member", *DIMS),
        coords={**coords, "member": np.arange(M)}, attrs={"units": "degrees_C"},
    )  # fmt: skip
    return {
        "members": mem,
        "mean": mem.mean("member"),
        "sigma": da(np.where(clouds, 0.3, 0.0)),
        "truth": da(truth),
        "obs": da(np.where(clouds, np.nan, truth)),
        "clouds": clouds,
    }


def _maps(fig) -> list:
    return [ax for ax in fig.axes if isinstance(ax, GeoAxes)]


def _mesh(ax) -> QuadMesh:
    return next(c for c in ax.collections if isinstance(c, QuadMesh))


# --------------------------------------------------------------------- σ and the error
def test_sigma_next_to_the_absolute_error_on_one_scale(ens):
    fig = ensemble.sigma_error_figure(
        ens["mean"], ens["sigma"], truth=ens["truth"], observation=ens["obs"], frame=1
    )
    obs_ax, sig_ax, err_ax = _maps(fig)
    assert [a.get_label() for a in (obs_ax, sig_ax, err_ax)] == [
        "observation:1", "sigma:1", "abs_error:1",
    ]  # fmt: skip
    assert _mesh(sig_ax).get_clim() == _mesh(err_ax).get_clim()  # comparable colours
    assert _mesh(sig_ax).get_clim()[0] == 0
    err = np.abs(ens["mean"].values[1] - ens["truth"].values[1])
    np.testing.assert_allclose(_mesh(err_ax).get_array().reshape(N, N), err, rtol=1e-6)
    np.testing.assert_array_equal(_mesh(sig_ax).get_array().reshape(N, N), ens["sigma"][1])
    cloudy = ens["clouds"][1]
    rmse = np.sqrt(np.mean(err[cloudy].astype(np.float64) ** 2))
    assert f"RMSE {rmse:.2f} °C" in err_ax.get_title()
    assert "RMS 0.30 °C" in sig_ax.get_title()
    for ax in (sig_ax, err_ax):  # the clouds' outline over σ and the error
        assert any(isinstance(c, ContourSet) for c in ax.collections)
    assert np.isnan(_mesh(obs_ax).get_array().filled(np.nan).reshape(N, N)[cloudy]).all()


def test_without_truth_sigma_is_shown_next_to_the_mean(ens):
    fig = ensemble.sigma_error_figure(ens["mean"], ens["sigma"], frame=3)
    sig_ax, mean_ax = _maps(fig)
    assert (sig_ax.get_label(), mean_ax.get_label()) == ("sigma:3", "mean:3")
    np.testing.assert_array_equal(_mesh(mean_ax).get_array().reshape(N, N), ens["mean"][3])
    assert mean_ax.get_title() == "ensemble mean"


def test_land_is_dark_grey_and_left_out_of_the_scores(ens):
    """A real archive: NaN on land in the mean, σ, members and observation (4×4 corner)."""
    land = np.zeros((N, N), bool)
    land[:4, -4:] = True
    members = ens["members"].where(~land)
    mean, sigma, obs = (ens[k].where(~land) for k in ("mean", "sigma", "obs"))
    fig = ensemble.sigma_error_figure(mean, sigma, observation=obs, frame=0)
    for ax in _maps(fig):
        meshes = [c for c in ax.collections if isinstance(c, QuadMesh)]
        assert len(meshes) == 2  # the data, then the dark grey of land
        np.testing.assert_array_equal(~meshes[1].get_array().mask.reshape(N, N), land)
    fig = ensemble.members_figure(members, observation=obs)
    assert all(len([c for c in ax.collections if isinstance(c, QuadMesh)]) == 2
               for ax in _maps(fig))  # fmt: skip
    fig = ensemble.rank_histogram_figure(members, ens["truth"].where(~land))
    n_gaps = int((ens["clouds"] & ~land).sum())  # the members differ only there
    assert f"{n_gaps} pixels" in fig.axes[0].get_title()


# ------------------------------------------------------------------------ spread–skill
def _halves():
    """8 pixels (2, 2, 2): σ = 0.5 on the first 4, 1.0 on the last 4, known errors."""
    sigma = np.array([0.5] * 4 + [1.0] * 4).reshape(2, 2, 2)
    error = np.array([0.3, -0.4, 0.5, 0.0, 1.0, -1.0, 2.0, 0.0]).reshape(2, 2, 2)
    dims = ("time", "latitude", "longitude")
    return xr.DataArray(sigma, dims=dims), xr.DataArray(error, dims=dims)


@pytest.mark.parametrize("bins", [2, 10])
def test_spread_skill_bins_give_the_rmse_computed_by_hand(bins):
    sigma, error = _halves()
    table = ensemble.spread_skill_bins(sigma, error, bins=bins)
    # by hand: sqrt((0.09 + 0.16 + 0.25 + 0) / 4), sqrt((1 + 1 + 4 + 0) / 4); equal σ share a bin
    np.testing.assert_allclose(table.rmse, [np.sqrt(0.125), np.sqrt(1.5)], rtol=1e-12)
    np.testing.assert_allclose(table.rms_sigma, [0.5, 1.0], rtol=1e-12)
    assert table.count.tolist() == [4, 4]


def test_spread_skill_figure_plots_the_bins_the_ratio_and_the_coverage():
    sigma, error = _halves()
    fig = ensemble.spread_skill_figure(sigma, error, bins=2)
    ax, cov = fig.axes
    assert (ax.get_label(), cov.get_label()) == ("spread_skill", "coverage")
    (points,) = [line for line in ax.lines if line.get_gid() == "bins"]
    np.testing.assert_allclose(points.get_xydata(), [[0.5, np.sqrt(0.125)], [1.0, np.sqrt(1.5)]])
    (diag,) = [line for line in ax.lines if line.get_gid() == "one_to_one"]
    x, y = diag.get_data()
    np.testing.assert_array_equal(x, y)
    # sqrt(mean σ²) / RMSE = sqrt(0.625) / sqrt(6.5 / 8) = 0.877
    assert "Spread–skill ratio 0.88 over 8 pixels" in fig._suptitle.get_text()
    heights = {p.get_gid(): [] for p in cov.patches}
    for p in cov.patches:
        heights[p.get_gid()].append(p.get_height())
    # |e| <= σ at 7 of 8 pixels (2.0 > 1.0), |e| <= 2σ at all 8
    np.testing.assert_allclose(heights["coverage:ensemble"], [87.5, 100.0])
    np.testing.assert_allclose(heights["coverage:gaussian"], [68.27, 95.45], atol=0.01)


def test_spread_skill_four_distinct_sigmas_and_a_selection():
    sigma = np.repeat([0.1, 0.2, 0.3, 0.4], 5)
    error = np.tile([0.0, 0.1, -0.2, 0.3, 0.4], 4) * np.repeat([1, 2, 3, 4], 5)
    table = ensemble.spread_skill_bins(sigma, error, bins=4)
    base = np.sqrt((0.01 + 0.04 + 0.09 + 0.16) / 5)  # the RMSE of the first group
    np.testing.assert_allclose(table.rmse, base * np.array([1, 2, 3, 4]), rtol=1e-12)
    np.testing.assert_allclose(table.rms_sigma, [0.1, 0.2, 0.3, 0.4], rtol=1e-12)
    where = sigma > 0.25
    only = ensemble.spread_skill_bins(sigma, error, where=where, bins=4)
    np.testing.assert_allclose(only.rmse, base * np.array([3, 4]), rtol=1e-12)


# ---------------------------------------------------------------------- rank histogram
def test_rank_histogram_shares_and_flat_line(ens):
    data = np.zeros((2, T, N, N))
    data[1] = 1.0  # members 0 and 1 everywhere
    data[:, 0, 0, :4] = 5.0  # 4 pixels where the members agree: left out by default
    obs = np.full((T, N, N), 0.5)  # rank 1
    obs[1] = -1.0  # a whole frame below both: rank 0
    obs[2, :4] = 3.0  # 4 rows of 16 above both: rank 2
    members = ens["members"].isel(member=slice(0, 2)).copy(data=data)
    truth = ens["truth"].copy(data=obs)
    fig = ensemble.rank_histogram_figure(members, truth)
    (ax,) = fig.axes
    assert ax.get_label() == "rank_histogram"
    total = T * N * N - 4
    want = np.array([N * N, total - N * N - 64, 64]) / total
    np.testing.assert_allclose([p.get_height() for p in ax.patches], want)
    (flat,) = [line for line in ax.lines if line.get_gid() == "flat"]
    assert flat.get_ydata()[0] == pytest.approx(1 / 3)
    assert f"{total} pixels" in ax.get_title()


# ---------------------------------------------------------------------- members
def test_members_figure_observation_first_one_scale(ens):
    fig = ensemble.members_figure(ens["members"], frame=2, observation=ens["obs"], max_members=2)
    axes = _maps(fig)
    assert [a.get_label() for a in axes] == ["observation:2", "member 0:2", "member 1:2"]
    assert len({_mesh(a).get_clim() for a in axes}) == 1
    np.testing.assert_array_equal(
        _mesh(axes[2]).get_array().reshape(N, N), ens["members"].values[1, 2]
    )
    assert "2 of 3 members" in fig._suptitle.get_text()
    assert len([a for a in fig.axes if a.get_label() == "<colorbar>"]) == 1


def test_members_gif_has_one_image_per_frame(ens, tmp_path):
    import imageio.v3 as iio

    path = ensemble.members_gif(
        ens["members"], tmp_path / "out" / "members.gif", observation=ens["obs"], dpi=40
    )
    assert path == tmp_path / "out" / "members.gif"
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == T
    assert len({f.tobytes() for f in frames}) == T
    assert [p.name for p in path.parent.iterdir()] == ["members.gif"]  # no temporary left


def test_failed_members_gif_leaves_no_partial_file(ens, tmp_path, monkeypatch):
    def broken(frames, path, fps):
        path.write_bytes(b"GIF89a partial")
        raise OSError("disk full")

    monkeypatch.setattr(animation, "_write_gif", broken)
    target = tmp_path / "members.gif"
    with pytest.raises(OSError, match="disk full"):
        ensemble.members_gif(ens["members"], target, dpi=30)
    assert not list(tmp_path.iterdir())
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"):
        ensemble.members_gif(ens["members"], target, dpi=30)
    assert target.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1


# -------------------------------------------------------------------- bad inputs
def test_bad_inputs_raise_specific_errors(ens, tmp_path):
    mem, mean = ens["members"], ens["mean"]
    with pytest.raises(EnsembleInputError, match="no 'member' dimension: pass the members"):
        ensemble.members_figure(mean)
    with pytest.raises(EnsembleInputError, match="must be an xarray.DataArray"):
        ensemble.members_figure(mem.values)
    with pytest.raises(GridError, match=r"ensemble views need \(member, time, latitude"):
        ensemble.members_figure(mem.rename(latitude="lat"))
    with pytest.raises(MapInputError, match=r"frame 9 is outside 0\.\.3"):
        ensemble.members_figure(mem, frame=9)
    with pytest.raises(MapInputError, match=r"frame -1 is outside 0\.\.3"):
        ensemble.sigma_error_figure(mean, ens["sigma"], frame=-1)
    with pytest.raises(GridError, match="error has shape"):
        ensemble.sigma_error_figure(mean, ens["sigma"].isel(time=slice(0, 2)))
    with pytest.raises(EnsembleInputError, match="max_members must be a positive integer"):
        ensemble.members_figure(mem, max_members=0)
    with pytest.raises(EnsembleInputError, match="obs is required"):
        ensemble.rank_histogram_figure(mem, None)
    with pytest.raises(MapInputError, match="give a path ending in .gif"):
        ensemble.members_gif(mem, tmp_path / "members.png")
    assert not list(tmp_path.iterdir())


def test_bad_scores_inputs_raise_specific_errors(ens):
    sigma, error = _halves()
    with pytest.raises(EnsembleInputError, match=r"sigma has shape \(2, 2, 2\) but error \(8,\)"):
        ensemble.spread_skill_figure(sigma, error.values.ravel())
    with pytest.raises(EnsembleInputError, match="bins must be a positive integer, got 0"):
        ensemble.spread_skill_figure(sigma, error, bins=0)
    with pytest.raises(EnsembleInputError, match="no pixel selected"):
        ensemble.spread_skill_figure(sigma, error, where=np.zeros((2, 2, 2), bool))
    nan_error = error.copy(data=np.where(np.arange(8).reshape(2, 2, 2) == 3, np.nan, error))
    with pytest.raises(EnsembleInputError, match="error is NaN or infinite at 1 selected pixel"):
        ensemble.spread_skill_figure(sigma, nan_error, where=np.ones((2, 2, 2), bool))
    with pytest.raises(EnsembleInputError, match="the error is 0 at every selected pixel"):
        ensemble.spread_skill_figure(sigma, error * 0)
    with pytest.raises(EnsembleInputError, match="obs is NaN or infinite"):
        ensemble.rank_histogram_figure(ens["members"], ens["obs"], where=np.ones((T, N, N), bool))
    assert issubclass(EnsembleInputError, UnisstError)


# -------------------------------------------------------------------- member slider
def test_member_slider_has_one_value_per_member_and_every_frame_in_the_page(ens):
    from bokeh.models import ColumnDataSource, CustomJS, Slider

    view = interactive.members_view(ens["members"], ens["obs"])
    sliders = {s.title: s for s in view.select({"type": Slider})}
    assert set(sliders) == {"member", "time (frame)"}
    member = sliders["member"]
    assert (member.start, member.end, member.step) == (0, M - 1, 1)  # M values
    assert len(range(member.start, member.end + 1, member.step)) == M
    assert (sliders["time (frame)"].start, sliders["time (frame)"].end) == (0, T - 1)
    (callback,) = {cb.id: cb for cb in view.select({"type": CustomJS})}.values()
    store = callback.args["store"]
    assert isinstance(store, ColumnDataSource) and len(store.data["frames"]) == M * T
    # member m, frame t is frames[m * T + t], in °C to 1/256 °C
    np.testing.assert_allclose(
        store.data["frames"][2 * T + 3], ens["members"].values[2, 3], atol=1 / 512
    )
    first = callback.args["source"].data["image"][0]  # what the map shows before any slide
    np.testing.assert_array_equal(first, store.data["frames"][0])
    assert len(callback.args["obs_store"].data["frames"]) == T

    html = interactive.interactive_members(ens["members"])._repr_mimebundle_()
    html = (html[0] if isinstance(html, tuple) else html)["text/html"]
    assert html.count('"name":"Slider"') == 2
    assert "cdn.bokeh.org" not in html and "cdn.holoviz.org" not in html
    with pytest.raises(EnsembleInputError, match="a member slider needs at least 2"):
        interactive.members_view(ens["members"].isel(member=slice(0, 1)))


@pytest.mark.skipif(not shutil.which("node"), reason="node (to run the slider JavaScript) absent")
def test_the_sliders_show_the_chosen_member_and_frame_in_the_browser():
    js = f"""
    const f = new Function("member", "time", "source", "store", "obs_source", "obs_store",
                           "figure", "n_time", "labels", "member_labels",
                           {json.dumps(interactive._MEMBERS_JS)});
    const frames = [...Array(6).keys()].map(k => "frame" + k);  // 2 members x 3 times
    const source = {{data: {{image: [frames[0]], x: [0]}}}};
    const obs = {{data: {{image: ["obs0"]}}}};
    const figure = {{title: {{text: ""}}}};
    f({{value: 1}}, {{value: 2}}, source, {{data: {{frames}}}}, obs,
      {{data: {{frames: ["obs0", "obs1", "obs2"]}}}}, figure, 3, ["a", "b", "c"], ["0", "1"]);
    console.log(JSON.stringify([source.data.image[0], source.data.x[0], obs.data.image[0],
                                figure.title.text]));
    """
    out = subprocess.run(["node", "-e", js], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["frame5", 0, "obs2", "member 1, c"]


@pytest.mark.slow
def test_the_sliders_swap_the_frames_in_a_real_browser(ens, tmp_path):
    """bokeh in chromium (headless, offline page): member 2, frame 3 after the sliders move."""
    if not CHROMIUM.is_file():
        pytest.skip("no /usr/bin/chromium")
    playwright = pytest.importorskip("playwright.sync_api")
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    page_file = tmp_path / "members.html"
    page_file.write_text(file_html(interactive.members_view(ens["members"], ens["obs"]), INLINE))
    want = np.round(ens["members"].values[2, 3].astype(np.float64) * 256) / 256
    errors = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_file.as_uri())
        page.wait_for_function("window.Bokeh && Bokeh.documents.length > 0")
        page.evaluate(
            """() => { const doc = Bokeh.documents[0];
            doc.get_model_by_name("member").value = 2;
            doc.get_model_by_name("time").value = 3; }"""
        )
        image = 'Bokeh.documents[0].get_model_by_name("member_image").data.image[0]'
        page.wait_for_function(f"(v) => {image}[0] === v", arg=float(want[0, 0]))  # async
        shown = page.evaluate(f"() => Array.from({image})")
        browser.close()
    assert errors == []
    np.testing.assert_array_equal(np.array(shown).reshape(N, N), want)


# ------------------------------------------------------------- the notebooks' path
def test_fill_with_members_end_to_end_through_the_views(tmp_path):
    """A 6-hourly 24-frame 64×64 sequence with random clouds, 3 members of the bundled
    stochastic model, then the notebooks' figures on the result."""
    from unisst_lib.methods.fill import fill

    rng = np.random.default_rng(1)
    t, n = 24, 64
    lat, lon = np.linspace(20, 25.25, n), np.linspace(-30, -24.75, n)
    yy, xx = np.meshgrid(lat, lon, indexing="ij")
    truth = np.stack([22 - 0.3 * (yy - 20) + 0.5 * np.sin(xx / 2 + k / 5) for k in range(t)])
    clouds = rng.random(truth.shape) < 0.4
    obs = np.where(clouds, np.nan, truth).astype(np.float32)
    coords = {"time": pd.date_range("2018-01-01", periods=t, freq="6h"), "latitude": lat,
              "longitude": lon}  # fmt: skip
    attrs = {"units": "degrees_C", "standard_name": "sea_surface_temperature"}
    ds = xr.Dataset({"sst": (DIMS, obs, attrs)}, coords=coords)
    res = fill(ds, members=3, keep_members=True)
    members = res["sst_members"]
    assert members.dims == ("member", *DIMS) and members.sizes["member"] == 3
    seen = ~clouds
    for k in range(3):  # every member is the observation where observed, exactly
        np.testing.assert_array_equal(members.values[k][seen], obs[seen])
    assert (members.values[0][clouds] != members.values[1][clouds]).any()
    assert (res["sst_error"].values[seen] == 0).all() and (
        res["sst_error"].values[clouds] > 0
    ).any()

    truth_da = xr.DataArray(truth, dims=DIMS, coords=coords, attrs={"units": "degrees_C"})
    obs_da = ds["sst"]
    fig = ensemble.sigma_error_figure(
        res["sst"], res["sst_error"], truth=truth_da, observation=obs_da, frame=5
    )
    assert [a.get_label() for a in _maps(fig)] == ["observation:5", "sigma:5", "abs_error:5"]
    gaps = res["sst_filled_mask"].values == 1
    np.testing.assert_array_equal(gaps, clouds)
    fig = ensemble.spread_skill_figure(res["sst_error"], res["sst"] - truth_da, where=gaps)
    assert f"over {int(clouds.sum())} pixels" in fig._suptitle.get_text()
    fig = ensemble.rank_histogram_figure(members, truth_da, where=gaps)
    assert len(fig.axes[0].patches) == 4
    fig = ensemble.members_figure(members, frame=5, observation=obs_da)
    assert len(_maps(fig)) == 4
