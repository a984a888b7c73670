"""Assembling a dual-path re-id model from seven blocks, and loading the project's own checkpoints."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from toplight_plugin.core.models.cards import Weights, read_weights
from toplight_plugin.core.models.dual_path import DualPathNet
from toplight_plugin.core.models.fdr import FDR
from toplight_plugin.core.models.heads import ReIDNet
from toplight_plugin.core.models.weights import non_finite

log = logging.getLogger(__name__)
FDR_OPTIONS = ("fdr", "fdr_sigma", "fdr_mu", "fdr_attention", "fdr_upsample", "fdr_groups", "fdr_reading")


@dataclass(frozen=True)
class FDROptions:
    """The FDR switches (see fdr.FDR); ``spatial=None`` builds the network without FDR."""

    spatial: str | None = "hs+vs"
    sigma: int = 2
    mu: int = 3
    attention: str = "sa"
    upsample: bool = True
    groups: int = 1
    reading: str = "spatial"

    @classmethod
    def from_kwargs(cls, **kwargs) -> FDROptions:
        """Factory keywords ``fdr``, ``fdr_sigma``, ``fdr_mu``, ``fdr_attention``, ``fdr_upsample``, ``fdr_groups``,
        ``fdr_reading``."""
        fields = {name: name.removeprefix("fdr_") if name != "fdr" else "spatial" for name in FDR_OPTIONS}
        unknown = sorted(set(kwargs) - set(fields))
        if unknown:
            raise TypeError(f"unknown model option(s) {unknown}; FDR options are {sorted(fields)}")
        return cls(**{fields[k]: v for k, v in kwargs.items()})


@torch.no_grad()
def _probe(stem: nn.Module, pre: nn.Module, post: nn.Module, in_chans: int, size: tuple[int, int]):
    """Shape of the Block4 map and the feature width for inputs of ``size`` (eval mode: no statistics change)."""
    blocks = nn.ModuleList([stem, pre, post]).eval()
    z = pre(stem(torch.zeros(1, in_chans, *size)))
    feat_dim = post(z).shape[1]
    blocks.train()
    return z.shape[1], tuple(z.shape[2:]), feat_dim


def assemble(
    blocks: list[nn.Module],
    head_fn,
    loss: str,
    in_chans: int = 3,
    size: tuple[int, int] = (288, 144),
    fdr: FDROptions = FDROptions(),
    pre_groups: int = 1,
) -> ReIDNet:
    """Blocks 1..7 -> ReIDNet(DualPathNet(stem, Blocks 2-4, FDR, Blocks 5-7), head_fn(feat_dim)).

    ``size`` is the input (height, width) the FDR kernels are sized for.
    """
    if len(blocks) != 7:
        raise ValueError(f"expected seven blocks, got {len(blocks)}")
    stem, pre, post = blocks[0], nn.Sequential(*blocks[1:4]), nn.Sequential(*blocks[4:7])
    channels, map_size, feat_dim = _probe(stem, pre, post, in_chans, size)
    neck = None
    if fdr.spatial is not None:
        neck = FDR(channels, map_size, fdr.sigma, fdr.mu, fdr.spatial, fdr.attention, fdr.upsample, fdr.groups,
                   fdr.reading)  # fmt: skip
    backbone = DualPathNet(stem, pre, post, neck, pre_groups)
    return ReIDNet(backbone, head_fn(feat_dim), loss)


ALLOW_HEAD = ("head.",)  # a new dataset has a new number of identities: its classifier starts afresh


def load_own_checkpoint(model: ReIDNet, state: dict[str, torch.Tensor], source: str,
                        allow_missing: tuple[str, ...] = ALLOW_HEAD, groups: int = 1) -> list[str]:  # fmt: skip
    """Load a TOP / soup / VI checkpoint; returns the keys left at their initial values.

    Every model tensor the file lacks (or holds with another shape) must start with one of the ``allow_missing``
    prefixes, named by the caller: a soup has no FDR, so a "+TOP & FDR" config names ``backbone.neck.``; anything
    else left at its initial value (an FDR under a baseline checkpoint) is an error, not a random module.
    ``groups``: the pre-embedding groups the file holds (cards.Weights.groups), for the hint of a refusal.
    """
    own = model.state_dict()
    unexpected = [k for k in state if k not in own]
    if unexpected:
        hint = " (a two-group TOP checkpoint: merge it with tools/soup.py first)" if groups == 2 else ""
        raise ValueError(f"{source}: {len(unexpected)} keys the model lacks, e.g. {unexpected[:3]}{hint}")
    skipped = [k for k, v in own.items() if k not in state or state[k].shape != v.shape]
    kept = set(own) - set(skipped)
    refused = [k for k in skipped if not k.startswith(tuple(allow_missing))]
    if refused:
        key = refused[0]
        problem = "missing" if key not in state else f"shape {tuple(state[key].shape)} != {tuple(own[key].shape)}"
        prefixes = sorted({".".join(k.split(".")[:2]) + "." for k in refused})
        raise ValueError(
            f"{source}: does not cover {len(refused)} model tensors ({key} is {problem}); to start them afresh "
            f"on purpose, name them: model.allow_missing {prefixes}"
        )
    broken = non_finite({k: state[k] for k in kept})
    if broken:
        raise ValueError(f"{source}: {len(broken)} tensors hold NaN or inf values (e.g. {broken[0]}): the run that "
                         "wrote it diverged; use an earlier checkpoint of that run")  # fmt: skip
    for key in kept:
        own[key].copy_(state[key])
    return skipped


def split_pretrained(pretrained: bool | str | Path) -> tuple[Weights | None, bool | dict]:
    """A factory's ``pretrained`` -> (a checkpoint of this project to load once the model is built, or None;
    what the library network starts from: False, True for its ImageNet download, or its state_dict from the file)."""
    if not isinstance(pretrained, (str, Path)):
        return None, bool(pretrained)
    weights = read_weights(pretrained)
    return (weights, False) if weights.own else (None, weights.state)


def load_own_or_keep(model: ReIDNet, own: Weights | None, allow_missing: tuple[str, ...] = ALLOW_HEAD) -> ReIDNet:
    """Load ``own`` (from split_pretrained) when there is one, logging the tensors left at their initial values."""
    if own is not None:
        skipped = load_own_checkpoint(model, own.state, own.source, allow_missing, own.groups)
        if skipped:
            log.info("%s: %d tensors kept their initial values: %s", own.source, len(skipped), ", ".join(skipped))
    return model
