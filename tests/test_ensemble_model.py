"""The stochastic generator: noise inputs, members, fine-tuning from a checkpoint, CRPS training."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from unisst_lib.core.config import ConfigError, to_dict
from unisst_lib.core.errors import DataNotFoundError
from unisst_lib.models import (
    FastGenerator,
    GeneratorConfig,
    build_discriminators,
    build_generator,
    reconstruct,
)
from unisst_lib.training.checkpoints import (
    CHECKPOINT_FORMAT,
    init_from_checkpoint,
    load_checkpoint,
    load_generator,
    save_checkpoint,
)
from unisst_lib.training.config import load_config, replace_config
from unisst_lib.training.loop import train
from unisst_lib.training.losses import masked_crps

BUNDLED = Path(__file__).resolve().parent.parent / "unisst_lib" / "checkpoints"
SMALL = {"base_channels": 8, "channel_mults": (1, 2, 2), "norm_groups": 4}


def cloudy_input(t: int = 6, h: int = 20, w: int = 20, seed: int = 0):
    """(1, 1, T, H, W) observation (fill value 1.0 under the clouds) and its mask."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(1, 1, t, h, w, generator=g)
    mask = torch.zeros(1, 1, t, h, w)
    mask[..., 4:12, 5:15] = 1.0
    mask[:, :, 2, :, :3] = 1.0
    return y.masked_fill(mask.bool(), 1.0), mask


def noisy(k: int = 2, seed: int = 0, **kw) -> FastGenerator:
    """A small stochastic generator whose noise weights are set to nonzero values."""
    torch.manual_seed(seed)
    g = FastGenerator(**SMALL, first_guess="temporal", noise_channels=k, **kw)
    with torch.no_grad():
        g.stem.weight[:, -k:].normal_(0.0, 0.5)
        g.noise_proj.weight.normal_(0.0, 0.5)
    return g.eval()


def noise_like(y: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    b, _, t, h, w = y.shape
    return torch.randn(b, k, t, h, w, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------- the model
def test_a_fresh_stochastic_generator_gives_equal_members():
    torch.manual_seed(0)
    g = FastGenerator(**SMALL, first_guess="temporal", noise_channels=3).eval()
    assert (g.stem.weight[:, -3:] == 0).all() and (g.noise_proj.weight == 0).all()
    assert (g.stem.weight[:, :3] != 0).any()  # the other inputs are initialised as usual
    y, mask = cloudy_input()
    with torch.no_grad():
        central = g(y, mask)  # eval mode without noise: the central member, noise 0
        a = g(y, mask, noise=noise_like(y, 3, 1))
        b = g(y, mask, noise=100 * noise_like(y, 3, 2))
    assert torch.equal(a, b) and torch.equal(a, central)


def test_members_differ_under_the_clouds_and_keep_every_observed_pixel():
    g = noisy()
    y, mask = cloudy_input()
    y = torch.where(mask.bool(), y, -y)  # some observed values are -0.0 after this: kept as such
    y[0, 0, 0, 0, 0] = -0.0
    with torch.no_grad():
        a = reconstruct(g, y, mask, noise=noise_like(y, 2, 1))
        b = reconstruct(g, y, mask, noise=noise_like(y, 2, 2))
        again = reconstruct(g, y, mask, noise=noise_like(y, 2, 1))
    seen = ~mask.bool()
    for member in (a, b):
        assert torch.equal(member[seen], y[seen])  # bit for bit, the sign of zero too
        assert torch.equal(torch.signbit(member[seen]), torch.signbit(y[seen]))
    assert (a != b)[mask.bool()].float().mean() > 0.99
    assert torch.equal(a, again)  # a member is a function of its noise
    with torch.no_grad():
        assert torch.equal(g(y, mask), g(y, mask, noise=torch.zeros(1, 2, *y.shape[2:])))
        g.train()  # training draws a new member per call
        assert not torch.equal(g(y, mask), g(y, mask))


def test_a_noise_of_the_wrong_shape_is_refused():
    g = noisy()
    y, mask = cloudy_input(t=4, h=16, w=16)
    with pytest.raises(
        ValueError, match=r"noise must have shape \(1, 2, 4, 16, 16\), got \(1, 3, 4, 16, 16\)"
    ):
        g(y, mask, noise=torch.zeros(1, 3, 4, 16, 16))
    with pytest.raises(ValueError, match=r"got \(1, 2, 5, 16, 16\)"):
        reconstruct(g, y, mask, noise=torch.zeros(1, 2, 5, 16, 16))


def test_generator_config_refuses_noise_it_cannot_build():
    with pytest.raises(ValueError, match="noise_channels must be >= 0.*got -1 with arch 'fast'"):
        GeneratorConfig(noise_channels=-1)
    with pytest.raises(ValueError, match="> 0 only with arch 'fast'.*got 2 with arch 'paper'"):
        GeneratorConfig(arch="paper", noise_channels=2)
    with pytest.raises(ValueError, match="noise_channels must be >= 0, got -2"):
        FastGenerator(noise_channels=-2)
    assert build_generator(GeneratorConfig(noise_channels=3)).noise_channels == 3
    assert GeneratorConfig(arch="paper").noise_channels == 0


def test_a_crps_loss_needs_a_generator_with_noise():
    with pytest.raises(ConfigError, match=r"crps scores an ensemble.*noise_channels >= 1"):
        replace_config(
            load_config("tiny"),
            loss={"self_supervised_weight": 1.0, "self_supervised_norm": "crps"},
        )
    ens = load_config("ensemble")
    assert ens.crps and ens.generator.noise_channels == 4 and ens.init_from == "fast_twin.pt"
    arch = load_config("archive_ensemble")
    # --fit --members: the archive recipe (L1 + critics) with noise inputs, as the twin's
    # validation chose (a from-scratch CRPS fit did not learn on the L3 archive)
    assert not arch.crps and arch.generator.noise_channels == 4
    assert arch.loss.adversarial_weight == 1.0 and arch.loss.self_supervised_norm == "l1"
    assert arch.generator.first_guess == "record"


def test_the_crps_gives_zero_noise_weights_a_gradient():
    torch.manual_seed(0)
    g = FastGenerator(**SMALL, first_guess="temporal", noise_channels=2).train()
    y, mask = cloudy_input()
    target = y.clone()
    members = torch.stack([g(y, mask), g(y, mask)])  # two draws of the noise
    assert torch.equal(members[0], members[1])  # equal while the noise weights are 0
    masked_crps(members, target, 1 - mask).backward()
    assert g.noise_proj.weight.grad.abs().sum() > 0
    assert g.stem.weight.grad[:, -2:].abs().sum() > 0


# -------------------------------------------------------------- init_from
def _models(gen_cfg: GeneratorConfig, seed: int) -> SimpleNamespace:
    torch.manual_seed(seed)
    image_d, video_d = build_discriminators(load_config("tiny").discriminator)
    return SimpleNamespace(generator=build_generator(gen_cfg), image_d=image_d, video_d=video_d)


def _save(path: Path, gen_cfg: GeneratorConfig, seed: int = 0, *, critics: bool = True) -> Path:
    models = _models(gen_cfg, seed)
    cfg = replace_config(load_config("tiny"), generator=gen_cfg)
    nets = {"generator": models.generator.state_dict()}
    if critics:
        nets |= {"image_d": models.image_d.state_dict(), "video_d": models.video_d.state_dict()}
    return save_checkpoint(
        path, {"format": CHECKPOINT_FORMAT, "config": to_dict(cfg), "models": nets}
    )


def test_init_from_widens_the_stem_and_leaves_the_noise_inputs_alone(tmp_path):
    det = GeneratorConfig(**SMALL, first_guess="temporal")
    path = _save(tmp_path / "det.pt", det, seed=1)
    old = load_checkpoint(path)["models"]
    new = _models(GeneratorConfig(**SMALL, first_guess="temporal", noise_channels=2), seed=2)
    with torch.no_grad():  # mark the noise inputs, to see that init_from does not touch them
        new.generator.stem.weight[:, 3:] = 0.125
    init_from_checkpoint(path, new)
    state = new.generator.state_dict()
    assert torch.equal(state["stem.weight"][:, :3], old["generator"]["stem.weight"])
    assert (state["stem.weight"][:, 3:] == 0.125).all()
    assert (state["noise_proj.weight"] == 0).all() and (state["noise_proj.bias"] == 0).all()
    for name, value in old["generator"].items():
        if name != "stem.weight":
            assert torch.equal(state[name], value), name
    for key in ("image_d", "video_d"):
        own = getattr(new, key).state_dict()
        assert all(torch.equal(own[n], v) for n, v in old[key].items()), key
    # with its noise weights at 0 again, the widened generator fills as the old one did
    with torch.no_grad():
        new.generator.stem.weight[:, 3:] = 0.0
    det_g = _models(det, 0).generator
    det_g.load_state_dict(old["generator"])
    y, mask = cloudy_input()
    with torch.no_grad():
        got = new.generator.eval()(y, mask, noise=noise_like(y, 2, 3))
        torch.testing.assert_close(got, det_g.eval()(y, mask), rtol=0, atol=1e-5)


def test_init_from_refuses_another_architecture_and_missing_files(tmp_path):
    new = _models(GeneratorConfig(**SMALL, first_guess="temporal", noise_channels=2), seed=0)
    wider = _save(
        tmp_path / "wide.pt",
        GeneratorConfig(**{**SMALL, "base_channels": 16}, first_guess="temporal"),
    )
    shapes = r"stem\.weight: shape \(16, 3, 1, 3, 3\) does not fit \(8, 5, 1, 3, 3\)"
    with pytest.raises(ConfigError, match=shapes + ".*needs the same architecture"):
        init_from_checkpoint(wider, new)
    paper = _save(tmp_path / "paper.pt", GeneratorConfig(arch="paper", paper_ngf=4), critics=False)
    with pytest.raises(ConfigError, match="generator weight .* is not in this model"):
        init_from_checkpoint(paper, new)
    with pytest.raises(DataNotFoundError, match="neither a checkpoint file nor a bundled.*fast_"):
        init_from_checkpoint("no_such_model.pt", new)
    # a path that is not there is not taken for the bundled file of that name
    with pytest.raises(DataNotFoundError, match="neither a checkpoint file"):
        init_from_checkpoint(tmp_path / "elsewhere" / "fast_twin.pt", new)


def test_init_from_a_bundled_checkpoint_by_its_name():
    models = _models(load_config("ensemble").generator, seed=0)
    init_from_checkpoint("fast_twin.pt", models)  # the ensemble config's init_from
    bundled = load_checkpoint(BUNDLED / "fast_twin.pt")["models"]["generator"]
    got = models.generator.state_dict()
    k = bundled["stem.weight"].shape[1]
    assert got["stem.weight"].shape[1] == k + 4
    assert torch.equal(got["stem.weight"][:, :k], bundled["stem.weight"])
    assert (got["stem.weight"][:, k:] == 0).all()
    assert torch.equal(got["head.2.weight"], bundled["head.2.weight"])


def test_the_bundled_ensemble_stores_a_calibration_in_degrees():
    from unisst_lib.methods.ensemble import DISTANCE_EDGES, SpreadCalibration

    state = load_checkpoint(BUNDLED / "ensemble_twin.pt")
    cal = SpreadCalibration.from_dict(state["spread_calibration"])
    assert len(cal.levels) == len(cal.factors) == len(DISTANCE_EDGES)
    # σ in °C grows with the distance to the nearest observation (frames 1 .. never)
    assert all(b >= a for a, b in zip(cal.levels, cal.levels[1:], strict=False))
    assert 0.01 < cal.levels[0] < cal.levels[-1] < 5
    assert cal.fitted_on == "validation: withheld pixels" and cal.members == 8


# ---------------------------------------------------------------- training
def test_two_crps_steps_move_the_noise_weights(tiny_data_dir, tmp_path):
    narrow = {"base_channels": 4, "channel_mults": (1, 2), "norm_groups": 2}  # fast on a CPU
    gen = {**narrow, "first_guess": "temporal", "noise_channels": 2}
    start = _save(tmp_path / "start.pt", GeneratorConfig(**narrow, first_guess="temporal"), seed=5)
    cfg = load_config(
        "tiny",
        steps=2,
        eval_every=2,
        log_every=1,
        init_from=str(start),
        batch_size=1,
        data={"data_dir": str(tiny_data_dir), "val_sequences": 1},
        generator=gen,
        loss={
            "adversarial_weight": 0.0,
            "self_supervised_weight": 1.0,
            "self_supervised_norm": "crps",
        },
    )
    assert cfg.crps
    train(cfg, tmp_path / "run", progress=False, tensorboard=False)
    with open(tmp_path / "run" / "train_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2]
    for r in rows:
        assert math.isfinite(float(r["loss_self_supervised"]))
        assert math.isnan(float(r["loss_g_adv"]))  # the critics are off: the CRPS alone
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    after = state["models"]["generator"]
    assert after["stem.weight"][:, 3:].abs().min() > 0  # every noise weight moved off 0
    assert after["noise_proj.weight"].abs().min() > 0
    # the run started from init_from's networks: two Adam steps of lr 1e-4 move a weight
    # by about 2e-4, while another initialisation is 0.1 away
    before = load_checkpoint(start)["models"]["generator"]
    assert (after["head.2.weight"] - before["head.2.weight"]).abs().max() < 1e-3
    assert (after["stem.weight"][:, :3] - before["stem.weight"]).abs().max() < 1e-3
    generator, loaded = load_generator(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert generator.noise_channels == 2 and loaded.crps
