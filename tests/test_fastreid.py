"""fast-reid as the second host (toplight_plugin.hosts.fastreid) on a synthetic SYSU-MM01 set at 64 x 32: one
checkpoint scores the same through both hosts, fast-reid's trainer trains, checkpoints, resumes and evaluates on
CPU, and a user's mistake ends the command with its message (one line, or the core's list of missing dataset paths)
and exit status 2, as in the torchreid tools."""

import json
import logging
import warnings

import numpy as np
import pytest
import torch
from fastreid_runs import CONFIG, TORCHREID_SMALL, calibrated_checkpoint, fastreid_args

from toplight_plugin.cli import test as test_tool
from toplight_plugin.cli.console import run
from toplight_plugin.hosts.fastreid.data import build_train_loader
from toplight_plugin.hosts.fastreid.train_net import default_argument_parser, setup  # after the host's shims
from toplight_plugin.hosts.fastreid.train_net import run as train_net
from toplight_plugin.hosts.fastreid.trainer import Trainer


@pytest.fixture(autouse=True)
def _own_log_handlers():
    """fast-reid adds a console handler per output folder, bound to the sys.stdout of the moment (a test's capture,
    closed after it): each test takes its handlers away again."""
    logger = logging.getLogger("fastreid")
    before = list(logger.handlers)
    yield
    logger.handlers = before


def test_one_checkpoint_scores_the_same_through_both_hosts(sysu_root, tmp_path):
    weights = calibrated_checkpoint(sysu_root, tmp_path / "calibrated.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "rank by rounding noise": the features differ
        torchreid = test_tool.main(["--config-file", CONFIG, "--weights", str(weights), *TORCHREID_SMALL, "data.root",
                                    str(sysu_root.parent), "data.save_dir", str(tmp_path / "torchreid")])  # fmt: skip
        flat = train_net(fastreid_args(sysu_root, tmp_path / "fastreid", "--eval-only",
                                       opts=["MODEL.WEIGHTS", weights]))  # fmt: skip
    fastreid = json.loads((tmp_path / "fastreid" / "results.json").read_text())
    assert set(fastreid) == set(torchreid) == {"sysu_all", "sysu_indoor"}
    for protocol, summary in torchreid.items():
        assert len(summary["trials"]) == len(fastreid[protocol]["trials"]) == 2
        rows = zip([fastreid[protocol], *fastreid[protocol]["trials"]], [summary, *summary["trials"]], strict=True)
        for mine, theirs in rows:
            figures = {k: v for k, v in theirs.items() if k != "trials"}
            assert {k: mine[k] for k in figures} == pytest.approx(figures, abs=1e-9), protocol
        assert flat[f"{protocol}/rank1"] == pytest.approx(summary["rank1"])
    assert 0 < torchreid["sysu_all"]["rank1"] < 100


def test_training_checkpoints_resumes_and_evaluates(sysu_root, tmp_path):
    out = tmp_path / "run"
    opts = ["SOLVER.MAX_EPOCH", "2", "SOLVER.CHECKPOINT_PERIOD", "1", "TEST.EVAL_PERIOD", "2"]
    trained = train_net(fastreid_args(sysu_root, out, opts=opts))
    assert (out / "last_checkpoint").read_text() == "model_final.pth" and not list(out.glob("*.tmp"))
    first, final = (torch.load(out / name, weights_only=True) for name in ("model_0000.pth", "model_final.pth"))
    assert (first["epoch"], final["epoch"]) == (0, 1)
    assert final["card"]["name"] == "toplight_mobilenetv3_small"  # the core network's card, as in torchreid's
    moved = [k for k, v in final["model"].items() if v.is_floating_point() and not torch.equal(v, first["model"][k])]
    assert len(moved) > 100  # the second epoch trained the network

    resumed = train_net(fastreid_args(sysu_root, out, "--resume", opts=[*opts, "SOLVER.MAX_EPOCH", "3"]))
    assert torch.load(out / "model_final.pth", weights_only=True)["epoch"] == 2  # one more epoch, not three
    assert resumed.keys() == trained.keys() and resumed != trained

    evaluated = train_net(fastreid_args(sysu_root, tmp_path / "eval", "--eval-only",
                                        opts=["MODEL.WEIGHTS", out / "model_final.pth"]))  # fmt: skip
    assert evaluated == pytest.approx(resumed, abs=1e-9)  # the checkpoint holds what the run evaluated


@pytest.mark.parametrize(
    ("opts", "says"),
    [
        (["TOPLIGHT.ROOT", "/nonexistent"], "SYSU-MM01: 9 expected path(s) missing under /nonexistent:"),
        (["MODEL.BACKBONE.NAME", "toplight_nope"], "MODEL.BACKBONE.NAME 'toplight_nope' is not a plugin model"),
        (["TOPLIGHT.NOPE", "1"], "command line: Non-existent key: TOPLIGHT.NOPE"),
    ],
)
def test_a_mistake_is_one_line_and_exit_status_2(sysu_root, tmp_path, capsys, opts, says):
    args = fastreid_args(sysu_root, tmp_path / "run", opts=["SOLVER.MAX_EPOCH", "1", *opts])
    assert run("fastreid", args) == 2
    error = capsys.readouterr().err
    assert error.count("error:") == 1 and says in error.splitlines()[0] and "Traceback" not in error, error


@pytest.mark.parametrize("name", ["fastreid/synthetic", "fastreid/sysu_mbv3l_top_fdr", "fastreid/regdb_mbv3l_top_fdr"])
def test_shipped_configs_load_with_the_toplight_node(name, tmp_path):
    from toplight_plugin.core.models import MODELS
    from toplight_plugin.hosts.fastreid.datasets import DATASETS

    cfg = setup(default_argument_parser().parse_args(["--config-file", name, "OUTPUT_DIR", str(tmp_path)]))
    assert cfg.MODEL.META_ARCHITECTURE == "TOPLightBaseline" and cfg.MODEL.BACKBONE.NAME in MODELS
    assert set(cfg.DATASETS.NAMES) | set(cfg.DATASETS.TESTS) <= set(DATASETS)
    assert cfg.SOLVER.IMS_PER_BATCH % (2 * cfg.DATALOADER.NUM_INSTANCE) == 0


def test_uint8_training_batches_are_normalised_by_the_model_as_by_the_workers(sysu_root, tmp_path):
    """TOPLIGHT.NORMALIZE_ON device: the train loader gives uint8 images with their post-normalisation steps and
    ``preprocess_image`` makes the batch the workers make with ``worker`` (CAJ's steps exercised)."""
    batches, models = {}, {}
    for where in ("worker", "device"):
        args = default_argument_parser().parse_args(fastreid_args(sysu_root, tmp_path / where, opts=[
            "TOPLIGHT.NORMALIZE_ON", where, "TOPLIGHT.AUGMENT", "caj", "MODEL.DEVICE", "cpu"]))  # fmt: skip
        cfg = setup(args)
        torch.manual_seed(0)
        np.random.seed(0)  # the PK sampler's seed (fast-reid's shared_random_seed)
        batches[where] = next(iter(build_train_loader(cfg)))
        models[where] = Trainer.build_model(cfg)
    assert batches["device"]["images"].dtype == torch.uint8 and "post_ops" not in batches["worker"]
    finished = models["device"].preprocess_image(batches["device"])
    torch.testing.assert_close(finished, models["worker"].preprocess_image(batches["worker"]), atol=1e-5, rtol=0)
