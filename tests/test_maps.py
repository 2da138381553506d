"""Maps: offline Natural Earth, comparison/locator figures, GIFs, the time-slider view."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

pytest.importorskip("cartopy")
pytest.importorskip("holoviews")
pytest.importorskip("holoviews")

import cartopy
import cartopy.io
from cartopy.io import shapereader
from cartopy.mpl.geoaxes import GeoAxes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import QuadMesh
from matplotlib.patches import Rectangle

from unisst_lib.core.errors import GridError, UnisstError
from unisst_lib.core.manifest import load_manifest, manifest_from_dict
from unisst_lib.views import animation, interactive, map_panels, maps

T, N = 4, 16
TIMES = pd.date_range("2018-01-01T00:30", periods=T, freq="6h")


@pytest.fixture(scope="module")
def fields():
    """truth / observation / recovered over the natl_subtropical box, 4 frames of 16×16.

    Frame t has exactly 16·(t + 1) cloudy pixels (rows 0..t), and the recovered
    field is the truth + 0.5 °C under the clouds (so the cloud RMSE is 0.50 °C).
    """
    region = load_manifest().regions["natl_subtropical"]
    lat = np.linspace(region.lat_min, region.lat_max, N)
    lon = np.linspace(region.lon_min, region.lon_max, N)
    yy, xx = np.meshgrid(lat, lon, indexing="ij")
    truth = np.stack([24.0 - 0.4 * (yy - 20) + 0.3 * np.sin(xx + t) for t in range(T)])
    clouds = np.zeros(truth.shape, bool)
    for t in range(T):
        clouds[t, : t + 1, :] = True
    obs = np.where(clouds, np.nan, truth)
    rec = np.where(clouds, truth + 0.5, truth)
    coords = {"time": TIMES, "latitude": lat, "longitude": lon}

    def da(a):
        return xr.DataArray(
            a.astype(np.float32), dims=map_panels.DIMS, coords=coords, attrs={"units": "degrees_C"}
        )

    return da(truth), da(obs), da(rec)


def _geoaxes(fig):
    return [ax for ax in fig.axes if isinstance(ax, GeoAxes)]


def _data_mesh(ax) -> QuadMesh:
    return next(c for c in ax.collections if isinstance(c, QuadMesh))


# ----------------------------------------------------------------------- offline
def test_shipped_natural_earth_files_are_complete_and_small():
    root = maps.naturalearth_dir() / "shapefiles" / "natural_earth"
    total = 0
    for feature in maps.SHIPPED_FEATURES:
        for ext in ("shp", "shx", "dbf", "prj", "cpg"):
            f = root / f"{feature}.{ext}"
            assert f.is_file(), f
            total += f.stat().st_size
    assert total < 1_000_000
    countries = list(shapereader.Reader(root / "cultural/ne_110m_admin_0_countries.shp").records())
    land = list(shapereader.Reader(root / "physical/ne_110m_land.shp").geometries())
    assert len(countries) == 177 and len(land) == 127
    assert "Côte d'Ivoire" in {r.attributes["NAME"] for r in countries}  # UTF-8 attributes
    # dissolving keeps the area: land = sum of the countries (square degrees)
    area = sum(r.geometry.area for r in countries)
    assert sum(g.area for g in land) == pytest.approx(area, rel=1e-6)
    # no coastline runs along the antimeridian or the South Pole (cuts, not coasts)
    for line in shapereader.Reader(root / "physical/ne_110m_coastline.shp").geometries():
        for part in getattr(line, "geoms", [line]):
            xy = np.asarray(part.coords)
            seg_on_180 = (np.abs(np.abs(xy[1:, 0]) - 180) < 1e-9) & (
                np.abs(np.abs(xy[:-1, 0]) - 180) < 1e-9
            )
            assert not seg_on_180.any()
            assert not ((xy[1:, 1] < -89.999) & (xy[:-1, 1] < -89.999)).any()


def test_configure_offline_uses_shipped_110m_and_fails_fast_otherwise(tmp_path, monkeypatch):
    def no_network(url, *a, **k):
        raise AssertionError(f"network access attempted: {url}")

    monkeypatch.setattr(cartopy.io, "urlopen", no_network)
    monkeypatch.setitem(cartopy.config, "data_dir", tmp_path)  # no user cache of 50m files
    root = maps.configure_offline()
    assert root == maps.naturalearth_dir()
    assert cartopy.config["pre_existing_data_dir"] == root
    downloader = cartopy.config["downloaders"][("shapefiles", "natural_earth")]
    assert maps.configure_offline() == root  # idempotent: the same downloader stays
    assert cartopy.config["downloaders"][("shapefiles", "natural_earth")] is downloader

    path = shapereader.natural_earth(resolution="110m", category="physical", name="coastline")
    assert path == root / "shapefiles/natural_earth/physical/ne_110m_coastline.shp"
    borders = shapereader.natural_earth("110m", "cultural", "admin_0_boundary_lines_land")
    assert borders.is_file()

    # Fails at once, not after a timeout: urlopen (patched above) is never reached.
    with pytest.raises(maps.OfflineFeatureError, match="resolution='110m'") as err:
        shapereader.natural_earth(resolution="50m", category="physical", name="coastline")
    assert isinstance(err.value, UnisstError)
    assert not list(tmp_path.rglob("*.shp"))  # nothing half-downloaded
    with pytest.raises(maps.OfflineFeatureError, match="GSHHS"):
        shapereader.gshhs(scale="c", level=1)


def test_missing_notebook_extra_is_a_clear_error(monkeypatch, fields):
    monkeypatch.setitem(sys.modules, "cartopy", None)  # import cartopy -> ImportError
    with pytest.raises(map_panels.MissingExtraError, match=r"unisst\[notebooks\]"):
        maps.comparison_figure(*fields)


# ----------------------------------------------------------------- comparison figure
def test_comparison_figure_layout_colours_and_titles(fields):
    truth, obs, rec = fields
    fig = maps.comparison_figure(truth, obs, rec, title="test")
    axes = _geoaxes(fig)
    frames = [0, 2, 3]  # default: 3 evenly spaced of 4 (0, 1.5 -> 2, 3)
    assert sorted(ax.get_label() for ax in axes) == sorted(
        f"{col}:{f}" for col in ("truth", "observation", "recovered", "error") for f in frames
    )
    rows = {ax.get_subplotspec().rowspan.start for ax in axes}
    cols = {ax.get_subplotspec().colspan.start for ax in axes}
    assert (len(rows), len(cols)) == (3, 4)
    by_label = {ax.get_label(): ax for ax in axes}

    for f in frames:
        # clouds are masked (drawn in the colormap's grey 'bad' colour)
        obs_mesh = _data_mesh(by_label[f"observation:{f}"])
        mask = np.ma.getmaskarray(obs_mesh.get_array()).reshape(N, N)
        np.testing.assert_array_equal(mask, np.isnan(obs.values[f]))
        assert np.isnan(obs.values[f]).sum() == N * (f + 1)
        assert obs_mesh.cmap.name.startswith("thermal")
        pct = 100 * (f + 1) / N
        assert f"observation ({pct:.0f} % cloud)" in by_label[f"observation:{f}"].get_title()
        assert TIMES[f].strftime("%Y-%m-%d %H:%M") in by_label[f"truth:{f}"].get_title()
        # the error panel: balance colormap on a range symmetric about zero
        err_ax = by_label[f"error:{f}"]
        lo, hi = _data_mesh(err_ax).get_clim()
        assert lo == -hi and hi == pytest.approx(0.5, abs=1e-5)
        assert _data_mesh(err_ax).cmap.name.startswith("balance")
        assert "cloud RMSE 0.50 °C" in err_ax.get_title()
    # one shared SST colour scale, from the truth
    clims = {
        _data_mesh(by_label[f"{c}:{f}"]).get_clim() for c in ("truth", "recovered") for f in frames
    }
    assert len(clims) == 1
    lo, hi = clims.pop()
    assert lo == pytest.approx(float(truth.values[frames].min()))
    assert hi == pytest.approx(float(truth.values[frames].max()))
    labels = {ax.get_xlabel() for ax in fig.axes if not isinstance(ax, GeoAxes)}
    assert labels == {"sea-surface temperature (°C)", "recovered − truth (°C)"}
    png = io.BytesIO()
    FigureCanvasAgg(fig).print_png(png)  # draws offline (coastlines, gridline labels)
    assert png.getvalue()[:4] == b"\x89PNG"


def test_comparison_figure_without_truth_and_chosen_frames(fields):
    _, obs, rec = fields
    fig = maps.comparison_figure(None, obs, rec, frames=[1, 3])
    labels = sorted(ax.get_label() for ax in _geoaxes(fig))
    assert labels == ["observation:1", "observation:3", "recovered:1", "recovered:3"]


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.isel(time=0), "exactly \\(time, latitude, longitude\\)"),
        (lambda d: d.values, "must be an xarray.DataArray"),
        (lambda d: d.isel(latitude=slice(0, 8)), "has shape"),
        (lambda d: d.drop_vars("longitude"), "no longitude coordinate"),
        (lambda d: d.rename(latitude="lat"), "rename"),
    ],
    ids=["2-D", "numpy", "shape", "no-lon-coord", "lat-name"],
)
def test_bad_input_is_a_clear_error(fields, mutate, match):
    truth, obs, rec = fields
    with pytest.raises(GridError, match=match) as err:
        maps.comparison_figure(truth, obs, mutate(rec))
    assert isinstance(err.value, ValueError) and isinstance(err.value, UnisstError)
    with pytest.raises(GridError, match=match):
        interactive.interactive_view(truth, obs, mutate(rec))


def test_bad_frames_and_paths(fields, tmp_path):
    with pytest.raises(map_panels.MapInputError, match="outside 0..3"):
        maps.comparison_figure(*fields, frames=[0, 4])
    with pytest.raises(map_panels.MapInputError, match=r"\.gif"):
        animation.sequence_gif(*fields, tmp_path / "seq.png")
    with pytest.raises(map_panels.MapInputError, match="fps"):
        animation.sequence_gif(*fields, tmp_path / "seq.gif", fps=0)
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------ locator
def test_locator_figure_draws_one_box_per_region():
    manifest = load_manifest()
    fig = maps.locator_figure(manifest)
    (ax,) = _geoaxes(fig)
    boxes = {p.get_gid(): p for p in ax.patches if str(p.get_gid()).startswith("region:")}
    assert set(boxes) == {f"region:{name}" for name in manifest.regions}
    assert all(isinstance(p, Rectangle) for p in boxes.values())
    natl = manifest.regions["natl_subtropical"]
    box = boxes["region:natl_subtropical"]
    half = natl.resolution_deg / 2
    assert box.get_xy() == pytest.approx((natl.lon_min - half, natl.lat_min - half))
    assert box.get_width() == pytest.approx(natl.lon_max - natl.lon_min + 2 * half)
    assert maps.region_roles(manifest) == {"natl_subtropical": "train", "satl_subtropical": "test"}
    assert box.get_label() == "natl_subtropical (train)"
    texts = [t.get_text() for t in ax.texts]
    assert "satl_subtropical\n(test)" in texts
    FigureCanvasAgg(fig).draw()

    raw = manifest.model_dump(mode="json")
    raw["regions"]["extra_box"] = {
        **raw["regions"]["natl_subtropical"],
        "lat_min": 40.0,
        "lat_max": 45.0,
    }
    fig = maps.locator_figure(manifest_from_dict(raw), extent=(-60, 0, -30, 60))
    (ax,) = _geoaxes(fig)
    gids = [p.get_gid() for p in ax.patches if str(p.get_gid()).startswith("region:")]
    assert len(gids) == len(manifest.regions) + 1 and "region:extra_box" in gids


# ---------------------------------------------------------------------------- GIF
def _sequence(n_time: int, n: int = 64, south: bool = False):
    """truth / observation / recovered of ``n_time`` frames of n×n, 40 % random clouds, °C."""
    lat = np.linspace(-20, -14.75, n) if south else np.linspace(20, 25.25, n)
    lon = np.linspace(-20, -14.75, n)
    yy, xx = np.meshgrid(lat, lon, indexing="ij")
    truth = np.stack([24.0 - 0.4 * (yy - 20) + 0.3 * np.sin(xx + t) for t in range(n_time)])
    rng = np.random.default_rng(0)
    clouds = rng.random(truth.shape) < 0.4
    rec = np.where(clouds, truth + 0.1 * rng.standard_normal(truth.shape), truth)
    times = pd.date_range("2019-01-01T00:30", periods=n_time, freq="6h")
    coords = {"time": times, "latitude": lat, "longitude": lon}

    def da(a):
        return xr.DataArray(a.astype(np.float32), dims=map_panels.DIMS, coords=coords)

    return da(truth), da(np.where(clouds, np.nan, truth)), da(rec)


def test_sequence_gif_frames_size_and_timing(fields, tmp_path):
    import imageio.v3 as iio
    from PIL import Image

    path = animation.sequence_gif(*fields, tmp_path / "out" / "seq.gif", fps=4, dpi=50)
    assert path == tmp_path / "out" / "seq.gif"
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == T
    height, width = frames.shape[1:3]
    assert (width, height) == (round(7.5 * 50), round(7.3 * 50))  # 2×2: three maps + colour bar
    assert len({f.tobytes() for f in frames}) == T  # every time step its own image
    with Image.open(path) as im:
        assert im.info["duration"] == 250 and im.info["loop"] == 0
    assert [p.name for p in path.parent.iterdir()] == ["seq.gif"]  # no temporary left

    one_row = animation.sequence_gif(None, *fields[1:], tmp_path / "real.gif", dpi=50)
    assert iio.imread(one_row, index=None).shape[:3] == (T, round(4.3 * 50), round(7.5 * 50))


def test_sequence_gif_is_readable_and_small(tmp_path):
    """24 frames: maps >= 300 px wide, ticks >= 9 pt, the time in the title, < 3 MB."""
    import imageio.v3 as iio

    truth, obs, rec = _sequence(24)
    path = animation.sequence_gif(truth, obs, rec, tmp_path / "seq.gif")
    frames = iio.imread(path, index=None)
    assert frames.shape[:3] == (24, 730, 750)
    assert path.stat().st_size < 3_000_000

    checked = map_panels.check_fields(truth, obs, rec)
    missing = map_panels.no_sst(checked[0], checked[2])
    rows = list(zip(("truth", "observation", "recovered"), checked, strict=True))
    anim = animation._Animation(rows, checked[1], missing, (20.0, 26.0), 100, np.zeros(24))
    maps_ = _geoaxes(anim.fig)
    assert len(maps_) == 3 and all(ax.get_window_extent().width >= 300 for ax in maps_)
    anim.image(5)  # draws frame 5: its gridline labels and title
    ticks = [t for ax in maps_ for a in ax.artists if hasattr(a, "label_artists")
             for t in a.label_artists if t.get_visible()]  # fmt: skip
    assert ticks and min(t.get_fontsize() for t in ticks) >= 9
    assert any(t.get_text() == "20°N" for t in ticks)
    assert anim.suptitle.get_text() == "2019-01-02 06:30 UTC"
    assert anim.suptitle.get_fontsize() >= 12
    assert anim.cb.ax.get_xticklabels()[0].get_fontsize() >= 9


def test_failed_gif_write_leaves_no_file(fields, tmp_path, monkeypatch):
    target = tmp_path / "seq.gif"

    def broken(frames, path, fps):
        path.write_bytes(b"GIF89a partial")
        raise OSError("disk full")

    monkeypatch.setattr(animation, "_write_gif", broken)
    with pytest.raises(OSError, match="disk full"):
        animation.sequence_gif(*fields, target, dpi=30)
    assert not list(tmp_path.iterdir())
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"):
        animation.sequence_gif(*fields, target, dpi=30)
    assert target.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1


# ---------------------------------------------------------------- interactive view
def test_interactive_view_has_a_time_slider(fields):
    import holoviews as hv

    view = interactive.interactive_view(*fields)
    assert isinstance(view, hv.Layout)
    panels = list(view)
    assert [p.last.vdims[0].name for p in panels] == ["truth", "observation", "recovered", "error"]
    for p in panels:
        assert isinstance(p, hv.HoloMap)
        assert [d.name for d in p.kdims] == ["time"]
        assert len(p.keys()) == T
        assert p.last.vdims[0].unit == "°C"
    err = panels[-1].last
    assert np.nanmax(np.abs(err.dimension_values(2))) == pytest.approx(0.5, abs=1e-5)
    model = hv.render(view, backend="bokeh")  # builds the bokeh model offline
    assert model is not None

    without = interactive.interactive_view(None, *fields[1:])
    assert [p.last.vdims[0].name for p in without] == ["observation", "recovered"]


def test_interactive_axes_are_labelled_in_degrees_north_south_east_west():
    import holoviews as hv
    from bokeh.models import CustomJSTickFormatter, Plot

    model = hv.render(interactive.interactive_view(*_sequence(2, 8, south=True)), backend="bokeh")
    figures = [f for f in model.select({"type": Plot}) if f.yaxis]
    assert len(figures) == 4
    for fig in figures:
        (x,), (y,) = fig.xaxis, fig.yaxis
        assert (x.axis_label, y.axis_label) == ("longitude", "latitude")
        assert isinstance(y.formatter, CustomJSTickFormatter)
        assert y.formatter.code == interactive.degree_js("latitude")
        assert x.formatter.code == interactive.degree_js("longitude")
    labels = [interactive.degree_label(v, "latitude") for v in (-16, -15.5, 0, 20)]
    assert labels == ["16°S", "15.5°S", "0°", "20°N"]
    assert interactive.degree_label(-15.25, "longitude") == "15.25°W"
    with pytest.raises(map_panels.MapInputError, match="latitude"):
        interactive.degree_label(1, "depth")


@pytest.mark.skipif(not shutil.which("node"), reason="node (to run the tick JavaScript) absent")
def test_the_browser_labels_degrees_as_the_python_rule_does():
    values = [-16, -15.5, -0.004, 0, 14.75, 35.25, 179.999]
    for axis in ("latitude", "longitude"):
        script = (
            f"const f = new Function('tick', {json.dumps(interactive.degree_js(axis))});"
            f"console.log(JSON.stringify({json.dumps(values)}.map(f)));"
        )
        out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
        assert json.loads(out.stdout) == [interactive.degree_label(v, axis) for v in values]


def _embedded_html(bundle) -> str:
    data = bundle._repr_mimebundle_()
    return (data[0] if isinstance(data, tuple) else data)["text/html"]


def test_a_short_sequence_is_embedded_with_its_slider_below_and_no_cdn(fields):
    html = _embedded_html(interactive.interactive_panel(*fields))
    # the first frame of the four panels, and every frame as a patch the slider applies
    assert html.count('"dtype":"float32"') == 4
    assert html.count("PATCH-DOC") == T
    assert html.count('\\"dtype\\":\\"float32\\"') == 4 * T
    assert "cdn.holoviz.org" not in html and "cdn.bokeh.org" not in html
    assert html.index('"name":"Figure"') < html.index('"name":"Slider"')  # slider below
    widths = {int(w) for w in re.findall(r'"frame_width":(\d+)', html)}
    assert widths == {interactive.PANEL_WIDTH}


def test_a_long_sequence_redraws_when_the_slider_is_released():
    import holoviews as hv
    import panel as pn
    import param

    truth, obs, rec = _sequence(6, 8)
    col = interactive.interactive_panel(truth, obs, rec, embed_max=4)
    assert isinstance(col, pn.Column)
    pane, slider = col.objects  # the slider under the grid
    assert isinstance(slider, pn.widgets.DiscreteSlider) and len(slider.options) == 6
    dmaps = list(pane.object)
    assert len(dmaps) == 4 and all(isinstance(d, hv.DynamicMap) for d in dmaps)
    frames = next(iter(interactive.interactive_view(truth, obs, rec)))  # truth, every frame
    first = dmaps[0][()].dimension_values(2)
    slider.value = list(slider.options.values())[3]  # dragging: nothing redrawn yet
    assert dmaps[0].streams[0].contents == {"frame": 0}
    with param.edit_constant(slider):
        slider.value_throttled = 3  # released
    assert dmaps[0].streams[0].contents == {"frame": 3}
    shown = dmaps[0][()].dimension_values(2)
    np.testing.assert_array_equal(shown, frames[truth["time"].values[3]].dimension_values(2))
    assert not np.array_equal(shown, first)


def test_resources_are_written_once_for_jupyterlab(monkeypatch):
    import IPython.display

    published = []
    monkeypatch.setattr(IPython.display, "publish_display_data", lambda d, **k: published.append(d))
    both = {interactive.HOLOVIEWS_LOAD_MIME: "js", "application/javascript": "js"}
    with interactive._one_copy(keep_classic=False):
        IPython.display.publish_display_data(dict(both))
        IPython.display.publish_display_data({"text/html": "<style/>"})
    with interactive._one_copy(keep_classic=True):
        IPython.display.publish_display_data(dict(both))
    assert published == [{interactive.HOLOVIEWS_LOAD_MIME: "js"}, {"text/html": "<style/>"}, both]
    assert IPython.display.publish_display_data.__name__ == "<lambda>"  # restored
