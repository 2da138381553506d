"""Cloud masks: threshold units and semantics, occlusion rates, CloudSampler windows."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from unisst_lib.core.errors import CloudDataError, ThresholdError
from unisst_lib.data.masks import (
    CloudSampler,
    CloudWindow,
    check_threshold,
    gm2_to_kgm2,
    kgm2_to_gm2,
    lwp_to_mask,
    occlusion_rate,
    occlusion_rate_curve,
    occlusion_rate_per_frame,
)


def _lwp(n_steps=300, ny=16, nx=16, seed=0) -> np.ndarray:
    """Log-normal-ish LWP in kg m-2, about half the pixels above 70 g m-2."""
    rng = np.random.default_rng(seed)
    return (0.07 * np.exp(0.8 * rng.standard_normal((n_steps, ny, nx)))).astype(np.float32)


# ----------------------------------------------------------------- units
def test_unit_conversions_round_trip():
    assert gm2_to_kgm2(70) == pytest.approx(0.070)
    assert kgm2_to_gm2(0.055) == pytest.approx(55.0)
    a = np.array([55.0, 80.0])
    np.testing.assert_allclose(kgm2_to_gm2(gm2_to_kgm2(a)), a)


# ------------------------------------------------------------- threshold
def test_mask_is_strictly_greater_than_threshold():
    t = np.float32(0.07)
    above = np.nextafter(t, np.float32(1))
    below = np.nextafter(t, np.float32(0))
    lwp = np.array([below, t, above], dtype=np.float32)
    assert lwp_to_mask(lwp, 0.07).tolist() == [False, False, True]
    # the same in float64 data
    t64 = 0.07
    lwp64 = np.array([np.nextafter(t64, 0), t64, np.nextafter(t64, 1)])
    assert lwp_to_mask(lwp64, 0.07).tolist() == [False, False, True]


def test_mask_threshold_changes_cover_monotonically():
    lwp = _lwp()
    rates = [occlusion_rate(lwp_to_mask(lwp, gm2_to_kgm2(t))) for t in (55, 70, 80)]
    assert rates[0] > rates[1] > rates[2] > 0


def test_nan_lwp_is_occluded():
    lwp = np.array([np.nan, 0.0, 0.5], dtype=np.float32)
    assert lwp_to_mask(lwp, 0.07).tolist() == [True, False, True]


def test_threshold_in_g_per_m2_is_refused_with_the_fix():
    with pytest.raises(ThresholdError, match=r"looks like g m-2; pass 0\.070 \(kg m-2\)"):
        lwp_to_mask(np.zeros(3), 70)


@pytest.mark.parametrize("bad", [-0.1, 0.0, float("nan"), float("inf"), 5000.0, "abc"])
def test_bad_thresholds_raise(bad):
    with pytest.raises(ThresholdError, match=r"kg m-2"):
        check_threshold(bad)


def test_good_thresholds_pass():
    assert check_threshold(0.07) == 0.07
    assert check_threshold(1.0) == 1.0


# ---------------------------------------------------------------- rates
def test_occlusion_rates():
    mask = np.zeros((3, 2, 5), dtype=bool)
    mask[0] = True
    mask[1, 0] = True
    np.testing.assert_allclose(occlusion_rate_per_frame(mask), [1.0, 0.5, 0.0])
    assert occlusion_rate(mask) == pytest.approx(15 / 30)
    with pytest.raises(ValueError):
        occlusion_rate_per_frame(mask[0])
    with pytest.raises(ValueError):
        occlusion_rate(np.zeros(0, dtype=bool))


def test_occlusion_rate_curve_is_exact_and_chunk_independent(tmp_path):
    lwp = _lwp(n_steps=103, ny=8, nx=8)
    lwp[5, 0, 0] = np.float32(0.07)  # exactly at 70 g m-2: not occluded
    lwp[6, 0, 0] = np.nan  # occluded at every threshold
    thresholds = [80, 55, 70, 65]  # unsorted on purpose
    expected = [lwp_to_mask(lwp, gm2_to_kgm2(t)).mean() for t in thresholds]
    path = tmp_path / "lwp.npy"
    np.save(path, lwp)
    mm = np.load(path, mmap_mode="r")
    for chunk in (1, 7, 1000):
        curve = occlusion_rate_curve(mm, thresholds, chunk_steps=chunk)
        assert curve.dims == ("threshold",)
        assert curve["threshold"].values.tolist() == thresholds
        assert curve["threshold"].attrs["units"] == "g m-2"
        np.testing.assert_array_equal(curve.values, expected)


def test_occlusion_rate_curve_default_thresholds_and_unit_check():
    curve = occlusion_rate_curve(_lwp(n_steps=10))
    assert curve["threshold"].values.tolist() == [55, 60, 65, 70, 75, 80]
    assert np.all(np.diff(curve.values) <= 0)
    with pytest.raises(ThresholdError, match="looks like kg m-2"):
        occlusion_rate_curve(_lwp(n_steps=10), [0.07])
    with pytest.raises(ThresholdError):
        occlusion_rate_curve(_lwp(n_steps=10), [float("nan")])


# --------------------------------------------------------------- sampler
def test_window_frames_are_cloud_interval_apart():
    ci, seq_len = 10, 5
    n = 120
    lwp = np.zeros((n, 4, 4), dtype=np.float32)
    lwp[3::ci] = 1.0  # only steps 3, 13, 23, ... are cloudy
    s = CloudSampler(lwp, seq_len=seq_len, cloud_interval=ci, threshold_kgm2=0.07)
    assert s.span == (seq_len - 1) * ci + 1
    assert s.n_windows == n - s.span + 1
    assert s.frames(3).tolist() == [3, 13, 23, 33, 43]
    assert s.mask(CloudWindow(3, 0, 0)).all()
    assert not s.mask(CloudWindow(4, 0, 0)).any()
    # and on random data the window is exactly the thresholded strided frames
    lwp = _lwp(n_steps=n, ny=4, nx=4)
    s = CloudSampler(lwp, seq_len=seq_len, cloud_interval=ci, threshold_kgm2=0.07)
    m = s.mask(CloudWindow(17, 0, 0))
    np.testing.assert_array_equal(m, lwp[17:58:10] > np.float32(0.07))
    assert m.shape == (seq_len, 4, 4) and m.dtype == bool
    with pytest.raises(IndexError):
        s.mask(CloudWindow(s.n_windows, 0, 0))


def test_for_index_is_deterministic_and_varies_with_index():
    lwp = _lwp(n_steps=500)
    s = CloudSampler(lwp, seq_len=6, cloud_interval=10, threshold_kgm2=0.07)
    s2 = CloudSampler(lwp.copy(), seq_len=6, cloud_interval=10, threshold_kgm2=0.07)
    np.testing.assert_array_equal(s.for_index(3, seed=1), s.for_index(3, seed=1))
    np.testing.assert_array_equal(s.for_index(3, seed=1), s2.for_index(3, seed=1))
    starts = [s.draw_for_index(i, 1).start for i in range(50)]
    assert len(set(starts)) > 35  # different indices -> unrelated windows
    assert s.draw_for_index(3, 1) != s.draw_for_index(3, 2)  # the seed matters
    assert s.draw_for_index(3, 1, attempt=1) != s.draw_for_index(3, 1)
    assert not np.array_equal(s.for_index(3, 1), s.for_index(4, 1))


def test_random_draws_reproducible_per_generator():
    s = CloudSampler(_lwp(n_steps=400), seq_len=6, cloud_interval=10, threshold_kgm2=0.07)
    a = s.mask(s.draw(np.random.default_rng(5)))
    b = s.mask(s.draw(np.random.default_rng(5)))
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(0)
    starts = {s.draw(rng).start for _ in range(50)}
    assert len(starts) > 30


def test_draw_avoiding_a_start_never_overlaps():
    s = CloudSampler(
        _lwp(n_steps=1000, ny=2, nx=2), seq_len=24, cloud_interval=10, threshold_kgm2=0.07
    )
    rng = np.random.default_rng(0)
    for start in (0, 100, 400, s.n_windows - 1):
        for _ in range(200):
            other = s.draw(rng, avoid=start).start
            assert abs(other - start) >= s.span
            assert 0 <= other < s.n_windows
    assert s.mask(s.draw(rng, avoid=100)).shape == (24, 2, 2)


def test_draw_avoiding_falls_back_when_clouds_are_short():
    # 300 steps, span 231: 70 windows, none is a full span away from start 35
    s = CloudSampler(
        _lwp(n_steps=300, ny=2, nx=2), seq_len=24, cloud_interval=10, threshold_kgm2=0.07
    )
    rng = np.random.default_rng(0)
    others = {s.draw(rng, avoid=35).start for _ in range(300)}
    assert 35 not in others and len(others) > 20
    single = CloudSampler(
        _lwp(n_steps=231, ny=2, nx=2), seq_len=24, cloud_interval=10, threshold_kgm2=0.07
    )
    assert single.n_windows == 1
    with pytest.raises(CloudDataError, match="single window"):
        single.draw(rng, avoid=0)


def test_too_short_cloud_array_is_a_clear_error():
    with pytest.raises(CloudDataError, match=r"230 steps.*spans 231"):
        CloudSampler(
            _lwp(n_steps=230, ny=2, nx=2), seq_len=24, cloud_interval=10, threshold_kgm2=0.07
        )
    with pytest.raises(CloudDataError, match=r"\(n_steps, ny, nx\)"):
        CloudSampler(np.zeros((10, 10)), seq_len=2, cloud_interval=1, threshold_kgm2=0.07)
    with pytest.raises(ThresholdError):
        CloudSampler(_lwp(n_steps=30), seq_len=2, cloud_interval=1, threshold_kgm2=70)


def test_crop_when_tile_larger_and_error_when_smaller():
    lwp = _lwp(n_steps=60, ny=80, nx=72)
    s = CloudSampler(lwp, seq_len=3, cloud_interval=10, threshold_kgm2=0.07, size=(64, 64))
    assert s.shape == (3, 64, 64)
    assert s.centre_offset() == (8, 4)
    np.testing.assert_array_equal(
        s.mask(CloudWindow(2, *s.centre_offset())), lwp[2:23:10, 8:72, 4:68] > np.float32(0.07)
    )
    np.testing.assert_array_equal(
        s.mask(CloudWindow(2, 0, 0)), lwp[2:23:10, :64, :64] > np.float32(0.07)
    )
    rng = np.random.default_rng(0)
    offsets = {s.draw(rng)[1:] for _ in range(50)}
    assert len(offsets) > 10  # random crops in training
    assert s.draw_for_index(7, 0) == s.draw_for_index(7, 0)  # deterministic otherwise
    w = s.draw_for_index(7, 0)
    np.testing.assert_array_equal(
        s.mask(w), lwp[w.start : w.start + 21 : 10, w.row : w.row + 64, w.col : w.col + 64] > 0.07
    )
    with pytest.raises(CloudDataError, match=r"cloud tile is 80×72.*64×80"):
        CloudSampler(lwp, seq_len=3, cloud_interval=10, threshold_kgm2=0.07, size=(64, 80))
    with pytest.raises(IndexError):
        s.mask(CloudWindow(0, 17, 0))


def test_memmap_stays_a_memmap_and_pickles_by_path(tmp_path):
    lwp = _lwp(n_steps=400, ny=64, nx=64)
    path = tmp_path / "cloud_dataset.npy"
    np.save(path, lwp)
    mm = np.load(path, mmap_mode="r")
    s = CloudSampler(mm, seq_len=24, cloud_interval=10, threshold_kgm2=0.07)
    assert isinstance(s.lwp, np.memmap)  # not loaded into memory
    np.testing.assert_array_equal(s.mask(CloudWindow(5, 0, 0)), lwp[5:236:10] > np.float32(0.07))

    pytest.importorskip("unisst_lib.data.io")
    f = CloudSampler.from_file(path, seq_len=24, cloud_interval=10, threshold_kgm2=0.07)
    blob = pickle.dumps(f)
    assert len(blob) < 10_000  # the path travels, not the 6 MB array
    g = pickle.loads(blob)
    np.testing.assert_array_equal(g.for_index(2, 0), f.for_index(2, 0))


def test_thresholds_given_in_g_m2_get_g_m2_messages():
    from unisst_lib.data.masks import ThresholdError, check_threshold_gm2

    assert check_threshold_gm2(70) == 70.0
    with pytest.raises(ThresholdError, match="5000 g m-2 is above"):
        check_threshold_gm2(5000)
    with pytest.raises(ThresholdError, match="looks like kg m-2.*pass 70"):
        check_threshold_gm2(0.07)
    with pytest.raises(ThresholdError, match="not a positive number"):
        check_threshold_gm2(-3)


# --------------------------------------------------------- disjoint cloud segments
def test_cloud_segments_split_the_record_in_time_order():
    from unisst_lib.data.cloud_splits import cloud_segments

    shares = {"train": 0.7, "val": 0.15, "test": 0.15}
    # the paper's record: 10800 steps, windows of 24 frames 10 steps apart span 231
    assert cloud_segments(10800, span=231, fractions=shares) == {
        "train": (0, 7560),
        "val": (7560, 9180),
        "test": (9180, 10800),
    }
    # a short record: val and test get 240 steps (ten window starts) each
    assert cloud_segments(720, span=231, fractions=shares) == {
        "train": (0, 240),
        "val": (240, 480),
        "test": (480, 720),
    }
    with pytest.raises(CloudDataError, match="too short for three disjoint segments"):
        cloud_segments(719, span=231, fractions=shares)


def test_a_segmented_sampler_never_leaves_its_segment():
    lwp = np.zeros((100, 8, 8), dtype=np.float32)
    s = CloudSampler(lwp, seq_len=3, cloud_interval=2, threshold_kgm2=0.07, segment=(40, 60))
    assert s.span == 5 and s.n_windows == 16  # starts 40..55: the last window ends at 59
    rng = np.random.default_rng(0)
    starts = {s.draw(rng).start for _ in range(400)}
    assert starts == set(range(40, 56))
    away = {s.draw(rng, avoid=47).start for _ in range(400)}
    # at least a span away from 47 and inside the segment: 40..42 and 52..55
    assert away == {40, 41, 42, 52, 53, 54, 55}
    assert {s.draw_for_index(i, seed=3).start for i in range(300)} <= set(range(40, 56))
    with pytest.raises(IndexError, match="outside 40..55"):
        s.frames(56)
    with pytest.raises(CloudDataError, match="holds 4 steps but one window spans 5"):
        CloudSampler(lwp, seq_len=3, cloud_interval=2, threshold_kgm2=0.07, segment=(10, 14))
    with pytest.raises(CloudDataError, match="not inside the record's 100 steps"):
        CloudSampler(lwp, seq_len=3, cloud_interval=2, threshold_kgm2=0.07, segment=(90, 101))
