"""torchreid host: the only package that imports torchreid. torchreid is imported before any module of this package,
so the registration ``import toplight_plugin`` runs when torchreid's import ends (hosts.when_imported) never meets a
half-imported module here."""

from toplight_plugin.hosts.torchreid import compat

compat.torchreid()
