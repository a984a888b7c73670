"""Documented command blocks meant to be run on synthetic data run as written, in order, in a fresh folder: each
command through the console entry (exit status 0), with only its budget cut (identities, image size, epochs,
gallery trials) by options appended after the documented ones. A block that starts from what `make demo` leaves
runs the demo first, as the Makefile calls it. What one command writes is what the next one reads, so a wrong
folder, file name or config name between them fails here."""

import pytest
from test_doc_commands import BLOCKS, ROOT

from toplight_plugin.cli.console import run

BUDGET = {  # appended to the documented arguments; later options win
    "make_synthetic": ["--sysu-ids", "16", "4", "6", "--images-per-cam", "3"],
    "train": ["train.max_epoch", "8", "toplight.warmup_epochs", "1", "train.stepsize", "[8]", "data.height", "64",
              "data.width", "32", "data.workers", "0", "test.eval_freq", "-1", "toplight.trials", "2"],
    "test": ["data.height", "64", "data.width", "32", "data.workers", "0", "toplight.trials", "2"],
    "demo": ["--ids", "16", "4", "6", "train.max_epoch", "8", "toplight.warmup_epochs", "1", "train.stepsize", "[8]",
             "data.height", "64", "data.width", "32", "data.workers", "0", "test.eval_freq", "-1",
             "toplight.trials", "2"],
}  # fmt: skip
MAKE_DEMO = ("demo", ["--picture", "docs/images/search_demo.png"])  # what `make demo` runs after installing
RUNNABLE = {  # (doc, block) -> (the commands the docs say come first, a file the block's last command writes)
    ("README.md", 0): ([], "output/synthetic/mbv3s_baseline/results.json"),
    ("docs/data.md", 0): ([], "data/small/SYSU-MM01/exp/test_id.txt"),
    ("docs/deploy.md", 1): ([MAKE_DEMO], "output/demo/model.onnx"),
}
CASES = [(doc, index, block) for doc, index, block in BLOCKS if (str(doc), index) in RUNNABLE]


def test_every_runnable_block_is_found_and_make_demo_is_the_demo_tool():
    assert {(str(doc), index) for doc, index, _ in CASES} == set(RUNNABLE)
    recipe = (ROOT / "Makefile").read_text().split("\ndemo:", 1)[1].splitlines()[1].split()
    assert recipe == ["$(PY)", f"tools/{MAKE_DEMO[0]}.py", *MAKE_DEMO[1]]


@pytest.mark.parametrize(("doc", "index", "block"), CASES, ids=[f"{d}#{i}" for d, i, _ in CASES])
def test_documented_block_runs_in_a_fresh_folder(doc, index, block, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    setup, written = RUNNABLE[(str(doc), index)]
    for tool, args in [*setup, *block]:
        status = run(tool, [*args, *BUDGET.get(tool, [])])
        assert status == 0, f"{doc} block {index}: {tool} {' '.join(args)} exited {status}: {capsys.readouterr().err}"
    assert (tmp_path / written).is_file()
