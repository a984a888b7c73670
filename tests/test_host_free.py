"""The core and the tools that need no host import none: torchreid and fastreid stay out of ``sys.modules`` (a fresh
interpreter each, since the test session itself imports both), and ``import toplight_plugin`` registers into
torchreid whichever of the two a script imports first."""

import subprocess
import sys

from toplight_plugin.cli.console import TOOLS

# tools that drive torchreid's engine
HOSTED = {"bench_eval", "compare", "demo", "gpu_smoke", "reference", "splits", "test", "top_ablation", "train"}
IMPORT_ALL = """
import importlib, pkgutil, sys
import toplight_plugin.core as core
host, names = sys.argv[1], [m.name for m in pkgutil.walk_packages(core.__path__, "toplight_plugin.core.")]
for name in names + sys.argv[2:]:
    importlib.import_module(name)
    if host in sys.modules:
        sys.exit(f"importing {name} imported {host}")
print(len(names) + len(sys.argv[2:]))
"""
REGISTERED = """
import sys
for name in sys.argv[1:]:
    __import__(name)
from toplight_plugin.hosts.torchreid import compat
print("toplight_mobilenetv3_small" in compat.model_factory())
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)


def test_every_core_module_and_host_free_tool_leaves_torchreid_unimported():
    tools = [f"toplight_plugin.cli.{tool}" for tool in TOOLS if tool not in HOSTED]
    run = _python(IMPORT_ALL, "torchreid", "toplight_plugin", *tools)  # the fast-reid host and its tool included
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) > 60 + len(tools)  # every module was walked


def test_the_check_sees_a_module_that_imports_torchreid():
    run = _python(IMPORT_ALL, "torchreid", "toplight_plugin.hosts.torchreid.register")
    assert run.returncode == 1 and "importing toplight_plugin.hosts.torchreid.register imported torchreid" in run.stderr


def test_every_core_module_and_the_other_tools_leave_fastreid_unimported():
    """``import toplight_plugin`` never imports fastreid: its users import toplight_plugin.hosts.fastreid."""
    tools = [f"toplight_plugin.cli.{tool}" for tool in TOOLS if tool != "fastreid"]
    run = _python(IMPORT_ALL, "fastreid", "toplight_plugin", *tools, "toplight_plugin.hosts.fastreid")
    # the first module that imported fastreid is the fast-reid host, named last
    assert run.returncode == 1 and "importing toplight_plugin.hosts.fastreid imported fastreid" in run.stderr


def test_import_toplight_plugin_registers_into_torchreid_imported_before_or_after_it():
    for order in (["torchreid", "toplight_plugin"], ["toplight_plugin", "torchreid"]):
        run = _python(REGISTERED, *order)
        assert run.returncode == 0 and run.stdout.strip() == "True", (order, run.stderr)
