"""Identity: which accounts belong to one person.

`rules` holds the certain rules (verified e-mail, directory, manual links and blocks);
`suggestions` the likely-but-uncertain matches an administrator reviews; `audit` what a
resolution pass changed, as the entries of the identity audit log. All pure, no I/O.
"""

from __future__ import annotations

from service.identity.rules import DirectoryEntry, IdentityFacts, Link, ResolvedPerson, resolve

__all__ = ["DirectoryEntry", "IdentityFacts", "Link", "ResolvedPerson", "resolve"]
