"""A training config's model: the registered name with the config's FDR options, input size and weights file, the
same for every host and tool."""

from __future__ import annotations

from toplight_plugin.core.models.batchnorm import set_batchnorm_momentum
from toplight_plugin.core.models.heads import TRAINING_ONLY
from toplight_plugin.core.models.registry import WITHOUT_FDR, build


def build_model(cfg, num_classes: int, weights: str = "", evaluate: bool = False):
    """The configured model; ``weights`` (or ``model.load_weights``) is a local file, else ImageNet if pretrained.

    The file must cover the model: for testing, export and search (``evaluate``) all but the head's classifier;
    to start training, all but the head (a new dataset's) and the prefixes the config names in
    ``model.allow_missing`` (a soup's missing FDR).
    """
    name = cfg.model.name
    allowed = TRAINING_ONLY if evaluate else ("head.", *cfg.model.allow_missing)
    options = dict(height=cfg.data.height, width=cfg.data.width, allow_missing=allowed)
    if name not in WITHOUT_FDR and (cfg.toplight.fdr or name != "lightcnn29"):
        options.update(
            fdr=cfg.toplight.fdr or None,
            fdr_sigma=cfg.toplight.fdr_sigma,
            fdr_mu=cfg.toplight.fdr_mu,
            fdr_attention=cfg.toplight.fdr_attention,
            fdr_upsample=cfg.toplight.fdr_upsample,
            fdr_groups=cfg.toplight.fdr_groups,
            fdr_reading=cfg.toplight.fdr_reading,
        )
    if name.startswith("toplight_"):
        options["last_stride"] = cfg.toplight.last_stride
    pretrained = weights or cfg.model.load_weights or bool(cfg.model.pretrained)
    model = build(name, num_classes, loss="triplet", pretrained=pretrained, **options)
    return set_batchnorm_momentum(model, cfg.toplight.bn_momentum)
