"""A training config's model: the registered name with the config's options that its card says it takes, the input
size and the weights file, the same for every host and tool."""

from __future__ import annotations

from toplight_plugin.core.models.batchnorm import set_batchnorm_momentum
from toplight_plugin.core.models.heads import TRAINING_ONLY
from toplight_plugin.core.models.registry import build, card

CONFIG_KEYS = {  # build option -> the config key that sets it
    "height": "data.height",
    "width": "data.width",
    "last_stride": "toplight.last_stride",
    "fdr": "toplight.fdr",
    "fdr_sigma": "toplight.fdr_sigma",
    "fdr_mu": "toplight.fdr_mu",
    "fdr_attention": "toplight.fdr_attention",
    "fdr_upsample": "toplight.fdr_upsample",
    "fdr_groups": "toplight.fdr_groups",
    "fdr_reading": "toplight.fdr_reading",
}


def _value(cfg, key: str):
    node, leaf = key.split(".")
    value = cfg[node][leaf]
    return (value or None) if key == "toplight.fdr" else value  # "" in a config is no FDR


def config_overrides(options: dict) -> list[str]:
    """The ``KEY VALUE`` overrides of a config for build ``options`` (a checkpoint's card): those a config holds."""
    pairs = [(CONFIG_KEYS[k], "" if v is None else v) for k, v in options.items() if k in CONFIG_KEYS]
    return [item for pair in pairs for item in pair]


def build_model(cfg, num_classes: int, weights: str = "", evaluate: bool = False):
    """The configured model; ``weights`` (or ``model.load_weights``) is a local file, else ImageNet if pretrained.

    The file must cover the model: for testing, export and search (``evaluate``) all but the head's classifier;
    to start training, all but the head (a new dataset's) and the prefixes the config names in
    ``model.allow_missing`` (a soup's missing FDR).
    """
    takes = card(cfg.model.name).takes
    options = {option: _value(cfg, key) for option, key in CONFIG_KEYS.items() if option in takes}
    options["allow_missing"] = TRAINING_ONLY if evaluate else ("head.", *cfg.model.allow_missing)
    pretrained = weights or cfg.model.load_weights or bool(cfg.model.pretrained)
    model = build(cfg.model.name, num_classes, loss="triplet", pretrained=pretrained, **options)
    return set_batchnorm_momentum(model, cfg.toplight.bn_momentum)
