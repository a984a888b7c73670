"""fast-reid host: TOPLight as a fast-reid project. ``import toplight_plugin.hosts.fastreid`` applies the shims
fastreid 1.4.0 needs (compat.py), then fills fast-reid's registries: BACKBONE (every plugin model by name),
META_ARCH (``TOPLightBaseline``), DATASET (``SYSUMM01``, ``RegDB``, ``OuluNIRVIS``, ``BUAAVisNir``).

A fast-reid script imports this package for ``add_toplight_config``, as it imports a project's package for its
``add_X_config``; ``import toplight_plugin`` alone never imports fastreid (docs/fastreid.md).
"""

from toplight_plugin.hosts.fastreid import compat

compat.apply()

from toplight_plugin.hosts.fastreid.config import add_toplight_config  # noqa: E402
from toplight_plugin.hosts.fastreid.modeling import TOPLightBaseline, register_backbones  # noqa: E402

register_backbones()

from toplight_plugin.hosts.fastreid import datasets  # noqa: E402, F401  (registers the datasets)

__all__ = ["TOPLightBaseline", "add_toplight_config", "register_backbones"]
