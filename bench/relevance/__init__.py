"""Relevance of "who knows what" on real StackExchange sites: a time split, whoknows'
own search against classic expert-finding baselines (see README.md)."""
