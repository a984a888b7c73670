"""Step 2 of the paper (Fig. 2): the uniform soup (Wortsman et al. 2022) of the two pre-embedding groups.

Every parameter and floating-point buffer of ``pre.1`` is averaged with its counterpart in ``pre.0`` into a single
``pre.0``; this includes the BatchNorm running means and variances (the average of the two groups' statistics, a
choice: the soup is fine-tuned with VI data right after, which re-estimates them). Integer buffers
(``num_batches_tracked``) take the larger count. Both stems, the post-embedding group and the head are kept as they
are, so the result loads into the VI model (``pre_groups=1``) of the same backbone.
"""

from __future__ import annotations

import torch

PREFIX = "backbone.pre."


def uniform_soup(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A two-group pretraining state dict -> the one-group state dict of the VI model."""
    first, second = f"{PREFIX}0.", f"{PREFIX}1."
    if not any(k.startswith(second) for k in state):
        raise ValueError(f"not a two-group (pretraining) checkpoint: no '{second}*' keys")
    out = {}
    for key, value in state.items():
        if key.startswith(second):
            continue
        if key.startswith(first):
            other = state.get(second + key[len(first) :])
            if other is None or other.shape != value.shape:
                raise ValueError(f"the pre-embedding groups differ at {key}: cannot average them")
            value = (value + other) / 2 if value.is_floating_point() else torch.maximum(value, other)
        out[key] = value
    return out
