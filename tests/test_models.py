"""Tests of unisst_lib.models and unisst_lib.models.flops (a few seconds on 2 CPU cores).

The paper generator costs 2.9 TFLOP at 24×64×64, far too much for a CPU test: its
forward pass runs only on tiny inputs, and its full-size parameter and FLOP
counts are taken on the ``meta`` device (shapes only, no arithmetic). The meta
count is checked against a count on real tensors at small size and against an
analytic formula at full size.
"""

from __future__ import annotations

import copy
import doctest

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

import unisst_lib.models
import unisst_lib.models.flops
from unisst_lib.models import (
    DiscriminatorConfig,
    GeneratorConfig,
    build_discriminators,
    build_generator,
    reconstruct,
)
from unisst_lib.models.flops import count_flops, count_parameters, model_cost_table
from unisst_lib.training.losses import d_hinge_loss, g_hinge_loss

SEQ = (24, 64, 64)  # (T, H, W) of the paper's sequences


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def paper_g() -> nn.Module:
    """The full-size paper generator with real weights (only ever run on tiny inputs)."""
    torch.manual_seed(0)
    return build_generator(GeneratorConfig(arch="paper"))


@pytest.fixture(scope="module")
def paper_g_meta() -> nn.Module:
    """The full-size paper generator on the meta device: shapes only, for counting."""
    with torch.device("meta"):
        return build_generator(GeneratorConfig(arch="paper"))


@pytest.fixture(scope="module")
def small_paper_g() -> nn.Module:
    """The paper architecture at 1/4 width (ngf=8): same code paths, cheap to run."""
    torch.manual_seed(0)
    return build_generator(GeneratorConfig(arch="paper", paper_ngf=8))


@pytest.fixture(scope="module")
def fast_g() -> nn.Module:
    torch.manual_seed(0)
    return build_generator(GeneratorConfig())


@pytest.fixture(scope="module")
def discriminators() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    return build_discriminators(DiscriminatorConfig())


def _observation(shape, p_occluded=0.4):
    """A random normalised observation y (occluded = 1.0) and its mask, shape (B, 1, T, H, W)."""
    mask = (torch.rand(shape) < p_occluded).float()
    y = torch.where(mask.bool(), torch.ones(shape), torch.randn(shape) / 3)
    return y, mask


def _has_spectral_norm(layer: nn.Module) -> bool:
    return parametrize.is_parametrized(layer, "weight") and any(
        type(p).__name__ == "_SpectralNorm" for p in layer.parametrizations.weight
    )


def _convs(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))]


# --- sizes and costs -----------------------------------------------------------------


def test_paper_parameter_counts_match_the_publication(paper_g_meta):
    g = paper_g_meta
    with torch.device("meta"):  # counts need no real weights
        image_d, video_d = build_discriminators(DiscriminatorConfig())
    assert count_parameters(g) == pytest.approx(14.8e6, rel=0.03)
    assert count_parameters(image_d) == pytest.approx(2.2e6, rel=0.03)
    assert count_parameters(video_d) == pytest.approx(6.5e6, rel=0.03)
    assert count_parameters(g) == sum(p.numel() for p in g.parameters())


def test_fast_generator_is_small_and_at_least_20x_cheaper_than_paper():
    rows = model_cost_table(
        {"paper": GeneratorConfig(arch="paper"), "fast": GeneratorConfig()}, seq_shape=SEQ
    )
    paper, fast = rows
    assert [r["name"] for r in rows] == ["paper", "fast"]
    assert paper["arch"] == "paper" and fast["seq_shape"] == SEQ
    assert paper["flops"] == pytest.approx(2.9e12, rel=0.03)
    assert fast["flops"] * 20 <= paper["flops"]
    assert 0.3e6 <= fast["params"] <= 2e6


def test_paper_flops_on_meta_match_an_analytic_count(paper_g_meta):
    """Every conv does weight.numel() multiply-adds per output position; attention adds
    2·HW·(HW/4)·(C/8 + C/2) FLOPs per frame (queries × pooled keys, then × pooled values)."""
    g = paper_g_meta
    t, h, w = SEQ
    macs = 0
    for conv in _convs(g):
        positions = t * h * w  # every conv keeps the full resolution, 2D ones run per frame
        macs += conv.weight.numel() * positions
    c = 64
    attention = t * 2 * (h * w) * (h * w // 4) * (c // 8 + c // 2)
    y = torch.zeros(1, 1, *SEQ)
    assert count_flops(g, y, y) == 2 * macs + attention


def test_meta_flop_count_equals_count_on_real_tensors(paper_g, fast_g):
    y, mask = _observation((1, 1, 3, 8, 8))
    for g in (paper_g, fast_g):
        assert count_flops(g, y, mask, on_meta=True) == count_flops(g, y, mask, on_meta=False)


def test_count_flops_leaves_the_module_untouched(small_paper_g):
    g = copy.deepcopy(small_paper_g).train()
    before = {k: v.clone() for k, v in g.state_dict().items()}  # BN stats, spectral-norm u, v
    y, mask = _observation((1, 1, 2, 8, 8))
    count_flops(g, y, mask, on_meta=False)
    assert g.training
    after = g.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


# --- shapes --------------------------------------------------------------------------


@pytest.mark.parametrize("t, h, w", [(2, 16, 16), (5, 32, 48), (3, 20, 36), (1, 8, 8)])
def test_fast_generator_output_shape(fast_g, t, h, w):
    y, mask = _observation((2, 1, t, h, w))
    out = fast_g(y, mask)
    assert out.shape == (2, 1, t, h, w)
    assert out.abs().max() < 2.0  # soft bound 2·tanh(x/2)


@pytest.mark.parametrize("t, h, w", [(3, 8, 8), (2, 5, 7)])
def test_paper_generator_output_shape_on_tiny_inputs(paper_g, t, h, w):
    y, mask = _observation((1, 1, t, h, w))
    with torch.no_grad():
        out = paper_g(y, mask)
    assert out.shape == (1, 1, t, h, w)
    assert out.abs().max() < 1.0  # tanh


def test_paper_generator_ignores_the_mask(small_paper_g):
    g = copy.deepcopy(small_paper_g).eval()
    y, mask = _observation((1, 1, 2, 8, 8))
    with torch.no_grad():
        assert torch.equal(g(y, mask), g(y, torch.zeros_like(mask)))


def test_discriminators_on_paper_sized_sequences(discriminators):
    image_d, video_d = discriminators
    y, _ = _observation((2, 1, *SEQ))
    with torch.no_grad():
        assert image_d(y).shape == (2, 1, 24, 1, 1)
        assert video_d(y).shape == (2,)


@pytest.mark.parametrize("t, h, w", [(2, 32, 32), (3, 48, 80), (2, 100, 36)])
def test_discriminators_on_other_sizes(discriminators, t, h, w):
    image_d, video_d = discriminators
    y, _ = _observation((1, 1, t, h, w))
    with torch.no_grad():
        assert image_d(y).shape == (1, 1, t, -(-h // 64), -(-w // 64))
        assert video_d(y).shape == (1,)


def test_video_discriminator_needs_two_frames(discriminators):
    with pytest.raises(ValueError, match="at least 2 frames"):
        discriminators[1](torch.zeros(1, 1, 1, 64, 64))


def test_video_discriminator_sees_only_temporal_differences(discriminators):
    video_d = discriminators[1]
    y, _ = _observation((1, 1, 4, 32, 32))
    with torch.no_grad():
        assert torch.allclose(video_d(y), video_d(y + 0.7), atol=1e-5)


# --- reconstruction ------------------------------------------------------------------


def test_reconstruct_keeps_observed_pixels_bit_for_bit(fast_g):
    y, mask = _observation((2, 1, 4, 32, 32))
    y[~mask.bool()][:5] = -0.0  # signed zeros survive too
    x_hat = reconstruct(fast_g, y, mask)
    observed = ~mask.bool()
    assert torch.equal(x_hat[observed].view(torch.int32), y[observed].view(torch.int32))
    with torch.no_grad():
        filled = fast_g(y, mask)
    assert torch.equal(x_hat[mask.bool()], filled[mask.bool()])
    assert not torch.equal(x_hat[mask.bool()], y[mask.bool()])


def test_reconstruct_accepts_a_boolean_mask(fast_g):
    y, mask = _observation((1, 1, 2, 16, 16))
    assert torch.equal(reconstruct(fast_g, y, mask), reconstruct(fast_g, y, mask.bool()))


def test_reconstruct_rejects_a_mask_of_another_shape(fast_g):
    y, mask = _observation((1, 1, 2, 16, 16))
    with pytest.raises(ValueError, match="mask shape"):
        reconstruct(fast_g, y, mask[:, :, :1])


# --- the fast generator --------------------------------------------------------------


def test_fast_generator_output_depends_on_the_mask_channel(fast_g):
    """Same image channel (y zeroed where the masks differ), different mask channel."""
    y = torch.randn(1, 1, 3, 16, 16) / 3
    y[..., 4:12, 4:12] = 0.0
    mask_a = torch.zeros_like(y)
    mask_b = mask_a.clone()
    mask_b[..., 4:12, 4:12] = 1.0
    with torch.no_grad():
        assert not torch.allclose(fast_g(y, mask_a), fast_g(y, mask_b))


def test_fast_generator_ignores_the_fill_value(fast_g):
    y, mask = _observation((1, 1, 3, 16, 16))
    with torch.no_grad():
        reference = fast_g(y, mask)
        for fill in (0.0, -5.0, float("nan")):
            assert torch.equal(fast_g(y.masked_fill(mask.bool(), fill), mask), reference)


def test_gradient_reaches_every_fast_generator_parameter():
    g = build_generator(GeneratorConfig())
    y, mask = _observation((1, 1, 4, 32, 32))
    out = g(y, mask)
    (out * torch.randn_like(out)).sum().backward()
    for name, p in g.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_fast_generator_receptive_field_spans_the_frame_and_several_frames():
    """Without GroupNorm (whose statistics trivially couple all pixels) the corner output
    still sees the opposite corner and frames ±4 away."""
    g = build_generator(GeneratorConfig())
    for module in list(g.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.GroupNorm):
                setattr(module, name, nn.Identity())
    y = torch.randn(1, 1, 9, 64, 64, requires_grad=True)
    g(y, torch.zeros_like(y))[0, 0, 4, 0, 0].backward()
    grad = y.grad[0, 0]
    assert grad[4, 63, 63] != 0
    assert grad[0].abs().sum() > 0 and grad[8].abs().sum() > 0


# --- spectral norm and losses --------------------------------------------------------


def test_spectral_norm_where_promised(small_paper_g, discriminators, fast_g):
    g = small_paper_g
    assert all(_has_spectral_norm(c) for c in _convs(g))
    assert not any(_has_spectral_norm(m) for m in g.modules() if isinstance(m, nn.BatchNorm3d))
    for d in discriminators:
        assert all(_has_spectral_norm(c) for c in _convs(d))
    assert not any(_has_spectral_norm(c) for c in _convs(fast_g))
    for d in build_discriminators(DiscriminatorConfig(spectral_norm=False)):
        assert not any(_has_spectral_norm(c) for c in _convs(d))


def test_hinge_losses_against_hand_computed_values():
    real = torch.tensor([2.0, 0.5, -1.0])  # relu(1 - real) = 0, 0.5, 2   -> mean 2.5/3
    fake = torch.tensor([-3.0, 0.0, 0.5])  # relu(1 + fake) = 0, 1, 1.5   -> mean 2.5/3
    assert d_hinge_loss(real, fake).item() == pytest.approx(5.0 / 3.0)
    assert g_hinge_loss(fake).item() == pytest.approx(2.5 / 3.0)
    # patch maps of any shape reduce with the mean
    assert d_hinge_loss(torch.ones(2, 1, 3, 2, 2), -torch.ones(2, 1, 3, 2, 2)).item() == 0.0


# --- configs and docs ----------------------------------------------------------------


def test_configs_reject_bad_values():
    with pytest.raises(ValueError, match="arch"):
        GeneratorConfig(arch="papr")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="norm_groups"):
        GeneratorConfig(base_channels=20, norm_groups=8)
    with pytest.raises(ValueError, match="n_layers"):
        DiscriminatorConfig(n_layers=0)


def test_fast_generator_size_knobs():
    g = build_generator(GeneratorConfig(base_channels=8, channel_mults=(1, 2), norm_groups=4))
    y, mask = _observation((1, 1, 2, 12, 12))
    assert g(y, mask).shape == y.shape


@pytest.mark.parametrize("module", [unisst_lib.models, unisst_lib.models.flops])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


def test_factorised_conv_on_one_cpu_thread_is_the_same_convolution():
    # one CPU thread takes the 1x1x3 route over (N, C, H, W, T); it must be the same
    # 3x1x1 convolution in time, zero-padded at the sequence ends, with the same gradient
    from unisst_lib.models.layers import FactorisedConv3d

    torch.manual_seed(0)
    layer = FactorisedConv3d(3, 5)
    x = torch.randn(2, 3, 6, 7, 9, requires_grad=True)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = layer(x)
        (g_one,) = torch.autograd.grad(one.square().sum(), x)
    finally:
        torch.set_num_threads(threads)
    mid = nn.functional.silu(layer.spatial(x))
    ref = nn.functional.conv3d(mid, layer.temporal.weight, layer.temporal.bias, padding=(1, 0, 0))
    (g_ref,) = torch.autograd.grad(ref.square().sum(), x)
    assert one.shape == (2, 5, 6, 7, 9)
    torch.testing.assert_close(one, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_one, g_ref, rtol=1e-4, atol=1e-5)
    # the first frame sees only frames 0 and 1 (zero padding): a change at frame 3 leaves it
    x2 = x.detach().clone()
    x2[:, :, 3] += 10.0
    torch.set_num_threads(1)
    try:
        changed = layer(x2) - layer(x.detach())
    finally:
        torch.set_num_threads(threads)
    assert changed[:, :, :2].abs().max() == 0 and changed[:, :, 2:5].abs().max() > 0
