"""Export a model to ONNX with a parity check (also the console script ``toplight-export``)."""

from toplight_plugin.cli.export_onnx import main

if __name__ == "__main__":
    main()
