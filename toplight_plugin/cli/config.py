"""The configs shipped with the plugin, wherever it is installed.

    toplight-config                          # list them
    toplight-config sysu/mbv3l_top_fdr       # the path of one, e.g. for --config-file or to copy
    toplight-config sysu/mbv3l_top_fdr --print > my.yaml

Every tool's ``--config-file`` also takes these names directly.
"""

from __future__ import annotations

import argparse

from toplight_plugin.core.training import config_files


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", help="a shipped config, e.g. sysu/mbv3l_top_fdr(.yaml)")
    parser.add_argument("--print", action="store_true", help="print the file instead of its path")
    args = parser.parse_args(argv)
    if args.name is None:
        text = "\n".join(config_files.names())
    else:
        path = config_files.find(args.name)
        text = path.read_text().rstrip("\n") if args.print else str(path)
    print(text)
    return text
