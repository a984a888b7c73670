"""Every network the plugin provides, registered by name with its model card when this package is imported (as
timm's models are), so importing any module under it leaves the registry complete."""

from toplight_plugin.core.models import agw, conventional, ddag, lightcnn, toplight  # noqa: F401  (registers them)
from toplight_plugin.core.models.registry import MODELS, build, card, cards, register_variant

__all__ = ["MODELS", "build", "card", "cards", "register_variant"]
