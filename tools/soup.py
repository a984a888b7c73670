"""Merge the two pre-embedding groups of a TOP checkpoint (also the console script ``toplight-soup``)."""

from toplight_plugin.cli.soup import main

if __name__ == "__main__":
    main()
