"""A floor under the ranking's quality on a real community: the bench/relevance harness
on a slice of bicycles.meta.stackexchange.com (tests/fixtures/stackexchange_relevance/,
CC BY-SA, authors as in the file), so that a change that breaks ranking fails here.

The slice's time split gives 25 test questions whose accepted answerer is known from
before. Measured with the defaults of 2026-11 (age decay of the evidence): whoknows' MRR
0.397; the same engine without the decay 0.165; the best baseline (BM25 profiles) 0.256,
most answers 0.187. The floor sits a quarter below the measured figure and above all of
those.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from bench.relevance.run import evaluate, open_store, split_site, whoknows_ranker

SLICE = Path(__file__).parent.parent / "fixtures" / "stackexchange_relevance" / "Posts.xml.gz"
FLOOR_MRR = 0.30


def test_whoknows_mrr_on_a_real_site_stays_above_the_floor(tmp_path: Path) -> None:
    dump, store = tmp_path / "dump", tmp_path / "store"
    dump.mkdir()
    store.mkdir()
    (dump / "Posts.xml").write_bytes(gzip.decompress(SLICE.read_bytes()))
    split = split_site(dump)
    assert split.counts["cases"] == 25
    services = open_store(store, split)
    try:
        figures = evaluate(split, {"whoknows": whoknows_ranker(services)}, ("title",))
    finally:
        services.engine.dispose()
    mrr = figures["title"]["whoknows"]["MRR"]
    assert mrr >= FLOOR_MRR, f"MRR {mrr:.3f} fell under the floor {FLOOR_MRR}"
