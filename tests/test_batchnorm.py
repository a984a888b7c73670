"""BatchNorm momentum for training from random weights, and through the config."""

import pytest
import torch.nn as nn

import toplight_plugin
from toplight_plugin.core.models.batchnorm import set_batchnorm_momentum
from toplight_plugin.core.models.configured import build_model
from toplight_plugin.core.training.config import load_config


def _momenta(model):
    return {m.momentum for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}


def test_momentum_is_set_everywhere_or_kept():
    model = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=2, height=64, width=32)
    assert 0.01 in _momenta(model)  # torchvision's MobileNetV3 default
    assert _momenta(set_batchnorm_momentum(model, None)) == _momenta(model)
    assert _momenta(set_batchnorm_momentum(model, 0.1)) == {0.1}
    for bad in (0.0, 1.5, "fast"):
        with pytest.raises(ValueError, match=r"momentum must be a number in \(0, 1\]"):
            set_batchnorm_momentum(model, bad)


def test_config_key_reaches_the_model():
    base = ["model.name", "toplight_mobilenetv3_small", "model.pretrained", "False", "data.height", "64",
            "data.width", "32"]  # fmt: skip
    assert 0.01 in _momenta(build_model(load_config(None, base), num_classes=2))
    assert _momenta(build_model(load_config(None, [*base, "toplight.bn_momentum", "0.1"]), num_classes=2)) == {0.1}
