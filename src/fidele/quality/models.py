"""Quality's own records: audit snapshots and duplicate-pair decisions."""
