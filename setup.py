"""Shim for tools that still call setup.py; pyproject.toml holds the metadata.

The package layout lives here because it maps a folder outside the package: the checkout's ``configs/`` ships inside
the installed package as ``toplight_plugin/configs``, so ``toplight-config NAME`` and ``--config-file NAME`` find
the paper's configs after a plain ``pip install``.
"""

from pathlib import Path

from setuptools import find_packages, setup

CONFIGS = ["toplight_plugin.configs"] + [
    "toplight_plugin.configs." + ".".join(d.relative_to("configs").parts)
    for d in sorted(Path("configs").rglob("*"))
    if d.is_dir()
]

setup(
    packages=[*find_packages(include=["toplight_plugin*"]), *CONFIGS],
    package_dir={"toplight_plugin.configs": "configs"},
    package_data={name: ["*.yaml"] for name in CONFIGS},
)
