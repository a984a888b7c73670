"""SYSU-MM01 public names: ``query_files`` / ``sample_gallery`` give the public protocol's file lists."""

from toplight_plugin.core.data.sysu_mm01 import (
    gallery_records,
    query_files,
    query_records,
    sample_gallery,
    train_records,
)

__all__ = ["gallery_records", "query_files", "query_records", "sample_gallery", "train_records"]
