"""The small community of tests/organisations, for the routing store tests."""

from tests.organisations.conftest import community

__all__ = ["community"]
