"""Documents whose commands run on synthetic data run as written, block after block, in a fresh folder: each command
through the console entry (exit status 0), each Python block as a script, with only the budget cut (identities,
image size, epochs, gallery trials) by options appended after the documented ones. What one command writes is what
the next one reads, so a wrong folder, file name or config name between them fails here. A block that names a real
dataset or what training on one writes (REAL_DATA) is an example for that data and is not run."""

import runpy

import pytest
from test_doc_commands import DOCS, ROOT, bash_commands, fenced

from toplight_plugin.cli.console import run

REAL_DATA = ("/path/to/", "configs/sysu/", "configs/regdb/", "configs/pretrain/", "output/sysu/", "output/regdb/")
TRAIN = ["train.max_epoch", "1", "toplight.warmup_epochs", "0", "train.stepsize", "[1]", "data.height", "64",
         "data.width", "32", "data.workers", "0", "test.eval_freq", "-1", "toplight.trials", "2"]  # fmt: skip
FEW_IDS = {"make_synthetic": ["--sysu-ids", "16", "4", "6", "--images-per-cam", "3"], "demo": ["--ids", "16", "4", "6"]}
ALL_IDS: dict[str, list[str]] = {}
BUDGET = {  # appended to the documented arguments; later options win
    "train": TRAIN,
    "reference": ["train.max_epoch", "1", "train.stepsize", "[1]", "data.height", "64", "data.width", "32",
                  "data.workers", "0", "test.eval_freq", "-1", "toplight.trials", "2"],
    "test": ["data.height", "64", "data.width", "32", "data.workers", "0", "toplight.trials", "2"],
    "demo": TRAIN,
    "fastreid": ["SOLVER.MAX_EPOCH", "1", "INPUT.SIZE_TRAIN", "[64, 32]", "INPUT.SIZE_TEST", "[64, 32]",
                 "DATALOADER.NUM_WORKERS", "0", "TOPLIGHT.TRIALS", "2", "SOLVER.IMS_PER_BATCH", "32"],
    "top_ablation": ["--seeds", "1", "--colours", "typical", "--vi-ids", "10", "--test-ids", "6",
                     "--corpus-classes", "8", "--corpus-images", "8", "--mini-images", "4", "--sp-epochs", "1",
                     "--top-epochs", "1", "--vi-epochs", "1", "--short-epochs", "1", "--size", "64", "32",
                     "--workers", "0"],
}  # fmt: skip
SHORTER = {"--pretrain-epochs": "1"}  # replaces the value where the document gives the option
MAKE_DEMO = "make demo"
RUNS = {  # doc -> (the commands it says come first, a file its last block writes, the identity cut)
    "README.md": ([], "output/synthetic/mbv3s_baseline/results.json", FEW_IDS),
    "docs/data.md": ([], "data/small/SYSU-MM01/exp/test_id.txt", FEW_IDS),
    "docs/deploy.md": ([MAKE_DEMO], "output/demo/model.onnx", FEW_IDS),
    "docs/fastreid.md": ([], "output/fastreid/synthetic-test/results.json", FEW_IDS),
    "docs/learning.md": ([], "docs/images/learning_curves.png", FEW_IDS),
    "docs/pretraining.md": ([], "output/top-try/soup.pth", FEW_IDS),
    "docs/torchreid.md": ([MAKE_DEMO], "log/synthetic_mbv3s_tool/last.pth", FEW_IDS),
    # its commands name image files of the full seed-1 set, so it keeps every identity
    "docs/search.md": (
        [MAKE_DEMO, "python tools/train.py --config-file configs/synthetic/mbv3s_fdr.yaml data.save_dir "
         "output/learning/fdr data.workers 0"],  # learning.md's seed-1 FDR model
        "docs/images/gradcam_demo.png", ALL_IDS),
}  # fmt: skip
PYTHON_RUN = {"docs/learning.md"}  # documents whose Python blocks are steps (the others show the API)


def synthetic_blocks(doc: str) -> list[tuple[str, str]]:
    """(language, text) of the blocks meant to be run on synthetic data: those naming no REAL_DATA."""
    return [(language, text) for language, text in fenced(ROOT / doc) if not any(m in text for m in REAL_DATA)]


def steps(doc: str) -> list[tuple[str, object]]:
    """("tool", (tool, args)) and ("python", source) steps of a document, in order: the commands it says come first,
    then every block meant to be run on synthetic data."""
    setup, _, _ = RUNS[doc]
    found = [("tool", command) for line in setup for command in bash_commands(line)]
    for language, text in synthetic_blocks(doc):
        if language == "bash":
            found += [("tool", command) for command in bash_commands(text)]
        elif language == "python" and doc in PYTHON_RUN:
            found.append(("python", text))
    return found


def test_every_document_that_runs_on_synthetic_data_is_run():
    """Every document with a synthetic-data command outside the measurement pages (benchmarks.md: minutes per
    command; their short forms are run by test_bench_eval and test_deploy) is in RUNS."""
    names = [str(doc.relative_to(ROOT)) for doc in DOCS]
    with_commands = {name for name in names
                     if any(language == "bash" and bash_commands(text) for language, text in synthetic_blocks(name))}
    assert with_commands - {"docs/benchmarks.md"} == set(RUNS)
    assert ("tool", bash_commands(MAKE_DEMO)[0]) in steps("README.md")  # the Makefile's demo line is read


@pytest.mark.parametrize("doc", sorted(RUNS))
def test_documented_commands_run_in_a_fresh_folder(doc, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _, written, id_cut = RUNS[doc]
    for kind, step in steps(doc):
        if kind == "python":
            (tmp_path / "block.py").write_text(step)
            runpy.run_path(str(tmp_path / "block.py"), run_name="__main__")
            continue
        tool, args = step
        budget = [*id_cut.get(tool, []), *BUDGET.get(tool, [])]
        args = [SHORTER.get(before, word) for before, word in zip(["", *args], args, strict=False)]
        status = run(tool, [*args, *budget])
        assert status == 0, f"{doc}: {tool} {' '.join(args)} exited {status}: {capsys.readouterr().err}"
    assert (tmp_path / written).is_file()
