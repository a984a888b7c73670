"""Print the FLOPs table of every TOPLight variant (also the console script ``toplight-flops``)."""

from toplight_plugin.cli.flops import main

if __name__ == "__main__":
    main()
