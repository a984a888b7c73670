"""torchreid's own ``scripts/main.py`` (deep-person-reid from git) with the one line docs/torchreid.md adds: it trains
a plugin model on a plugin dataset, its final test prints the published protocol, and those figures are the ones
``toplight-test`` gives on the checkpoint main.py saved. PyPI's torchreid ships no scripts, so this runs where a
deep-person-reid checkout comes first on PYTHONPATH (docs/torchreid.md says how) and is skipped otherwise."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from toplight_plugin.cli import test as test_tool
from toplight_plugin.hosts.torchreid import compat

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = Path(compat.torchreid().__file__).resolve().parents[1]
SCRIPTS = CHECKOUT / "scripts"
PLUGIN_LINE = "import toplight_plugin  # noqa: F401"
CONFIG = ROOT / "configs/torchreid/synthetic_mbv3s.yaml"
MODEL = "toplight_shufflenetv2_x1_0"

pytestmark = pytest.mark.skipif(
    not (SCRIPTS / "main.py").is_file(),
    reason="the torchreid imported has no scripts/main.py (PyPI's package); run with a deep-person-reid checkout "
    "first on PYTHONPATH",
)


def with_plugin_import(main: Path) -> None:
    """The one line docs/torchreid.md adds, right after ``import torchreid``."""
    lines = main.read_text().splitlines()
    at = lines.index("import torchreid")
    main.write_text("\n".join([*lines[: at + 1], PLUGIN_LINE, *lines[at + 1 :]]) + "\n")


def protocol_lines(printed: str) -> dict[str, dict[str, float]]:
    """``sysu_all: rank1 31.74, rank5 ..., mAP 39.16, mINP 30.38`` lines -> {protocol: {metric: value}}."""
    found = {}
    for name, rest in re.findall(r"^(sysu_\w+): (rank1 .*)$", printed, flags=re.M):
        found[name] = {key: float(value) for key, value in re.findall(r"(\w+) ([\d.]+)", rest)}
    return found


def run_main(folder: Path, *options: str) -> dict[str, dict[str, float]]:
    """``python scripts/main.py --config-file CONFIG OPTIONS`` in ``folder``; the protocol lines it printed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CHECKOUT), str(ROOT)])}
    run = subprocess.run([sys.executable, "scripts/main.py", "--config-file", str(CONFIG), *options],
                         cwd=folder, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Computing CMC" not in run.stdout  # torchreid's Market-rule evaluation never ran
    printed = protocol_lines(run.stdout)
    assert set(printed) == {"sysu_all", "sysu_indoor"}, run.stdout[-3000:]
    return printed


def test_main_py_trains_and_its_final_test_gives_the_numbers_of_toplight_test(sysu_root, tmp_path):
    shutil.copytree(SCRIPTS, tmp_path / "scripts")
    with_plugin_import(tmp_path / "scripts" / "main.py")
    save_dir = tmp_path / "log"
    # MobileNetV3's BatchNorm momentum (0.01) leaves a 3-epoch net's features all alike; ShuffleNetV2's (0.1) does not
    budget = ["model.name", MODEL, "data.root", str(sysu_root.parent), "data.height", "64", "data.width", "32",
              "data.workers", "0", "train.batch_size", "16", "sampler.num_instances", "2",
              "use_gpu", "False"]  # fmt: skip
    trained = run_main(tmp_path, *budget, "data.save_dir", str(save_dir), "train.max_epoch", "3",
                       "test.eval_freq", "-1")  # fmt: skip
    checkpoint = save_dir / "model" / "model.pth.tar-3"
    evaluated = run_main(tmp_path, *budget, "data.save_dir", str(tmp_path / "eval"), "test.evaluate", "True",
                         "model.load_weights", str(checkpoint))  # fmt: skip
    mine = test_tool.main([
        "--config-file", str(CONFIG), "--weights", str(checkpoint), "model.name", MODEL,
        "data.root", str(sysu_root.parent), "data.height", "64", "data.width", "32", "data.workers", "0",
        "data.save_dir", str(tmp_path / "tool"),
    ])  # fmt: skip
    assert evaluated == trained
    for protocol, summary in mine.items():
        for key in ("rank1", "rank10", "rank20", "mAP", "mINP"):
            assert trained[protocol][key] == pytest.approx(summary[key], abs=0.006), (protocol, key)
