"""The reputation engine: topics, contribution values, caps, levels, evidence."""
