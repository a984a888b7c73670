"""The FDR neck: Eq. 5-11 geometry, every ablation switch, sizes that strips do not divide."""

import itertools

import pytest
import torch

from toplight_plugin.core.fdr import FDR, SPATIAL
from toplight_plugin.core.fdr_attention import ATTENTIONS, channel_shuffle


@pytest.mark.parametrize("spatial, attention, upsample", itertools.product(SPATIAL, ATTENTIONS, [True, False]))
def test_every_variant_keeps_the_shape_and_is_differentiable(spatial, attention, upsample):
    fdr = FDR(8, (6, 4), spatial=spatial, attention=attention, upsample=upsample)
    z = torch.randn(3, 8, 6, 4, requires_grad=True)
    out = fdr(z)
    assert out.shape == z.shape and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in fdr.parameters())


@pytest.mark.parametrize(
    "size, sigma, mu", [((36, 18), 2, 3), ((7, 5), 2, 3), ((28, 28), 2, 3), ((5, 4), 5, 4), ((5, 4), 1, 1)]
)
def test_strip_sizes_that_do_or_do_not_divide_the_map(size, sigma, mu):
    fdr = FDR(4, size, sigma=sigma, mu=mu)
    z = torch.randn(2, 4, *size)
    assert fdr(z).shape == z.shape


def test_strips_larger_than_the_map_are_rejected():
    with pytest.raises(ValueError, match="must fit the 6x4 Block4 map"):
        FDR(4, (6, 4), sigma=7)


def test_wrong_runtime_size_names_both_sizes():
    fdr = FDR(4, (6, 4))
    with pytest.raises(ValueError, match="built for 6x4 .* got 8x4"):
        fdr(torch.randn(1, 4, 8, 4))


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match="groups=3 must divide the 8 channels"):
        FDR(8, (6, 4), groups=3)
    assert FDR(8, (6, 4), groups=8)(torch.randn(1, 8, 6, 4)).shape == (1, 8, 6, 4)


def test_strip_pooling_and_rebuild_geometry():
    """With an identity transposed-convolution kernel, Eq. 7/8 paint each strip's mean back over it."""
    fdr = FDR(2, (5, 4), sigma=2, mu=3, spatial="hs+vs")
    horizontal, vertical = fdr.branches
    with torch.no_grad():
        for branch in (horizontal, vertical):
            branch.rebuild.weight.zero_()
            for c in range(2):
                branch.rebuild.weight[c, c] = 1.0
    z = torch.randn(1, 2, 5, 4)
    h = horizontal(z)
    assert torch.allclose(h[0, :, 0:2], z[0, :, 0:2].mean(dim=(1, 2))[:, None, None].expand(2, 2, 4))
    assert torch.allclose(h[0, :, 4], z[0, :, 4].mean(dim=1)[:, None].expand(2, 4))  # short last strip: 1 row
    v = vertical(z)
    assert torch.allclose(v[0, :, :, 3], z[0, :, :, 3].mean(dim=1)[:, None].expand(2, 5))  # short last strip: 1 column
    no_up = FDR(2, (5, 4), upsample=False).branches[0](z)
    torch.testing.assert_close(no_up, h)


def test_shuffle_attention_adds_one_value_per_channel():
    """Eq. 10-11: the refinement is a channel vector broadcast over the map."""
    fdr = FDR(8, (6, 4))
    z = torch.randn(2, 8, 6, 4)
    delta = fdr(z) - z
    torch.testing.assert_close(delta, delta[:, :, :1, :1].expand_as(delta))
    assert delta.abs().sum() > 0


def test_channel_shuffle_interleaves_the_directions():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_shuffle_switch_changes_the_attention_input_order():
    with_cs = FDR(4, (6, 4), attention="sa")
    without = FDR(4, (6, 4), attention="sa_noshuffle")
    without.load_state_dict(with_cs.state_dict())
    z = torch.randn(2, 4, 6, 4)
    assert not torch.allclose(with_cs(z), without(z))


def test_unknown_switches_are_named():
    with pytest.raises(ValueError, match="unknown FDR spatial mode 'hv'"):
        FDR(4, (6, 4), spatial="hv")
    with pytest.raises(ValueError, match="unknown FDR attention 'eca'"):
        FDR(4, (6, 4), attention="eca")
