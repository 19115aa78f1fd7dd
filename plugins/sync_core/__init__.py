"""sync_core."""
