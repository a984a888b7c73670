"""Print the Table-4-style FLOPs table of every TOPLight variant and write it into docs/models.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from toplight_plugin.core.analysis.docs import replace_section
from toplight_plugin.core.analysis.flops import flops_table, to_markdown


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--height", type=int, default=288)
    parser.add_argument("--width", type=int, default=144)
    parser.add_argument("--write", type=Path, default=None, help="markdown file whose 'flops' section is replaced")
    args = parser.parse_args(argv)
    size = (args.height, args.width)
    table = to_markdown(flops_table(size), size)
    print(table)
    if args.write is not None:
        replace_section(args.write, "flops", table)
        print(f"written to {args.write}")
    return table


if __name__ == "__main__":
    main()
