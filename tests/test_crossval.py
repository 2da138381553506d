"""Cross-validation of the baselines on an archive (unisst_lib.benchmark.crossval, `unisst evaluate
--data`): the hidden pixels, known answers, the truth columns and the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import ndimage

from unisst_lib.benchmark import crossval
from unisst_lib.benchmark.crossval import (
    MIN_KEPT_FRACTION,
    CrossValidationError,
    cross_validate,
    cv_mask,
    cv_plan,
    evaluate_archive,
)
from unisst_lib.cli import main
from unisst_lib.core.errors import GridError
from unisst_lib.methods.interp import fill_climatology
from unisst_lib.methods.problem import BaselineInputError

L3 = "sst/twin_l3"
TRUTH = "sst/twin_l3_truth/nwafrica_2018_P1D_truth.nc"


def blob_clouds(shape: tuple[int, int, int], fraction: float, seed: int) -> np.ndarray:
    """(T, H, W) bool, True on about ``fraction`` of each frame, in smooth cloud-like blobs."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=(0, 2, 2), mode="wrap")
    return noise > np.quantile(noise, 1.0 - fraction, axis=(1, 2), keepdims=True)


def record(field: np.ndarray, clouds: np.ndarray, land: np.ndarray | None = None) -> xr.Dataset:
    """An archive-like data set: ``sst`` NaN under the clouds and on land, ``land``."""
    n_t, h, w = field.shape
    land = np.zeros((h, w), bool) if land is None else land
    sst = np.where(clouds | land[None], np.nan, field).astype(np.float32)
    return xr.Dataset(
        {
            "sst": (("time", "latitude", "longitude"), sst),
            "land": (("latitude", "longitude"), land),
        },
        coords={
            "time": pd.date_range("2018-01-01T12", periods=n_t, freq="D"),
            "latitude": 20 + 0.1 * np.arange(h),
            "longitude": -20 + 0.1 * np.arange(w),
        },
    )


def spatial_pattern(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w] / 10.0
    return 20.0 + np.sin(x) + 0.5 * np.cos(2 * y)


# ------------------------------------------------------------------ cv_mask
@pytest.fixture(scope="module")
def cloudy() -> tuple[np.ndarray, np.ndarray]:
    """(observed (30, 24, 28), land (24, 28)): blob clouds over about 40 % and a land corner."""
    land = np.zeros((24, 28), bool)
    land[:6, :5] = True
    observed = ~blob_clouds((30, 24, 28), 0.4, seed=3) & ~land[None]
    observed[7] = False  # an absent date
    return observed, land


@pytest.mark.parametrize("share", [0.03, 0.1, 0.25, 0.5])
def test_cv_mask_hides_about_the_share_of_observed_sea_pixels_only(cloudy, share):
    observed, land = cloudy
    obs_with_land = observed.copy()
    obs_with_land[:, 0, 0] = True  # an "observation" on land is never hidden either
    plan = cv_plan(obs_with_land, share=share, seed=1, land=land)
    assert plan.hidden.shape == observed.shape and plan.hidden.dtype == np.bool_
    assert not (plan.hidden & ~observed).any()  # only observed sea pixels
    assert not (plan.hidden & land[None]).any()
    assert plan.observed == observed.sum() and plan.target == round(share * observed.sum())
    # The algorithm's bound: |hidden - target| <= c_max / 2, c_max <= the most observed pixels
    # of a frame (one donor hides part of one frame).
    tolerance = observed.sum(axis=(1, 2)).max() / 2
    assert abs(int(plan.hidden.sum()) - plan.target) <= tolerance
    assert abs(plan.share - share) <= tolerance / observed.sum()


def test_cv_mask_is_deterministic_for_a_seed(cloudy):
    observed, land = cloudy
    a = cv_mask(observed, share=0.1, seed=5, land=land)
    np.testing.assert_array_equal(a, cv_mask(observed, share=0.1, seed=5, land=land))
    assert not np.array_equal(a, cv_mask(observed, share=0.1, seed=6, land=land))


def test_cv_mask_hides_under_the_clouds_of_other_dates(cloudy):
    observed, land = cloudy
    plan = cv_plan(observed, share=0.3, seed=2, land=land)
    clouds = ~observed & ~land[None]
    assert plan.donors
    for t in range(observed.shape[0]):
        donors = plan.donors.get(t, [])
        assert t not in donors and 7 not in donors  # never itself, never the absent date
        expected = np.zeros(land.shape, bool)
        for s in donors:
            expected |= observed[t] & clouds[s]
        np.testing.assert_array_equal(plan.hidden[t], expected)


def test_cv_mask_known_answer():
    """One frame lends clouds (the clear one has none, the absent one is no cloud mask)."""
    observed = np.ones((3, 1, 8), bool)
    observed[1, 0, :4] = False  # clouds over the west half of day 2
    observed[2] = False  # day 3 absent
    # 12 observed pixels, 30 %: target 4 = day 2's clouds laid over day 1 (day 2 has no donor).
    plan = cv_plan(observed, share=0.3, seed=0, land=np.zeros((1, 8), bool))
    assert plan.donors == {0: [1]}
    expected = np.zeros_like(observed)
    expected[0, 0, :4] = True
    np.testing.assert_array_equal(plan.hidden, expected)


def test_cv_mask_donors_are_of_another_calendar_day():
    observed = np.ones((4, 2, 4), bool)
    observed[1, :, :2] = False  # the only clouds: the second frame of day 1
    times = pd.to_datetime(["2018-01-01T06", "2018-01-01T18", "2018-01-02T06", "2018-01-02T18"])
    plan = cv_plan(observed, share=0.3, seed=0, times=times.values)
    assert set(plan.donors) <= {2, 3}  # day 1's first frame may not borrow day 1's clouds
    assert plan.donors  # without dates it may:
    assert 0 in cv_plan(observed, share=0.5, seed=0).donors


def test_cv_mask_never_empties_a_frame(cloudy):
    observed, land = cloudy
    observed = observed.copy()
    observed[3] = False
    observed[3, 10:12, 10:12] = True  # a nearly empty frame: 4 pixels, under most clouds
    plan = cv_plan(observed, share=0.5, seed=4, land=land)
    left = (observed & ~plan.hidden).sum(axis=(1, 2))
    n_obs = observed.sum(axis=(1, 2))
    keep = np.maximum(1, np.ceil(MIN_KEPT_FRACTION * n_obs))
    assert ((left >= keep) | (n_obs == 0)).all()
    assert left[3] >= 1


def test_cv_mask_errors(cloudy):
    observed, land = cloudy
    for share in (0, -0.1, 0.51, 1.0):
        with pytest.raises(CrossValidationError, match=r"share must be in \(0, 0.5\]"):
            cv_mask(observed, share=share)
    with pytest.raises(CrossValidationError, match="seed"):
        cv_mask(observed, seed=-1)
    with pytest.raises(CrossValidationError, match="bool"):
        cv_mask(observed.astype(int))
    with pytest.raises(CrossValidationError, match="land"):
        cv_mask(observed, land=land[:-1])
    with pytest.raises(CrossValidationError, match="no frame has clouds"):
        cv_mask(np.ones((4, 3, 3), bool))


# ------------------------------------------------------------------ methods and scores
def test_fill_climatology_is_the_pixel_mean_with_a_spatial_fallback():
    sst = np.array([[[1.0, np.nan, 5.0, 7.0]], [[3.0, np.nan, np.nan, 9.0]]])
    out = fill_climatology(sst, land=np.zeros((1, 4), bool))
    # pixel means 2, -, 5, 8; the never-observed pixel: the harmonic fill between 2 and 5
    np.testing.assert_allclose(out, [[[1.0, 3.5, 5.0, 7.0]], [[3.0, 3.5, 5.0, 9.0]]])


def test_a_field_constant_in_time_is_exact_for_interp_and_climatology():
    n_t, h, w = 20, 16, 18
    field = np.broadcast_to(spatial_pattern(h, w), (n_t, h, w))
    ds = record(field, blob_clouds((n_t, h, w), 0.3, seed=7))
    res = cross_validate(ds, methods=("interp", "climatology"), share=0.15, seed=0)
    left = np.isfinite(ds.sst.values) & ~res.hidden
    assert left[:, ~ds.land.values].any(axis=0).all()  # premise: every pixel still observed
    rows = {r["method"]: r for r in res.rows}
    for name in ("interp", "climatology"):
        assert rows[name]["status"] == "ok"
        assert rows[name]["hidden_pixels"] == res.hidden.sum() > 0
        assert rows[name]["rmse_c"] < 1e-5 and abs(rows[name]["bias_c"]) < 1e-5  # float32 data


def test_a_field_linear_in_time_is_exact_for_interp_not_for_climatology():
    n_t, h, w = 16, 12, 14
    t = np.arange(n_t, dtype=float)[:, None, None]
    field = spatial_pattern(h, w)[None] + 0.2 * t  # 0.2 °C a day
    clouds = blob_clouds((n_t, h, w), 0.35, seed=11)
    clouds[[0, -1]] = False  # clear first and last days: interpolation, no extrapolation
    ds = record(field, clouds)
    observed = np.isfinite(ds.sst.values)
    # a seed that hides nothing on the first and last days (checked, not assumed)
    seed = next(s for s in range(100) if not cv_mask(observed, share=0.1, seed=s)[[0, -1]].any())
    res = cross_validate(ds, methods=("climatology", "interp"), share=0.1, seed=seed)
    assert not res.hidden[[0, -1]].any()
    rows = {r["method"]: r for r in res.rows}
    assert [r["method"] for r in res.rows] == ["climatology", "interp"]
    assert rows["interp"]["rmse_c"] < 1e-5
    # climatology − observed at a hidden pixel: 0.2 × (the mean of its days left − its day)
    left = observed & ~res.hidden
    days = np.broadcast_to(t, field.shape)
    mean_day = (days * left).sum(axis=0) / left.sum(axis=0)
    err = 0.2 * (mean_day[None] - days)[res.hidden]
    assert rows["climatology"]["rmse_c"] == pytest.approx(math.sqrt(np.mean(err**2)), rel=1e-4)
    assert rows["climatology"]["bias_c"] == pytest.approx(np.mean(err), abs=1e-5)
    assert rows["climatology"]["rmse_c"] > 0.1


def test_every_method_gets_the_same_hidden_pixels_and_a_failure_is_a_row(monkeypatch):
    n_t, h, w = 12, 10, 10
    ds = record(
        np.broadcast_to(spatial_pattern(h, w), (n_t, h, w)), blob_clouds((n_t, h, w), 0.3, 2)
    )
    seen = {}

    def recorder(name):
        def run(sst, land, seed):
            seen[name] = np.isfinite(sst)
            return np.where(np.isfinite(sst), sst, 20.0), {"note": "fake"}

        return run

    def broken(sst, land, seed):
        raise BaselineInputError("dineof: the data hold 1 observed pixel(s)")

    monkeypatch.setitem(crossval.CV_METHODS, "interp", recorder("interp"))
    monkeypatch.setitem(crossval.CV_METHODS, "climatology", recorder("climatology"))
    monkeypatch.setitem(crossval.CV_METHODS, "dineof", broken)
    res = cross_validate(ds, share=0.2, seed=3)
    expected = np.isfinite(ds.sst.values) & ~res.hidden
    np.testing.assert_array_equal(seen["interp"], expected)
    np.testing.assert_array_equal(seen["climatology"], expected)
    rows = {r["method"]: r for r in res.rows}
    assert rows["dineof"]["status"] == "failed" and rows["dineof"]["rmse_c"] is None
    assert rows["dineof"]["reason"].startswith("BaselineInputError: dineof: the data hold 1")
    assert rows["interp"]["status"] == rows["climatology"]["status"] == "ok"
    assert len({r["hidden_pixels"] for r in res.rows}) == 1
    text = res.to_markdown()
    assert "failed: BaselineInputError" in text and "truth" not in text


def test_truth_scores_only_when_the_truth_is_given():
    n_t, h, w = 14, 12, 12
    land = np.zeros((h, w), bool)
    land[:, :2] = True
    field = np.broadcast_to(spatial_pattern(h, w), (n_t, h, w))
    ds = record(field, blob_clouds((n_t, h, w), 0.3, seed=5), land)
    plain = cross_validate(ds, methods=("climatology",), share=0.1)
    assert not any(k.startswith("truth") for k in plain.rows[0])
    assert not plain.truth_given and plain.to_dict()["truth_note"] is None
    truth = xr.DataArray(field, dims=("time", "latitude", "longitude"), coords=ds.sst.coords)
    res = cross_validate(ds, methods=("climatology",), share=0.1, truth=truth)
    row = res.rows[0]
    gaps = np.isnan(ds.sst.values) & ~land[None]
    assert row["truth_pixels"] == gaps.sum() > 0  # the real clouds, never land
    assert row["truth_rmse_c"] < 1e-5  # a steady field: the climatology is the truth
    assert row["rmse_c"] == plain.rows[0]["rmse_c"]  # the truth changes no CV score
    assert "truth: RMSE (°C)" in res.to_markdown() and "never used for any choice" in (
        res.to_markdown()
    )
    with pytest.raises(GridError, match="latitude"):
        cross_validate(ds, methods=("climatology",), truth=truth.isel(latitude=slice(1, None)))


def test_unknown_method_and_bad_share_are_errors():
    ds = record(np.full((6, 4, 4), 20.0), blob_clouds((6, 4, 4), 0.3, 1))
    with pytest.raises(CrossValidationError, match="unknown method.*'kriging'.*interp, dineof"):
        cross_validate(ds, methods=("interp", "kriging"))
    with pytest.raises(CrossValidationError, match="share"):
        cross_validate(ds, share=0.7)


# ------------------------------------------------------------------ the tiny embedded archive
@pytest.fixture(scope="module")
def tiny_cv(tiny_data_dir):
    return evaluate_archive(tiny_data_dir / L3, truth=tiny_data_dir / TRUTH, share=0.1, seed=0)


def test_tiny_archive_cross_validation(tiny_cv, tiny_data_dir):
    from unisst_lib.data.archive import open_archive

    ds = open_archive(tiny_data_dir / L3)
    sst, land = ds.sst.values, ds.land.values
    observed = np.isfinite(sst) & ~land[None]
    assert tiny_cv.observed_pixels == observed.sum()
    assert not (tiny_cv.hidden & ~observed).any()
    assert abs(tiny_cv.hidden_share - 0.1) <= observed.sum(axis=(1, 2)).max() / 2 / observed.sum()
    rows = {r["method"]: r for r in tiny_cv.rows}
    assert list(rows) == ["interp", "dineof", "climatology"]
    assert all(r["status"] == "ok" for r in rows.values())
    assert rows["dineof"]["n_eofs"] >= 1 and rows["dineof"]["note"].startswith("k = ")
    gaps = int((np.isnan(sst) & ~land[None]).sum())  # real clouds and 3 absent days
    assert all(r["truth_pixels"] == gaps for r in rows.values())
    for r in rows.values():
        assert 0 < r["rmse_c"] < 2 and r["mae_c"] <= r["rmse_c"]
    # the cross-validation picks the method the truth picks, and ranks the climatology last
    cv_rank = sorted(rows, key=lambda m: rows[m]["rmse_c"])
    truth_rank = sorted(rows, key=lambda m: rows[m]["truth_rmse_c"])
    assert cv_rank[0] == truth_rank[0] and cv_rank[-1] == truth_rank[-1] == "climatology"


# ------------------------------------------------------------------ the command line
def test_cli_evaluate_data_table_and_json(tiny_data_dir, capsys):
    args = ["evaluate", "--data", str(tiny_data_dir / L3), "--methods", "interp,climatology"]
    assert main([*args, "--truth", str(tiny_data_dir / TRUTH), "--share", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "| method | hidden pixels | RMSE (°C) | MAE (°C) | bias (°C) | time (s) |" in out
    assert "truth: RMSE (°C)" in out and "| linear in time |" in out and "asked 20.0 %" in out
    assert main([*args, "--json", "--seed", "3"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["seed"] == 3 and doc["share_asked"] == 0.1 and not doc["truth_given"]
    assert [r["method"] for r in doc["rows"]] == ["interp", "climatology"]
    assert set(doc["rows"][0]) >= {"hidden_pixels", "rmse_c", "mae_c", "bias_c", "seconds"}
    assert doc["hidden_pixels"] == doc["rows"][0]["hidden_pixels"] > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "evaluate takes either --data ARCHIVE"),
        # with --data, --checkpoint is the unisst row's model: unisst must be a method
        (["--data", "D", "--checkpoint", "x.pt"], "add unisst to --methods"),
        (
            ["--data", "D", "--methods", "unisst", "--checkpoint", "x", "--fit-steps", "2"],
            "not both",
        ),
        (["--data", "D", "--thresholds", "55"], "evaluate --data does not take --thresholds"),
        (["--checkpoint", "x.pt", "--share", "0.1"], "evaluate --checkpoint does not take --share"),
        (["--data", "D", "--methods", "interp,kriging"], "unknown method(s) 'kriging'"),
        (["--data", "D", "--share", "0.6"], "share must be in (0, 0.5]"),
        (["--data", "D", "--share", "0"], "share must be in (0, 0.5]"),
    ],
)
def test_cli_evaluate_clear_errors(extra, message, capsys, tmp_path):
    extra = [str(tmp_path / "none") if a == "D" else a for a in extra]
    assert main(["evaluate", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
