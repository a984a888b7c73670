"""Search a gallery with images of the other modality (also the console script ``toplight-search``)."""

from toplight_plugin.cli.search import main

if __name__ == "__main__":
    main()
