"""Fig. 3 style grid of the task-oriented augmentations (also the console script ``toplight-show-augs``)."""

from toplight_plugin.cli.show_augs import main

if __name__ == "__main__":
    main()
