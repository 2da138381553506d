"""unisst_lib.views.explore: the computations behind notebook 02 (no browser)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import xarray as xr

from unisst_lib.core.errors import ThresholdError, UnisstError
from unisst_lib.data.masks import (
    CloudSampler,
    CloudWindow,
    gm2_to_kgm2,
    lwp_to_mask,
    occlusion_rate,
    occlusion_rate_curve,
)
from unisst_lib.views import explore, explore_figures, explore_widgets

T, H, W = 4, 6, 5
CI = 3  # cloud interval


@pytest.fixture(scope="module")
def clouds() -> np.ndarray:
    """(30, 8, 9) LWP in kg m-2, log-normal around 70 g m-2 (so thresholds matter)."""
    rng = np.random.default_rng(5)
    return np.exp(rng.normal(np.log(0.070), 0.4, size=(30, 8, 9))).astype(np.float32)


@pytest.fixture(scope="module")
def sst() -> xr.DataArray:
    rng = np.random.default_rng(6)
    vals = (20 + rng.normal(size=(T, H, W))).astype(np.float32)
    vals[0, 0, 0] = np.nan  # a missing SST pixel (land)
    return xr.DataArray(
        vals,
        dims=("time", "latitude", "longitude"),
        coords={
            "time": np.datetime64("2018-01-01T00:30", "ns") + np.arange(T) * np.timedelta64(6, "h"),
            "latitude": 20 + np.arange(H) / 12,
            "longitude": -40 + np.arange(W) / 12,
        },
    )


@pytest.fixture(scope="module")
def ex(clouds, sst) -> explore.MaskExplorer:
    return explore.MaskExplorer(clouds, sst, cloud_interval=CI, cloud_start=7, offset=(1, 2))


def test_window_is_the_samplers(ex, clouds):
    # Frames 7, 10, 13, 16 of the cloud array, rows 1..6, columns 2..6.
    assert ex.cloud_steps.tolist() == [7, 10, 13, 16]
    np.testing.assert_array_equal(ex.lwp_kgm2, clouds[7:17:3, 1:7, 2:7])
    # The mask at 70 g m-2 is the one training draws for this window.
    sampler = CloudSampler(clouds, seq_len=T, cloud_interval=CI, threshold_kgm2=0.070, size=(H, W))
    np.testing.assert_array_equal(ex.mask(70), sampler.mask(CloudWindow(7, 1, 2)))


@pytest.mark.parametrize("threshold", [55, 62.5, 70, 80])
@pytest.mark.parametrize("t", [0, 3])
def test_readout_is_the_librarys_occlusion_rate(ex, clouds, threshold, t):
    lwp = clouds[7 + CI * t, 1:7, 2:7]  # the frame, straight from the cloud array
    rate = occlusion_rate(lwp_to_mask(lwp, gm2_to_kgm2(threshold)))
    view = ex.frame(threshold, t)
    assert view.occlusion_rate == rate
    assert (
        view.readout
        == f"occlusion rate: {100 * rate:.1f} % (threshold {threshold:g} g m⁻², frame {t})"
    )
    assert ex.readout(threshold, t) == view.readout
    assert explore.parse_readout(view.readout) == (round(100 * rate, 1), float(threshold), t)


def test_frame_contents(ex, sst):
    v = ex.frame(70, 0)
    assert v.time == sst["time"].values[0]
    np.testing.assert_array_equal(v.mask, ex.mask(70)[0])
    np.testing.assert_array_equal(v.sst_c, sst.values[0])
    # NaN exactly under clouds and where the SST itself is missing, the SST elsewhere.
    expect_nan = v.mask | np.isnan(sst.values[0])
    np.testing.assert_array_equal(np.isnan(v.observed_c), expect_nan)
    np.testing.assert_array_equal(v.observed_c[~expect_nan], sst.values[0][~expect_nan])
    assert 0 < v.mask.sum() < v.mask.size  # the test data have clouds and gaps


def test_mask_monotone_in_threshold(ex):
    thresholds = [40, 55, 60, 65, 70, 75, 80, 120]
    masks = [ex.mask(t) for t in thresholds]
    for lower, higher in itertools.pairwise(masks):
        assert not np.any(higher & ~lower)  # a higher threshold never adds cloud
    rates = [ex.occlusion_rate(t) for t in thresholds]
    assert rates == sorted(rates, reverse=True)
    assert rates[0] > rates[-1]


def test_strict_threshold_and_nan():
    lwp = np.full((5, 1, 3), 0.01, dtype=np.float32)
    lwp[0, 0] = [0.070, np.float32(0.0701), np.nan]  # equal / above / unknown
    e = explore.MaskExplorer(lwp, np.zeros((1, 1, 3), np.float32), cloud_interval=1)
    assert e.frame(70, 0).mask.tolist() == [[False, True, True]]
    assert e.readout(70, 0) == "occlusion rate: 66.7 % (threshold 70 g m⁻², frame 0)"


def test_curve_matches_rates(ex, clouds):
    c = ex.curve()
    assert c["threshold"].values.tolist() == list(range(55, 81))
    expect = [ex.occlusion_rate(t) for t in range(55, 81)]
    np.testing.assert_allclose(c.values, expect, rtol=0, atol=1e-15)
    assert np.all(np.diff(c.values) <= 0)
    d = ex.curve([60, 70], scope="dataset")
    np.testing.assert_array_equal(d.values, occlusion_rate_curve(clouds, [60, 70]).values)
    assert d.sel(threshold=70).item() == occlusion_rate(lwp_to_mask(clouds, 0.070))


def test_histogram_counts_every_value():
    lwp = np.zeros((3, 1, 4), dtype=np.float32)
    lwp[0, 0] = [0.0, 0.004, 0.006, 0.5]  # 0, 4, 6, 500 g m-2
    lwp[1:] = 0.002
    e = explore.MaskExplorer(lwp, np.zeros((1, 1, 4), np.float32), cloud_interval=1)
    counts, edges = e.histogram(edges_gm2=[0, 5, 10])
    assert counts.tolist() == [2, 2]  # frame 0 only; 500 g m-2 lands in the last bin
    assert edges.tolist() == [0.0, 5.0, 10.0]
    counts, _ = e.histogram(scope="dataset", edges_gm2=[0, 5, 10], chunk_steps=2)
    assert counts.tolist() == [10, 2]
    with pytest.raises(ValueError, match="increasing"):
        e.histogram(edges_gm2=[5, 5])
    with pytest.raises(ValueError, match="scope"):
        e.histogram(scope="everything")


def test_rate_table(ex):
    curves = {"window": ex.curve()}
    table = explore.rate_table(curves, [55, 70])
    assert table.index.tolist() == [55.0, 70.0]
    # Human headers: the unit of the thresholds, % on the rates, no raw keys.
    assert table.index.name == "threshold (g m⁻²)"
    assert table.columns.tolist() == ["window: occluded (%)"]
    assert table["window: occluded (%)"].tolist() == [
        round(100 * ex.occlusion_rate(55), 1),
        round(100 * ex.occlusion_rate(70), 1),
    ]
    with pytest.raises(ValueError, match="no value at thresholds"):
        explore.rate_table(curves, [90])


def test_rate_table_headers_in_html(ex):
    html = explore.rate_table({"this window": ex.curve(), "whole cloud data set": ex.curve()})
    html = html.to_html()
    assert "threshold (g m⁻²)" in html
    assert html.count("occluded (%)") == 2
    assert "g/m" not in html and "g m-2" not in html


# ------------------------------------------------------ twin clear-sky step
def test_clear_sky_level_is_a_histogram_edge():
    c = explore.clear_sky_gm2("twin")
    assert c == pytest.approx(45.0)
    assert explore.clear_sky_gm2("figshare") is None
    # The step of the twin's LWP density falls on a bin edge of the notebook's
    # histogram, so the figure draws it at c instead of smearing it over a bin.
    edges = explore.HISTOGRAM_EDGES_GM2
    assert np.any(np.isclose(edges, c, rtol=0, atol=1e-9))
    assert np.allclose(np.diff(edges), 2.5)


def test_clear_sky_compression_changes_no_mask_above_it():
    """The notebook's claim: below c the generator only moves values further below c."""
    import dataclasses

    from unisst_lib.data.twin.clouds import DEFAULT_CLOUDS, simulate_lwp

    twin = simulate_lwp(120, ny=24, nx=24, seed=3)
    raw = simulate_lwp(
        120, ny=24, nx=24, seed=3, params=dataclasses.replace(DEFAULT_CLOUDS, clear_sky_power=1)
    )
    c = gm2_to_kgm2(explore.clear_sky_gm2())
    above = raw >= c
    assert 0.05 < 1 - above.mean() < 0.5  # the window has pixels on both sides of c
    np.testing.assert_array_equal(twin[above], raw[above])
    assert np.all(twin[~above] < c) and np.all(twin[~above] <= raw[~above])
    for thr in (45.5, 55, 70, 80):
        np.testing.assert_array_equal(
            lwp_to_mask(twin, gm2_to_kgm2(thr)), lwp_to_mask(raw, gm2_to_kgm2(thr))
        )


def test_clear_sky_step_counts():
    # 3 pixels in 44..45, 6 in 45..46 (45.0 itself counts above), 1 far below, 2 above 300.
    vals_gm2 = [44.2, 44.5, 44.99, 45.0, 45.2, 45.5, 45.7, 45.9, 45.99, 3.0, 400.0, 1000.0]
    lwp = np.full((1, 1, len(vals_gm2)), 0.0, np.float32)
    lwp[0, 0] = np.asarray(vals_gm2, np.float64) / 1000.0
    e = explore.MaskExplorer(lwp, np.zeros((1, 1, len(vals_gm2)), np.float32), cloud_interval=1)
    step = explore.clear_sky_step(e, scope="window")
    assert (step.below, step.above, step.n_below, step.total) == (3, 6, 4, 12)
    assert step.level_gm2 == pytest.approx(45.0) and step.power == 4
    assert step.ratio == 2.0 and step.fraction_below == pytest.approx(4 / 12)
    text = step._repr_markdown_()
    assert "3 pixels between 44 and 45 g m⁻², 6 between 45 and 46 g m⁻²" in text
    assert "×2.00" in text and "33.3 %" in text
    with pytest.raises(ValueError, match="width_gm2"):
        explore.clear_sky_step(e, width_gm2=50)


def test_clear_sky_step_on_the_twin_is_the_compression_power():
    from unisst_lib.data.twin.clouds import DEFAULT_CLOUDS, simulate_lwp

    lwp = simulate_lwp(300, ny=32, nx=32, seed=4)
    e = explore.MaskExplorer(lwp, np.zeros((2, 32, 32), np.float32), cloud_interval=1)
    step = explore.clear_sky_step(e, scope="dataset", width_gm2=2.0)
    assert step.total == lwp.size and step.below > 500
    # Density ratio 1/p in the limit; 2 g m-2 bands on a rising density give a bit more.
    assert DEFAULT_CLOUDS.clear_sky_power * 0.9 < step.ratio < DEFAULT_CLOUDS.clear_sky_power * 1.2
    # Where nothing is compressed there is no step: the ratio of two bands higher up is ~1.
    higher = explore.clear_sky_step(e, scope="dataset", width_gm2=2.0, level_gm2=60)
    assert 0.8 < higher.ratio < 1.25


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (0.07, "looks like kg m-2.*pass 70"),
        (-5, "not a positive number"),
        (0, "not a positive number"),
        (float("nan"), "not a positive number"),
        (5000, "above any liquid water path"),
        ("seventy", "not a number"),
    ],
)
def test_threshold_errors(ex, value, match):
    with pytest.raises(ThresholdError, match=match):
        ex.frame(value, 0)
    with pytest.raises(ThresholdError):
        ex.curve([60, value])


@pytest.mark.parametrize("t", [-1, T, 1.5, "a"])
def test_time_index_out_of_range(ex, t):
    with pytest.raises(explore.FrameIndexError, match="frame index") as info:
        ex.frame(70, t)
    assert isinstance(info.value, UnisstError) and isinstance(info.value, IndexError)
    if t == T:
        assert "0..3" in str(info.value)


def test_bad_window(clouds, sst):
    with pytest.raises(IndexError, match="cloud window start"):
        explore.MaskExplorer(clouds, sst, cloud_interval=CI, cloud_start=25)
    with pytest.raises(IndexError, match="leaves the tile"):
        explore.MaskExplorer(clouds, sst, cloud_interval=CI, offset=(3, 0))


def test_readout_format_and_parse():
    text = explore.format_readout(0.4348, 72.5, 3)
    assert text == "occlusion rate: 43.5 % (threshold 72.5 g m⁻², frame 3)"
    assert explore.parse_readout(text) == (43.5, 72.5, 3)
    with pytest.raises(ValueError, match="not an occlusion-rate readout"):
        explore.parse_readout("occlusion: 43 %")
    with pytest.raises(ValueError, match="fraction"):
        explore.format_readout(43.5, 70, 0)


def test_figures_render(ex):
    png = explore_figures.figure_png(ex.frame_figure(70, 1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    fig = ex.lwp_figure([0, 3])
    assert len([a for a in fig.axes if a.get_label() != "<colorbar>"]) == 2
    explore_figures.histogram_figure({"w": ex.histogram()}, threshold_gm2=70)
    explore_figures.curve_figure({"w": ex.curve()}, threshold_gm2=70)
    with pytest.raises(explore.FrameIndexError):
        ex.lwp_figure([0, 9])


@pytest.mark.parametrize(
    ("value", "lat", "lon"),
    [(-16, "16°S", "16°W"), (20.5, "20.5°N", "20.5°E"), (0, "0°", "0°"), (-0.0, "0°", "0°")],
)
def test_lat_lon_labels(value, lat, lon):
    assert explore_figures.lat_label(value) == lat
    assert explore_figures.lon_label(value) == lon


def _texts(fig):
    from matplotlib.text import Text

    fig.canvas.draw()  # tick labels exist once drawn
    texts = list(fig.findobj(Text))
    for ax in fig.axes:  # tick labels are not among findobj's artists
        texts += ax.get_xticklabels() + ax.get_yticklabels()
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def _all_figures(ex):
    return {
        "frame": ex.frame_figure(70, 1),
        "lwp": ex.lwp_figure(),
        "lwp3": ex.lwp_figure([0, 1, 2]),
        "histogram": explore_figures.histogram_figure(
            {"w": ex.histogram()}, threshold_gm2=70, clear_sky_gm2=45
        ),
        "curve": explore_figures.curve_figure({"w": ex.curve()}, threshold_gm2=70),
    }


def test_figures_fit_a_notebook_column_and_are_legible(ex):
    for name, fig in _all_figures(ex).items():
        width = fig.get_size_inches()[0]
        assert 6 <= width <= 9, f"{name}: {width} in wide (a ~900 px column at dpi 100)"
        small = {t.get_text(): t.get_fontsize() for t in _texts(fig) if t.get_fontsize() < 9}
        assert not small, f"{name}: texts under 9 pt: {small}"


def test_figure_units_follow_the_conventions(ex):
    for name, fig in _all_figures(ex).items():
        texts = [t.get_text() for t in _texts(fig)]
        joined = " | ".join(texts)
        for bad in ("g/m", "g m-2", "(°N)", "(°E)", "deg"):
            assert bad not in joined, f"{name}: {bad!r} in {joined}"
        if name in ("frame", "lwp", "lwp3"):
            # Latitudes 20..20.4°N, longitudes 40..39.7°W: hemisphere letters, no signs.
            ticks = [t for t in texts if "°" in t]
            assert any(t.endswith("°N") for t in ticks) and any(t.endswith("°W") for t in ticks)
            assert not any(t.startswith(("-", "\u2212")) for t in ticks), ticks
            assert "latitude" in texts and "longitude" in texts
    hist = _all_figures(ex)["histogram"]
    labels = hist.axes[0].get_legend_handles_labels()[1]
    assert "twin clear-sky level 45 g m$^{-2}$" in labels
    assert hist.axes[0].get_xlabel() == "liquid water path (g m$^{-2}$)"
    assert hist.axes[0].get_ylabel() == "pixels (% per g m$^{-2}$)"


def test_histogram_density_in_percent(ex):
    counts, edges = ex.histogram()
    fig = explore_figures.histogram_figure({"w": (counts, edges)})
    (stairs,) = [p for p in fig.axes[0].patches if p.get_label() == "w"]
    density = stairs.get_data().values
    # % of pixels per g m-2: integrates to 100 over the bins.
    assert np.sum(density * np.diff(edges)) == pytest.approx(100.0)


def test_widgets_follow_sliders(ex):
    pytest.importorskip("ipywidgets")
    app = explore_widgets.ExplorerWidgets(ex, threshold_gm2=70, time_index=0)
    assert app.readout.value == ex.readout(70, 0)
    assert "unisst-readout" in app.readout._dom_classes
    assert "unisst-threshold" in app.threshold._dom_classes
    first_png = app.image.value
    app.threshold.value = 62.5
    assert app.readout.value == ex.readout(62.5, 0)
    app.time.value = 2
    assert app.readout.value == ex.readout(62.5, 2)
    assert app.image.value != first_png
    with pytest.raises(ThresholdError, match="outside the slider's range"):
        explore_widgets.ExplorerWidgets(ex, threshold_gm2=120)


def test_widget_layout_fits_a_narrow_column(ex):
    """Controls above the picture and wrapping; nothing wider than the output column."""
    pytest.importorskip("ipywidgets")
    app = explore_widgets.ExplorerWidgets(ex, threshold_gm2=70, time_index=0)
    assert app.box.children == (app.controls, app.readout, app.image)
    assert app.controls.layout.flex_flow == "row wrap"
    for slider in (app.threshold, app.time):
        assert slider in app.controls.children
        assert slider.layout.max_width == "100%"
        assert int(slider.layout.width.removesuffix("px")) <= 450
    assert app.image.layout.max_width == "100%" and app.image.layout.height == "auto"
    assert app.threshold.description == "LWP threshold (g m⁻²)"


def test_load_explorer_uses_the_eval_window(tiny_data_dir):
    from unisst_lib.data.dataset import make_dataset

    e = explore.load_explorer(tiny_data_dir, index=1)
    ds = make_dataset("twin", "val", mode="eval", data_dir=tiny_data_dir, preload=False)
    item = ds[1]
    missing = item["missing"][0].numpy() > 0
    # The evaluation item's mask = clouds at the default 70 g m-2 | missing SST.
    np.testing.assert_array_equal(item["mask"][0].numpy() > 0, e.mask(70) | missing)
    np.testing.assert_array_equal(e.sst.values, ds.sequences[1].values)
    assert e.n_frames == 24
    with pytest.raises(explore.FrameIndexError, match="sequence index 99"):
        explore.load_explorer(tiny_data_dir, index=99)


def test_load_explorer_missing_data(tmp_path):
    from unisst_lib.core.errors import DataNotFoundError

    with pytest.raises(DataNotFoundError, match="unisst data make"):
        explore.load_explorer(tmp_path)


def test_resolve_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("UNISST_DATA_DIR", raising=False)
    (tmp_path / "data").mkdir()
    nb = tmp_path / "notebooks"
    nb.mkdir()
    monkeypatch.chdir(nb)
    assert explore.resolve_data_dir() == tmp_path / "data"  # ../data from notebooks/
    assert explore.resolve_data_dir("x") == explore.Path("x")
    monkeypatch.setenv("UNISST_DATA_DIR", str(tmp_path / "elsewhere"))
    assert explore.resolve_data_dir() == tmp_path / "elsewhere"
