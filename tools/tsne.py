"""Fig. 4 style t-SNE of features (also the console script ``toplight-tsne``)."""

from toplight_plugin.cli.tsne import main

if __name__ == "__main__":
    main()
