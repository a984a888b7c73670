"""torchreid host: the only package that imports torchreid."""
