"""Every installed console script: exit 0 on success, 2 with one line on a user's mistake, no traceback."""

import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])


def _script(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.is_file():
        pytest.skip(f"{name} is not installed next to {sys.executable} (pip install -e . installs it)")
    return str(path)


def test_help_exits_zero(monkeypatch, capsys):
    """Each installed script file run as its interpreter runs it, in this process: a new interpreter per script would
    spend 5 s importing torch and torchreid each (the next test starts two of them as real processes)."""
    for name in SCRIPTS:
        monkeypatch.setattr(sys, "argv", [_script(name), "--help"])
        with pytest.raises(SystemExit) as done:
            runpy.run_path(_script(name), run_name="__main__")
        assert done.value.code in (0, None) and "usage:" in capsys.readouterr().out, name


def test_success_exits_zero_and_a_mistake_is_one_line(tmp_path):
    made = subprocess.run([_script("toplight-make-synthetic"), "--dataset", "regdb", "--regdb-ids", "4", "--root",
                           str(tmp_path)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert made.returncode == 0 and "regdb: 80 images" in made.stdout, made.stderr
    bad = subprocess.run([_script("toplight-train"), "--config-file", str(tmp_path / "missing.yaml")],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    expected = (
        f"toplight-train: error: config file {tmp_path / 'missing.yaml'} does not exist, here or among the shipped "
        "configs (toplight-config)"
    )
    assert bad.stderr.strip().splitlines() == [expected]


def test_tools_scripts_use_the_same_runner():
    for tool in sorted((ROOT / "tools").glob("*.py")):
        assert 'sys.exit(run("' in tool.read_text(), tool


def test_options_may_follow_the_overrides():
    """``toplight-test ... data.root X --weights last.pth`` as other command-line tools accept it; ``-1`` stays a
    value."""
    from toplight_plugin.cli.train import parse

    args = parse(["data.root", "x", "--weights", "w.pth", "test.eval_freq", "-1", "--config-file", "c.yaml"], "")
    assert (args.weights, args.config_file) == ("w.pth", "c.yaml")
    assert args.opts == ["data.root", "x", "test.eval_freq", "-1"]
