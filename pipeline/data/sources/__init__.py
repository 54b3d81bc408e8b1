"""Data sources besides the landing area. Each reads only what is new and writes parts like files do."""

from pipeline.data.sources.postgres import (
    TableRead,
    commit_table_read,
    has_new_rows,
    read_table_source,
    watermark_key,
)

__all__ = ["TableRead", "commit_table_read", "has_new_rows", "read_table_source", "watermark_key"]
