"""Task-oriented pretraining and soup (also the console script ``toplight-pretrain``)."""

from toplight_plugin.cli.pretrain_top import main

if __name__ == "__main__":
    main()
