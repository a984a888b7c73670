"""Step 2: merge the two pre-embedding groups of a TOP pretraining checkpoint (uniform soup).

    toplight-soup --input output/pretrain/mbv3l/last.pth --output output/pretrain/mbv3l/soup.pth

The result is what a VI config loads with ``model.load_weights``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from toplight_plugin.core.models.cards import read_weights
from toplight_plugin.core.training.checkpoint import atomic_save
from toplight_plugin.core.training.run_folder import refuse_own_input
from toplight_plugin.core.training.soup import soup_checkpoint


def soup_file(source: str | Path, target: str | Path) -> Path:
    """Write the soup of ``source`` to ``target``, never over ``source`` itself (the resumable checkpoint)."""
    refuse_own_input(target, {"--input": source})
    return atomic_save(soup_checkpoint(read_weights(source)), target)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, type=Path, help="pretraining checkpoint (two pre-embedding groups)")
    parser.add_argument("--output", type=Path, default=None, help="default: soup.pth beside the input")
    args = parser.parse_args(argv)
    target = soup_file(args.input, args.output or args.input.with_name("soup.pth"))
    print(f"soup written to {target}")
    return target


if __name__ == "__main__":
    main()
