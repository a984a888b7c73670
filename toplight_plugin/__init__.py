"""TOPLight: lightweight dual-path networks for visible-infrared recognition. ``toplight_plugin.core`` holds the
networks, training, evaluation and deployment and imports no host toolbox; ``toplight_plugin.hosts`` plugs them in.

``import toplight_plugin`` registers the models, datasets and sampler into torchreid when torchreid is imported,
before or after this line, without importing torchreid itself (hosts.when_imported)."""

import importlib
import sys

from toplight_plugin.hosts import when_imported

__version__ = "0.1.0"
__all__ = ["MODELS", "FeatureExtractor", "build", "register_all", "register_models", "register_variant", "__version__"]
_PUBLIC = {  # name -> module, imported on first use so that this package's import stays light
    "MODELS": "toplight_plugin.core.models",
    "build": "toplight_plugin.core.models",
    "FeatureExtractor": "toplight_plugin.hosts.torchreid.extractor",
    "register_all": "toplight_plugin.hosts.torchreid.register",
    "register_models": "toplight_plugin.hosts.torchreid.register",
}


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'toplight_plugin' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)


def register_variant(name: str, base: str, **options):
    """A model ``name`` that builds ``base`` with ``options`` (FDR switches, ``last_stride``, ...), reachable from
    torchreid's ``model.name`` at once: ``register_variant("mbv3l_hs", "toplight_mobilenetv3_large", fdr="hs")``."""
    from toplight_plugin.core.models import register_variant as register

    factory = register(name, base, **options)
    if "torchreid" in sys.modules:
        importlib.import_module(_PUBLIC["register_models"]).register_models()
    return factory


def _register_into_torchreid() -> None:
    importlib.import_module(_PUBLIC["register_all"]).register_all()


when_imported("torchreid", _register_into_torchreid)
