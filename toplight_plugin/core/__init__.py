"""Host-independent core: pure PyTorch and numpy, knows nothing of torchreid."""
