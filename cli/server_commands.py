"""Commands of the server stage (filled in by their owners)."""
