"""The commands in README.md and docs/ say what the tools accept: every ``toplight-*`` / ``python tools/*.py``
command is one of the tools, every config it names exists (a path or a shipped name) and loads with the overrides
written after it, and a test of ``.../last.pth`` after training the same config in the same block reads the folder
that training writes."""

import re
import shlex
from pathlib import Path

import pytest
import tomllib

from toplight_plugin.core.training.config import load_config
from toplight_plugin.core.training.pretrain import get_default_config as pretrain_defaults

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {  # console script -> tool (toplight_plugin.cli.<tool>, tools/<tool>.py)
    name: target.rsplit(":", 1)[1]
    for name, target in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"].items()
}
TOOLS = set(SCRIPTS.values())
YACS_TOOLS = {"train", "test", "pretrain_top", "reference", "splits"}
FLAGS = {"--config-file": 1, "--weights": 1, "--resume": 0, "--splits": 1, "--test-only": 0}


def make_target(target: str) -> list[str]:
    """The first recipe line of a Makefile target, with ``$(PY)`` read as ``python``."""
    recipe = (ROOT / "Makefile").read_text().split(f"\n{target}:", 1)[1].splitlines()[1]
    return shlex.split(recipe.replace("$(PY)", "python"))


def tool_of(words: list[str]) -> tuple[str, list[str]] | None:
    """(tool, its arguments) of a ``toplight-X ...``, ``python tools/X.py ...`` or ``make demo`` line (after any
    ``env`` and VAR=value words)."""
    while words and (words[0] == "env" or re.fullmatch(r"[A-Z_]+=\S*", words[0])):
        words = words[1:]
    if words[:2] == ["make", "demo"]:
        return tool_of(make_target("demo"))
    if words[:1] and words[0].startswith("toplight-"):
        return SCRIPTS.get(words[0], words[0]), words[1:]
    if words[:1] == ["python"] and len(words) > 1 and words[1].startswith("tools/"):
        return Path(words[1]).stem, words[2:]
    return None


def fenced(doc: Path) -> list[tuple[str, str]]:
    """(language, text) of each fenced block, in order."""
    return re.findall(r"```(\w*)\n(.*?)```", doc.read_text(), flags=re.S)


def bash_commands(text: str) -> list[tuple[str, list[str]]]:
    """The tool commands of a bash block: continuations joined, comments dropped, and the variables of its
    ``NAME=value`` lines expanded in the lines after them, as the shell does."""
    variables, found = {}, []
    for line in text.replace("\\\n", " ").splitlines():
        line = re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m[1], m[0]), line)
        words = shlex.split(line, comments=True)
        if len(words) == 1 and (assignment := re.fullmatch(r"(\w+)=(.*)", words[0])):
            variables[assignment[1]] = assignment[2]
        elif command := tool_of(words):
            found.append(command)
    return found


def commands(doc: Path) -> list[list[tuple[str, list[str]]]]:
    """The tool commands of each bash block that has any."""
    return [found for language, text in fenced(doc) if language == "bash" and (found := bash_commands(text))]


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [(doc.relative_to(ROOT), i, block) for doc in DOCS for i, block in enumerate(commands(doc))]


def split(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """(flags, KEY VALUE overrides) of a yacs tool's arguments."""
    flags, rest, i = {}, [], 0
    while i < len(words):
        if words[i] in FLAGS:
            flags[words[i]] = words[i + 1] if FLAGS[words[i]] else ""
            i += 1 + FLAGS[words[i]]
        else:
            rest.append(words[i])
            i += 1
    return flags, rest


def test_the_docs_show_commands():
    assert len(BLOCKS) >= 20
    assert sum(tool == "train" for _, _, block in BLOCKS for tool, _ in block) >= 5


@pytest.mark.parametrize(("doc", "index", "block"), BLOCKS, ids=[f"{d}#{i}" for d, i, _ in BLOCKS])
def test_documented_commands_match_the_tools(doc, index, block):
    trained = {}  # config -> save_dir of a training run earlier in the block
    for tool, args in block:
        assert tool in TOOLS, f"{doc}: {tool} is not one of the tools {sorted(TOOLS)}"
        if tool not in YACS_TOOLS:
            continue
        flags, overrides = split(args)
        config = flags.get("--config-file")
        if config is None or config.startswith("output/"):
            continue
        defaults = pretrain_defaults if tool == "pretrain_top" else None
        cfg = load_config(config, overrides, defaults=defaults)  # raises on a missing file, key or bad value
        if tool == "train":
            trained[config] = Path(cfg.data.save_dir)
        weights = flags.get("--weights", "")
        if tool == "test" and weights.endswith("last.pth") and config in trained:
            assert Path(weights).parent == trained[config], f"{doc}: {weights} is not where that training writes"
