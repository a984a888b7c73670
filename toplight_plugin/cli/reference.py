"""Train and test a stock torchreid model with torchreid's own triplet engine on a plugin dataset, the reference a
TOPLight model's learning is measured against (docs/learning.md).

    toplight-reference --config-file configs/synthetic/osnet_reference.yaml [KEY VALUE ...]
"""

from __future__ import annotations

from pathlib import Path

import torch

from toplight_plugin.cli.train import parse
from toplight_plugin.hosts.torchreid.config import load_config
from toplight_plugin.hosts.torchreid.reference import build_reference


def main(argv: list[str] | None = None):
    args = parse(argv, __doc__)
    cfg = load_config(args.config_file, args.opts)
    torch.manual_seed(cfg.train.seed)
    save_dir = Path(cfg.data.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    (save_dir / "config.yaml").write_text(cfg.dump())
    engine = build_reference(cfg)
    engine.run(save_dir=str(save_dir), max_epoch=cfg.train.max_epoch, print_freq=cfg.train.print_freq,
               eval_freq=cfg.test.eval_freq, start_eval=cfg.test.start_eval)  # fmt: skip
    return engine


if __name__ == "__main__":
    main()
