"""validate, schema, fmt: commands of the spec stage."""
