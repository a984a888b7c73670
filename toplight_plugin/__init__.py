"""TOPLight for torchreid: ``import toplight_plugin`` registers the plugin's models, datasets and sampler."""

from .core import agw, conventional, ddag, lightcnn, models, registry  # noqa: F401  (importing registers the factories)
from .core.registry import MODELS, build
from .hosts.torchreid.extractor import FeatureExtractor
from .hosts.torchreid.register import register_all, register_models

__version__ = "0.1.0"
__all__ = ["MODELS", "FeatureExtractor", "build", "register_all", "register_models", "register_variant", "__version__"]


def register_variant(name: str, base: str, **options):
    """A model ``name`` that builds ``base`` with ``options`` (FDR switches, ``last_stride``, ...), reachable from
    torchreid's ``model.name`` at once: ``register_variant("mbv3l_hs", "toplight_mobilenetv3_large", fdr="hs")``."""
    factory = registry.register_variant(name, base, **options)
    register_models()
    return factory

register_all()
