"""Organisations: the company, its customers and partners, who belongs to which, and
"who knows who" folded per organisation.

- `membership`: the rules that put a person in an organisation (pure);
- `store`: organisations, their domains and members in the store; `refresh` re-applies
  the rules to everyone;
- `connections`: the employees connected to an organisation's people, with the evidence,
  and the topics that organisation asks about.

Internal clients only read connections and topics (service/api/organisations.py).
"""

from __future__ import annotations
