"""torchreid's own engines and tools on the plugin's datasets and models, as its ``scripts/main.py`` builds them.

torchreid has registries for models and datasets but none for evaluation protocols or for inputs a model needs
beside the image, so ``import toplight_plugin`` installs four small hooks on torchreid itself; each changes
nothing for torchreid's own datasets and models:

- ``Engine._evaluate``: on a plugin dataset, the published protocol (evaluate.evaluate_published) instead of the
  Market-1501 rule, with each image routed to its modality's stem;
- ``Engine.parse_data_for_train``: a plugin model is told each training image's modality before torchreid's loop
  calls ``model(images)``;
- ``utils.load_pretrained_weights``: loading a file into a plugin model reports the model tensors the file did not
  cover (an FDR left random) instead of only "Successfully loaded";
- ``utils.FeatureExtractor``: a plugin model warns that every image goes through the visible stem
  (extractor.py has the extractor that routes each image).
"""

from __future__ import annotations

import functools
import warnings

import torch

from toplight_plugin.core.models.cards import card_of
from toplight_plugin.core.models.heads import ReIDNet
from toplight_plugin.core.models.hooks import RoutesModality
from toplight_plugin.core.models.weights import load_state_dict_file
from toplight_plugin.hosts.torchreid.evaluate import evaluate_published

from . import compat, extractor
from .datasets import DATASETS

MARK = "_toplight_hook"


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The network inside nn.DataParallel / DistributedDataParallel."""
    return getattr(model, "module", model)


def is_plugin_model(model: torch.nn.Module) -> bool:
    return isinstance(unwrap(model), ReIDNet)


def is_plugin_dataset(dataset) -> bool:
    return isinstance(dataset, tuple(DATASETS.values()))


def route(model: torch.nn.Module, modality: torch.Tensor) -> None:
    """Tell a plugin model the modality of each image of its next forward call."""
    if isinstance(model, torch.nn.DataParallel) and len(model.device_ids) > 1:
        raise RuntimeError(
            f"torchreid's nn.DataParallel over {len(model.device_ids)} GPUs splits a batch without its modality "
            "codes: train a plugin model on one GPU (CUDA_VISIBLE_DEVICES=0) or with toplight-train under torchrun"
        )
    if card_of(model).dual_path:
        backbone: RoutesModality = unwrap(model).backbone
        backbone.route_next(modality)


@torch.no_grad()
def extract_routed(engine, loader):
    """Features (CPU; the protocols normalise), pids and camids of a loader of plugin items through a stock engine's
    model."""
    model, device = engine.model, torch.device("cuda" if engine.use_gpu else "cpu")
    feats, pids, camids = [], [], []
    for data in loader:
        if is_plugin_model(model):
            route(model, data["modality"])
        feats.append(model(data["img"].to(device)).float().cpu())
        pids.append(data["pid"])
        camids.append(data["camid"])
    return torch.cat(feats), torch.cat(pids).numpy(), torch.cat(camids).numpy()


def uncovered(model: torch.nn.Module, path: str) -> list[str]:
    """The model's tensors that the weights file at ``path`` does not hold with the same shape."""
    state = load_state_dict_file(path)
    return [k for k, v in unwrap(model).state_dict().items() if k not in state or state[k].shape != v.shape]


def _hook(function):
    setattr(function, MARK, True)
    return function


def install() -> None:
    """Install the hooks (idempotent)."""
    extractor.install(is_plugin_model)
    reid = compat.torchreid()
    engine_class = reid.engine.Engine
    if getattr(engine_class._evaluate, MARK, False):
        return
    stock_evaluate, stock_parse = engine_class._evaluate, engine_class.parse_data_for_train
    stock_load = reid.utils.load_pretrained_weights

    @_hook
    @functools.wraps(stock_evaluate)
    def _evaluate(self, dataset_name="", query_loader=None, gallery_loader=None, **kwargs):
        if not is_plugin_dataset(query_loader.dataset):
            return stock_evaluate(self, dataset_name, query_loader, gallery_loader, **kwargs)
        extract = getattr(self, "extract", None) or functools.partial(extract_routed, self)
        return evaluate_published(self, extract, query_loader, gallery_loader, dataset_name=dataset_name, **kwargs)

    @_hook
    @functools.wraps(stock_parse)
    def parse_data_for_train(self, data):
        if "modality" in data and is_plugin_model(self.model):
            route(self.model, data["modality"])
        return stock_parse(self, data)

    @_hook
    @functools.wraps(stock_load)
    def load_pretrained_weights(model, weight_path):
        stock_load(model, weight_path)
        if is_plugin_model(model):
            missing = uncovered(model, weight_path)
            if missing:
                message = (
                    f"{weight_path} does not cover {len(missing)} tensors of the model, which keep their initial "
                    f"values: {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}"
                )
                print(f"** {message}")
                warnings.warn(message, stacklevel=2)

    engine_class._evaluate = _evaluate
    engine_class.parse_data_for_train = parse_data_for_train
    reid.utils.load_pretrained_weights = load_pretrained_weights
    reid.utils.torchtools.load_pretrained_weights = load_pretrained_weights
