"""A deterministic demo company (people, sources, contributions) for `whoknows demo` and tests."""
