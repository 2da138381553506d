"""Maps of an L3 archive (views/archive_maps) and the glue of notebook 06 (notebooks/archive_view).

A hand-made archive of 4 daily frames on 3 × 4 pixels, the last column land:

* frame 0: every sea pixel observed (quality 5);
* frame 1: row 0 removed by the quality filter (quality 2), row 1 at quality 4, row 2 at 5;
* frame 2: an absent date (no file: quality 0, nothing observed);
* frame 3: only pixel (0, 0) observed (quality 5); pixel (2, 2) removed (quality 3).

SST = 20 + row + 0.1 · column (°C), the same every day. Every expected number below
is counted by hand from this list.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

pytest.importorskip("cartopy")

from cartopy.mpl.geoaxes import GeoAxes
from matplotlib.collections import QuadMesh

from unisst_lib.core.errors import GridError, UnisstError
from unisst_lib.notebooks import archive_view as av
from unisst_lib.views import archive_maps as am
from unisst_lib.views.map_panels import MapInputError

T, NY, NX = 4, 3, 4
TIMES = pd.date_range("2018-01-01T12:00", periods=T, freq="D")
LAT = np.array([10.0, 10.1, 10.2])
LON = np.array([-20.0, -19.9, -19.8, -19.7])


def _archive() -> xr.Dataset:
    rows, cols = np.meshgrid(np.arange(NY), np.arange(NX), indexing="ij")
    field = 20.0 + rows + 0.1 * cols
    land = np.zeros((NY, NX), bool)
    land[:, 3] = True
    ql = np.zeros((T, NY, NX), np.int8)
    ql[0][~land] = 5
    ql[1, 0, :3], ql[1, 1, :3], ql[1, 2, :3] = 2, 4, 5
    ql[3, 0, 0], ql[3, 2, 2] = 5, 3
    sst = np.where((ql >= 4) & ~land[None], field[None], np.nan).astype(np.float32)
    dims = ("time", "latitude", "longitude")
    return xr.Dataset(
        {
            "sst": (dims, sst, {"units": "degrees_C"}),
            "quality_level": (dims, ql, {
                "flag_values": np.arange(6, dtype=np.int8),
                "flag_meanings": "no_data bad_data worst_quality low_quality acceptable_quality "
                "best_quality",
            }),
            "land": (("latitude", "longitude"), land),
        },
        coords={"time": TIMES, "latitude": LAT, "longitude": LON},
        attrs={
            "cadence": "P1D", "frames": T, "absent_dates": ["2018-01-03"],
            "absent_dates_count": 1, "quality_filter": "quality_level >= 4", "min_quality": 4,
            "land_mask_source": "l2p_flags land bit (mask 2)", "source_files": 3,
            "source_first_file": "20180101.nc", "grid_spacing_deg": 0.1, "bias_applied": "no",
            "sea_pixels_never_observed": 0, "source_variable": "sea_surface_temperature",
        },
    )  # fmt: skip


@pytest.fixture
def ds() -> xr.Dataset:
    return _archive()


def _cv_result(ds: xr.Dataset) -> SimpleNamespace:
    """Hidden: (1, 0), (1, 1) in frame 0 and (2, 0) in frame 1. UNISST errs by +0.3, -0.4
    and +0.2 there, linear-in-time by +1.0 everywhere hidden."""
    sst = ds["sst"].values.astype(np.float64)
    hidden = np.zeros(sst.shape, bool)
    hidden[0, 1, 0] = hidden[0, 1, 1] = hidden[1, 2, 0] = True
    sea_gap = np.isnan(sst) & ~ds["land"].values[None]
    unisst = np.where(sea_gap, 18.0, sst)  # land stays NaN, as fill() leaves it
    unisst[0, 1, 0] += 0.3
    unisst[0, 1, 1] -= 0.4
    unisst[1, 2, 0] += 0.2
    interp = np.where(hidden, sst + 1.0, np.where(sea_gap, 18.0, sst))
    return SimpleNamespace(hidden=hidden, fills={"unisst": unisst, "interp": interp})


def _maps(fig) -> list[GeoAxes]:
    return [ax for ax in fig.axes if isinstance(ax, GeoAxes)]


def _mesh(ax) -> QuadMesh:
    return next(c for c in ax.collections if isinstance(c, QuadMesh))


def _drawn(ax) -> np.ndarray:
    """The (latitude, longitude) values a map panel draws, NaN where masked."""
    return np.ma.filled(_mesh(ax).get_array().astype(float), np.nan).reshape(NY, NX)


def _by_label(fig, label: str):
    return [ax for ax in fig.axes if ax.get_label() == label]


# --------------------------------------------------------------------------- numbers
def test_observed_share_and_frame_coverage_count_usable_sea_values(ds):
    share = am.observed_share(ds)
    assert share.dims == ("latitude", "longitude") and share.attrs["units"] == "%"
    expected = np.array([
        [50.0, 25.0, 25.0, np.nan],  # (0, 0): frames 0, 3; (0, 1), (0, 2): frame 0
        [50.0, 50.0, 50.0, np.nan],  # frames 0, 1
        [50.0, 50.0, 50.0, np.nan],
    ])  # fmt: skip
    np.testing.assert_allclose(share.values, expected)
    cover = am.frame_coverage(ds)
    np.testing.assert_allclose(cover.to_numpy(), [100.0, 600 / 9, 0.0, 100 / 9])
    assert list(cover.index) == list(TIMES)


def test_quality_counts_and_removed_share(ds):
    # level 2: row 0 of frame 1; 3: (2, 2) of frame 3; 4: row 1 of frame 1;
    # 5: frame 0 (9), row 2 of frame 1 (3), (0, 0) of frame 3
    assert am.quality_counts(ds) == {1: 0, 2: 3, 3: 1, 4: 3, 5: 13}
    removed = am.removed_share(ds).values
    expected = np.array([
        [25.0, 25.0, 25.0, np.nan],
        [0.0, 0.0, 0.0, np.nan],
        [0.0, 0.0, 25.0, np.nan],
    ])  # fmt: skip
    np.testing.assert_allclose(removed, expected)
    for fn in (am.quality_counts, am.removed_share):
        with pytest.raises(GridError, match="no quality_level"):
            fn(ds.drop_vars("quality_level"))


def test_pick_date_by_index_day_time_or_from_the_data(ds):
    assert am.pick_date(ds, 2) == 2
    assert am.pick_date(ds, "2018-01-02") == 1  # the day's frame, not the nearer-by-12-h one
    assert am.pick_date(ds, "2018-01-04T02:00") == 3  # 10 h from frame 3, 14 h from frame 2
    assert am.pick_date(ds, np.datetime64("2018-01-04T12:00")) == 3
    # the frame with the most hidden pixels; else coverage nearest the median of 100, 67, 11 %
    assert am.pick_date(ds, hidden=_cv_result(ds).hidden) == 0
    assert am.pick_date(ds) == 1
    with pytest.raises(MapInputError, match=r"frame 4 is outside 0\.\.3") as err:
        am.pick_date(ds, 4)
    assert isinstance(err.value, UnisstError)
    with pytest.raises(MapInputError, match=r"not in the archive \(2018-01-01 12:00 to 2018-01-04"):
        am.pick_date(ds, "2019-06-01")
    with pytest.raises(MapInputError, match="neither a frame index nor a date"):
        am.pick_date(ds, "yesterday-ish")


# --------------------------------------------------------------------------- figures
def test_coverage_figure_maps_the_share_and_plots_each_frame(ds):
    fig = am.coverage_figure(ds)
    (m,) = _maps(fig)
    assert m.get_label() == "observed"
    np.testing.assert_allclose(_drawn(m), am.observed_share(ds).values)
    assert _mesh(m).get_clim() == (25.0, 50.0) and _mesh(m).cmap.name.startswith("dense")
    assert "observed in 44 % of frames" in m.get_title()  # mean of the 9 sea shares: 400 / 9
    (bars,) = _by_label(fig, "frames")
    heights = [p.get_height() for p in bars.patches]
    np.testing.assert_allclose(heights, am.frame_coverage(ds).to_numpy())
    assert bars.get_ylabel() == "sea observed (%)" and bars.get_ylim() == (0.0, 100.0)
    assert "no file (1 date)" in [t.get_text() for t in bars.get_legend().get_texts()]
    (cbar,) = _by_label(fig, "colorbar:observed")
    assert cbar.get_xlabel() == "frames with a usable SST (%)"
    assert fig.get_suptitle() == "3 files, 4 frames (2018-01-01 to 2018-01-04), 3×4 pixels"


def test_quality_figure_maps_removed_values_and_counts_levels(ds):
    fig = am.quality_figure(ds)
    (m,) = _maps(fig)
    np.testing.assert_allclose(_drawn(m), am.removed_share(ds).values)
    assert _mesh(m).get_clim() == (0.0, 25.0) and _mesh(m).cmap.name.startswith("amp")
    assert m.get_title() == "(a) removed: quality_level < 4"
    (levels,) = _by_label(fig, "levels")
    heights = [p.get_height() for p in levels.patches]
    np.testing.assert_allclose(heights, [0.0, 15.0, 5.0, 15.0, 65.0])  # of 20 values
    colours = [p.get_facecolor()[:3] for p in levels.patches]
    assert colours[0] == colours[1] == colours[2] != colours[3] == colours[4]  # kept: 4, 5
    ticks = [t.get_text() for t in levels.get_xticklabels()]
    assert ticks[0] == "1\nbad data" and ticks[-1] == "5\nbest quality"
    assert levels.get_ylabel() == "sea values in the files (%)"
    assert am.quality_figure(ds.drop_vars("quality_level")) is None


def test_cv_error_figure_draws_the_error_on_the_hidden_pixels_only(ds):
    fig = am.cv_error_figure(ds, _cv_result(ds))  # default: frame 0, two pixels hidden
    maps = _maps(fig)
    assert [ax.get_label() for ax in maps] == ["sst", "sst", "sst", "error"]
    obs, saw, filled, err = (_drawn(ax) for ax in maps)
    np.testing.assert_array_equal(obs, ds["sst"].values[0])
    assert np.isnan(saw[1, :2]).all() and np.isfinite(obs[1, :2]).all()
    np.testing.assert_allclose(filled, _cv_result(ds).fills["unisst"][0])
    expected = np.full((NY, NX), np.nan)
    expected[1, 0], expected[1, 1] = 0.3, -0.4
    np.testing.assert_allclose(err, expected, atol=1e-6)
    assert "RMSE 0.35 °C" in maps[3].get_title()  # sqrt((0.09 + 0.16) / 2)
    assert "(2 pixels hidden)" in maps[1].get_title()
    lo, hi = _mesh(maps[3]).get_clim()
    assert lo == -hi and hi == pytest.approx(0.3995)  # 99.5th percentile of 0.3, 0.4
    for ax in maps[:3]:  # one SST scale over the three panels: 20.0 at (0, 0) to 22.2 at (2, 2)
        assert _mesh(ax).get_clim() == pytest.approx((20.0, 22.2))
    (cbar,) = _by_label(fig, "colorbar:error")
    assert cbar.get_xlabel() == "UNISST − observed (°C)"
    (cbar,) = _by_label(fig, "colorbar:sst")
    assert cbar.get_xlabel() == "sea-surface temperature (°C)"
    assert "2018-01-01 12:00" in fig.get_suptitle()


def test_cv_errors_by_method_share_one_scale(ds):
    fig = am.cv_errors_by_method_figure(ds, _cv_result(ds), date="2018-01-02")
    a, b = _maps(fig)
    assert (
        a.get_title() == "UNISST\nRMSE 0.20 °C" and b.get_title() == "linear in time\nRMSE 1.00 °C"
    )
    assert _mesh(a).get_clim() == _mesh(b).get_clim()
    assert np.isfinite(_drawn(b)).sum() == 1 and _drawn(b)[2, 0] == pytest.approx(1.0)


def test_a_descending_grid_is_drawn_ascending(ds):
    flipped = ds.isel(latitude=slice(None, None, -1))
    result = _cv_result(ds)
    result_flipped = SimpleNamespace(
        hidden=result.hidden[:, ::-1], fills={k: v[:, ::-1] for k, v in result.fills.items()}
    )
    fig = am.cv_error_figure(flipped, result_flipped, date=0)
    expected = np.full((NY, NX), np.nan)
    expected[1, 0], expected[1, 1] = 0.3, -0.4
    np.testing.assert_allclose(_drawn(_maps(fig)[3]), expected, atol=1e-6)
    np.testing.assert_array_equal(_drawn(_maps(fig)[0]), ds["sst"].values[0])


def test_filled_figure_counts_the_filled_pixels(ds):
    values = ds["sst"].fillna(19.0).where(~ds["land"])
    filled = xr.Dataset({
        "sst": values,
        "sst_filled_mask": (ds["sst"].isnull() & ~ds["land"]).astype(np.int8),
    })  # fmt: skip
    fig = am.filled_figure(ds, filled)  # default: frame 1 (coverage nearest the median)
    obs, out = _maps(fig)
    assert obs.get_title() == "observed" and out.get_title() == "filled\n(3 pixels filled)"
    np.testing.assert_array_equal(_drawn(out), values.values[1])
    assert fig.get_suptitle() == "2018-01-02 12:00"
    with pytest.raises(GridError, match="fill of this archive"):
        am.filled_figure(ds, filled.isel(time=slice(0, 2)))
    with pytest.raises(GridError, match="'sst' variable"):
        am.filled_figure(ds, filled.rename(sst="analysed_sst"))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda ds, r: (ds, SimpleNamespace(hidden=r.hidden, fills={})), "no fill of 'unisst'"),
        (lambda ds, r: (ds, object()), "need a cross_validate"),
        (lambda ds, r: (ds.isel(time=slice(0, 3)), r), r"for a \(4, 3, 4\) archive"),
        (lambda ds, r: (ds.rename(sst="x"), r), "with an 'sst' variable"),
    ],
    ids=["no-fill", "not-a-result", "other-archive", "no-sst"],
)
def test_bad_cv_inputs_are_clear_errors(ds, make, match):
    args = make(ds, _cv_result(ds))
    with pytest.raises(UnisstError, match=match):
        am.cv_error_figure(*args)


# ------------------------------------------------------------- the notebook's glue
def test_archive_table_reads_the_attributes(ds):
    table = {r["property"]: r["value"] for r in av.archive_table(ds)}
    assert table["frames"] == "4, every P1D"
    assert table["period"] == "2018-01-01T12:00 to 2018-01-04T12:00 (UTC)"
    assert table["absent dates (no file)"] == "1: 2018-01-03"
    assert table["grid"] == "3 × 4 pixels, 0.1°"
    assert table["quality filter"] == "quality_level >= 4"
    assert table["land mask"] == "l2p_flags land bit (mask 2)"
    assert table["land pixels"] == "3 (25.0 % of the grid)"
    assert table["usable sea values"] == "16 (44.4 %)"  # 9 + 6 + 0 + 1 of 36
    assert table["observed SST"] == "20.00 to 22.20 °C"
    assert table["files"] == "3 (first: 20180101.nc)"


def test_choose_archive_given_or_embedded(tmp_path):
    mine = av.choose_archive(tmp_path / "l3")
    assert mine == av.ArchiveChoice(str(tmp_path / "l3"), embedded=False)
    assert mine.line() == f"Your archive: {tmp_path / 'l3'}"
    listed = av.choose_archive([tmp_path / "a.nc", tmp_path / "b.nc"])
    assert listed.source == [str(tmp_path / "a.nc"), str(tmp_path / "b.nc")]
    with pytest.raises(UnisstError, match="archive is empty"):
        av.choose_archive("  ")
    with pytest.raises(UnisstError, match="empty list"):
        av.choose_archive([])
    # the embedded archive already on disk: found by the manifest's glob, not regenerated
    pattern = av.embedded_archive_pattern(tmp_path)
    assert pattern.startswith(str(tmp_path / "sst" / "twin_l3")) and pattern.endswith(".nc")
    day = tmp_path / "sst" / "twin_l3" / pattern.rsplit("/", 1)[1].replace("*", "20180101120000")
    day.parent.mkdir(parents=True)
    day.write_bytes(b"")
    found = av.choose_archive(None, data_root=tmp_path)
    assert found == av.ArchiveChoice(str(day.parent), embedded=True, generated=False)
    assert "already on disk" in found.line() and "`twin_l3`" in found.line()


def test_write_filled_round_trips_and_leaves_no_temporary_file(ds, tmp_path):
    filled = xr.Dataset({
        "sst": ds["sst"].fillna(19.5).where(~ds["land"]),
        "sst_filled_mask": (ds["sst"].isnull() & ~ds["land"]).astype(np.int8),
    }, attrs={"absent_dates": ["2018-01-03"], "two": ["a", "b"], "frames": 4})  # fmt: skip
    path = av.write_filled(filled, tmp_path / "out" / "filled.nc")
    assert sorted(p.name for p in path.parent.iterdir()) == ["filled.nc"]
    with xr.open_dataset(path) as back:
        np.testing.assert_array_equal(back["sst"].values, filled["sst"].values)
        np.testing.assert_array_equal(back["sst_filled_mask"].values, filled["sst_filled_mask"])
        assert back["sst"].attrs["units"] == "degrees_C"
        assert back["sst"].encoding["zlib"] is True
        assert back.attrs["absent_dates"] == "2018-01-03" and back.attrs["two"] == "a, b"
        assert back.attrs["frames"] == 4
    line = av.fill_summary(
        SimpleNamespace(checkpoint="m.pt", steps=7, seconds=12.4, holdout_rmse_c=0.4567),
        filled, path,
    )  # fmt: skip
    assert line.startswith("Model m.pt: 7 steps in 12 s; RMSE 0.457 °C on observed pixels")
    assert line.endswith(f"{path}: sst 4 × 3 × 4 (time × latitude × longitude), 20 values filled.")


def test_write_cv_writes_json_and_markdown(tmp_path):
    fake = SimpleNamespace(to_dict=lambda: {"rows": [{"method": "dineof", "rmse_c": 0.5}]},
                           to_markdown=lambda: "| method |\n")  # fmt: skip
    j, m = av.write_cv(fake, tmp_path / "cv")
    assert json.loads(j.read_text()) == {"rows": [{"method": "dineof", "rmse_c": 0.5}]}
    assert m.read_text() == "| method |\n" and m.name == "cross_validation.md"


def test_mapped_method_prefers_unisst_then_the_first_that_ran():
    both = SimpleNamespace(fills={"interp": 1, "unisst": 2})
    assert av.mapped_method(both) == "unisst"
    assert av.mapped_method(SimpleNamespace(fills={"dineof": 1, "interp": 2})) == "dineof"
    with pytest.raises(UnisstError, match="nothing to map"):
        av.mapped_method(SimpleNamespace(fills={}))


def test_fit_plan_and_command_lines():
    four = ["unisst", "interp", "dineof", "climatology"]
    assert av.fit_plan(fit_minutes=10, fit_steps=None, methods=four).startswith(
        "UNISST is fitted twice, 10 minutes each: on the cross-validation input"
    )
    assert av.fit_plan(fit_minutes=10, fit_steps=3, methods=["dineof"]) == (
        "UNISST is fitted once, on the whole archive, for the fill: 3 steps."
    )
    choice = av.ArchiveChoice("my data/l3", embedded=False)
    lines = av.cli_commands(
        choice, out_dir="out", methods=four, share=0.1, seed=3, fit_minutes=2.5, fit_steps=None,
        min_quality=3,
    ).splitlines()  # fmt: skip
    assert lines == [
        "unisst evaluate --data 'my data/l3' --min-quality 3 "
        "--methods unisst,interp,dineof,climatology --share 0.1 --seed 3 --fit-minutes 2.5",
        "unisst fill 'my data/l3' out/filled --min-quality 3 --fit --fit-minutes 2.5",
        "unisst train --data 'my data/l3' --min-quality 3 --out out/run",
    ]
    steps = av.cli_commands(
        av.ArchiveChoice(["a.nc", "b.nc"], embedded=False), out_dir="o", methods=["dineof"],
        share=0.2, seed=0, fit_minutes=10, fit_steps=5,
    )  # fmt: skip
    assert "--data 'FOLDER/*.nc' --methods dineof --share 0.2 --seed 0 --fit-steps 5" in steps
