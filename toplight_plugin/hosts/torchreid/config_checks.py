"""Every config value checked when the file is loaded, before a dataset is read or a model built: one line naming
the key, the value and what is allowed. Keys a config factory does not declare are skipped (the pretraining config
has fewer nodes)."""

from __future__ import annotations

from toplight_plugin.core.data.images import BAD_IMAGES
from toplight_plugin.core.fdr import READINGS, SPATIAL
from toplight_plugin.core.fdr_attention import ATTENTIONS
from toplight_plugin.core.losses import TRIPLETS
from toplight_plugin.core.schedule import SCHEDULERS
from toplight_plugin.core.transforms import PRESETS

from .engine import AMP_DTYPES
from .protocols import ProtocolOptions

OPTIMIZERS = ("adamw", "adam", "amsgrad", "sgd", "rmsprop", "radam")

CHOICES = {
    "data.type": ("image",),
    "train.optim": OPTIMIZERS,
    "train.lr_scheduler": SCHEDULERS,
    "loss.name": ("triplet", "softmax"),
    "toplight.triplet": TRIPLETS,
    "toplight.augment": (*PRESETS, "torchreid"),
    "toplight.amp": ("off", *AMP_DTYPES),
    "toplight.fdr": ("", *SPATIAL),
    "toplight.fdr_reading": READINGS,
    "toplight.fdr_attention": ATTENTIONS,
    "toplight.bad_images": BAD_IMAGES,
}
AT_LEAST_ONE = (
    "data.height", "data.width", "train.batch_size", "train.max_epoch", "test.batch_size", "sampler.num_instances",
    "toplight.checkpoint_every", "test.visrank_topk", "toplight.fdr_sigma", "toplight.fdr_mu", "toplight.fdr_groups",
)  # fmt: skip
NOT_NEGATIVE = ("data.workers", "toplight.warmup_epochs", "train.weight_decay", "loss.triplet.weight_t",
                "loss.triplet.weight_x", "test.start_eval", "toplight.keep_last")  # fmt: skip
MISSING = object()


def _get(cfg, key: str):
    node = cfg
    for part in key.split("."):
        node = node.get(part, MISSING) if hasattr(node, "get") else MISSING
        if node is MISSING:
            return MISSING
    return node


def check(cfg) -> None:
    """Raise ValueError for the first value that is not allowed."""
    for key, allowed in CHOICES.items():
        value = _get(cfg, key)
        if value is not MISSING and value not in allowed:
            raise ValueError(f"{key} must be one of {list(allowed)}, got {value!r}")
    for key in AT_LEAST_ONE:
        value = _get(cfg, key)
        if value is not MISSING and value < 1:
            raise ValueError(f"{key} must be at least 1, got {value}")
    for key in NOT_NEGATIVE:
        value = _get(cfg, key)
        if value is not MISSING and value < 0:
            raise ValueError(f"{key} must not be negative, got {value}")
    lr = _get(cfg, "train.lr")
    if lr is not MISSING and not lr > 0:
        raise ValueError(f"train.lr must be positive, got {lr}")
    ranks = _get(cfg, "test.ranks")
    if ranks is not MISSING and (not ranks or min(ranks) < 1):
        raise ValueError(f"test.ranks must be a non-empty list of ranks of at least 1, got {list(ranks)}")
    if _get(cfg, "toplight.trials") is not MISSING:
        ProtocolOptions(tuple(cfg.toplight.sysu_mode), cfg.toplight.trials, cfg.toplight.shots, cfg.toplight.rand_perm)
    if _get(cfg, "loss.name") == "triplet" and cfg.loss.triplet.weight_t == 0 and cfg.loss.triplet.weight_x == 0:
        raise ValueError("loss.triplet.weight_t and loss.triplet.weight_x are both 0: nothing to train")
