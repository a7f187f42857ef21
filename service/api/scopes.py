"""The API's scopes, named once."""

from __future__ import annotations

__all__ = ["ADMIN", "ALL_SCOPES", "CONTRIBUTIONS_WRITE", "EXPERTS_READ", "PROFILES_READ"]

EXPERTS_READ = "experts:read"
PROFILES_READ = "profiles:read"
CONTRIBUTIONS_WRITE = "contributions:write"
ADMIN = "admin"
ALL_SCOPES = (EXPERTS_READ, PROFILES_READ, CONTRIBUTIONS_WRITE, ADMIN)
