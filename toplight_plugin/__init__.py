"""TOPLight for torchreid: ``import toplight_plugin`` registers the plugin's models, datasets and sampler."""

from .core import agw, lightcnn, models  # noqa: F401  (importing registers the factories)
from .core.registry import MODELS, build
from .hosts.torchreid.register import register_all, register_models

__version__ = "0.1.0"
__all__ = ["MODELS", "build", "register_all", "register_models", "__version__"]

register_all()
