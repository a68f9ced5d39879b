"""Commands of the compile stage (filled in by their owners)."""
