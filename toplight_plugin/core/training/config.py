"""yacs configuration: torchreid's own keys (``model.name``, ``data.root``, ``sampler.train_sampler``, ...) with the
paper's recipe as defaults (§4.1, Table 2a), plus a ``toplight`` node for the plugin's own keys.

torchreid keeps its default config in ``scripts/default_config.py``, which the PyPI package does not ship, so the
keys the plugin's tools read are declared here with torchreid's names and meanings. A torchreid key that is not
here is refused with its name; every value is checked when the file is loaded (config_checks.py).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from yacs.config import CfgNode as CN

from toplight_plugin.core.training import config_files
from toplight_plugin.core.training.config_checks import check, fit


def get_default_config() -> CN:
    cfg = CN()
    cfg.model = CN()
    cfg.model.name = "toplight_mobilenetv3_large"
    cfg.model.pretrained = True  # ImageNet weights through the library (needs the network or a cache)
    cfg.model.load_weights = ""  # a TOP soup / plugin checkpoint / ImageNet file to start from
    cfg.model.allow_missing = []  # key prefixes that file may leave at their initial values, e.g. ["backbone.neck."]
    cfg.model.resume = ""  # a checkpoint to continue from, or "auto": the newest complete one in data.save_dir

    cfg.data = CN()
    cfg.data.type = "image"  # torchreid's key; only image re-id here
    cfg.data.root = "data"
    cfg.data.sources = ["sysumm01"]
    cfg.data.targets = ["sysumm01"]
    cfg.data.workers = 4
    cfg.data.split_id = 0
    cfg.data.height = 288
    cfg.data.width = 144
    cfg.data.combineall = False
    cfg.data.transforms = ["random_flip"]  # torchreid's transforms, used only when toplight.augment is "torchreid"
    cfg.data.norm_mean = [0.485, 0.456, 0.406]
    cfg.data.norm_std = [0.229, 0.224, 0.225]
    cfg.data.save_dir = "output/toplight"

    cfg.sampler = CN()
    cfg.sampler.train_sampler = "CrossModalityPKSampler"
    cfg.sampler.num_instances = 6  # K images per modality and identity

    cfg.train = CN()
    cfg.train.optim = "adamw"  # adamw (the paper) | sgd (AGW) | torchreid's adam, amsgrad, rmsprop, radam
    cfg.train.lr = 1e-3
    cfg.train.weight_decay = 1e-2
    cfg.train.staged_lr = False  # True: modules in new_layers get lr, the rest lr * base_lr_mult
    cfg.train.new_layers = ["head"]
    cfg.train.base_lr_mult = 0.1
    cfg.train.max_epoch = 70
    cfg.train.batch_size = 72  # P = 6 identities x (6 visible + 6 infrared)
    cfg.train.lr_scheduler = "warmup_multi_step"  # the paper's | torchreid's multi_step, single_step, cosine
    cfg.train.stepsize = [20, 40]
    cfg.train.gamma = 0.1
    cfg.train.print_freq = 20
    cfg.train.seed = 1
    cfg.train.fixbase_epoch = 0  # torchreid's: the first N epochs train only train.open_layers, the rest frozen
    cfg.train.open_layers = ["head"]  # top-level modules, as torchreid names them (its default, "classifier", is
    # a torchreid model's; a plugin model's classifier sits in "head")

    cfg.sgd = CN()
    cfg.sgd.momentum = 0.9
    cfg.sgd.dampening = 0.0
    cfg.sgd.nesterov = False
    cfg.rmsprop = CN()
    cfg.rmsprop.alpha = 0.99
    cfg.adam = CN()
    cfg.adam.beta1 = 0.9
    cfg.adam.beta2 = 0.999

    cfg.loss = CN()
    cfg.loss.name = "triplet"  # triplet: weight_x * L_id + weight_t * L_tri | softmax: L_id alone
    cfg.loss.softmax = CN()
    cfg.loss.softmax.label_smooth = False
    cfg.loss.triplet = CN()
    cfg.loss.triplet.margin = 0.3
    cfg.loss.triplet.weight_t = 0.5  # γ of L = L_id + γ L_tri
    cfg.loss.triplet.weight_x = 1.0

    cfg.test = CN()
    cfg.test.batch_size = 128
    cfg.test.evaluate = False  # True: only evaluate model.load_weights (or --weights), as torchreid's main.py
    cfg.test.ranks = [1, 5, 10, 20]  # CMC ranks printed in torchreid's result block (beside the paper's 1, 10, 20)
    cfg.test.visrank = False  # one picture of ranked results per query in <save_dir>/visrank_<dataset>
    cfg.test.visrank_topk = 10
    cfg.test.eval_freq = 10
    cfg.test.start_eval = 0
    # torchreid's distance options, with torchreid's defaults (which ask for nothing): set otherwise, they are
    # evaluated beside the published protocol's cosine distance and labelled as not the protocol (protocols.py)
    cfg.test.dist_metric = "euclidean"  # euclidean | cosine
    cfg.test.normalize_feature = False
    cfg.test.rerank = False  # k-reciprocal re-ranking; as in torchreid, only with test.evaluate True

    cfg.toplight = CN()
    cfg.toplight.last_stride = 2
    cfg.toplight.fdr = "hs+vs"  # "" = no FDR; see docs/models.md for every switch
    cfg.toplight.fdr_sigma = 2
    cfg.toplight.fdr_mu = 3
    cfg.toplight.fdr_attention = "sa"
    cfg.toplight.fdr_upsample = True  # False: Table 5(a) "w/o u."
    cfg.toplight.fdr_groups = 1
    cfg.toplight.fdr_reading = "spatial"  # spatial (position-dependent, any input size) | literal (docs/models.md)
    cfg.toplight.triplet = "batch_hard"  # batch_hard (the paper) | wrt (AGW, margin-free)
    cfg.toplight.augment = "paper"  # paper (RE, CE, flip) | caj | basic | pad_crop | flip | torchreid (data.transforms)
    cfg.toplight.normalize_on = "auto"  # auto (CUDA: device) | worker | device: uint8 batches normalised there
    cfg.toplight.warmup_epochs = 5
    cfg.toplight.bn_momentum = None  # None: each library's own (0.01 on torchvision's MobileNetV3); 0.1 from scratch
    cfg.toplight.sysu_mode = ["all", "indoor"]  # modes evaluated
    cfg.toplight.trials = 10  # SYSU-MM01 gallery trials 0..trials-1
    cfg.toplight.shots = 1
    cfg.toplight.rand_perm = ""
    cfg.toplight.amp = "auto"  # auto (CUDA: bf16, else fp16; CPU: off) | off | bf16 (CUDA or CPU) | fp16 (CUDA)
    cfg.toplight.channels_last = False
    cfg.toplight.compile = False  # torch.compile the training forward (minutes of compiling first)
    cfg.toplight.sync_bn = False  # under torchrun on GPUs: BatchNorm statistics over every process's batch
    cfg.toplight.checkpoint_every = 1  # epochs between checkpoints (resume granularity)
    cfg.toplight.bad_images = "fail"  # fail (when read) | check (all decoded first, stop naming them) | skip
    cfg.toplight.keep_last = 0  # epoch-N.pth files kept, newest first (0: all; last.pth is always kept)
    return cfg


def load_config(config_file: str | Path | None = None, opts: list[str] | None = None, defaults=None) -> CN:
    """Defaults (``get_default_config`` unless another factory is given), then the file, then ``KEY VALUE`` pairs;
    an unknown key names itself and its source."""
    cfg = (defaults or get_default_config)()
    given = set()  # the keys the file and the command line set
    if config_file:
        path = config_files.find(config_file)
        with _named(str(path)):
            cfg.merge_from_file(str(path))
            given |= _keys(CN.load_cfg(path.read_text()))
    if opts:
        if len(opts) % 2:
            raise ValueError(f"command-line overrides must be KEY VALUE pairs, got an odd number: {opts}")
        with _named("command line"):
            cfg.merge_from_list(list(opts))
        given |= set(opts[::2])
    check(cfg)
    for line in fit(cfg, given):
        print(line)
    cfg.freeze()
    return cfg


def _keys(node, prefix: str = "") -> set[str]:
    """Dotted names of every leaf of a yacs node."""
    keys = set()
    for name, value in node.items():
        keys |= _keys(value, f"{prefix}{name}.") if isinstance(value, CN) else {prefix + name}
    return keys


@contextmanager
def _named(source: str):
    """yacs reports unknown keys (KeyError or AssertionError) and type mismatches without saying where they came
    from; re-raise them as one ``KeyError`` / ``ValueError`` that names the source."""
    try:
        yield
    except (KeyError, AssertionError) as error:
        message = str(error.args[0]) if error.args else repr(error)
        key = message.split(":", 1)[-1].strip()
        raise KeyError(
            f"{source}: unknown config key {key!r} (keys: toplight_plugin/core/training/config.py)"
        ) from None
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None
