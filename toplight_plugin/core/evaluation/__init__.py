"""Cross-modality re-identification metrics (pure numpy)."""
