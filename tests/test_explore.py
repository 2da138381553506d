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
        == f"occlusion rate: {100 * rate:.1f} % (threshold {threshold:g} g/m², frame {t})"
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
    assert e.readout(70, 0) == "occlusion rate: 66.7 % (threshold 70 g/m², frame 0)"


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
    assert table["window"].tolist() == [
        round(100 * ex.occlusion_rate(55), 1),
        round(100 * ex.occlusion_rate(70), 1),
    ]
    with pytest.raises(ValueError, match="no value at thresholds"):
        explore.rate_table(curves, [90])


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
    assert text == "occlusion rate: 43.5 % (threshold 72.5 g/m², frame 3)"
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


def test_load_explorer_uses_the_eval_window(tiny_data_dir):
    from unisst_lib.data.dataset import make_dataset

    e = explore.load_explorer(tiny_data_dir, index=2)
    ds = make_dataset("twin", "val", mode="eval", data_dir=tiny_data_dir, preload=False)
    item = ds[2]
    missing = item["missing"][0].numpy() > 0
    # The evaluation item's mask = clouds at the default 70 g m-2 | missing SST.
    np.testing.assert_array_equal(item["mask"][0].numpy() > 0, e.mask(70) | missing)
    np.testing.assert_array_equal(e.sst.values, ds.sequences[2].values)
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
