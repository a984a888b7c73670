"""The host toolboxes the plugin plugs into, each reached only when the user's program imports that host."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable


def when_imported(module: str, then: Callable[[], object]) -> None:
    """``then()`` once ``module`` is imported: now if it already is, else right after its own import finishes. So
    ``import toplight_plugin`` registers into a host without importing the host for the users of other hosts or of
    the host-free tools."""
    if module in sys.modules:
        then()
    else:
        sys.meta_path.insert(0, _AfterImport(module, then))


class _AfterImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``module`` with the other finders and runs ``then`` after the real loader has executed it."""

    def __init__(self, module: str, then: Callable[[], object]):
        self.module, self.then, self.loader = module, then, None

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.module:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None:
            self.loader, spec.loader = spec.loader, self
        return spec

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        self.then()
