"""The FDR neck: Eq. 5-11 geometry in both readings, every ablation switch, sizes that strips do not divide, and
what the refinement can depend on."""

import itertools

import pytest
import torch

from toplight_plugin.core.models.fdr import FDR, READINGS, SPATIAL
from toplight_plugin.core.models.fdr_attention import ATTENTIONS, channel_shuffle


@pytest.mark.parametrize(
    "spatial, attention, upsample, reading", itertools.product(SPATIAL, ATTENTIONS, [True, False], READINGS)
)
def test_every_variant_keeps_the_shape_and_is_differentiable(spatial, attention, upsample, reading):
    fdr = FDR(8, (6, 4), spatial=spatial, attention=attention, upsample=upsample, reading=reading)
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


def test_literal_reading_names_both_sizes_and_spatial_reading_takes_any_size():
    with pytest.raises(ValueError, match="built for 6x4 .* got 8x4"):
        FDR(4, (6, 4), reading="literal")(torch.randn(1, 4, 8, 4))
    fdr = FDR(4, (36, 18)).eval()  # built at 288 x 144, fed torchreid's default 256 x 128 (Block4: 32 x 16)
    assert fdr(torch.randn(2, 4, 32, 16)).shape == (2, 4, 32, 16)
    with pytest.raises(ValueError, match="strips of 3 columns do not fit a 6x2 Block4 map"):
        fdr(torch.randn(1, 4, 6, 2))


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match="groups=3 must divide the 8 channels"):
        FDR(8, (6, 4), groups=3)
    assert FDR(8, (6, 4), groups=8)(torch.randn(1, 8, 6, 4)).shape == (1, 8, 6, 4)


def _identity_kernels(fdr):
    """Set each branch's transposed convolution to copy channel c to channel c; returns the branches."""
    with torch.no_grad():
        for branch in fdr.branches:
            branch.rebuild.weight.zero_()
            for c in range(branch.rebuild.weight.shape[0]):
                branch.rebuild.weight[c, c] = 1.0
    return fdr.branches


def test_strip_pooling_and_rebuild_geometry():
    """With an identity transposed-convolution kernel, Eq. 7/8 paint each strip's mean back over it."""
    fdr = FDR(2, (5, 4), sigma=2, mu=3, spatial="hs+vs", reading="literal")
    horizontal, vertical = _identity_kernels(fdr)
    z = torch.randn(1, 2, 5, 4)
    h = horizontal(z)
    assert torch.allclose(h[0, :, 0:2], z[0, :, 0:2].mean(dim=(1, 2))[:, None, None].expand(2, 2, 4))
    assert torch.allclose(h[0, :, 4], z[0, :, 4].mean(dim=1)[:, None].expand(2, 4))  # short last strip: 1 row
    v = vertical(z)
    assert torch.allclose(v[0, :, :, 3], z[0, :, :, 3].mean(dim=1)[:, None].expand(2, 5))  # short last strip: 1 column
    no_up = FDR(2, (5, 4), upsample=False, reading="literal").branches[0](z)
    torch.testing.assert_close(no_up, h)


def test_spatial_strip_profile_geometry():
    """Spatial reading, identity kernel, BatchNorm at its initial statistics: each position gets ReLU of its
    row-strip mean (horizontal) or column-strip mean (vertical)."""
    fdr = FDR(2, (5, 4), sigma=2, mu=3).eval()
    horizontal, vertical = _identity_kernels(fdr)
    z = torch.randn(1, 2, 5, 4)
    scale = 1 / (1 + horizontal.norm.eps) ** 0.5
    rows = torch.stack([z[0, :, 0:2].mean(dim=(1, 2))] * 2 + [z[0, :, 2:4].mean(dim=(1, 2))] * 2 + [z[0, :, 4].mean(1)])
    torch.testing.assert_close(horizontal(z)[0], torch.relu(rows.T * scale)[:, :, None].expand(2, 5, 4))
    columns = torch.stack([z[0, :, :, 0:3].mean(dim=(1, 2))] * 3 + [z[0, :, :, 3].mean(1)])
    torch.testing.assert_close(vertical(z)[0], torch.relu(columns.T * scale)[:, None, :].expand(2, 5, 4))


def _refinement(fdr, z):
    return fdr(z) - z


def _moves(z, rows: bool, columns: bool) -> torch.Tensor:
    """A zero-mean perturbation of every channel: mass moved from the bottom half to the top half (rows) and/or from
    the right half to the left half (columns); GAP(z) stays exactly the same."""
    h, w = z.shape[-2:]
    r = torch.cat([torch.ones(h // 2), -torch.ones(h // 2)]) if rows else torch.zeros(h)
    c = torch.cat([torch.ones(w // 2), -torch.ones(w // 2)]) if columns else torch.zeros(w)
    return z + 0.5 * (r[:, None] + c[None, :])


@pytest.mark.parametrize("spatial", ["hs", "vs", "hs+vs"])
def test_spatial_reading_sees_where_things_are_and_literal_does_not(spatial):
    """The same GAP(Z), the mass moved: the spatial reading's refinement changes, the literal one's cannot."""
    torch.manual_seed(0)
    z = torch.randn(2, 8, 6, 4)
    moved = _moves(z, rows=True, columns=True)
    torch.testing.assert_close(moved.mean(dim=(2, 3)), z.mean(dim=(2, 3)))
    spatial_fdr = FDR(8, (6, 4), sigma=2, mu=2, spatial=spatial).eval()
    assert (_refinement(spatial_fdr, moved) - _refinement(spatial_fdr, z)).abs().max() > 1e-3
    literal = FDR(8, (6, 4), sigma=2, mu=2, spatial=spatial, reading="literal").eval()
    # float32: the two GAPs agree to a few ulps, so the refinements agree to a few ulps of their size
    torch.testing.assert_close(_refinement(literal, moved), _refinement(literal, z), atol=1e-5, rtol=1e-5)


def test_hs_vs_and_gap_are_different_functions_of_z():
    """Hs sees only row profiles, Vs only column profiles, GAP every position: a move along one axis changes
    exactly the branches that look along it."""
    torch.manual_seed(0)
    z = torch.randn(2, 8, 6, 4)
    fdrs = {mode: FDR(8, (6, 4), sigma=2, mu=2, spatial=mode).eval() for mode in ("hs", "vs", "hs+vs", "gap")}

    def changed(mode, moved):
        return (_refinement(fdrs[mode], moved) - _refinement(fdrs[mode], z)).abs().max() > 1e-3

    rows_only, columns_only = _moves(z, rows=True, columns=False), _moves(z, rows=False, columns=True)
    assert [changed(m, rows_only) for m in ("hs", "vs", "hs+vs", "gap")] == [True, False, True, True]
    assert [changed(m, columns_only) for m in ("hs", "vs", "hs+vs", "gap")] == [False, True, True, True]


def test_literal_shuffle_attention_adds_one_value_per_channel():
    """Literal Eq. 10-11: the refinement is a channel vector broadcast over the map."""
    fdr = FDR(8, (6, 4), reading="literal")
    z = torch.randn(2, 8, 6, 4)
    delta = fdr(z) - z
    torch.testing.assert_close(delta, delta[:, :, :1, :1].expand_as(delta))
    assert delta.abs().sum() > 0


def test_channel_shuffle_interleaves_the_directions():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]


@pytest.mark.parametrize("reading", READINGS)
def test_shuffle_switch_changes_the_attention_input_order(reading):
    with_cs = FDR(4, (6, 4), attention="sa", reading=reading).eval()
    without = FDR(4, (6, 4), attention="sa_noshuffle", reading=reading).eval()
    without.load_state_dict(with_cs.state_dict())
    z = torch.randn(2, 4, 6, 4)
    assert not torch.allclose(with_cs(z), without(z))


def test_unknown_switches_are_named():
    with pytest.raises(ValueError, match="unknown FDR spatial mode 'hv'"):
        FDR(4, (6, 4), spatial="hv")
    with pytest.raises(ValueError, match="unknown FDR attention 'eca'"):
        FDR(4, (6, 4), attention="eca")
    with pytest.raises(ValueError, match="unknown FDR reading 'bias'"):
        FDR(4, (6, 4), reading="bias")
