"""Model cards: the facts of each registered model, recorded when it is registered (as timm keeps a pretrained config
beside each model function), set on every model the registry builds (``model.card``, with the options of that build)
and written into its checkpoints. Hosts and tools read a card instead of guessing from model names, checkpoint keys
or attributes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from toplight_plugin.core.models.hooks import HOOKS
from toplight_plugin.core.models.weights import read_weights_file, state_dict_of

CARD = "card"  # a checkpoint's key for the card of the model its state_dict belongs to
TASKS = ("person", "face")  # visible-infrared person re-id (SYSU-MM01, RegDB) | VI face recognition (Table 8)
LAYOUTS = ("nchw", "tokens", "nhwc")  # the post-embedding group's input: maps, ViT tokens, channels-last maps
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelCard:
    """What a registered model is. ``takes``: the build options beyond torchreid's four (``num_classes``, ``loss``,
    ``pretrained``, ``use_gpu``) that shape the network; FDR options among them mean it takes the FDR, ``pre_groups``
    that it has the two-group TOP pretraining form. ``options``: at registration, what a variant fixes; on a built
    model or in a checkpoint, every option it was built with."""

    name: str
    task: str
    dual_path: bool  # one stem per modality, routed by the modality codes (hooks.RoutesModality)
    feat_dim: int  # width of the eval-mode (retrieval) feature
    takes: tuple[str, ...]
    input_size: tuple[int, int] = (288, 144)  # (height, width): the default, or what a built model was built for
    in_chans: int = 3
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    feature_layout: str = "nchw"
    hooks: tuple[str, ...] = ()  # names in hooks.HOOKS it implements
    backbone: str = ""  # the backbones.BACKBONES network it is cut from (what standard pretraining trains)
    base: str = ""  # the registered model it is a variant of
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        where = f"model card of {self.name!r}"
        if self.task not in TASKS:
            raise ValueError(f"{where}: task must be one of {TASKS}, got {self.task!r}")
        if self.feature_layout not in LAYOUTS:
            raise ValueError(f"{where}: feature_layout must be one of {LAYOUTS}, got {self.feature_layout!r}")
        unknown = sorted(set(self.hooks) - set(HOOKS))
        if unknown:
            raise ValueError(f"{where}: unknown hook(s) {unknown}; hooks are {sorted(HOOKS)}")
        if len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            raise ValueError(f"{where}: mean and std need one value per input channel ({self.in_chans})")

    @property
    def takes_fdr(self) -> bool:
        return "fdr" in self.takes

    @property
    def pre_groups(self) -> tuple[int, ...]:
        """The numbers of pre-embedding groups it builds: (1, 2) where it has the TOP pretraining form."""
        return (1, 2) if "pre_groups" in self.takes else (1,)

    def fdr_decided(self) -> str | None:
        """The ``toplight.fdr`` a config must have for this model ("" without the FDR), or None when the config
        decides: a model that takes no FDR and a variant that fixes it decide."""
        if not self.takes_fdr:
            return ""
        return (self.options["fdr"] or "") if "fdr" in self.options else None

    def built(self, options: dict) -> ModelCard:
        """The card of a model built with ``options`` (the build call's keywords; those not in ``takes`` are
        dropped, a variant's fixed options win, as they do in the build)."""
        given = {k: v for k, v in options.items() if k in self.takes}
        merged = {**given, **self.options}
        size = (merged.get("height", self.input_size[0]), merged.get("width", self.input_size[1]))
        return dataclasses.replace(self, options=merged, input_size=size)

    def to_dict(self) -> dict:
        """Plain dicts, lists, strings and numbers: what ``torch.load(weights_only=True)`` reads back."""
        plain = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in plain.items()}

    @classmethod
    def from_dict(cls, data, source: str) -> ModelCard:
        """The card a checkpoint holds; one line naming ``source`` when it is not one."""
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict) or not {"name", "task", "dual_path", "feat_dim", "takes"} <= set(data):
            raise ValueError(f"{source}: its '{CARD}' entry is not a model card (a dict with name, task, dual_path, "
                             "feat_dim, takes, ...)")  # fmt: skip
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{source}: its model card has unknown field(s) {unknown}; fields are {sorted(names)}")
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fields)


def card_of(model: nn.Module) -> ModelCard:
    """The card of a model the registry built (inside nn.DataParallel / DistributedDataParallel too)."""
    if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        model = model.module
    card = model.__dict__.get("card")
    if not isinstance(card, ModelCard):
        raise ValueError(f"this {type(model).__name__} has no model card: build it through the registry "
                         "(toplight_plugin.build, torchreid.models.build_model)")  # fmt: skip
    return card


@dataclass(frozen=True)
class Weights:
    """A weights file as the models read it: its state_dict and, for a checkpoint of this project, the card of the
    model it was written from (``legacy_options`` stands in for a checkpoint written before cards)."""

    source: str
    state: dict[str, torch.Tensor]
    card: ModelCard | None  # None: a card-less checkpoint of this project, or a foreign state_dict
    own: bool  # a checkpoint of this project, not a library's or LightCNN's public state_dict
    options: dict  # the build options it holds: its card's, or what a card-less own checkpoint's keys imply

    @property
    def groups(self) -> int:
        """The pre-embedding groups of the network it holds."""
        return self.options.get("pre_groups", 1)

    def model_name(self, model: str = "") -> str:
        """The registered model the file holds: its card's name (``model``, when given, must agree), else
        ``model``; "" when neither says."""
        if self.card is None:
            return model
        if model and model != self.card.name:
            raise ValueError(f"{self.source} holds {self.card.name} (its model card), not {model}")
        return self.card.name


def legacy_options(state: dict[str, torch.Tensor]) -> dict | None:
    """The one fallback for checkpoints written before model cards: the options their keys imply (two pre-embedding
    groups, no FDR), or None for a state_dict that is not this project's (no ``backbone.*`` key)."""
    if not any(k.startswith("backbone.") for k in state):
        return None
    options: dict = {"pre_groups": 2 if any(k.startswith("backbone.pre.1.") for k in state) else 1}
    if not any(k.startswith("backbone.neck.") for k in state):
        options["fdr"] = None
    return options


def read_weights(path: str | Path) -> Weights:
    """Read a weights file (see weights.load_state_dict_file for the layouts) with the card it carries."""
    raw = read_weights_file(path)
    state = state_dict_of(raw, path)
    if isinstance(raw, dict) and CARD in raw:
        card = ModelCard.from_dict(raw[CARD], str(path))
        return Weights(str(path), state, card, True, dict(card.options))
    options = legacy_options(state)
    return Weights(str(path), state, None, options is not None, options or {})
