"""Commands of the reconcile stage (filled in by their owners)."""
