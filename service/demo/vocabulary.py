"""The words of the demo company: topics, names, and templated titles and bodies.

Everything here is data plus small pure functions that take a `random.Random`, so the
demo generator and the benchmark generator (`bench/generate.py`) write text the same way
and stay deterministic for a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from service.model import ContributionKind

__all__ = [
    "FIRST_NAMES",
    "LAST_NAMES",
    "TOPICS",
    "VERBS",
    "Topic",
    "body",
    "sentence",
    "title",
]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split(", "))


@dataclass(frozen=True, slots=True)
class Topic:
    """A subject people write about: `tags[0]` is the canonical name, the rest synonyms.

    The synonyms are those of `service/reputation/synonyms.toml`, so every tag the demo
    writes maps onto one of its twelve topics.
    """

    name: str
    tags: tuple[str, ...]
    terms: tuple[str, ...]
    department: str


TOPICS: tuple[Topic, ...] = (
    Topic(
        "medical insurance claims",
        ("medical insurance claims", "claims adjudication", "health claims"),
        _words(
            "claim form, explanation of benefits, pre-authorisation, claim status, reimbursement, "
            "deductible, co-payment, ICD-10 code, provider invoice, adjudication rule, denied "
            "claim, claim appeal"
        ),
        "Claims Operations",
    ),
    Topic(
        "kubernetes deployment",
        ("kubernetes deployment", "k8s", "kubernetes", "helm charts"),
        _words(
            "helm chart, pod, readiness probe, rolling update, ingress controller, namespace, "
            "config map, horizontal pod autoscaler, container image, cluster upgrade, resource "
            "limit, kubectl rollout"
        ),
        "Platform Engineering",
    ),
    Topic(
        "data privacy gdpr",
        ("data privacy gdpr", "gdpr", "data protection", "data privacy"),
        _words(
            "personal data, data subject request, right to erasure, consent record, retention "
            "period, lawful basis, data processing agreement, pseudonymisation, breach "
            "notification, privacy notice, cookie banner, data protection officer"
        ),
        "Legal & Privacy",
    ),
    Topic(
        "fraud detection",
        ("fraud detection", "fraud", "anomaly detection"),
        _words(
            "suspicious claim, fraud score, anomaly, rule engine, false positive, duplicate claim "
            "submission, network analysis, model threshold, investigation queue, provider fraud, "
            "identity theft, fraud model"
        ),
        "Data Science",
    ),
    Topic(
        "mobile app",
        ("mobile app", "ios app", "android app", "mobile application"),
        _words(
            "push notification, app store release, offline mode, login screen, biometric login, "
            "photo upload, crash report, deep link, app version, digital insurance card, in-app "
            "chat, claim photo"
        ),
        "Digital Channels",
    ),
    Topic(
        "billing and invoicing",
        ("billing and invoicing", "billing", "invoices", "invoicing"),
        _words(
            "invoice, premium payment, direct debit, payment schedule, refund, credit note, "
            "billing cycle, late fee, VAT number, payment reminder, invoice PDF, billing address"
        ),
        "Finance Systems",
    ),
    Topic(
        "api integration",
        ("api integration", "rest api", "webhooks"),
        _words(
            "API key, OAuth token, webhook, rate limit, endpoint, JSON payload, sandbox "
            "environment, pagination cursor, HTTP 429 response, SDK, idempotency key, API version"
        ),
        "Integration Services",
    ),
    Topic(
        "customer onboarding",
        ("customer onboarding", "onboarding"),
        _words(
            "welcome email, identity verification, policy documents, account activation, signup "
            "form, KYC check, onboarding checklist, first login, document upload, activation link,"
            " member portal, enrolment file"
        ),
        "Customer Success",
    ),
    Topic(
        "underwriting",
        ("underwriting", "risk assessment", "policy underwriting"),
        _words(
            "risk score, medical questionnaire, policy application, exclusion clause, premium "
            "loading, underwriting guideline, pre-existing condition, referral to an underwriter, "
            "sum insured, risk class, group scheme, underwriting decision"
        ),
        "Underwriting",
    ),
    Topic(
        "python data pipelines",
        ("python data pipelines", "etl", "data pipelines", "airflow"),
        _words(
            "pandas dataframe, Airflow DAG, ETL job, parquet file, schema validation, batch job, "
            "data warehouse, incremental load, pytest suite, pipeline retry, SQL query, data "
            "quality check"
        ),
        "Data Engineering",
    ),
    Topic(
        "accessibility",
        ("accessibility", "a11y", "wcag"),
        _words(
            "screen reader, WCAG 2.1 criterion, colour contrast, keyboard navigation, alt text, "
            "focus order, aria label, font scaling, video captions, accessible PDF, skip link, "
            "accessibility audit"
        ),
        "Design & UX",
    ),
    Topic(
        "pricing models",
        ("pricing models", "pricing", "rate tables"),
        _words(
            "premium calculation, rating factor, loss ratio, price elasticity, GLM, tariff, "
            "no-claims discount, renewal price, risk premium, pricing engine, burning cost, price "
            "test"
        ),
        "Actuarial",
    ),
)

#: (base, -ing, past) forms of the verbs the templates use.
VERBS: tuple[tuple[str, str, str], ...] = (
    ("configure", "configuring", "configured"),
    ("validate", "validating", "validated"),
    ("migrate", "migrating", "migrated"),
    ("monitor", "monitoring", "monitored"),
    ("automate", "automating", "automated"),
    ("debug", "debugging", "debugged"),
    ("document", "documenting", "documented"),
    ("test", "testing", "tested"),
    ("simplify", "simplifying", "simplified"),
    ("review", "reviewing", "reviewed"),
    ("update", "updating", "updated"),
    ("speed up", "speeding up", "sped up"),
)

_CONTEXTS = (
    "clinic",
    "dental practice",
    "HR team",
    "brokerage",
    "group scheme",
    "back office",
    "partner integration",
    "regional office",
    "pilot project",
    "customer portal",
)

_TITLES: dict[str, tuple[str, ...]] = {
    "question": (
        "How do I {verb} the {term} for {topic}?",
        "{Term} not working after {term2} change",
        "Why is my {term} rejected?",
        "Best way to {verb} the {term} with the {term2}?",
        "Error with {term} in {topic}",
        "Question about {term} and {term2}",
        "{Term}: what does this status mean?",
        "Can I {verb} the {term} myself?",
    ),
    "blog_post": (
        "What we learned about {term} this quarter",
        "{Topic}: how we {verbed} our {term}",
        "A practical guide to the {term}",
        "Notes from the {topic} working group",
        "Five lessons on {term} and {term2}",
        "Why we {verbed} the {term}",
        "Behind the scenes: {verbing} the {term}",
        "{Topic} update: {term}",
    ),
    "article": (
        "Partner guide: {verbing} the {term}",
        "Integrating the {term} with the {term2}",
        "{Topic} reference: {term}",
        "Checklist for the {term} in partner solutions",
        "How partners {verb} the {term}",
        "Release notes: {term} and {term2}",
    ),
}

_OPENERS: dict[str, tuple[str, ...]] = {
    "question": (
        "We are trying to {verb} the {term} for our {context}.",
        "Since last week our {term} fails whenever we {verb} the {term2}.",
        "I could not find documentation on how the {term} relates to the {term2}.",
        "Our {context} asked me about {topic} and I am stuck on the {term}.",
    ),
    "answer": (
        "You can {verb} the {term} by checking the {term2} first.",
        "In my experience with {topic}, the {term} is the usual culprit.",
        "The recommended approach is to {verb} the {term} before the {term2} runs.",
        "This is a known behaviour of the {term}; here is what works for us.",
    ),
    "blog_post": (
        "This post summarises how our team handles the {term} in {topic}.",
        "Over the last months we {verbed} the {term} and want to share what we learned.",
        "Several colleagues asked how {topic} works in practice, so here is an overview.",
    ),
    "article": (
        "This article explains how partner solutions {verb} the {term}.",
        "Partners often ask how the {term} interacts with the {term2} in {topic}.",
        "Use this guide when {verbing} the {term} in your integration.",
    ),
}

_MIDDLE = (
    "Make sure the {term} matches the {term2}.",
    "We track the {term} in a dashboard that the whole team can see.",
    "If the {term} changes, the {term2} has to be updated as well.",
    "The {term} is checked every night and any mismatch is reported the next morning.",
    "A common mistake is to {verb} the {term} without looking at the {term2}.",
    "For {topic} the {term} matters more than most people expect.",
    "After {verbing} the {term} we saw far fewer tickets about the {term2}.",
    "The {context} uses the {term} daily, so small changes have a big effect.",
    "Keep an eye on the {term}: it is the first thing auditors ask about.",
    "We {verbed} the {term} in two steps to keep the risk low.",
    "The {term2} depends on the {term}, so order matters.",
    "Testing the {term} with real examples from a {context} caught most problems.",
    "Our rule of thumb: {verb} the {term} early and {verb2} the {term2} often.",
    "When in doubt, compare the {term} with last month's {term2}.",
)

_CLOSINGS: dict[str, tuple[str, ...]] = {
    "question": ("Thanks in advance!", "Any pointers welcome.", "Has anyone seen this before?"),
    "answer": (
        "Hope this helps.",
        "Let me know if the {term} still misbehaves.",
        "Happy to look at your {term} if you share more details.",
    ),
    "blog_post": (
        "Questions and comments are welcome below.",
        "Reach out if your team works on {topic} too.",
    ),
    "article": (
        "Contact your partner manager for access to the sandbox.",
        "See the reference section for the full list of {term} fields.",
    ),
}

_SHORT = (
    "Thanks, {verbing} the {term} fixed it.",
    "Great write-up on the {term}!",
    "Does this also apply to the {term2}?",
    "+1, we saw the same with the {term}.",
    "Good point about {topic}.",
    "We {verbed} the {term} the same way last year.",
    "Could you share an example of the {term}?",
    "That explains the {term2} issue we had.",
)

FIRST_NAMES: tuple[str, ...] = tuple(
    """
    Maria James Aisha Lukas Sofia Daniel Priya Tom Elena Kwame Hannah Mateo Yuki Olivia Noah
    Fatima Liam Ingrid Carlos Mei Samuel Chloe Ravi Emma Jonas Amara Lucas Zara Peter Nadia
    Oscar Leila Henrik Grace Ahmed Julia Felix Ana Victor Sara Marco Ines David Lena Omar Clara
    Ben Rosa Ethan Mira
    """.split()
)

LAST_NAMES: tuple[str, ...] = tuple(
    """
    Rossi Okafor Schmidt Novak Haddad Tanaka Silva Brennan Dubois Mensah Larsen Kowalski Patel
    Moreau Fischer Andersson Costa Nguyen Walsh Ibrahim Jensen Romero Chen Bauer Murphy Santos
    Weber Osei Lindqvist Martins Horvat Kaya Meyer Lopez Sato Ferreira Nilsen Petrov Garcia
    Ahmed Keller Duarte Varga Berg Mahmoud
    """.split()
)


def _fill(rng: random.Random, template: str, topic: Topic) -> str:
    term, term2 = rng.sample(topic.terms, 2)
    verb, verb2 = rng.sample(VERBS, 2)
    text = template.format(
        term=term,
        term2=term2,
        Term=term[:1].upper() + term[1:],
        topic=topic.name,
        Topic=topic.name[:1].upper() + topic.name[1:],
        verb=verb[0],
        verbing=verb[1],
        verbed=verb[2],
        verb2=verb2[0],
        context=rng.choice(_CONTEXTS),
    )
    return text[:1].upper() + text[1:]


def sentence(rng: random.Random, topic: Topic) -> str:
    """Return one middle sentence about `topic`."""
    return _fill(rng, rng.choice(_MIDDLE), topic)


def title(rng: random.Random, kind: ContributionKind, topic: Topic) -> str:
    """Return a title for a thread root of `kind` (question, blog_post or article)."""
    return _fill(rng, rng.choice(_TITLES[kind.value]), topic)


def body(rng: random.Random, kind: ContributionKind, topic: Topic, length: int) -> str:
    """Return a plain-text body of about `length` middle sentences for a contribution of `kind`.

    Comments and replies are one to three short sentences whatever `length` says; blog
    posts and articles are split into paragraphs.
    """
    key = kind.value
    if key not in _OPENERS:
        return " ".join(_fill(rng, rng.choice(_SHORT), topic) for _ in range(rng.randint(1, 3)))
    parts = [_fill(rng, rng.choice(_OPENERS[key]), topic)]
    parts += [sentence(rng, topic) for _ in range(length)]
    parts.append(_fill(rng, rng.choice(_CLOSINGS[key]), topic))
    if key in ("blog_post", "article") and len(parts) > 4:
        cut = len(parts) // 2
        return " ".join(parts[:cut]) + "\n\n" + " ".join(parts[cut:])
    return " ".join(parts)
