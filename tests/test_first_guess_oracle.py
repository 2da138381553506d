"""The temporal first guess of the fast generator, and the oracle / critic-free training options."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from unisst_lib.methods.baselines import fill_temporal
from unisst_lib.models import GeneratorConfig, build_discriminators, build_generator
from unisst_lib.models.fast import OUTPUT_BOUND, FastGenerator, temporal_first_guess
from unisst_lib.training.loop import load_checkpoint, load_config, train


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
        assert 0 < float(r["loss_supervised"]) < 10  # normalised units
        assert float(r["lr_d"]) == cfg.optim.lr_d  # no critic, no critic schedule
    # cosine from lr_g to 5 % of it over `steps`, stepped after every generator update
    lr = [float(r["lr_g"]) for r in rows]
    for s, v in enumerate(lr, start=1):
        expected = 0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * s / cfg.steps))
        assert v == pytest.approx(cfg.optim.lr_g * expected, rel=1e-9)
    assert lr[-1] == pytest.approx(0.05 * cfg.optim.lr_g, rel=1e-9)

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
