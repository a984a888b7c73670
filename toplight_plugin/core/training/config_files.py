"""The project's config files by name, from a checkout (``configs/``) or an installed package
(``toplight_plugin/configs``, where the build puts the same folder), so ``--config-file sysu/mbv3l_top_fdr.yaml``
works wherever the plugin is installed."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2]
ROOTS = (PACKAGE / "configs", PACKAGE.parent / "configs")


def root() -> Path | None:
    """The folder the shipped configs are in (the installed copy first), or None."""
    return next((r for r in ROOTS if r.is_dir()), None)


def names() -> list[str]:
    """Every shipped config, as ``sysu/mbv3l_top_fdr.yaml``."""
    folder = root()
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.yaml")) if folder else []


def find(name: str | Path) -> Path:
    """``name`` itself when it is a file, else the shipped config of that name (``.yaml`` optional, a leading
    ``configs/`` ignored)."""
    path = Path(name)
    if path.is_file():
        return path
    folder = root()
    relative = Path(*path.parts[1:]) if path.parts[:1] == ("configs",) else path
    for candidate in (relative, relative.with_name(relative.name + ".yaml")):
        if folder is not None and (folder / candidate).is_file():
            return folder / candidate
    raise FileNotFoundError(f"config file {name} does not exist, here or among the shipped configs (toplight-config)")
