"""Step 2 of the paper (Fig. 2): the uniform soup (Wortsman et al. 2022) of the two pre-embedding groups.

Every parameter and floating-point buffer of ``pre.1`` is averaged with its counterpart in ``pre.0`` into a single
``pre.0``; this includes the BatchNorm running means and variances (the average of the two groups' statistics, a
choice: the soup is fine-tuned with VI data right after, which re-estimates them). Integer buffers
(``num_batches_tracked``) take the larger count. Both stems, the post-embedding group and the head are kept as they
are, so the result loads into the VI model (``pre_groups=1``) of the same backbone; its card says so.
"""

from __future__ import annotations

import dataclasses

import torch

from toplight_plugin.core.models.cards import CARD, Weights

PREFIX = "backbone.pre."


def uniform_soup(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A two-group pretraining state dict -> the one-group state dict of the VI model."""
    first, second = f"{PREFIX}0.", f"{PREFIX}1."
    out = {}
    for key, value in state.items():
        if key.startswith(second):
            continue
        if key.startswith(first):
            other = state.get(second + key[len(first) :])
            if other is None:
                raise ValueError(f"{key} has no '{second}*' counterpart: not a two-group (pretraining) state dict")
            if other.shape != value.shape:
                raise ValueError(f"the pre-embedding groups differ at {key}: cannot average them")
            value = (value + other) / 2 if value.is_floating_point() else torch.maximum(value, other)
        out[key] = value
    return out


def soup_checkpoint(weights: Weights) -> dict:
    """A TOP pretraining checkpoint -> the soup checkpoint: its state_dict and, where the input has one, its card
    with one pre-embedding group."""
    if weights.groups != 2:
        held = "its model card says" if weights.card is not None else "its keys hold"
        raise ValueError(f"{weights.source}: not a two-group (pretraining) checkpoint: {held} {weights.groups} "
                         "pre-embedding group(s)")  # fmt: skip
    soup = {"state_dict": uniform_soup(weights.state)}
    if weights.card is not None:
        options = {**weights.card.options, "pre_groups": 1}
        soup[CARD] = dataclasses.replace(weights.card, options=options).to_dict()
    return soup
