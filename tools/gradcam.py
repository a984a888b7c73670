"""Grad-CAM maps before and after the FDR module (also the console script ``toplight-gradcam``)."""

from toplight_plugin.cli.gradcam import main

if __name__ == "__main__":
    main()
