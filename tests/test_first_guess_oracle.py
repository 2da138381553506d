"""The temporal first guess of the fast generator, and the oracle / critic-free training options."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from unisst_lib.data.dataset import make_dataset
from unisst_lib.methods.interp import fill_in_time, fill_temporal
from unisst_lib.models import GeneratorConfig, build_discriminators, build_generator
from unisst_lib.models.fast import (
    NEVER_OBSERVED_GUESS,
    OUTPUT_BOUND,
    FastGenerator,
    temporal_first_guess,
)
from unisst_lib.models.time_interp import linear_in_time
from unisst_lib.training.batches import StepBatches
from unisst_lib.training.checkpoints import load_checkpoint
from unisst_lib.training.config import load_config
from unisst_lib.training.loop import train


def random_problem(seed: int = 0, shape=(2, 1, 10, 6, 7)) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, mask) float64: random values, ~60 % occluded, with special pixels."""
    rng = np.random.default_rng(seed)
    y = rng.normal(0.0, 1.0, shape)
    mask = rng.random(shape) < 0.6
    mask[0, 0, :, 0, 0] = True  # never observed
    mask[1, 0, :, 2, 3] = True
    mask[0, 0, :, 1, 1] = True
    mask[0, 0, 4, 1, 1] = False  # observed once: held in every frame
    mask[1, 0, :, 5, 6] = False  # always observed
    mask[0, 0, 0, 3, :] = True  # first frame hidden: held back from the next
    mask[0, 0, -1, 4, :] = True  # last frame hidden: held from the previous
    return torch.from_numpy(y), torch.from_numpy(mask.astype(np.float64))


# ------------------------------------------------------------ first guess
def test_temporal_first_guess_is_fill_temporal_where_observed_once():
    y, mask = random_problem()
    guess = temporal_first_guess(y, mask)
    assert guess.shape == y.shape and guess.dtype == y.dtype
    occluded = mask.bool().numpy()[:, 0]
    seen_once = (~occluded).any(axis=1)  # (B, H, W)
    for b in range(y.shape[0]):
        ref = fill_temporal(y[b, 0].numpy(), occluded[b])
        g = guess[b, 0].numpy()
        np.testing.assert_allclose(g[:, seen_once[b]], ref[:, seen_once[b]], rtol=0, atol=1e-12)
        # observed values are kept exactly
        np.testing.assert_array_equal(g[~occluded[b]], y[b, 0].numpy()[~occluded[b]])
        # never observed: the sequence mean, 0 in normalised units
        assert (g[:, ~seen_once[b]] == 0).all()
    assert (~seen_once).sum() >= 2
    # the special pixels, by hand
    np.testing.assert_array_equal(guess[0, 0, :, 1, 1], y[0, 0, 4, 1, 1].expand(10))
    np.testing.assert_array_equal(guess[1, 0, :, 5, 6], y[1, 0, :, 5, 6])


def numpy_interp_time(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The baselines' former NumPy interpolation of (T, N) ``values``: an independent oracle."""
    n_t = values.shape[0]
    t = np.arange(n_t, dtype=np.int32)[:, None]  # (T, 1)
    prev = np.maximum.accumulate(np.where(known, t, -1), axis=0)  # (T, N)
    nxt = np.minimum.accumulate(np.where(known, t, n_t)[::-1], axis=0)[::-1]  # (T, N)
    lo = np.clip(np.where(prev >= 0, prev, nxt), 0, n_t - 1)
    hi = np.clip(np.where(nxt < n_t, nxt, lo), 0, n_t - 1)
    v_lo = np.take_along_axis(values, lo, axis=0)
    v_hi = np.take_along_axis(values, hi, axis=0)
    span = hi - lo
    w = np.divide(t - lo, span, out=np.zeros(span.shape), where=span > 0)
    return np.where(known, values, v_lo + w * (v_hi - v_lo))


def test_linear_in_time_values_and_where_defined():
    y, mask = random_problem(seed=3)
    seen = ~mask.bool()
    filled, defined = linear_in_time(y.masked_fill(~seen, float("nan")), seen, dim=2)
    assert filled.shape == y.shape and filled.dtype == y.dtype and defined.dtype == torch.bool
    expected_defined = seen.any(dim=2, keepdim=True).expand_as(seen)
    assert torch.equal(defined, expected_defined) and not defined.all()
    assert torch.isnan(filled[~defined]).all() and torch.isfinite(filled[defined]).all()
    assert torch.equal(filled[seen], y[seen])  # observations exactly
    # the same numbers as the NumPy interpolation the baselines used, bit for bit
    t_first = y.movedim(2, 0).reshape(y.shape[2], -1).numpy()  # (T, B·H·W)
    k_first = seen.movedim(2, 0).reshape(y.shape[2], -1).numpy()
    ref = numpy_interp_time(t_first, k_first)
    got = filled.movedim(2, 0).reshape(y.shape[2], -1).numpy()
    cols = k_first.any(axis=0)
    np.testing.assert_array_equal(got[:, cols], ref[:, cols])
    values, known_once = fill_in_time(t_first.copy(), k_first.copy())
    np.testing.assert_array_equal(values[:, cols], ref[:, cols])
    np.testing.assert_array_equal(known_once, cols)


def test_baseline_and_first_guess_agree_exactly_where_defined():
    """One interpolation: equal bit for bit wherever a pixel is observed in the window.

    A never-observed pixel is each caller's own step: 0 (the window mean) for the
    generator, a harmonic fill in space for the baseline.
    """
    rng = np.random.default_rng(4)
    n_t, h, w = 12, 8, 9
    yy, xx = np.mgrid[0:h, 0:w]
    field = 20.0 + 0.3 * yy - 0.2 * xx + rng.normal(0.0, 0.1, (n_t, 1, 1))  # harmonic in space
    occluded = rng.random((n_t, h, w)) < 0.6
    occluded[:, 0, :2] = True  # never observed, at the edge
    occluded[:, 2:5, 3:6] = False  # a ring observed in every frame ...
    occluded[:, 3, 4] = True  # ... around an interior pixel never observed
    mask = torch.from_numpy(occluded.astype(np.float64))[None, None]
    guess = temporal_first_guess(torch.from_numpy(field)[None, None], mask)[0, 0].numpy()
    base = fill_temporal(field, occluded)
    once = (~occluded).any(axis=0)  # (H, W)
    np.testing.assert_array_equal(guess[:, once], base[:, once])
    never = ~once
    assert never.sum() >= 2
    assert (guess[:, never] == NEVER_OBSERVED_GUESS).all()
    assert np.isfinite(base[:, never]).all() and (base[:, never] != NEVER_OBSERVED_GUESS).all()
    np.testing.assert_allclose(base[:, 3, 4], field[:, 3, 4], rtol=0, atol=1e-9)


def test_temporal_first_guess_linear_ramp_and_fill_values():
    t = torch.arange(8, dtype=torch.float32).view(1, 1, 8, 1, 1)
    y = (2.0 + 0.5 * t).expand(1, 1, 8, 3, 3).clone()
    mask = torch.zeros_like(y)
    mask[..., 1:4, 0, 0] = 1  # a gap between two observations: exact on a ramp
    mask[..., 5:, 1, 1] = 1  # after the last observation: held
    mask[..., :3, 2, 2] = 1  # before the first: held back
    expected = y.clone()
    expected[..., 5:, 1, 1] = y[..., 4, 1, 1]
    expected[..., :3, 2, 2] = y[..., 3, 2, 2]
    guess = temporal_first_guess(y, mask)
    torch.testing.assert_close(guess, expected, rtol=0, atol=1e-6)
    # whatever sits under the mask (NaN, the 1.0 fill value) is never read
    for fill in (float("nan"), 1.0, 1e6):
        torch.testing.assert_close(
            temporal_first_guess(y.masked_fill(mask.bool(), fill), mask), guess, rtol=0, atol=0
        )


def test_fast_generator_temporal_is_a_bounded_correction_to_the_guess():
    torch.manual_seed(0)
    gen = FastGenerator(
        base_channels=8, channel_mults=(1, 2), norm_groups=4, first_guess="temporal"
    )
    assert gen.stem.in_channels == 3
    y, mask = (t.float() for t in random_problem(seed=1, shape=(2, 1, 5, 12, 10)))
    y_obs = y.masked_fill(mask.bool(), 1.0)
    with torch.no_grad():
        out = gen(y_obs, mask)
        guess = temporal_first_guess(y_obs, mask)
        nan_in = gen(y.masked_fill(mask.bool(), float("nan")), mask)
    assert out.shape == y.shape and torch.isfinite(out).all()
    correction = out - guess
    assert correction.abs().max() <= OUTPUT_BOUND
    assert correction.abs().max() > 0  # the network does contribute
    torch.testing.assert_close(nan_in, out)  # values under the clouds do not leak
    # the plain generator sees two channels and is not anchored to the guess
    plain = FastGenerator(base_channels=8, channel_mults=(1, 2), norm_groups=4)
    assert plain.stem.in_channels == 2 and plain.first_guess == "none"
    with pytest.raises(ValueError, match="first_guess"):
        FastGenerator(first_guess="bogus")


def test_generator_config_builds_the_temporal_first_guess():
    gen = build_generator(
        GeneratorConfig(
            arch="fast", base_channels=8, channel_mults=(1, 2), norm_groups=4,
            first_guess="temporal",
        )
    )  # fmt: skip
    assert isinstance(gen, FastGenerator) and gen.first_guess == "temporal"
    assert gen.stem.in_channels == 3
    assert build_generator(GeneratorConfig(arch="fast")).first_guess == "none"
    with pytest.raises(ValueError, match="first_guess"):
        build_generator(GeneratorConfig(arch="fast", first_guess="bogus"))
    assert load_config("tiny", generator={"first_guess": "temporal"}).generator.first_guess == (
        "temporal"
    )
    with pytest.raises(ValueError, match="first_guess"):
        load_config("tiny", generator={"first_guess": "bogus"})


# -------------------------------------------------------------- training
def test_loss_weights_and_schedule_are_validated():
    zero = {"adversarial_weight": 0.0, "self_supervised_weight": 0.0, "supervised_weight": 0.0}
    with pytest.raises(ValueError, match="all 0"):
        load_config("tiny", loss=zero)
    for nonzero in ("adversarial_weight", "self_supervised_weight", "supervised_weight"):
        cfg = load_config("tiny", loss={**zero, nonzero: 0.5})
        assert cfg.adversarial == (nonzero == "adversarial_weight")
        assert cfg.critic_steps == (cfg.optim.d_steps_per_g if cfg.adversarial else 1)
    with pytest.raises(ValueError, match="schedule"):
        load_config("tiny", optim={"schedule": "linear"})
    assert load_config("tiny").optim.schedule == "paper"


def test_oracle_without_critics_and_cosine_schedule(tiny_data_dir, tmp_path):
    """An oracle (truth under the clouds), no critics, cosine learning rates: one tiny run."""
    cfg = load_config(
        "tiny",
        steps=3,
        eval_every=3,
        log_every=1,
        batch_size=1,
        data={"data_dir": str(tiny_data_dir), "val_sequences": 1},
        loss={"adversarial_weight": 0.0, "supervised_weight": 1.0},
        optim={"schedule": "cosine"},
    )
    assert cfg.optim.d_steps_per_g > 1  # skipping the critics also skips their batches
    res = train(cfg, tmp_path / "run", progress=False, tensorboard=False)
    assert res.step == 3
    with open(tmp_path / "run" / "train_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    for r in rows:
        for key in ("loss_d", "loss_d_image", "loss_d_video", "loss_g_adv"):
            assert np.isnan(float(r[key])), key
        assert float(r["lr_d"]) == cfg.optim.lr_d  # no critic, no critic schedule
    # cosine from lr_g (1e-4) to 5 % of it over 3 steps, stepped after every generator update:
    # 0.05 + 0.95 * (1 + cos(pi * s / 3)) / 2 is 0.7625, 0.2875 and 0.05 at s = 1, 2, 3
    assert cfg.optim.lr_g == 1e-4
    lr = [float(r["lr_g"]) for r in rows]
    assert lr == pytest.approx([7.625e-5, 2.875e-5, 5e-6], rel=1e-9)

    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    torch.manual_seed(cfg.seed)  # what train() does before building the models
    fresh_g = build_generator(cfg.generator)
    fresh_i, fresh_v = build_discriminators(cfg.discriminator)
    for name, fresh in (("image_d", fresh_i), ("video_d", fresh_v)):
        saved = state["models"][name]
        assert saved.keys() == fresh.state_dict().keys()
        for key, t in fresh.state_dict().items():
            assert torch.equal(saved[key], t), f"{name}.{key} changed without critics"
    assert state["optim"]["critics"]["state"] == {}  # Adam never stepped
    # the generator did learn (from the supervised loss alone)
    changed = [
        k for k, t in fresh_g.state_dict().items()
        if not torch.equal(state["models"]["generator"][k], t)
    ]  # fmt: skip
    assert changed
    # the first update's supervised loss, by hand: mean |G0 - x| over every pixel hidden from
    # the freshly built G (clouds and the further withheld window, as the hybrid's input)
    ds = make_dataset(
        "twin", "train", mode="train", seed=cfg.seed, include_truth=True, data_dir=tiny_data_dir
    )
    b = StepBatches(ds, cfg, rank=0).batch(0)
    hidden = torch.clamp(b["mask"] + b["hide"], max=1.0)
    with torch.no_grad():
        out = fresh_g(torch.where(hidden > 0.5, ds.fill_value, b["y"]), hidden)
    first = float((out - b["x"]).abs()[hidden > 0.5].mean())
    assert float(rows[0]["loss_supervised"]) == pytest.approx(first, rel=1e-5)
