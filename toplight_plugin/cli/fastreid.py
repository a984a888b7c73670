"""Train or evaluate TOPLight with fast-reid's trainer (toplight_plugin.hosts.fastreid.train_net), with fast-reid's
flags:

    toplight-fastreid --config-file fastreid/synthetic [--eval-only] [--resume] [--num-gpus N] [KEY VALUE ...]
"""

from __future__ import annotations

from toplight_plugin.hosts.fastreid.train_net import run


def main(argv: list[str] | None = None):
    return run(argv)
