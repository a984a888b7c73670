"""Every config value checked when the file is loaded, before a dataset is read or a model built: one line naming
the key, the value and what is allowed. Keys a config factory does not declare are skipped (the pretraining config
has fewer nodes). ``fit`` then settles what a torchreid habit leaves open, saying so in a line."""

from __future__ import annotations

from toplight_plugin.core.data.device_normalize import NORMALIZE_CHOICES
from toplight_plugin.core.data.images import BAD_IMAGES
from toplight_plugin.core.data.sampler import NAME as PK_SAMPLER
from toplight_plugin.core.data.sampler import fit_batch
from toplight_plugin.core.data.transforms import PRESETS
from toplight_plugin.core.evaluation.protocols import ProtocolOptions
from toplight_plugin.core.models.fdr import READINGS, SPATIAL
from toplight_plugin.core.models.fdr_attention import ATTENTIONS
from toplight_plugin.core.models.registry import MODELS, card
from toplight_plugin.core.training.losses import TRIPLETS
from toplight_plugin.core.training.precision import AMP_CHOICES
from toplight_plugin.core.training.schedule import SCHEDULERS

OPTIMIZERS = ("adamw", "adam", "amsgrad", "sgd", "rmsprop", "radam")

CHOICES = {
    "data.type": ("image",),
    "train.optim": OPTIMIZERS,
    "train.lr_scheduler": SCHEDULERS,
    "loss.name": ("triplet", "softmax"),
    "toplight.triplet": TRIPLETS,
    "toplight.augment": (*PRESETS, "torchreid"),
    "toplight.amp": AMP_CHOICES,
    "top.amp": AMP_CHOICES,
    "toplight.normalize_on": NORMALIZE_CHOICES,
    "data.normalize_on": NORMALIZE_CHOICES,
    "toplight.fdr": ("", *SPATIAL),
    "toplight.fdr_reading": READINGS,
    "toplight.fdr_attention": ATTENTIONS,
    "toplight.bad_images": BAD_IMAGES,
    "test.dist_metric": ("euclidean", "cosine"),
}
AT_LEAST_ONE = (
    "data.height", "data.width", "train.batch_size", "train.max_epoch", "test.batch_size", "sampler.num_instances",
    "toplight.checkpoint_every", "test.visrank_topk", "toplight.fdr_sigma", "toplight.fdr_mu", "toplight.fdr_groups",
)  # fmt: skip
NOT_NEGATIVE = ("data.workers", "toplight.warmup_epochs", "train.weight_decay", "loss.triplet.weight_t",
                "loss.triplet.weight_x", "test.start_eval", "toplight.keep_last", "train.fixbase_epoch",
                "train.grad_clip", "train.keep_last")  # fmt: skip
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
    if _get(cfg, "train.fixbase_epoch") not in (MISSING, 0) and not cfg.train.open_layers:
        raise ValueError(f"train.open_layers must name the layers to train for train.fixbase_epoch "
                         f"{cfg.train.fixbase_epoch} epochs, got []")  # fmt: skip
    if _get(cfg, "test.rerank") is True and not cfg.test.evaluate:
        raise ValueError("test.rerank True applies only with test.evaluate True (torchreid re-ranks in its test-only "
                         "run, never in the tests during or after training)")  # fmt: skip


def fit(cfg, given: set[str]) -> list[str]:
    """Settle two things a config may leave open, in place; one printed line for each change.

    - A model whose card decides its FDR (one that takes none, ``<name>_nofdr`` and other ``register_variant``s
      that fix it) decides ``toplight.fdr`` when the config does not set it, so the saved config says what trains;
      a config that sets another value is refused.
    - A training batch the cross-modality sampler cannot draw becomes the nearest smaller one it can
      (core.sampler.fit_batch says why not refused).
    """
    lines = []
    name = _get(cfg, "model.name")
    expected = card(name).fdr_decided() if name in MODELS else None
    if expected is not None and _get(cfg, "toplight.fdr") is not MISSING:
        if "toplight.fdr" in given and cfg.toplight.fdr != expected:
            built = f"with toplight.fdr {expected!r}" if expected else "without the FDR"
            raise ValueError(f"toplight.fdr {cfg.toplight.fdr!r} contradicts model.name {cfg.model.name}, which is "
                             f"built {built}: leave toplight.fdr out or name the model that has it")  # fmt: skip
        cfg.toplight.fdr = expected
    if _get(cfg, "sampler.train_sampler") == PK_SAMPLER and not _get(cfg, "test.evaluate"):
        cfg.train.batch_size, line = fit_batch(cfg.train.batch_size, cfg.sampler.num_instances)
        lines += [line] if line else []
    return lines
