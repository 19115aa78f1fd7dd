"""streak_hooks."""
