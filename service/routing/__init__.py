"""Routing: open questions and the people who could answer them, and the outbound
webhooks that tell subscribers (a CRM, a chat bot) about them.

- `questions`: which external questions are open, and the suggested answerers (the
  search's own ranking, filtered for opt-outs, absences and load);
- `events`: noticing what changed (a question opened or answered, an organisation's
  connections) and writing one outbox row per subscriber in the same transaction;
- `webhooks`: subscriptions, the signature, and delivering the outbox with retries.
"""

from __future__ import annotations
