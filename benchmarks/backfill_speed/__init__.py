"""One whole-table UPDATE against the batched backfills, on its own (no deploy)."""
