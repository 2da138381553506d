"""DINEOF as fair as the reference: no binding EOF cap, convergence reported, the filter path.

Known answers are built by hand: fields of a known number of separable modes, the
temporal filter on a unit impulse, and the cap / convergence messages.
"""

from __future__ import annotations

import inspect
import logging

import numpy as np

from unisst_lib.methods import fill as fill_module
from unisst_lib.methods.dineof import DINEOF_DEFAULTS, DINEOF_FILL_WINDOW, dineof
from unisst_lib.methods.dineof_solver import BLOCK_MARGIN, EOFSolver, time_filter


def modes_field(n_modes: int, t: int = 48, h: int = 14, w: int = 14, noise: float = 0.0):
    """20 °C + ``n_modes`` separable modes of amplitudes 3, 1.5, 0.75, … (known rank + 1)."""
    rng = np.random.default_rng(n_modes)
    tt = np.arange(t)[:, None, None]
    yy, xx = np.mgrid[0:h, 0:w]
    field = np.full((t, h, w), 20.0)
    for j in range(n_modes):
        temporal = np.cos(2 * np.pi * (j + 1) * tt / t + j)  # smooth in time
        spatial = np.cos((j + 1) * np.pi * yy / h + 0.7 * j) * np.sin((j % 3 + 1) * xx / w + j)
        field += 3.0 * 0.5**j * temporal * spatial[None]
    return field + noise * rng.standard_normal(field.shape)


def gaps(shape, fraction: float, seed: int) -> np.ndarray:
    """(T, H, W) bool: square clouds of 3×3 pixels over about ``fraction`` of the pixels."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, dtype=bool)
    t, h, w = shape
    while mask.mean() < fraction:
        k, y, x = rng.integers(t), rng.integers(h - 2), rng.integers(w - 2)
        mask[k, y : y + 3, x : x + 3] = True
    return mask


def test_defaults_are_the_one_setting():
    sig = inspect.signature(dineof).parameters
    for name, value in DINEOF_DEFAULTS.items():
        assert sig[name].default == value, name
    assert DINEOF_DEFAULTS["k_max"] is None and DINEOF_DEFAULTS["temporal_filter"] == 0
    plan = fill_module._plan(
        "dineof", None, checkpoint=None, device="cpu", resample=False, overlap_frames=None
    )
    assert plan.window == DINEOF_FILL_WINDOW and plan.overlap == DINEOF_FILL_WINDOW // 2


def test_k_grows_past_a_small_cap_and_a_binding_cap_warns(caplog):
    sst = modes_field(6, noise=0.002)
    mask = gaps(sst.shape, 0.2, seed=1)
    opts = {"temporal_filter": 0.0, "tol": 1e-5, "max_iter": 400, "seed": 0}
    with caplog.at_level(logging.INFO, logger="unisst_lib.methods.dineof"):
        free = dineof(sst, mask, **opts)  # k_max=None: no cap
    # 6 modes + the offset from the overall mean (the mean of the modes is not 0)
    assert free.n_eofs >= 6 and not free.cap_bound
    tried = np.flatnonzero(np.isfinite(free.cv_rmse))
    assert free.n_eofs < tried.max() + 1 < free.cv_rmse.size  # stopped by patience, past k
    assert f"k = {free.n_eofs} EOFs chosen by cross-validation" in caplog.text
    assert "cap binds" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="unisst_lib.methods.dineof"):
        capped = dineof(sst, mask, k_max=3, **opts)
    assert capped.n_eofs == 3 and capped.cap_bound and capped.cv_rmse.shape == (3,)
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "k_max = 3 EOFs" in warned[0].getMessage()
    assert "the cap binds" in warned[0].getMessage()
    err_free = np.sqrt(np.mean((free.filled[mask] - sst[mask]) ** 2))
    err_capped = np.sqrt(np.mean((capped.filled[mask] - sst[mask]) ** 2))
    assert err_free < 0.2 * err_capped


def test_low_rank_field_is_recovered_exactly():
    clean = modes_field(3)
    mask = gaps(clean.shape, 0.25, seed=2)
    cloudy = np.where(mask, np.nan, clean)
    res = dineof(cloudy, n_eofs=4, temporal_filter=0.0, tol=1e-9, max_iter=3000)
    assert res.converged
    np.testing.assert_array_equal(res.filled[~mask], clean[~mask])  # observed bit for bit
    assert np.abs(res.filled[mask] - clean[mask]).max() < 1e-4  # float32 matrix
    cv = dineof(cloudy, temporal_filter=0.0, tol=1e-7, max_iter=1000)
    assert cv.n_eofs >= 4 and not cv.cap_bound
    assert np.abs(cv.filled[mask] - clean[mask]).max() < 1e-2


def test_time_filter_on_an_impulse_by_hand():
    a = np.zeros((5, 1))
    a[2] = 1.0
    np.testing.assert_allclose(time_filter(a, 0.25)[:, 0], [0.0, 0.25, 0.5, 0.25, 0.0])
    b = np.zeros((4, 1))
    b[0] = 1.0  # no flux at the ends: the end keeps its own share
    np.testing.assert_allclose(time_filter(b, 0.1)[:, 0], [0.9, 0.1, 0.0, 0.0])


def test_temporal_filter_on_and_off():
    clean = modes_field(3)
    noisy = clean + 0.05 * np.random.default_rng(3).standard_normal(clean.shape)
    mask = gaps(clean.shape, 0.25, seed=4)
    on = dineof(noisy, mask, n_eofs=4, temporal_filter=0.1)
    off = dineof(noisy, mask, n_eofs=4, temporal_filter=0.0)
    for res in (on, off):
        np.testing.assert_array_equal(res.filled[~mask], noisy[~mask])
        assert res.converged
        assert np.sqrt(np.mean((res.filled[mask] - clean[mask]) ** 2)) < 0.05
    assert not np.array_equal(on.filled[mask], off.filled[mask])


def test_convergence_flag_and_warning(caplog):
    sst = modes_field(2)
    mask = gaps(sst.shape, 0.3, seed=5)
    with caplog.at_level(logging.INFO, logger="unisst_lib.methods.dineof"):
        stalled = dineof(sst, mask, n_eofs=3, max_iter=1, tol=1e-9)
    assert not stalled.converged
    assert "did not converge within max_iter = 1" in caplog.text
    assert "fit did NOT converge" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="unisst_lib.methods.dineof"):
        done = dineof(sst, mask, n_eofs=3, max_iter=500, tol=1e-4)
    assert done.converged and "fit converged" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_subspace_block_widens_orthonormal():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((30, 40)).astype(np.float32)
    seen = np.ones(x.shape, dtype=bool)
    solver = EOFSolver(x, seen, width=5, alpha=0.0, rng=rng, exact_max_dim=8)
    assert not solver.full and solver.q.shape == (40, 5)
    before = solver.q.copy()
    solver.widen(12)
    assert solver.q.shape == (40, 12 + BLOCK_MARGIN)
    np.testing.assert_allclose(solver.q.T @ solver.q, np.eye(22), atol=1e-5)
    # the old block's span is kept: its vectors lie in the new one
    np.testing.assert_allclose(solver.q @ (solver.q.T @ before), before, atol=1e-5)
    solver.widen(100)
    assert solver.q.shape == (40, 40)  # never more vectors than frames
